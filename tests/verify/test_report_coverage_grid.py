"""Report checks added for code paths that no case of the quick report ran (coverage holes of the grid code).

Each check passes on the right code and fails on a deliberately wrong one, fed to the check directly; wrong library
code is built in memory from the installed source with one line changed (tests/verify/mutants.py), never on disk:

* benamou_brenier relaxation = 1 (plain Chambolle–Pock) -> bb-gaussian-1d, ``unrelaxed_checks``;
* BBResult.gradient on the circle and along a 2-cell axis, potential_times, times -> bb-1d-exact,
  ``check_periodic_gradient``, ``check_density_path`` and ``check_gradient_of_quadratics``;
* the documented eulerian.staggered building blocks on paths the solvers never take -> bb-gaussian-1d,
  ``staggered_checks``;
* the attention velocity's dense log-sum-exp fallback and the interpolant's refinement -> attention-grid-2d,
  ``check_underflow_fallback`` and ``check_refined_interpolant``;
* NetworkVelocity.first_variation and eulerian.meanfield.cell_quadrature -> linear-/relu-network-grid,
  ``first_variation_checks``;
* JKOFlowResult.dissipation / metric_dissipation -> jko-energy-dissipation, ``check_rates``;
* FlowMatchingGridField.meanfield -> flow-matching-grid, ``check_meanfield_form``.
"""
import dataclasses
import functools

import numpy as np
import pytest

from eulerian.grid import Grid
from eulerian.network_grid import NetworkVelocity, network_velocity
from tests.verify.mutants import mutated
from verify.cases import attention_grid as A
from verify.cases import benamou_brenier_cases as B
from verify.cases import flow_matching_grid as F
from verify.cases import jko_cases as J
from verify.cases import network_grid as NG
from verify.metrics import worst


# ------------------------------------------------------ bb-gaussian-1d: relaxation = 1
@functools.lru_cache(maxsize=1)
def gaussian_problem():
    m0, s0, m1, s1 = 0.3, 0.05, 0.7, 0.08
    grid = Grid((0.0,), (1.0,), (64,))
    rho0, rho1 = B.gaussian_cells_1d(grid, m0, s0), B.gaussian_cells_1d(grid, m1, s1)
    half = B.gaussian_cells_1d(grid, 0.5, 0.065)
    return (grid, rho0, rho1, (m1 - m0) ** 2 + (s1 - s0) ** 2, B.quantile_w2_squared(grid.faces(0), rho0, rho1),
            half)


def test_unrelaxed_checks_pass():
    checks = B.unrelaxed_checks(*gaussian_problem())
    assert len(checks) == 5 and all(c.passed for c in checks), [(c.name, c.value) for c in checks]


def test_unrelaxed_checks_flag_a_primal_dual_that_never_moves_its_primal_iterate(monkeypatch):
    """The un-relaxed branch with the primal step written to a copy instead of in place (V never moves): the run
    does not converge and its density is not McCann's (its steps still follow the step rule, which that check
    replays from the residuals the run records)."""
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "Vt = sg.zeros_staggered() if relaxed else V",
                  "Vt = sg.zeros_staggered()")
    solve = functools.partial(mod.benamou_brenier, max_iter=2000)
    checks = B.unrelaxed_checks(*gaussian_problem(), solve=solve)
    values = [c for c in checks if "step rule" not in c.name]
    assert len(values) == 4 and not any(c.passed for c in values), [(c.name, c.value) for c in checks]


# ------------------------------------------------------ bb-1d-exact: the periodic potential and the density path
@functools.lru_cache(maxsize=1)
def smooth_run():
    r0, r1, _ = B.periodic_cases(32)["smooth w=1"]
    return B._bb_periodic(32, r0, r1)


def test_smooth_references_are_the_exact_flow():
    """The velocity transports the density: at t = 1 the exact density is rho1's cells, at t = 0 uniform, and
    v_0 is the displacement s(x)."""
    r0, r1, _ = B.periodic_cases(32)["smooth w=1"]
    assert np.abs(B.smooth_density_cells(32, 1.0) - r1).max() < 1e-13
    assert np.abs(B.smooth_density_cells(32, 0.0) - 1.0).max() < 1e-13
    x = np.linspace(0.0, 1.0, 9)
    assert np.abs(B.smooth_velocity(x, 0.0) - np.sin(2 * np.pi * x) / (4 * np.pi)).max() < 1e-15


def test_periodic_checks_pass():
    res = smooth_run()
    assert B.check_periodic_gradient("right", res).passed
    assert B.check_density_path("right", res).passed


def test_periodic_gradient_check_flags_wrong_gradients():
    res = smooth_run()
    forward = (np.roll(res.potential, -1, 1) - res.potential) / res.grid.spacing[0]      # first order, shifted
    for wrong in (forward, -res.gradient[..., 0], 0.5 * res.gradient[..., 0]):
        fake = type("R", (), {"grid": res.grid, "gradient": wrong[..., None], "potential_times": res.potential_times,
                              "time_steps": res.time_steps, "converged": True, "status": ""})()
        assert not B.check_periodic_gradient("wrong", fake).passed


def test_periodic_gradient_check_flags_the_one_sided_first_order_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.benamou_brenier",
                  "out.append((np.roll(self.potential, -1, axis) - np.roll(self.potential, 1, axis)) / (2.0 * h))",
                  "out.append(np.gradient(self.potential, h, axis=axis, edge_order=1))")
    res = smooth_run()
    wrong = mod.BBResult(**{f.name: getattr(res, f.name) for f in dataclasses.fields(res)})
    check = B.check_periodic_gradient("one-sided", wrong)
    assert not check.passed and check.value > 6.0, check.value   # measured 7.8 (band 4)


def test_density_path_check_flags_a_time_grid_off_by_half_a_step(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "return np.linspace(0.0, 1.0, self.time_steps + 1)",
                  "return (np.arange(self.time_steps + 1) + 0.5) / self.time_steps")
    res = smooth_run()
    wrong = mod.BBResult(**{f.name: getattr(res, f.name) for f in dataclasses.fields(res)})
    check = B.check_density_path("shifted times", wrong)
    assert not check.passed and check.value > 5.0, check.value   # measured 5.9 (band 2.5)


# ------------------------------------------------------ attention-grid-2d: underflow fallback, refinement
def test_attention_coverage_checks_pass():
    under = A.check_underflow_fallback()
    assert under.passed and under.value < 1e-13, under.value
    assert "12 of 20 query rows underflow" in under.detail
    refined = A.check_refined_interpolant()
    assert refined.passed and refined.value < 1e-12, refined.value


def test_underflowing_rows_are_those_beyond_the_density_support():
    """x_0 >= 0.5 puts the shift at the top wall, >= 3 logit units x 400 above the support: e^-600 < 1e-250."""
    g = A.grid(A.UNDERFLOW_CELLS)
    rho = A.half_plane_density(g)
    x = np.array([[-1.5, 0.0], [0.25, 0.0], [0.5, 0.0], [2.0, 1.0]])
    assert A.underflowing_rows(g, rho, x, A.UNDERFLOW_M).tolist() == [False, False, True, True]


@pytest.mark.parametrize("old, new", [
    ("out[rows] = self._dense(xp, be, grid, w, a[rows])", "out[rows] = self._factorised(xp, be, grid, w, a[rows])"),
    ("logits = a[start:start + rows] @ y.T + logw[None, :]", "logits = a[start:start + rows] @ y.T"),
    ("p = xp.exp(logits) * sign[None, :]", "p = xp.exp(logits)[:, ::-1] * sign[None, :]"),
])
def test_underflow_check_flags_a_broken_fallback(monkeypatch, old, new):
    mod = mutated(monkeypatch, "eulerian.attention", old, new)
    check = A.check_underflow_fallback(mod.attention_velocity)
    assert not check.passed, check.value


def test_refinement_check_flags_a_velocity_that_stops_refining(monkeypatch):
    """p *= 2 replaced by giving up: the default velocity still answers (exact fallback), the check fails."""
    mod = mutated(monkeypatch, "eulerian.attention", "            p *= 2", "            return None")

    def fast(velocity, g, rho, x):
        wrong = mod.attention_velocity(velocity.Q, velocity.K, velocity.V, scale=velocity.scale)
        return A.interpolant(wrong, g, rho, x)

    check = A.check_refined_interpolant(fast)
    assert not check.passed and "refused" in check.detail


# ------------------------------------------------------ network grids: first variation, cell_quadrature
class HalfFirstVariation(NetworkVelocity):
    """dR/dmu without the output weight a's sign: a wrong first variation (|a| for a)."""

    def first_variation(self, t, grid, rho, x):
        out = super().first_variation(t, grid, rho, x)
        return np.abs(np.asarray(x)[:, 1]) * np.asarray(out) / np.asarray(x)[:, 1]


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_first_variation_checks_pass(activation):
    checks = NG.first_variation_checks(activation, activation)
    assert len(checks) == 3 and all(c.passed for c in checks), [(c.name, c.value) for c in checks]


@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("old, new", [
    ("out = pts[:, 1] * out / e.shape[0]", "out = pts[:, 1] * out / (e.shape[0] - 1)"),
    ("out = pts[:, 1] * out / e.shape[0]", "out = pts[:, 0] * out / e.shape[0]"),
    ("out[s:s + rows] = self.sigma(be.xp, pts[s:s + rows, :1] * u[None, :]) @ e",
     "out[s:s + rows] = self.sigma(be.xp, pts[:rows, :1] * u[None, :]) @ e"),
])
def test_first_variation_checks_flag_the_mutants(monkeypatch, activation, old, new):
    mod = mutated(monkeypatch, "eulerian.network_grid", old, new)
    u, y = NG.network_data(activation)
    vel = mod.network_velocity(u, y, activation=activation, chunk_bytes=1024)
    first, second, third = NG.first_variation_checks("mutant", activation, vel)
    assert not first.passed and not second.passed, (first.value, second.value)
    assert third.passed   # the output, residuals and velocity are untouched


def test_first_variation_checks_flag_a_wrong_sign():
    u, y = NG.network_data("relu")
    right = network_velocity(u, y, activation="relu")
    wrong = HalfFirstVariation(right.data_x, right.data_y, right.activation, right.chunk_bytes)
    first, second, _ = NG.first_variation_checks("|a|", "relu", wrong)
    assert not first.passed and not second.passed


def test_cell_quadrature_check_flags_weights_without_the_cell_volume(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.meanfield",
                  "return grid.centers().reshape(-1, grid.dim), r * grid.cell_volume",
                  "return grid.centers().reshape(-1, grid.dim), r")
    monkeypatch.setattr(NG, "cell_quadrature", mod.cell_quadrature)
    first, second, third = NG.first_variation_checks("no volume", "linear")
    assert first.passed and second.passed and not third.passed


# ------------------------------------------------------ jko-energy-dissipation: per-step rates
def test_rate_checks():
    K, T, n = 4, 0.25, 32
    d, m = J.exact_rates(T, K)
    # the exact iterates' rates are positive, and agree with each other to first order in tau (measured 3.6 %)
    assert np.all(d > 0) and np.abs(d / m - 1).max() < 0.05
    assert J.check_rates("right", [d * 1.01], [d], n).passed
    assert not J.check_rates("over tau²", [d / (T / K)], [d], n).passed     # the mutant / tau**2
    assert not J.check_rates("metric over tau", [m * (T / K)], [m], n).passed
    assert not J.check_rates("a half-step off", [d * 1.05], [d], 64).passed   # 5 % > 0.5 % at 64 cells


def test_rate_check_flags_the_dissipation_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.jko", "return -np.diff(self.energies) / self.tau",
                  "return np.diff(self.energies) / self.tau")
    d, m = J.exact_rates(0.25, 2)
    F = np.concatenate([[1.0], 1.0 - np.cumsum(d) * 0.125])
    res = mod.JKOFlowResult(times=np.array([0, 0.125, 0.25]), densities=np.zeros((3, 1)), energies=F,
                            w2_squared=m * 0.125**2, iterations=np.zeros(2), converged=np.ones(2, bool),
                            statuses=["converged"] * 2, status="converged", tau=0.125, seconds=0.0, grid=None)
    assert J.check_rates("metric", [res.metric_dissipation], [m], 32).passed
    assert not J.check_rates("sign", [res.dissipation], [d], 32).passed


# ------------------------------------------------------ flow-matching-grid: the DensityVelocity form
def test_meanfield_form_check_passes_and_flags_a_wrong_clock(monkeypatch):
    check = F.check_meanfield_form()
    assert check.passed and 2.0 < check.value < 3.0, check.value   # measured 2.47
    mod = mutated(monkeypatch, "eulerian.flow_matching_grid", "        return self(t, x)",
                  "        return self(0.5 * t, x)")
    wrong = F.check_meanfield_form(make_field=mod.flow_matching_grid_field)
    assert not wrong.passed and wrong.value > 10, wrong.value


# ------------------------------------------------------ bb-gaussian-1d: the staggered building blocks
def test_staggered_checks_pass():
    checks = B.staggered_checks()
    assert len(checks) == 6 and all(c.passed for c in checks), [(c.name, c.value) for c in checks]
    assert max(c.value for c in checks[:3]) < 1e-12      # then the Newton steps of cold starts (test_iteration_bounds)


def test_prox_reference_is_the_prox():
    """prox_reference minimises the prox objective: no better point among 2000 random nearby ones; r = 0 and p = 0
    when 4 gamma rho + |m|^2 <= 0."""
    rho, m, gamma = -0.5, np.array([0.9, -0.4]), 0.1        # rho + 2 gamma < 0, active
    r, p = B.prox_reference(rho, m, gamma)

    def objective(r, p):
        return np.sum(p * p, axis=-1) / r + ((r - rho) ** 2 + np.sum((p - m) ** 2, axis=-1)) / (2 * gamma)

    rng = np.random.default_rng(0)
    step = rng.uniform(-0.05, 0.05, (2000, 3))
    assert r > 0 and np.all(objective(r * (1 + step[:, 0]), p * (1 + step[:, 1:])) >= objective(r, p) - 1e-12)
    r0, p0 = B.prox_reference(-1.0, np.array([0.1, 0.0]), 1.0)
    assert r0 == 0.0 and not p0.any()


@pytest.mark.parametrize("index, old, new", [
    (0, "        moms = [factor * m for m in momenta]", "        moms = [factor * momenta[0] for m in momenta]"),
    (0, "        return math.inf\n    return float(xp.sum(", "        return 0.0\n    return float(xp.sum("),
    (0, "xp.cbrt(q[low_c]) - two_gamma)", "xp.sqrt(-q[low_c]) - two_gamma)"),
    (0, "        r = r.copy()", "        r = r"),
    (0, "xp.maximum(guess, rho, out=s)", "xp.maximum(guess, rho, out=None)"),   # warm start not clipped up to rho
    (0, "xp.maximum(guess, rho, out=s)", "xp.copyto(s, guess)"),
    (1, "Vn = self.solve_interpolation([v + w for v, w in zip(V, IU)])",
     "Vn = self.solve_interpolation([v - w for v, w in zip(V, IU)])"),
    (1, "                elif o is not r:\n                    self.xp.copyto(o, r)",
     "                elif o is not r:\n                    pass"),
    (2, "            hat *= scale * self.dt**2", "            hat *= scale"),
    (2, "            if w is not v:\n                self.xp.copyto(w, v)",
     "            if w is not v:\n                pass"),
])
def test_staggered_checks_flag_the_mutants(monkeypatch, index, old, new):
    """The check fails, or the case ends in an error: perspective_root raises NumericalError when a NaN start (a
    square root of a negative number, an unclipped warm start) keeps Newton from converging."""
    from eulerian.errors import NumericalError

    mod = mutated(monkeypatch, "eulerian.staggered", old, new)
    with np.errstate(all="ignore"):
        try:
            checks = B.staggered_checks(mod)
        except NumericalError as exc:
            assert "did not converge" in str(exc) and index == 0
            return
    assert not checks[index].passed, checks[index].value


def test_worst_does_not_skip_nan():
    assert worst([0.0, float("nan"), 1.0]) == float("inf")
    assert worst([1e-16, 2e-16]) == 2e-16


# ------------------------------------------------------ bb-1d-exact: BBResult.gradient on exact quotients
@pytest.mark.parametrize("old, new", [
    ("out.append(np.gradient(self.potential, h, axis=axis, edge_order=1))",
     "out.append(np.gradient(self.potential, 2 * h, axis=axis, edge_order=1))"),
    ("out.append(np.gradient(self.potential, h, axis=axis, edge_order=2))",
     "out.append(np.gradient(self.potential, h, axis=axis, edge_order=1))"),
    ("out.append((np.roll(self.potential, -1, axis) - np.roll(self.potential, 1, axis)) / (2.0 * h))",
     "out.append((np.roll(self.potential, 1, axis) - np.roll(self.potential, -1, axis)) / (2.0 * h))"),
])
def test_gradient_check_passes_and_flags_the_mutants(monkeypatch, old, new):
    right = B.check_gradient_of_quadratics()
    assert right.passed and right.value < 1e-13, right.value
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", old, new)
    wrong = B.check_gradient_of_quadratics(mod.BBResult)
    assert not wrong.passed and wrong.value > 0.1, wrong.value


def test_gradient_check_fails_when_a_two_cell_axis_takes_the_second_order_stencil(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "elif self.potential.shape[axis] > 2:",
                  "elif self.potential.shape[axis] > 1:")
    with pytest.raises(ValueError):   # numpy's second-order edges need 3 points: the report case errors
        B.check_gradient_of_quadratics(mod.BBResult)
