"""Negative tests for the report checks that run an eulerian option at a value other than the one the report used
everywhere (tests/test_option_coverage.py, test_every_parameter_takes_two_values): solve_stationary's flux and mass
(boundaries' ou-matrix-diffusion-2d), solve_meanfield's cfl (flow-matching-grid) and porous_medium_energy's
diffusion and potential (porous-medium-barenblatt). Each check passes on the library and fails when given a wrong
value or a mutant that ignores the option."""
from __future__ import annotations

import math

import numpy as np

from tests.verify.mutants import mutated

STATIONARY_FLUX_ARG = "[d if np.ndim(d) == 0 else be.asarray(d) for d in D.normal(grid, periodic)], flux, periodic)"


def _by_flux(checks, flux: str) -> list:
    return [c for c in checks if f"flux={flux!r}" in c.name]


# ------------------------------------------------------------------------------------ solve_stationary: flux
def test_every_flux_of_the_registry_is_checked_and_passes():
    from eulerian.operators import FLUXES
    from verify.cases.boundaries import stationary_flux_checks

    checks = stationary_flux_checks()
    assert all(c.passed for c in checks), [(c.name, c.value) for c in checks if not c.passed]
    assert all(_by_flux(checks, f) for f in FLUXES)
    assert len(checks) == sum(len(_by_flux(checks, f)) for f in FLUXES)


def test_a_flux_without_an_expectation_fails():
    from verify.cases.boundaries import stationary_flux_checks

    (check,) = stationary_flux_checks(fluxes=("upwind",))
    assert not check.passed and math.isnan(check.value)


def test_the_central_flux_ignored_is_flagged(monkeypatch):
    """eulerian.fokker_planck.solve_stationary assembling every run with the default flux: the central run then
    gives the discrete Gibbs state (round-off errors, no order 2), its order check fails."""
    from verify.cases.boundaries import stationary_flux_checks

    mutant = mutated(monkeypatch, "eulerian.fokker_planck", STATIONARY_FLUX_ARG,
                     STATIONARY_FLUX_ARG.replace("], flux,", '], "scharfetter-gummel",'))
    checks = stationary_flux_checks(solve=mutant.solve_stationary)
    central = _by_flux(checks, "central")
    order = next(c for c in central if "observed order" in c.name)
    assert not order.passed and math.isnan(order.value)
    assert all(c.passed for c in _by_flux(checks, "scharfetter-gummel") + _by_flux(checks, "chang-cooper"))


def test_the_flux_passed_as_another_value_is_flagged():
    """A solver given the default flux whatever the call asked (the wrong value reaches the solver)."""
    from eulerian import solve_stationary
    from verify.cases.boundaries import stationary_flux_checks

    def default_flux(*args, flux="scharfetter-gummel", **kw):
        return solve_stationary(*args, **kw)

    assert not all(c.passed for c in _by_flux(stationary_flux_checks(solve=default_flux), "central"))


def test_a_wrong_chang_cooper_weight_is_flagged(monkeypatch):
    """eulerian.operators.ChangCooper with delta(+Pe) for delta(-Pe): no longer the exponentially fitted flux.
    (The Chang-Cooper flux is algebraically the Scharfetter-Gummel one for a constant D, so a solver that ran the
    default in its place is an equivalent mutant here; its own coefficients are what the check can see.)"""
    import eulerian.operators as ops
    from verify.cases.boundaries import stationary_flux_checks

    mutant = mutated(monkeypatch, "eulerian.operators", "delta = chang_cooper_delta(xp, -b * (h / D))",
                     "delta = chang_cooper_delta(xp, b * (h / D))")
    monkeypatch.setitem(ops.FLUX_SCHEMES, "chang-cooper", mutant.FLUX_SCHEMES["chang-cooper"])
    checks = stationary_flux_checks(fluxes=("chang-cooper", "scharfetter-gummel"))
    assert not all(c.passed for c in _by_flux(checks, "chang-cooper"))
    assert all(c.passed for c in _by_flux(checks, "scharfetter-gummel"))


def test_a_first_order_central_flux_is_flagged(monkeypatch):
    """eulerian.operators.Central replaced by the upwind flux (first order) under the name "central": the observed
    order is about 1."""
    import eulerian.operators as ops
    from verify.cases.boundaries import stationary_flux_checks

    mutant = mutated(monkeypatch, "eulerian.operators", "return 0.5 * b + d, d - 0.5 * b",
                     "return xp.maximum(b, 0.0) + d, d + xp.maximum(-b, 0.0)")
    monkeypatch.setitem(ops.FLUX_SCHEMES, "central", mutant.FLUX_SCHEMES["central"])
    order = next(c for c in stationary_flux_checks(fluxes=("central",)) if "observed order" in c.name)
    assert not order.passed and order.value < 1.5


# ------------------------------------------------------------------------------------ solve_stationary: mass
def test_the_mass_checks_pass():
    from verify.cases.boundaries import stationary_mass_checks

    checks = stationary_mass_checks()
    assert len(checks) == 2 and all(c.passed for c in checks), [(c.name, c.value) for c in checks]


def test_a_wrong_mass_is_flagged():
    from verify.cases.boundaries import stationary_mass_checks

    assert not any(c.passed for c in stationary_mass_checks(mass=1.0))
    assert not any(c.passed for c in stationary_mass_checks(mass=2.5 * (1 + 1e-10)))


def test_the_mass_ignored_is_flagged(monkeypatch):
    """eulerian.fokker_planck.solve_stationary bordering the closed-box system with the mass 1 whatever was asked."""
    from verify.cases.boundaries import stationary_mass_checks

    mutant = mutated(monkeypatch, "eulerian.fokker_planck", "be.xp.asarray([mass])])", "be.xp.asarray([1.0])])")
    assert not any(c.passed for c in stationary_mass_checks(solve=mutant.solve_stationary))


# ------------------------------------------------------------------------------------ solve_meanfield: cfl
def _cfl_checks(**kw) -> dict[str, object]:
    from verify.cases.flow_matching_grid import check_meanfield_cfl

    checks = check_meanfield_cfl(**kw)
    assert len(checks) == 3
    return {key: c for key, c in zip(("l1", "steps", "courant"), checks)}


def test_the_cfl_checks_pass():
    checks = _cfl_checks()
    assert all(c.passed for c in checks.values()), [(c.name, c.value) for c in checks.values()]
    assert checks["steps"].detail.startswith("114 steps")


def test_the_default_cfl_given_is_flagged():
    """cfl = 0.4 (the default) reaching the solver: half the steps, each with Courant number 2 cfl. The L1 error is
    the space error's and does not see it (which is why the step rule is checked)."""
    checks = _cfl_checks(cfl=0.4)
    assert checks["l1"].passed
    assert not checks["steps"].passed and checks["steps"].value == 57
    assert not checks["courant"].passed and checks["courant"].value > 0.9


def test_the_cfl_ignored_is_flagged(monkeypatch):
    """eulerian.meanfield.solve_meanfield stepping with dt = 0.4 / rate whatever cfl was given."""
    mutant = mutated(monkeypatch, "eulerian.meanfield", "cfl / r_now if r_now > 0", "0.4 / r_now if r_now > 0")
    checks = _cfl_checks(solve=mutant.solve_meanfield)
    assert not checks["steps"].passed and not checks["courant"].passed


def test_a_rate_without_the_spacing_is_flagged(monkeypatch):
    """eulerian.meanfield's rate with max|V_k| / h_k² (the step rule's other ingredient): the steps shrink by h."""
    mutant = mutated(monkeypatch, "eulerian.meanfield", "float(xp.abs(f).max()) / h for f, h",
                     "float(xp.abs(f).max()) / h**2 for f, h")
    checks = _cfl_checks(solve=mutant.solve_meanfield)
    assert not checks["steps"].passed and not checks["courant"].passed


def test_the_cfl_rule_counts_the_last_cut_step():
    from verify.cases.flow_matching_grid import cfl_rule_steps

    assert cfl_rule_steps(lambda t: 4.0, 1.0, 0.5) == [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
    times = cfl_rule_steps(lambda t: 3.0, 1.0, 1.0)
    assert len(times) == 4 and times[-1] == 1.0 and np.allclose(np.diff(times)[:-1], 1.0 / 3.0)


# ------------------------------------------------------------------------------------ porous_medium_energy
def test_the_energy_option_check_passes():
    from verify.cases.porous_medium import check_energy_options

    check = check_energy_options()
    assert check.passed, (check.value, check.upper)


def test_the_closed_form_is_the_integral():
    """gaussian_porous_energy against scipy's quadrature of D / (m − 1) ρ^m + V ρ (m = 2 and m = 3)."""
    from scipy.integrate import quad

    from verify.cases.porous_medium import gaussian_porous_energy

    M, mu, s, D, a, b = 1.3, 0.25, 0.35, 0.7, 2.0, 0.9
    for m in (2.0, 3.0):
        def rho(x):
            return M * math.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))

        def integrand(x):
            return D / (m - 1) * rho(x) ** m + (0.5 * a * x * x + b * x) * rho(x)

        value, _ = quad(integrand, -10.0, 10.0, epsabs=1e-13, epsrel=1e-13)
        assert abs(gaussian_porous_energy(M, mu, s, m, D, a, b) / value - 1.0) < 1e-12


def test_the_default_diffusion_given_is_flagged():
    from verify.cases.porous_medium import check_energy_options

    assert not check_energy_options(diffusion=1.0).passed
    assert not check_energy_options(diffusion=0.7 * 1.01).passed


def test_the_diffusion_ignored_is_flagged(monkeypatch):
    from verify.cases.porous_medium import check_energy_options

    mutant = mutated(monkeypatch, "eulerian.porous_medium", "e = D * float(np.sum(r ** m)) / (m - 1.0)",
                     "e = float(np.sum(r ** m)) / (m - 1.0)")
    assert not check_energy_options(energy=mutant.porous_medium_energy).passed


def test_the_potential_ignored_or_mis_signed_is_flagged(monkeypatch):
    from verify.cases.porous_medium import check_energy_options

    for new in ("e += 0.0 * float(np.sum(V * r))", "e -= float(np.sum(V * r))"):
        mutant = mutated(monkeypatch, "eulerian.porous_medium", "e += float(np.sum(V * r))", new)
        assert not check_energy_options(energy=mutant.porous_medium_energy).passed, new


def test_the_case_module_runs_the_library_energy():
    """The check's default is the function the case module imported (the one the report's recorder wraps)."""
    import inspect

    import eulerian.porous_medium as pm
    from verify.cases import porous_medium as case

    assert inspect.signature(case.check_energy_options).parameters["energy"].default is pm.porous_medium_energy
