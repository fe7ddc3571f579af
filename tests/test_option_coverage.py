"""Every public function and every registered option is exercised by the report (quick mode), and every quick case
passes.

The report's cases run once, in two worker processes, under tests/option_usage.record_usage, which records the
options of each call to a public function of eulerian, lagrangian and verify.gaussian. REQUIREMENTS is built from the
registries themselves (FLUXES, TIME_SCHEMES, ODE_STEPPERS, ...), so registering a new option without a report
case that runs it fails test_every_registered_option_is_exercised. Beyond single options it asks for the
set-ups that symmetric tests miss: a time-dependent field for every stepper and time scheme, grids with
different spacing and cell counts per axis, the multigrid and LU paths, both Benamou–Brenier splittings on
both boundaries. Every parameter with a default must be given at least two values over the report (a parameter run at
one value only lets a scheme that ignores it pass), and every key that a result records of itself (Solution.info,
BBResult.extras) must be read by some check.
"""
from __future__ import annotations

from typing import Any

import pytest

from eulerian.benamou_brenier import BOUNDARIES as BB_BOUNDARIES
from eulerian.benamou_brenier import DTYPES, METHODS, STEP_RULES
from eulerian.continuity import BOUNDARIES as CONT_BOUNDARIES
from eulerian.continuity import LIMITERS
from eulerian.diffusion import KINDS as DIFFUSION_KINDS
from eulerian.fokker_planck import FP_BOUNDARIES
from eulerian.time_schemes import TIME_SCHEMES
from eulerian.attention import METHODS as ATTENTION_METHODS
from eulerian.network_grid import ACTIVATIONS as NETWORK_ACTIVATIONS
from eulerian.porous_medium import RECONSTRUCTIONS
from eulerian.porous_medium import TIME_SCHEMES as PM_TIME_SCHEMES
from eulerian.operators import FLUXES
from lagrangian import ODE_STEPPERS, SDE_STEPPERS
from lagrangian.meanfield import ACTIVATIONS
from tests.option_usage import choice_parameters, public_functions, record_cases
from verify.harness import registry

FP, CONT, BB = "eulerian.solve_fokker_planck", "eulerian.solve_continuity", "eulerian.benamou_brenier"
STATIONARY, PM = "eulerian.solve_stationary", "eulerian.solve_porous_medium"
ODE, SDE = "lagrangian.integrate_ode", "lagrangian.integrate_sde"
# CuPy: a GPU where one is usable, else the CPU stand-in of CuPy (the case cupy-paths installs it)
BACKENDS = ("numpy", "fipy", "cupy")

# (function, {facet: value, ...}): some call of the function must have all these facets at once
REQUIREMENTS: list[tuple[str, dict[str, Any]]] = [
    *[(FP, {"flux": f, "time": s}) for f in FLUXES for s in TIME_SCHEMES],
    *[(FP, {"time": s, "time-dependent": True, "anisotropic": True}) for s in TIME_SCHEMES],
    *[(FP, {f"wall:{b}": True}) for b in FP_BOUNDARIES],
    *[(FP, {f"wall:{b}": True, "time": s, "time-dependent": True}) for b in ("dirichlet", "flux")
      for s in TIME_SCHEMES if s != "douglas-adi"],
    *[(FP, {f"wall:{b}": True, "backend": "fipy"}) for b in FP_BOUNDARIES],
    *[(FP, {f"wall:{b}": True, "solver": s}) for b in ("dirichlet", "flux") for s in ("lu", "multigrid")],
    *[(FP, {"diffusion": k}) for k in DIFFUSION_KINDS],
    *[(FP, {"diffusion": k, "backend": "fipy"}) for k in ("field", "cells")],
    *[(FP, {"diffusion": "matrix", "backend": "fipy", "wall:zero-flux": True, "time": s})
      for s in ("implicit-euler", "crank-nicolson", "bdf2")],
    *[(STATIONARY, {f"wall:{b}": True}) for b in FP_BOUNDARIES],
    *[(FP, {"solver": s, "anisotropic": True, "time-dependent": True}) for s in ("lu", "multigrid")],
    *[(FP, {"backend": b}) for b in BACKENDS],
    *[(FP, {"backend": "cupy", "solver": s}) for s in ("lu", "multigrid")],
    # Douglas ADI's CUDA line solves (on the stand-in, run on the host): cyclic lines, refactorised every step
    (FP, {"backend": "cupy", "time": "douglas-adi", "wall:periodic": True, "time-dependent": True}),
    (BB, {"backend": "cupy", "dtype": "float64"}),
    (FP, {"backend": "fipy", "time": "crank-nicolson", "time-dependent": True, "source": True}),
    *[(FP, {"time": s, "damped_steps": k}) for s in ("crank-nicolson", "bdf2") for k in (1, 2)],
    (FP, {"time": "crank-nicolson", "damped_steps": 0}),
    *[(CONT, {"limiter": lim, "anisotropic": True, "time-dependent": True}) for lim in LIMITERS],
    *[(CONT, {f"wall:{b}": True}) for b in CONT_BOUNDARIES if b != "flux"],
    *[(CONT, {"wall:dirichlet": True, "limiter": lim, "time-dependent": True}) for lim in LIMITERS],
    *[(CONT, {"backend": b}) for b in BACKENDS],
    *[("eulerian.solve_meanfield", {"limiter": lim, "boundary": b}) for lim in LIMITERS
      for b in ("zero-flux", "periodic") if b == "periodic" or lim in ("mc", "none")],
    ("eulerian.solve_meanfield", {"boundary": "periodic", "diffusion": True}),
    ("eulerian.solve_meanfield", {"boundary": "zero-flux", "diffusion": True}),
    *[(CONT, {f"wall:{b}": True, "backend": "fipy"}) for b in ("dirichlet", "outflow")],
    *[(BB, {"method": m, "boundary": b}) for m in METHODS for b in BB_BOUNDARIES],
    *[(BB, {"method": m, "dtype": d, "anisotropic": True}) for m in METHODS for d in DTYPES],
    *[(BB, {"multilevel": flag}) for flag in (False, True)],
    *[(BB, {"method": "primal-dual", "step_rule": r}) for r in STEP_RULES],
    *[(BB, {"dim": d}) for d in (1, 2)],
    *[(PM, {"reconstruction": r}) for r in RECONSTRUCTIONS],
    *[(PM, {"time": s}) for s in PM_TIME_SCHEMES],
    *[(PM, {"dim": d}) for d in (1, 2)],
    (PM, {"potential": True}),
    *[("eulerian.jko_step", {"dim": 1, "diffusion": True, "potential": True})],
    ("eulerian.jko_flow", {"dim": 1, "diffusion": True, "potential": True}),
    ("eulerian.jko_flow", {"dim": 1, "internal": True}),
    *[("eulerian.attention_velocity", {"method": m}) for m in ATTENTION_METHODS],
    ("eulerian.attention_velocity", {"guard": True}),
    *[("eulerian.network_velocity", {"activation": a}) for a in NETWORK_ACTIVATIONS],
    *[("eulerian.network_risk", {"activation": a}) for a in NETWORK_ACTIVATIONS],
    *[(ODE, {"method": m, "time-dependent": True}) for m in ODE_STEPPERS],
    *[(SDE, {"method": m, "time-dependent": True}) for m in SDE_STEPPERS],
    *[(SDE, {"diffusion": kind}) for kind in ("scalar", "matrix")],
    *[("lagrangian.deposit", {"method": m}) for m in ("cic", "ngp")],
    *[("lagrangian.deposit", {"outside": o}) for o in ("raise", "clip")],
    *[("lagrangian.gaussian_kde", {"bandwidth": b}) for b in ("silverman", "number")],
    *[("lagrangian.network_field", {"activation": a}) for a in ACTIVATIONS],
]

# public functions with no numerical output of their own, or run only through another public function
NOT_CALLED_DIRECTLY = {
    "eulerian.cupy_available": "a probe of the machine (no numerical output)",
    "eulerian.default_gamma": "the step every benamou_brenier call without gamma= uses",
    "eulerian.default_tol": "the tolerance every benamou_brenier call without tol= uses",
    "lagrangian.get_namespace": "selects the array namespace of the inputs",
    "lagrangian.kde_bandwidth_factor": "the bandwidth rule inside gaussian_kde (scott, silverman)",
    "lagrangian.noise_factor": "the noise factor sqrt(2D) inside integrate_sde (scalar and matrix D)",
}


# parameters with a default that the report runs at one value only, and why that is enough
ONE_VALUE: dict[tuple[str, str], str] = {
    ("eulerian.jko_flow", "max_steps"): "a cap on the number of steps t_final / tau: the bad-input case runs a "
                                        "2-step flow at max_steps = 2 (accepted) and 1 (refused)",
    ("gaussian.jko_gaussian", "max_steps"): "the same cap for the closed-form iterates: the bad-input case runs 3 "
                                            "steps at max_steps = 3 and 2, and 10 over max_steps = 5",
    ("eulerian.Grid.cell_averages", "name"): "how error messages call f: the solvers pass their argument's name "
                                             "(rho0, ...) when they average a callable, and the bad-input case "
                                             "checks those messages",
    ("lagrangian.implicit_euler_step", "max_iter"): "a cap on fixed-point iterations: every report step converges "
                                                    "within it; the bad-input case stops one at max_iter = 3",
}


def single_valued(values: dict[str, dict[str, set]]) -> list[str]:
    """The parameters (with a default) that the report gives one value only and ONE_VALUE does not explain."""
    return sorted(f"{name}: {parameter} only at {next(iter(keys))}" for name, parameters in values.items()
                  for parameter, keys in parameters.items() if len(keys) < 2 and (name, parameter) not in ONE_VALUE)


def missing(calls: dict[str, list[dict[str, Any]]], requirements: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The requirements that no recorded call meets, one line each."""
    out = []
    for name, facets in requirements:
        if not any(all(call.get(k) == v for k, v in facets.items()) for call in calls.get(name, [])):
            out.append(f"{name} with {facets}")
    return out


# the built-in cases (not the bad-input ones: bad values, no numerical reference, they cover no option)
CASES = [name for name, spec in registry().items()
         if spec.fn.__module__.startswith("verify.cases") and "bad-input" not in spec.tags]

# what some cases must hold beyond passing: (words in a check's name, how many such checks (min, max; None: no
# upper limit), the range their values must lie in or None)
CONTENTS: dict[str, list[tuple[str, tuple[int, int | None], tuple[float, float] | None]]] = {
    "ou-3d": [("L1 order", (2, 2), (1.9, 2.1))],          # Douglas ADI and Crank–Nicolson on an anisotropic box
    "bb-fipy-poisson": [("free-end", (16, 16), None), ("stationarity", (4, 4), None)],
    "symbolic-closure": [("", (15, None), None)],
    "flow-matching-particles-2d": [("silverman", (1, None), None)],
    "fokker-planck-options-2d": [("mean shift vs b T", (3, 3), (0.0, 1e-8)),     # one per flux, far within 1e-7
                                 ("+-1e4: FiPy vs array", (3, 3), (0.0, 1e-13))],
    "cupy-paths": [(label, (1, None), None) for label in (
        "eulerian.solve_fokker_planck", "eulerian.benamou_brenier", "eulerian.solve_continuity", "eulerian.jko_step",
        "eulerian.solve_porous_medium", "eulerian.solve_meanfield", "eulerian.flow_matching_grid_field",
        "eulerian.attention_velocity", "lagrangian.deposit", "lagrangian.w2", "lagrangian.implicit_euler_flow",
        "solver='lu'", "solver='multigrid'", "'euler-maruyama'", "'heun'")],
}


@pytest.fixture(scope="module")
def report_runs() -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]], dict[str, dict[str, set]],
                           dict[str, dict[str, set]]]:
    """The quick report's cases, run once for this module in two worker processes (the machine's two cores),
    each recording the calls of the cases it runs: (calls per public function, outcome per case, the keys of the
    results' records written and read, the values given to each parameter with a default). The cases' own tests
    elsewhere do not run them again."""
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(record_cases, [[name] for name in CASES]))   # one case per task: balanced
    calls: dict[str, list[dict[str, Any]]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    records: dict[str, dict[str, set]] = {}
    values: dict[str, dict[str, set]] = {}
    for recorded, outcome, keys, given in parts:
        outcomes.update(outcome)
        for function, parameters in given.items():
            for parameter, seen in parameters.items():
                values.setdefault(function, {}).setdefault(parameter, set()).update(seen)
        for function, facets in recorded.items():
            calls.setdefault(function, []).extend(facets)
        for record, seen in keys.items():
            for kind, names in seen.items():
                records.setdefault(record, {"written": set(), "read": set()})[kind] |= names
    return calls, outcomes, records, values


@pytest.fixture(scope="module")
def report_calls(report_runs) -> dict[str, list[dict[str, Any]]]:
    return report_runs[0]


@pytest.mark.parametrize("name", CASES)
def test_quick_case_passes(report_runs, name):
    outcome = report_runs[1][name]
    assert outcome["error"] is None, outcome["error"]
    assert outcome["checks"], "the case made no check"
    failed = [check for check, passed, _ in outcome["checks"] if not passed]
    assert not failed, f"failed checks: {failed}"
    for words, (least, most), values in CONTENTS.get(name, []):
        found = [(check, value) for check, _, value in outcome["checks"] if words in check]
        assert least <= len(found) and (most is None or len(found) <= most), (words, len(found), (least, most))
        if values is not None:
            assert all(values[0] <= value <= values[1] for _, value in found), (words, found, values)


def test_contents_name_cases_of_the_report():
    assert set(CONTENTS) <= set(CASES)


def test_every_public_function_is_called_by_the_report(report_calls):
    uncalled = sorted(set(public_functions()) - set(report_calls) - set(NOT_CALLED_DIRECTLY))
    assert not uncalled, f"public functions that no report case calls: {uncalled}"
    assert set(NOT_CALLED_DIRECTLY) <= set(public_functions()), "NOT_CALLED_DIRECTLY lists a name that is gone"


def test_every_registered_option_is_exercised(report_calls):
    gaps = missing(report_calls, REQUIREMENTS)
    assert not gaps, "options no report case runs:\n" + "\n".join(gaps)


def test_every_parameter_takes_two_values(report_runs):
    """Every parameter with a default (an option, a step, a tolerance, a field) of a public function, or of a
    public class's constructor or method, is run at two values at least, counting the default where a call leaves
    it out: mutation samples kept finding an option the report ran at
    its default only (gamma, alpha and check_every of benamou_brenier; jko_step's sigma and warm_start), so that a
    solver ignoring it passed."""
    values = report_runs[3]
    gaps = single_valued(values)
    assert not gaps, "parameters the report runs at one value only:\n" + "\n".join(gaps)
    stale = [key for key in ONE_VALUE if len(values.get(key[0], {}).get(key[1], ())) != 1]
    assert not stale, f"ONE_VALUE explains parameters that are now run at two values or not at all: {stale}"


def unrun_choices(values: dict[str, dict[str, set]], choices: dict[tuple[str, str], set]) -> list[str]:
    """The choices (a value a function validates with check_choice or `not in (...)`) that no report call of that
    function passes; functions the report never calls directly (classes built by a factory) are left out."""
    out = []
    for (name, parameter), allowed in sorted(choices.items()):
        seen = values.get(name, {}).get(parameter)
        if seen:
            out += [f"{name}({parameter}={c!r})" for c in sorted(allowed) if f"str:{c!r}" not in seen]
    return out


def test_every_choice_is_run(report_runs):
    """Each value of each choice a public function validates (limiters, boundaries, on_failure, outside, step
    rules, ...) is passed by some report call: a new choice added to a module's tuple fails here until a case runs
    it, whether or not REQUIREMENTS names its registry."""
    choices = choice_parameters()
    assert ("eulerian.solve_fokker_planck", "flux") in choices and ("lagrangian.deposit", "outside") in choices
    gaps = unrun_choices(report_runs[3], choices)
    assert not gaps, "choices no report call runs:\n" + "\n".join(gaps)


def test_a_choice_no_call_runs_is_reported():
    values = {"lagrangian.deposit": {"outside": {"str:'raise'"}}}
    choices = {("lagrangian.deposit", "outside"): {"raise", "clip"}, ("eulerian.NetworkVelocity.__init__",
                                                                       "activation"): {"linear", "relu"}}
    assert unrun_choices(values, choices) == ["lagrangian.deposit(outside='clip')"]


def test_a_parameter_run_at_one_value_is_reported():
    values = {"eulerian.solve_meanfield": {"cfl": {"float:0.4"}, "limiter": {"str:'mc'", "str:'none'"}},
              "eulerian.jko_flow": {"max_steps": {"int:100000"}}}
    assert single_valued(values) == ["eulerian.solve_meanfield: cfl only at float:0.4"]


def unread(records: dict[str, dict[str, set]]) -> dict[str, list]:
    """Per record ('eulerian.solve_fokker_planck.info'), the keys some result wrote and no report check read."""
    return {name: sorted(map(str, keys["written"] - keys["read"])) for name, keys in sorted(records.items())
            if keys["written"] - keys["read"]}


def test_every_key_a_result_records_is_read_by_the_report(report_runs):
    """What a solver records of itself (Solution.info, BBResult.extras: the scheme, the step, iteration and sweep
    counts) is read by some report check: mutation samples kept finding entries recorded under the wrong key or
    with the wrong value that nothing read (dt, the time scheme, FiPy's solver and sweeps)."""
    records = report_runs[2]
    assert {"eulerian.solve_fokker_planck.info", "eulerian.benamou_brenier.extras"} <= set(records)
    assert not unread(records), f"recorded but read by no report check: {unread(records)}"


def test_a_record_key_no_check_reads_is_reported():
    records = {"eulerian.solve_continuity.info": {"written": {"cfl", "limiter", "new"}, "read": {"cfl", "limiter"}}}
    assert unread(records) == {"eulerian.solve_continuity.info": ["new"]}


def test_a_newly_registered_option_without_a_case_is_reported(report_calls):
    """The same requirements built from a registry holding one more flux and one more ODE stepper."""
    extra = [(FP, {"flux": "upwind-new", "time": "bdf2"}), (ODE, {"method": "rk45-new", "time-dependent": True})]
    assert missing(report_calls, REQUIREMENTS + extra) == [f"{n} with {f}" for n, f in extra]
