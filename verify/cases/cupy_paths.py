"""The CuPy code paths, on a GPU or on the CPU stand-in of CuPy: the case ``cupy-paths``.

Every valid call of the bad-input catalog (:data:`verify.bad_input.CALLS`) of ``eulerian`` and ``lagrangian`` is
made twice, on NumPy and on CuPy, and the two results must agree:

- a function with a ``backend`` argument runs with ``backend="cupy"``; a returned field is also evaluated at
  device points and must answer with device arrays; a returned density (``Solution.density``) stays on the device;
- a ``lagrangian`` function gets its arrays as device arrays (particles, samples, bounds, times) and its real
  numbers as 0-d device arrays, and must return device arrays where the NumPy call returns NumPy arrays; a
  returned field is evaluated at device points;
- the grid velocities (attention, network) are evaluated at a device density and device points.

Numbers must agree to :data:`VALUE_TOL` of each array's largest value (timings excepted; iteration counts only
on the stand-in, whose arithmetic is NumPy's). Where no GPU is usable,
CuPy is the stand-in of :mod:`verify.cupy_standin`: NumPy's arithmetic behind CuPy's strictness, so any implicit
host conversion, NumPy array given to a device function, or name CuPy lacks fails the call. Its CUDA C kernels
(Douglas ADI's line solves) run on the host (:mod:`verify.cuda_host`); a path it cannot run (no C++ compiler)
is listed as not run. The SDE integrators draw their
noise on the device, from another stream: their particles are compared with the NumPy run's in law (two-sample
z-scores of the mean and variance). The device memory that the memory refusals read must be the device's.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import itertools
import math
import sys
from typing import Any, Callable

import numpy as np

import eulerian
import lagrangian
from lagrangian.backend import memory_bytes
from eulerian import Grid, Solution
from verify.bad_input import CALLS, FieldProbe, ValidCall
from verify.cases.bad_input import check_gpu_backend_names
from verify.cupy_standin import CudaCodeUnsupported, cupy_or_standin, is_standin
from verify.harness import CaseContext, Check, case, make_check

VALUE_TOL = 1e-9          # relative to each array's largest |value|: other kernels' float64 rounding on a GPU
                          # (cuFFT, cuSPARSE); on the stand-in the arithmetic is NumPy's (measured 0)
TIMING_FIELDS = ("wall_time", "seconds", "setup_time")   # wall-clock figures differ between any two runs
Z_LAW = 5.0               # two-sample z-scores of the SDE particles: false alarm 5.7e-7 per statistic
SDE_PARTICLES, SDE_STEPS = 20_000, 8
STANDIN_MEMORY = 64 * 2**20  # bytes the stand-in's device reports: far below the host's, so a mix-up shows
GRID_VELOCITIES = ("eulerian.attention_velocity", "eulerian.network_velocity")
# calls compared otherwise or documented to answer on the host
NOT_COMPARED = {"lagrangian.integrate_sde": "device noise is another stream: compared in law below",
                "lagrangian.noise_factor": "documented to return NumPy (the factor of a small parameter matrix)"}


# ------------------------------------------------------------------------------------------ the two runs
def _is_device(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "cupy" and hasattr(a, "get")


def _device(cp: Any, value: Any, scalars: bool = False) -> Any:
    """Float arrays and lists of floats (bounds, times) moved to the device, lists and tuples of arrays
    elementwise, and with ``scalars`` floats as 0-d device arrays (a number computed on the device); everything
    else (integer shapes, callables) unchanged."""
    if scalars and type(value) is float:
        return cp.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return cp.asarray(value)
    if isinstance(value, list) and value and all(type(v) is float for v in value):
        return cp.asarray(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
        return type(value)(_device(cp, v) for v in value)
    return value


def _fresh(value: Any) -> Any:
    """A copy of a random generator in its current state (both runs draw the same numbers)."""
    return copy.deepcopy(value) if isinstance(value, np.random.Generator) else value


def _params(func: Callable) -> Any:
    """The parameter names of ``func`` (none where its signature cannot be read)."""
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}


def mode(label: str, call: ValidCall) -> str | None:
    """How ``call`` runs on CuPy: "backend" (then also "backend, device input"), "arrays", "grid-velocity", or
    None (NumPy-only input)."""
    if label.endswith("on FiPy") or label in NOT_COMPARED:
        return None
    if "backend" in _params(call.func):
        return "backend"
    if label.startswith(GRID_VELOCITIES):
        return "grid-velocity"
    if label.startswith("lagrangian.") and any(isinstance(v, np.ndarray) or isinstance(v, (list, tuple)) and v
                                              and all(isinstance(u, np.ndarray) for u in v)
                                              for v in [*dict(call.pos).values(), *call.kw.values()]):
        return "arrays"
    return None


def _current(func: Callable) -> Callable:
    """``func`` as its module binds it now: a wrapper installed there (e.g. a recorder of the report's calls, which
    the option-coverage test uses) sees these calls too."""
    name = getattr(func, "__qualname__", "")
    bound = getattr(sys.modules.get(getattr(func, "__module__", None) or ""), name, None) if "." not in name else None
    return bound if bound is not None and (bound is func or getattr(bound, "__wrapped__", None) is func) else func


def runs(call: ValidCall, how: str, cp: Any, only: str | None = None, **fixed: Any
         ) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(the NumPy run, the CuPy run) of ``call`` with the keyword arguments ``fixed`` (both runs); a returned field
    is evaluated as its probe says (and, on CuPy, at device points as well). ``only``: the one argument moved to
    the device in the CuPy run of an "arrays" call (the others stay on the host)."""
    pos, kw = call.pos, {**call.kw, **fixed}
    func = _current(call.func)

    def run(dev: bool) -> Any:
        on_device, scalars = dev and how in ("arrays", "backend, device input"), how == "arrays" and only is None

        def value(name: str, v: Any) -> Any:
            return _device(cp, v, scalars) if on_device and only in (None, name) else _fresh(v)

        p = [value(n, v) for n, v in pos]
        k = {n: value(n, v) for n, v in kw.items()}
        if dev and how.startswith("backend"):
            k["backend"] = "cupy"
        result = func(*p, **k)
        probe = call.probe
        if not (callable(result) and isinstance(probe, FieldProbe)):
            return result
        if how.startswith("backend"):   # the query points' namespace decides where the values come back
            return result, probe(result), probe(result, cp.asarray(probe.points) if dev else probe.points)
        if not dev:
            return result, probe(result)
        args = tuple(_device(cp, a) for a in probe.args)
        return result, result(*args, cp.asarray(probe.points))

    return (lambda: run(False)), (lambda: run(True))


# ------------------------------------------------------------------------------------------ comparing
def numbers(obj: Any, path: str = "result", out: dict | None = None) -> dict[str, tuple[bool, np.ndarray]]:
    """path -> (on the device, host values as float64) for the numbers in ``obj`` (arrays, numbers, containers,
    dataclasses; grids, timings and callables skipped)."""
    out = {} if out is None else out
    if _is_device(obj):
        out[path] = (True, np.asarray(obj.get(), dtype=float))
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "fiub":
        out[path] = (False, obj.astype(float))
    elif isinstance(obj, (float, int, np.floating, np.integer)):
        out[path] = (False, np.asarray(float(obj)))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key not in TIMING_FIELDS:
                numbers(value, f"{path}[{key!r}]", out)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            numbers(value, f"{path}[{i}]", out)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type) and not isinstance(obj, Grid) \
            and not callable(obj):   # (a field's caches are not results)
        for f in dataclasses.fields(obj):
            if f.name not in TIMING_FIELDS:
                numbers(getattr(obj, f.name, None), f"{path}.{f.name}", out)
    return out


def differences(host: Any, device: Any, counts: bool = True) -> tuple[float, list[str]]:
    """(the largest relative difference over the arrays of the two results, what else differs: a missing or
    reshaped value). ``counts``: compare the iteration counts of iterative solvers too (on the stand-in, whose
    arithmetic is NumPy's; a GPU's rounding may move a stopping test by an iteration)."""
    h, d = numbers(host), numbers(device)
    worst, other = 0.0, sorted(set(h) ^ set(d))
    for path in sorted(set(h) & set(d)):
        if not counts and "iterations" in path:
            continue
        a, b = h[path][1], d[path][1]
        if a.shape != b.shape:
            other.append(f"{path}: shape {a.shape} on NumPy, {b.shape} on CuPy")
            continue
        if a.size == 0:
            continue
        if not (np.array_equal(np.isfinite(a), np.isfinite(b)) and np.array_equal(a[~np.isfinite(a)],
                                                                                   b[~np.isfinite(b)])):
            other.append(f"{path}: non-finite values differ")
            continue
        finite = np.isfinite(a)
        scale = float(np.abs(a[finite]).max(initial=0.0)) or 1.0
        worst = max(worst, float(np.abs(a[finite] - b[finite]).max(initial=0.0)) / scale)
    return worst, other


def placement(how: str, host: Any, device: Any) -> list[str]:
    """Values that should be device arrays and are not: a returned array (or a field's values) where the CuPy
    run's input was on the device, and a solver's density; and Douglas ADI on CuPy not solving its lines with
    the CUDA kernels."""
    wrong = []
    if how in ("arrays", "grid-velocity"):
        pairs = [("result", host, device)]
        if isinstance(host, tuple) and len(host) == 2 and callable(host[0]):   # (field, values)
            pairs = [("field values", host[1], device[1])]
        for name, h, d in pairs:
            if isinstance(h, np.ndarray) and h.ndim >= 1 and not _is_device(d):
                wrong.append(f"{name}: {type(d).__name__} for device input")
    elif how.startswith("backend"):
        if isinstance(device, Solution) and not _is_device(device.density):
            wrong.append(f"Solution.density: {type(device.density).__name__} with backend='cupy'")
        if isinstance(device, Solution) and device.info.get("time") == "douglas-adi" and \
                device.info.get("line_solver") != "cuda-thomas":   # the CUDA kernels, not array operations
            wrong.append(f"Douglas ADI's line solver on CuPy: {device.info.get('line_solver')!r}")
        if isinstance(device, tuple) and len(device) == 3 and not _is_device(device[2]):
            wrong.append(f"field values at device points: {type(device[2]).__name__}")
        if isinstance(device, tuple) and len(device) == 3 and _is_device(device[1]):
            wrong.append("field values at NumPy points came back on the device")
    return wrong


def check_call(label: str, call: ValidCall, how: str, cp: Any, **fixed: Any) -> Check | str:
    """One catalog call on NumPy and CuPy (with the keyword arguments ``fixed``): the check, or a line saying why
    the CuPy run cannot be made here."""
    name = label + "".join(f", {k}={v!r}" for k, v in fixed.items()) + f" on CuPy ({how}): largest relative " \
        "difference from NumPy"
    host_run, device_run = runs(call, how, cp, **fixed)
    host = host_run()
    try:
        device = device_run()
    except CudaCodeUnsupported as exc:
        return f"{label}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the CuPy path raised: the check fails and says why
        return make_check(name, math.inf, upper=VALUE_TOL,
                          detail=f"the CuPy run raised {type(exc).__name__}: {exc}"[:400])
    worst, other = differences(host, device, counts=is_standin(cp))
    wrong = placement(how, host, device)
    problems = other + wrong
    return make_check(name, worst if not problems else math.inf, upper=VALUE_TOL,
                      detail="; ".join(problems)[:400] if problems else f"{len(numbers(host))} values compared")


def device_arguments(call: ValidCall, cp: Any) -> list[str]:
    """The arguments of ``call`` that the "arrays" runs move to the device."""
    return [n for n, v in [*call.pos, *call.kw.items()] if _device(cp, v) is not v]


def check_mixed(label: str, call: ValidCall, cp: Any) -> Check:
    """The call with one array argument at a time on the device and the others on the host (two point clouds,
    neurons and inputs, a cloud and its parameters): it must run and compute what NumPy computes (arrays that
    enter one computation together are copied to the device, lagrangian.backend.on_one_device)."""
    name = f"{label} on CuPy (mixed: one array argument at a time on the device): largest relative difference " \
        "from NumPy"
    worst, problems, names = 0.0, [], device_arguments(call, cp)
    for only in names:
        host_run, device_run = runs(call, "arrays", cp, only=only)
        try:
            device = device_run()
        except Exception as exc:  # noqa: BLE001 - the mixed run raised: the check fails and says why
            worst, problems = math.inf, problems + [f"{only} on the device: {type(exc).__name__}: {exc}"]
            continue
        diff, other = differences(host_run(), device, counts=is_standin(cp))
        worst = max(worst, diff)
        problems += [f"{only} on the device: {o}" for o in other]
    return make_check(name, worst if not problems else math.inf, upper=VALUE_TOL,
                      detail="; ".join(problems)[:400] if problems else f"{len(names)} arguments in turn")


def extra_calls() -> dict[str, ValidCall]:
    """Paths that the catalog's small calls do not reach: the interpolated attention velocity (it needs
    INTERP_ROWS_PER_NODE query rows per Chebyshev node; fewer fall back to the exact sums), multigrid levels
    with smoothers (the catalog's grids are solved on the coarsest, dense level), Douglas ADI's CUDA line solves
    with a partly filled thread block and cyclic lines under a drift that changes with time (refactorised every
    step), a stationary density with the diffusion given as cell values, a JKO potential given as cell
    values (both on the device with device input), and an affine field on more points than one block of rows."""
    grid = Grid((-2.0, -1.5), (2.0, 1.5), (20, 12))
    rho = np.exp(-((grid.centers() - [0.2, -0.1]) ** 2).sum(-1) / 0.5)
    points = np.random.default_rng(7).uniform([-1.5, -1.0], [1.5, 1.0], (2500, 2))
    Q, K, V = np.array([[1.0, 0.3], [-0.2, 0.8]]), np.array([[0.5, 0.0], [0.1, 0.4]]), np.array([[0.0, 1.0],
                                                                                                 [-1.0, 0.2]])
    box = Grid((-3.0, -2.0), (3.0, 2.0), (48, 40))   # unequal spacings and cell counts
    bump = np.exp(-((box.centers() - [0.5, -0.2]) ** 2 / [0.6, 0.3]).sum(-1))
    line = Grid((-3.0,), (3.0,), (24,))
    strip = Grid((-3.0, -1.0), (3.0, 1.0), (65, 9))   # 65 lines along axis 1: a second thread block of one line
    ridge = np.exp(-((strip.centers() - [0.4, 0.1]) ** 2 / [1.0, 0.2]).sum(-1))
    return {
        "eulerian.attention_velocity, method 'interpolated', 2 500 points": ValidCall(
            eulerian.attention_velocity, [("Q", Q), ("K", K), ("V", V)],
            {"method": "interpolated", "wall_mass": None}, probe=FieldProbe(points, (0.0, grid, rho))),
        "eulerian.solve_fokker_planck, 48 x 40 cells, multigrid, drift depending on t": ValidCall(
            eulerian.solve_fokker_planck,
            [("grid", box), ("rho0", bump), ("drift", lambda t, x: -x * [1.0 + t, 0.5]), ("diffusion", 0.3),
             ("t_final", 0.2), ("steps", 4)],
            {"time": "bdf2", "solver": "multigrid", "backend": "numpy"}),
        "eulerian.solve_fokker_planck, Douglas ADI, 65 x 9 cells, periodic along axis 0, drift depending on t":
            ValidCall(eulerian.solve_fokker_planck,
                      [("grid", strip), ("rho0", ridge), ("drift", lambda t, x: -x * [0.5, 1.0 + t] + [0.3, 0.0]),
                       ("diffusion", [[0.4, 0.0], [0.0, 0.1]]), ("t_final", 0.2), ("steps", 4)],
                      {"time": "douglas-adi", "boundary": ["periodic", "zero-flux"], "backend": "numpy"}),
        "eulerian.solve_stationary, 48 x 40 cells, diffusion as cell values": ValidCall(
            eulerian.solve_stationary, [("grid", box), ("drift", lambda t, x: -x * [1.0, 0.5]),
                                        ("diffusion", 0.2 + 0.3 * bump)], {"backend": "numpy"}),
        # 2 500 rows: the offset is added to whole blocks of rows on NumPy, by broadcasting on the device
        "lagrangian.affine_field, 2 500 points": ValidCall(
            lagrangian.affine_field, [("matrix", Q), ("offset", [0.1, -0.2])], {}, probe=FieldProbe(points)),
        "eulerian.jko_step, potential as cell values": ValidCall(
            eulerian.jko_step, [("grid", line), ("rho", np.exp(-line.centers()[..., 0] ** 2)), ("tau", 0.1)],
            {"potential": 0.5 * line.centers()[..., 0] ** 2, "diffusion": 0.5, "time_steps": 2, "max_iter": 300,
             "tol": 1e-3, "on_failure": "return", "backend": "numpy"}),
    }


def catalog_checks(cp: Any) -> tuple[list[Check], list[str]]:
    """A check per catalog call (and :func:`extra_calls`) that runs on CuPy; lines for the calls that cannot run
    here."""
    checks, not_run = [], []
    for label, call in {**CALLS, **extra_calls()}.items():
        if not label.startswith(("eulerian.", "lagrangian.")):
            continue
        how = mode(label, call)
        if how is None:
            continue
        # with backend="cupy", the arrays given (densities, potentials) may also be device arrays
        for way in (how, "backend, device input") if how == "backend" else (how,):
            for fixed in variants(call) if way == how else variants(call)[:1]:
                outcome = check_call(label, call, way, cp, **fixed)
                (not_run.append if isinstance(outcome, str) else checks.append)(outcome)
        if how == "arrays" and len(device_arguments(call, cp)) > 1:
            checks.append(check_mixed(label, call, cp))
    return checks, not_run


def variants(call: ValidCall) -> list[dict]:
    """The keyword arguments pinned per run. A solver="auto" picks by backend (sparse LU on NumPy at these sizes,
    multigrid on CuPy): both runs take the same solver, each of "lu" and "multigrid" in turn."""
    if ("solver" not in _params(call.func) or call.kw.get("solver", "auto") != "auto"
            or call.kw.get("backend", "numpy") == "fipy" or call.kw.get("time") == "douglas-adi"):
        return [{}]
    return [{"solver": "lu"}, {"solver": "multigrid"}]


# ------------------------------------------------------------------------------------------ SDE noise
def check_sde_law(cp: Any, rng: np.random.Generator) -> list[Check]:
    """Each SDE method on device particles against the same method on NumPy: the noise is drawn on the device
    (another stream), so the two particle clouds are compared in law. dX = (B X + f(t)) dt + sqrt(2D) dW in 2-D,
    non-symmetric B, time-dependent f, D a full matrix and D a per-axis vector (the two noise paths of the
    integrators); two-sample z-scores of every mean and variance component must stay within Z_LAW."""
    B = np.array([[-1.0, 0.4], [-0.2, -0.6]])
    diffusions = {"matrix D": np.array([[0.3, 0.05], [0.05, 0.1]]), "per-axis D": np.array([0.3, 0.1])}
    x0 = rng.standard_normal((SDE_PARTICLES, 2)) * [0.5, 0.8] + [1.0, -0.5]

    def drift(t: float, x: Any) -> Any:
        xp = lagrangian.get_xp(x)
        return x @ xp.asarray(B.T) + xp.asarray([math.sin(3.0 * t), 0.5 * t])

    checks = []
    for (method, (form, D)) in itertools.product(sorted(lagrangian.SDE_STEPPERS), diffusions.items()):
        a = lagrangian.integrate_sde(drift, D, x0, 0.0, 1.0, SDE_STEPS, rng=np.random.default_rng(rng.integers(2**63)),
                                     method=method)
        name = (f"integrate_sde method {method!r}, {form}, on CuPy: largest two-sample |z| of the mean and variance "
                "against NumPy")
        try:
            b_dev = lagrangian.integrate_sde(drift, D, cp.asarray(x0), 0.0, 1.0, SDE_STEPS,
                                             rng=np.random.default_rng(rng.integers(2**63)), method=method)
        except Exception as exc:  # noqa: BLE001 - the CuPy path raised
            checks.append(make_check(name, math.inf, upper=Z_LAW, detail=f"raised {type(exc).__name__}: {exc}"[:300]))
            continue
        if not _is_device(b_dev):
            checks.append(make_check(name, math.inf, upper=Z_LAW,
                                     detail=f"returned {type(b_dev).__name__} for device particles"))
            continue
        b = b_dev.get()
        n = SDE_PARTICLES
        z_mean = (b.mean(0) - a.mean(0)) / np.sqrt((a.var(0) + b.var(0)) / n)
        # variance of a sample variance: (m4 - s^4) / n
        m4a, m4b = ((a - a.mean(0)) ** 4).mean(0), ((b - b.mean(0)) ** 4).mean(0)
        z_var = (b.var(0) - a.var(0)) / np.sqrt((m4a - a.var(0) ** 2 + m4b - b.var(0) ** 2) / n)
        z = float(np.abs(np.concatenate([z_mean, z_var])).max())
        checks.append(make_check(name, z, upper=Z_LAW, standard_error=1.0,
                                 false_alarm=4 * math.erfc(Z_LAW / math.sqrt(2)),
                                 detail=f"{n} particles, {SDE_STEPS} steps, 4 statistics"))
    return checks


# ------------------------------------------------------------------------------------------ defaults per backend
def check_bb_default_dtype(cp: Any) -> Check:
    """benamou_brenier's default dtype is "mixed" on NumPy and float64 on CuPy: 60 iterations on CuPy with the
    default must match NumPy's float64 run (mixed storage differs by float32 round-off, 1e-7)."""
    grid = Grid((0.0,), (1.0,), (32,))
    x = grid.centers()[..., 0]
    rho0, rho1 = np.exp(-((x - 0.3) / 0.08) ** 2) + 0.05, np.exp(-((x - 0.65) / 0.1) ** 2) + 0.05
    fixed = dict(max_iter=60, tol=0, residual_tol=0, step_rule="fixed", method="primal-dual", normalize=True)
    ref = eulerian.benamou_brenier(grid, rho0, rho1, 16, dtype="float64", **fixed)
    got = eulerian.benamou_brenier(grid, rho0, rho1, 16, backend="cupy", **fixed)
    worst, other = differences((ref.w2_squared, ref.density), (got.w2_squared, got.density))
    return make_check("eulerian.benamou_brenier on CuPy, dtype left at its default: largest relative difference "
                      "from NumPy's float64 run", worst if not other else math.inf, upper=VALUE_TOL,
                      detail="; ".join(other) or "60 primal-dual iterations, fixed steps")


# ------------------------------------------------------------------------------------------ memory
def check_device_memory(cp: Any, expected: int | None) -> Check:
    """lagrangian.backend.memory_bytes on CuPy must read the device's memory, not the host's."""
    got = memory_bytes(cp)
    if expected is None:   # a real GPU: its own total
        expected = int(cp.cuda.Device().mem_info[1])
    return make_check("memory the CuPy refusals read: relative difference from the device's total",
                      abs((got or 0) - expected) / expected, upper=0.0,
                      detail=f"read {got} bytes, the device has {expected}")


def device_refusals(cp: Any) -> dict[str, Callable[[], Any]]:
    """Requests beyond the stand-in device's memory cap and far within the host's: on CuPy each must be refused
    up front, naming the GPU's memory."""
    grid = Grid((0.0, 0.0), (1.0, 1.0), (128, 96))
    rho = np.ones(grid.shape)
    x = cp.asarray(np.random.default_rng(1).standard_normal((3000, 2)))
    return {
        "eulerian.benamou_brenier, 128 x 96 cells x 64 steps": lambda: eulerian.benamou_brenier(
            grid, rho, rho, 64, backend="cupy", max_iter=1),
        "eulerian.solve_fokker_planck, 128 x 96 cells saved at 400 times": lambda: eulerian.solve_fokker_planck(
            grid, rho, lambda t, z: -z, 0.5, 1.0, 400, backend="cupy", save_at=np.linspace(0.0, 1.0, 401)),
        "eulerian.solve_meanfield, 128 x 96 cells saved at 400 times": lambda: eulerian.solve_meanfield(
            grid, rho, lambda t, g, r, z: -z, 1.0, backend="cupy", save_at=np.linspace(0.0, 1.0, 401)),
        "eulerian.solve_continuity, 128 x 96 cells saved at 400 times": lambda: eulerian.solve_continuity(
            grid, rho, lambda t, z: -z, 1.0, backend="cupy", save_at=np.linspace(0.0, 1.0, 401)),
        "lagrangian.deposit of device particles on 2 048 x 2 048 cells": lambda: lagrangian.deposit(
            x, (-4.0, -4.0), (4.0, 4.0), (2048, 2048)),
        "lagrangian.sliced_w2 of 3 000 device particles, 1 000 projections": lambda: lagrangian.sliced_w2(
            x, x, projections=1000, rng=np.random.default_rng(0)),
        "lagrangian.gaussian_kde, one chunk of 3 000 x 3 000 device distances": lambda: lagrangian.gaussian_kde(
            x, x, chunk_bytes=2**30),
        "lagrangian.flow_matching_field_from_samples, one chunk of 3 000 x 3 000 device weights": lambda: (
            lagrangian.flow_matching_field_from_samples(x, x + 1.0, chunk_bytes=2**30)(0.5, x)),
        "lagrangian.network_field, one chunk of 3 000 x 3 000 device pre-activations": lambda: lagrangian.network_field(
            x[:, :1], x[:, 1], chunk_bytes=2**30)(0.0, x),
        "lagrangian.implicit_euler_flow of 3 000 device particles, 2 000 steps": lambda: lagrangian.implicit_euler_flow(
            x, 0.01, 2000, potential=lambda z: 0.5 * (z**2).sum(-1)),
        "lagrangian.blob_velocity of 3 000 device particles, blocks of 1 024 x 3 000 pairs": lambda: (
            lagrangian.blob_velocity(x, 2.0, 0.3)),
    }


def check_device_refusals(cp: Any) -> Check:
    """The requests of :func:`device_refusals` on the stand-in's STANDIN_MEMORY device: each must raise a memory
    refusal (MemoryError) whose message names the GPU and its total, before computing. The value is the number of
    wrong outcomes."""
    total = f"{STANDIN_MEMORY / 2**30:.3g} GiB"
    wrong = []
    for label, request in device_refusals(cp).items():
        try:
            request()
            wrong.append(f"{label}: ran")
        except (MemoryError, lagrangian.MemoryBudgetError) as exc:
            if "GPU" not in str(exc) or total not in str(exc):
                wrong.append(f"{label}: the refusal does not name the GPU's {total}: {exc}"[:200])
        except Exception as exc:  # noqa: BLE001 - any other outcome is counted
            wrong.append(f"{label}: {type(exc).__name__}: {exc}"[:200])
    return make_check("memory refusals on CuPy naming the GPU's memory (wrong outcomes)", len(wrong), upper=0,
                      detail="; ".join(wrong)[:400] or f"{len(device_refusals(cp))} requests refused")


@case("cupy-paths", title="CuPy paths (a GPU, else the CPU stand-in): every catalog call with a backend or "
                          "array input agrees with its NumPy run, stays on the device, and draws device noise "
                          "of the right law", tags=("gpu", "eulerian", "lagrangian"))
def cupy_paths(ctx: CaseContext) -> None:
    with cupy_or_standin(STANDIN_MEMORY) as (cp, on_gpu):
        ctx.note("CuPy", "a CUDA GPU" if on_gpu else "the CPU stand-in of CuPy (no usable GPU)")
        checks, not_run = catalog_checks(cp)
        ctx.add_all(checks)
        if not_run:
            ctx.note("not run here", not_run)
        ctx.add(check_bb_default_dtype(cp))
        ctx.add_all(check_sde_law(cp, ctx.rng("sde")))
        ctx.add(check_device_memory(cp, None if on_gpu else STANDIN_MEMORY))
        if not on_gpu:   # (a GPU's memory is too large for cheap requests beyond it)
            ctx.add(check_device_refusals(cp))
        ctx.add(check_gpu_backend_names())
