"""Negative tests for the report checks that give three options a second value (tests/test_option_coverage.py asks
every parameter with a default for two values over the report): integrate_sde's save_at, w2's weights_y and
flow_matching_map's t. Each check passes on the library and fails on a wrong value or a mutant that ignores the
option (a mutant the report passed while it ran the option at one value only)."""
from __future__ import annotations

import numpy as np
import pytest

import lagrangian as L
import verify.gaussian as vg
from tests.verify.mutants import mutated
from verify.cases._instances import non_commuting_pair
from verify.cases.flow_matching import check_flow_map_vs_particles
from verify.cases.optimal_transport import check_weighted_w2
from verify.cases.particles import (FORCED_OU, check_sde_save_at_snapshots, forced_ou_drift,
                                    time_dependent_affine_field)
from verify.problems import get_problem

# ------------------------------------------------------------------------------ integrate_sde(save_at=...)
SDE_MUTANTS = {
    # save_at ignored: the end state (n, d) only
    "ignored": ("    saves = _save_indices(save_at, t0, t1, steps)\n    f = _checked(drift,",
                "    saves = None\n    f = _checked(drift,"),
    # every snapshot but the end one taken a step late
    "a step late": ("    return k.tolist()", "    return np.minimum(k + 1, steps).tolist()"),
    # the snapshots returned in increasing time, not in the order asked
    "sorted": ('order = np.argsort(np.argsort(saves, kind="stable"), kind="stable")',
               "order = list(range(len(saves)))"),
}


def _sde_setups():
    """(label, drift, D, x0, t0, t1): the 1-D forced OU of ou-particles-1d and the 2-D set-up of ou-particles-2d."""
    g0 = FORCED_OU["initial"]
    problem = get_problem("ou-sde-2d")
    return [("forced OU 1D", forced_ou_drift(), FORCED_OU["diffusion"], g0.sample(50, np.random.default_rng(1)),
             FORCED_OU["t0"], FORCED_OU["t1"]),
            ("2D a(t)(A0 x + c0), D matrix", time_dependent_affine_field(), problem.diffusion,
             problem.sample_initial(50, np.random.default_rng(2)), 0.3, 1.3)]


@pytest.mark.parametrize("method", list(L.SDE_STEPPERS))
def test_sde_save_at_snapshots_pass_on_the_library(method):
    for label, drift, D, x0, t0, t1 in _sde_setups():
        check = check_sde_save_at_snapshots(label, drift, D, x0, t0, t1, method=method)
        assert check.passed and check.value <= 1e-14, check


@pytest.mark.parametrize("mutant", sorted(SDE_MUTANTS))
@pytest.mark.parametrize("method", list(L.SDE_STEPPERS))
def test_sde_save_at_snapshots_catch_mutants(monkeypatch, method, mutant):
    """lagrangian.integrators with save_at ignored, saved a step late, or returned sorted: each set-up flags it."""
    mod = mutated(monkeypatch, "lagrangian.integrators", *SDE_MUTANTS[mutant])
    for label, drift, D, x0, t0, t1 in _sde_setups():
        assert not check_sde_save_at_snapshots(label, drift, D, x0, t0, t1, method=method,
                                               integrate=mod.integrate_sde).passed, label


def test_sde_save_at_snapshots_catch_another_noise_stream():
    """Snapshots of the right shape and times but drawn with another generator than the run to the end: flagged
    (the check compares paths, not laws)."""
    def other_stream(*args, rng, save_at=None, **kw):
        if save_at is not None:
            rng = np.random.default_rng(12345)
        return L.integrate_sde(*args, rng=rng, save_at=save_at, **kw)

    for label, drift, D, x0, t0, t1 in _sde_setups():
        assert not check_sde_save_at_snapshots(label, drift, D, x0, t0, t1, integrate=other_stream).passed


def test_sde_save_at_between_steps_is_refused(monkeypatch):
    """The documented refusal of save_at times off the step grid: passes on the library; a mutant of
    lagrangian.integrators that rounds them to the nearest step silently is flagged."""
    from verify.cases.particles import check_sde_save_at_off_grid

    _, (label, drift, D, x0, t0, t1) = _sde_setups()
    assert check_sde_save_at_off_grid(label, drift, D, x0[:5], t0, t1).passed
    mod = mutated(monkeypatch, "lagrangian.integrators", "if np.any(np.abs(frac * steps - k) > 1e-8 * max(1, steps)):",
                  "if False:")
    check = check_sde_save_at_off_grid(label, drift, D, x0[:5], t0, t1, integrate=mod.integrate_sde)
    assert not check.passed and check.value == 3, check


# ------------------------------------------------------------------------------ w2(weights_x=..., weights_y=...)
def _weighted_clouds(d: int, n: int, m: int, seed: int = 3):
    """The clouds of pot-gaussian: different sizes, Dirichlet weights on both sides."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, d)), 1.5 * rng.standard_normal((m, d)) + 0.5
    return x, y, rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))


CLOUDS = ((1, 50, 70), (2, 40, 60))
W2_CALL = "w2_squared(x, y, weights_x=weights_x, weights_y=weights_y, max_bytes=max_bytes)"


@pytest.mark.parametrize("d, n, m", CLOUDS)
def test_weighted_w2_passes_on_the_library(d, n, m):
    check = check_weighted_w2(f"d={d}", *_weighted_clouds(d, n, m))
    assert check.passed and check.value <= 1e-13, check


@pytest.mark.parametrize("side", ["weights_x", "weights_y"])
@pytest.mark.parametrize("d, n, m", CLOUDS)
def test_weighted_w2_catches_a_side_read_as_uniform(monkeypatch, d, n, m, side):
    """lagrangian.transport.w2 passing None (uniform) for the weights of one side: flagged in 1D and 2D."""
    mod = mutated(monkeypatch, "lagrangian.transport", W2_CALL, W2_CALL.replace(f"{side}={side}", f"{side}=None"))
    assert not check_weighted_w2(f"d={d}", *_weighted_clouds(d, n, m), w2=mod.w2).passed


@pytest.mark.parametrize("d, n, m", CLOUDS)
def test_weighted_w2_catches_swapped_weights(d, n, m):
    """A wrong value: weights_y reversed (the same multiset of weights on other points)."""
    def reversed_y(x, y, *, weights_x=None, weights_y=None):
        return L.w2(x, y, weights_x=weights_x, weights_y=weights_y[::-1])

    assert not check_weighted_w2(f"d={d}", *_weighted_clouds(d, n, m), w2=reversed_y).passed


# ------------------------------------------------------------------------------ flow_matching_map(t=...)
FM_MUTANTS = {
    # t ignored: the end map at every t
    "t ignored": ("    t = _check_time(t)\n    # Σk = 2^ek", "    t = _check_time(1.0)\n    # Σk = 2^ek"),
    # t² C read as t C under the root: equal at t = 1, the only time the report used to run
    "t for t²": ("np.ldexp(t ** 2 * c, k - j)", "np.ldexp(t * c, k - j)"),
    # (1 − t)² read as (1 − t): also equal at t = 1
    "1 − t for (1 − t)²": ("np.ldexp((1 - t) ** 2, -j)", "np.ldexp((1 - t), -j)"),
}


def _fm_setups():
    rng = np.random.default_rng(4)
    out = []
    for d in (1, 2, 3):
        g0, g1 = non_commuting_pair(d, rng)
        out.append((d, g0, g1, g0.sample(5, rng)))
    return out


def test_fm_flow_map_at_intermediate_times_passes_on_the_library():
    for d, g0, g1, x0 in _fm_setups():
        check = check_flow_map_vs_particles(f"d={d}", g0, g1, x0)
        assert check.passed and check.value <= 1e-7, check


@pytest.mark.parametrize("mutant", sorted(FM_MUTANTS))
def test_fm_flow_map_at_intermediate_times_catches_mutants(monkeypatch, mutant):
    """verify.gaussian.flow_matching_map mutated where t = 1 cannot see it: flagged in every dimension."""
    mod = mutated(monkeypatch, "verify.gaussian", *FM_MUTANTS[mutant])
    monkeypatch.setattr(mod, "Gaussian", vg.Gaussian)   # the laws passed stay instances of the library's class
    for d, g0, g1, x0 in _fm_setups():
        assert not check_flow_map_vs_particles(f"d={d}", g0, g1, x0, flow_map=mod.flow_matching_map).passed, d


def test_fm_flow_map_at_intermediate_times_catches_the_end_map():
    """A wrong value: the map at t = 1 returned for every t (and the map at t = 0.3 returned for every t)."""
    for d, g0, g1, x0 in _fm_setups():
        for fixed in (1.0, 0.3):
            assert not check_flow_map_vs_particles(
                f"d={d}", g0, g1, x0, flow_map=lambda a, b, t, s=fixed: vg.flow_matching_map(a, b, s)).passed, d


# ------------------------------------------------------------------------------ the report gives the second values
def test_the_report_gives_the_three_options_a_second_value():
    """Under tests/option_usage's recorder, the quick cases that hold the new checks pass and give save_at,
    weights_y and t values other than their defaults (the cheap cases: ou-particles-2d, pot-gaussian,
    flow-matching-closed-form)."""
    from tests.option_usage import record_cases, value_key

    _, outcomes, _, values = record_cases(["ou-particles-2d", "pot-gaussian", "flow-matching-closed-form"])
    for name, outcome in outcomes.items():
        assert outcome["error"] is None, (name, outcome["error"])
        failed = [c for c in outcome["checks"] if not c[1]]
        assert not failed, (name, failed)
    names = [c[0] for o in outcomes.values() for c in o["checks"]]
    for part in ("integrate_sde (euler-maruyama) save_at", "integrate_sde (heun) save_at",
                 "w2 with weights_x and weights_y", "FM flow map at t ="):
        assert any(part in n for n in names), part
    assert values["lagrangian.integrate_sde"]["save_at"] - {value_key(None)}
    assert values["lagrangian.w2"]["weights_y"] - {value_key(None)}
    assert values["lagrangian.w2"]["weights_x"] - {value_key(None)}
    assert values["gaussian.flow_matching_map"]["t"] - {value_key(1.0)}
