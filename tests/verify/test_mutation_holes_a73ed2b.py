"""Negative tests for the report holes found by the mutation sample at a73ed2b (seed 20261223): each check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

import numpy as np

from tests.verify.mutants import catalog_catches, mutated, trouble_catches
from verify import bad_input


def test_the_recorded_porous_medium_energy_is_checked_beyond_m_2(monkeypatch):
    """eulerian.porous_medium.x_solve_porous_medium__mutmut_367 (the energy D Σ ρ^m times (m - 1) instead of
    divided by it): the same at m = 2, the report's only exponent of the finite volumes."""
    from verify.cases.porous_medium import check_recorded_energy_other_m

    assert check_recorded_energy_other_m().passed
    mutant = mutated(monkeypatch, "eulerian.porous_medium", "float(xp.sum(r ** m)) / (m - 1.0)",
                     "float(xp.sum(r ** m)) * (m - 1.0)")
    assert not check_recorded_energy_other_m(solve=mutant.solve_porous_medium).passed


def test_a_periodic_stationary_state_is_checked(monkeypatch):
    """eulerian.fokker_planck.x_solve_stationary__mutmut_71 (periodic walls read as None, i.e. zero-flux): no report
    case solved a periodic stationary problem. boundaries' mesh1d case checks the uniform state of a constant drift."""
    from verify.cases.boundaries import periodic_stationary_check

    assert periodic_stationary_check().passed
    mutant = mutated(monkeypatch, "eulerian.fokker_planck", "periodic = box.periodic\n    A = assemble_generator(",
                     "periodic = None\n    A = assemble_generator(")
    assert not periodic_stationary_check(solve=mutant.solve_stationary).passed


def test_the_noise_factor_of_each_form_of_d_is_checked(monkeypatch):
    """lagrangian.integrators.x__sqrt_2d__mutmut_21 (sqrt(3 D) for a per-axis D): the report's SDEs took scalar and
    matrix D only. The particles case checks σ σᵀ = 2 D for each form."""
    from verify.cases.particles import check_noise_factors

    assert check_noise_factors().passed
    mutant = mutated(monkeypatch, "lagrangian.integrators", "        return np.sqrt(2.0 * d)\n",
                     "        return np.sqrt(3.0 * d)\n")
    assert not check_noise_factors(noise_factor=mutant.noise_factor).passed


def test_a_step_count_beyond_2_62_is_counted_as_2_62(monkeypatch):
    """eulerian.continuity.x_check_step_count__mutmut_15 (2 * 62 for 2 ** 62): no catalog trouble had a CFL estimate
    beyond 2^62 steps (under the default cap the mutant runs 10^6 steps, 105 s, before refusing)."""
    assert trouble_catches(monkeypatch, "eulerian.solve_continuity: velocity 1e300", "eulerian.continuity",
                           "if ratio < 2.0**62 else 2**62)", "if ratio < 2.0**62 else 2 * 62)", bad_input,
                           "solve_continuity")


def test_a_blob_mass_that_underflows_per_particle_is_refused(monkeypatch):
    """lagrangian.gradient_flows.x__blob_args__mutmut_37 (mass * n for mass / n in the underflow test)."""
    assert catalog_catches(monkeypatch, "lagrangian.blob_velocity", "mass", "lagrangian.gradient_flows",
                           "if not mass / x.shape[0] * norm >= _TINY:", "if not mass * x.shape[0] * norm >= _TINY:",
                           "blob_velocity")


def test_the_upper_wall_is_named_in_its_refusal(monkeypatch):
    """eulerian.boundary.x_parse_boundary__mutmut_24 (the upper side's label replaced by None): every wall the
    catalog refused sat on a lower side. An outflow upper wall is refused now, and its message recorded."""
    import sys

    from tests.verify.mutants import recorded_message_changes

    label = "eulerian.solve_fokker_planck, open walls in 2-D"
    call = bad_input.CALLS[label]
    assert recorded_message_changes(call, label, ["boundary"]) == []
    mutant = mutated(monkeypatch, "eulerian.boundary", 'f"the upper side of axis {k}", allowed))',
                     "None, allowed))")
    for module in ("eulerian.fokker_planck", "eulerian.boundary"):
        if hasattr(sys.modules[module], "parse_boundary"):
            monkeypatch.setattr(sys.modules[module], "parse_boundary", mutant.parse_boundary)
    assert recorded_message_changes(call, label, ["boundary"])


def test_the_periodic_interpolation_solve_with_long_rows_is_checked(monkeypatch):
    """eulerian.staggered.xǁStaggeredGridǁ__post_init____mutmut_249 (the line recursion, which solves the walls'
    tridiagonal system, taken on periodic axes with >= 1024 rows too): bb-fipy-poisson's periodic interpolation grid
    has 1280 and 1024 rows on its periodic axes."""
    import scipy.fft

    from eulerian.staggered import StaggeredGrid
    from verify.cases.bb_cross_checks import INTERPOLATION_GRIDS, check_interpolation_solve

    shape, spacing, P, periodic = INTERPOLATION_GRIDS[-1]
    assert periodic
    rng = np.random.default_rng(0)
    assert check_interpolation_solve("periodic", StaggeredGrid(shape, spacing, P, True, np, scipy.fft, 1), rng).passed
    mutant = mutated(monkeypatch, "eulerian.staggered",
                     "recursion = self._numpy and not self._periodic(c) and rows >= 1024",
                     "recursion = self._numpy and not self._periodic(c) or rows >= 1024")
    grid = mutant.StaggeredGrid(shape, spacing, P, True, np, scipy.fft, 1)
    assert not check_interpolation_solve("periodic", grid, rng).passed   # measured 0.28
