"""Report checks (and two unit tests) added for the particle / ODE survivors of the mutation run at fc7c4bd.

Each check passes on the right code and fails on the mutant's behaviour (or on a deliberately wrong scheme of the
same kind), fed to the check directly so the tests stay fast:

* ``lagrangian.gradient_flows.x__save_times__mutmut_25`` (``np.errstate(invalid="IGNORE")``: blob_flow(save_at=...)
  always raises) -> affine-flow-particles, ``check_blob_flow_snapshots``; its sibling for integrate_ode,
  ``check_save_at_snapshots`` (time-dependent field, times unsorted, repeated, t0 included);
* ``verify.gaussian.x__settled_event__mutmut_53`` (the settled event not terminal: linear_network marches to t, ~1e-4 s
  per unit of time, instead of stopping once the flow has settled) -> linear-network-closed-form,
  ``check_network_settled`` at t = 1e12 (the mutant never finishes: the mutation run's timeout);
* ``lagrangian.integrators.x__march__mutmut_48`` / ``x_integrate_ode__mutmut_53`` change only the blow-up diagnosis
  (outside the report): the unit test at the end pins the NumericalError after a save.
"""
import numpy as np
import pytest

import lagrangian as L
from lagrangian.errors import NumericalError
from lagrangian.gradient_flows import blob_flow
from verify import gaussian as G
from verify.cases import moment_laws as ML
from verify.cases import particles as P

T0, T1 = 0.3, 1.3


def _x0(n=40, seed=5):
    return G.Gaussian([0.0, 0.0], np.eye(2)).sample(n, np.random.default_rng(seed))


# --------------------------------------------------------- affine-flow-particles: integrate_ode save_at snapshots
@pytest.mark.parametrize("method", sorted(L.ODE_STEPPERS))
def test_save_at_check_passes_on_integrate_ode(method):
    check = P.check_save_at_snapshots("td", P.time_dependent_affine_field(), _x0(), T0, T1, method=method)
    assert check.passed
    assert check.value < 1e-14


def _sorted_snapshots(field, x0, t0, t1, steps, *, method="rk4", save_at=None):
    """Snapshots returned in increasing time, not in the order asked."""
    if save_at is None:
        return L.integrate_ode(field, x0, t0, t1, steps, method=method)
    return L.integrate_ode(field, x0, t0, t1, steps, method=method, save_at=sorted(save_at))


def _late_snapshots(field, x0, t0, t1, steps, *, method="rk4", save_at=None):
    """Each snapshot taken one step late (the last one clamped to t1)."""
    if save_at is None:
        return L.integrate_ode(field, x0, t0, t1, steps, method=method)
    h = (t1 - t0) / steps
    return L.integrate_ode(field, x0, t0, t1, steps, method=method,
                           save_at=[min(t + h, t1) for t in save_at])


def _clock_from_zero(field, x0, t0, t1, steps, *, method="rk4", save_at=None):
    """A saving run that calls the field with the time since t0 (a wrong stage time: only a t-dependent field shows)."""
    if save_at is None:
        return L.integrate_ode(field, x0, t0, t1, steps, method=method)
    return L.integrate_ode(lambda t, x: field(t - t0, x), x0, t0, t1, steps, method=method, save_at=save_at)


@pytest.mark.parametrize("wrong", [_sorted_snapshots, _late_snapshots, _clock_from_zero])
def test_save_at_check_flags_wrong_snapshots(wrong):
    check = P.check_save_at_snapshots("td", P.time_dependent_affine_field(), _x0(), T0, T1, integrate=wrong)
    assert not check.passed
    assert check.value > 1e-3


def test_save_at_check_flags_a_missing_snapshot():
    def drops_repeats(field, x0, t0, t1, steps, *, method="rk4", save_at=None):
        kept = None if save_at is None else list(dict.fromkeys(save_at))
        return L.integrate_ode(field, x0, t0, t1, steps, method=method, save_at=kept)

    check = P.check_save_at_snapshots("td", P.time_dependent_affine_field(), _x0(), T0, T1, integrate=drops_repeats)
    assert not check.passed


# --------------------------------------------------------------- affine-flow-particles: blob_flow save_at
BLOB_X0 = np.linspace(-0.6, 0.7, 16)[:, None]


def test_blob_flow_save_at_check_passes():
    check = P.check_blob_flow_snapshots("blob", BLOB_X0)
    assert check.passed
    assert check.value < 1e-14


def _blob_with(change):
    def flow(x0, m, eps, t_final, steps, *, save_at=None, **kw):
        res = blob_flow(x0, m, eps, t_final, steps, save_at=save_at, **kw)
        if save_at is not None:
            change(res)
        return res
    return flow


@pytest.mark.parametrize("change", [
    lambda res: setattr(res, "positions", res.positions[::-1]),           # snapshots in the wrong order
    lambda res: setattr(res, "energy", res.energy[::-1]),                 # energies of other snapshots
    lambda res: setattr(res, "times", np.sort(res.times)),                # times not those asked
])
def test_blob_flow_save_at_check_flags_wrong_snapshots(change):
    check = P.check_blob_flow_snapshots("blob", BLOB_X0, flow=_blob_with(change))
    assert not check.passed
    assert check.value > 1e-4


def test_blob_flow_save_at_check_breaks_on_the_mutant(monkeypatch):
    """The mutant (np.errstate(invalid='IGNORE') in _save_times) makes every blob_flow(save_at=...) raise: the case
    errors."""
    import lagrangian.gradient_flows as GF

    real = np.errstate

    def errstate(**kw):
        return real(**{k: ("IGNORE" if k == "invalid" else v) for k, v in kw.items()})

    monkeypatch.setattr(GF.np, "errstate", errstate)
    with pytest.raises(ValueError, match="IGNORE"):
        P.check_blob_flow_snapshots("blob", BLOB_X0)


# ------------------------------------------------------------ linear-network-closed-form: the settled law at 1e12
def test_settled_check_passes_on_linear_network():
    check = ML.check_network_settled("fixed")
    assert check.passed
    assert abs(check.value) < 1e-13


@pytest.mark.parametrize("t_wrong", [1.0, 5.0])
def test_settled_check_flags_a_law_that_has_not_settled(t_wrong):
    check = ML.check_network_settled("fixed", law=lambda g0, S, r, t: G.linear_network(g0, S, r, t_wrong))
    assert not check.passed
    assert check.value > 1e-10


def test_settled_check_flags_the_initial_law():
    check = ML.check_network_settled("fixed", law=lambda g0, S, r, t: g0)
    assert not check.passed


def _solve_ends(monkeypatch):
    """Record where each solve_ivp of verify.gaussian stopped."""
    ends = []
    real = G.solve_ivp

    def recording(*a, **k):
        sol = real(*a, **k)
        ends.append(float(sol.t[-1]))
        return sol

    monkeypatch.setattr(G, "solve_ivp", recording)
    return ends


def test_linear_network_stops_once_settled_and_the_mutant_does_not(monkeypatch):
    """On the check's instance the clean solve stops long before t (so any t is fast); with the event made non-terminal
    (the mutant) it marches to t, at a cost linear in t (t = 1e12 never finishes)."""
    ends = _solve_ends(monkeypatch)
    a = G.linear_network(ML.SETTLED_G0, ML.SETTLED_S, ML.SETTLED_R, 1e3)
    assert ends and ends[-1] < 1e3
    real_event = G._settled_event

    def non_terminal(*args):
        event = real_event(*args)
        event.terminal = False
        return event

    monkeypatch.setattr(G, "_settled_event", non_terminal)
    b = G.linear_network(ML.SETTLED_G0, ML.SETTLED_S, ML.SETTLED_R, 1e3)
    assert ends[-1] == 1e3
    # the same law to round-off: only the cost differs
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(b.cov, a.cov, rtol=1e-11, atol=1e-13)


# ----------------------------------------------- unit tests: blow-up after a save (integrators mutants 48 and 53)
def test_blow_up_after_a_save_raises_numerical_error_naming_the_end_time():
    """dx/dt = x² from x0 = 1 blows up at t = 1: finite at the save time 0.5, NaN/Inf by t1 = 3. The diagnosis
    evaluates the field at the last finite saved state (mutant 48 forgot it: TypeError) and names t1 (mutant 53
    passed None: TypeError while formatting the message)."""
    with pytest.raises(NumericalError, match=r"particles became NaN or infinite by t=3 "):
        L.integrate_ode(lambda t, x: x * x, np.ones((2, 1)), 0.0, 3.0, 300, method="euler", save_at=[0.5])


def test_field_blamed_at_the_last_saved_state():
    """A field that returns NaN from t = 0.5 on: the particles are finite at the save time 0.5 and NaN by t1 = 1; the
    field, evaluated again at that last finite saved state, is blamed at t=0.5."""
    def field(t, x):
        return x * (np.nan if t >= 0.5 else 1.0)

    with pytest.raises(NumericalError, match=r"field\(t, x\) returned NaN or infinite values at t=0.5,"):
        L.integrate_ode(field, np.ones((3, 1)), 0.0, 1.0, 40, method="euler", save_at=[0.5])


# ------------------------------------------------- linear-network-closed-form: a start at the least-squares solution
def test_fixed_point_check_passes_and_flags_a_law_that_moves():
    """The start q = S⁻¹r stays where it is (linear_network returns it at once: settled at t = 0); a law that moves
    from it is flagged."""
    assert ML.check_network_fixed_point("fp").value == 0.0
    moved = ML.check_network_fixed_point("fp", law=lambda g0, S, r, t: G.linear_network(g0, S, 1.01 * r, t))
    assert not moved.passed and moved.value > 1e-4
