"""Record which public functions and options the report's cases exercise (for tests/test_option_coverage.py).

``record_usage()`` wraps every public function of eulerian, lagrangian and verify.gaussian, in their defining
module and wherever a module holds the same object (``from eulerian import solve_fokker_planck``, or a default
argument ``kde=gaussian_kde``), and records
one set of facets per call: the options passed, the linear solver actually used, whether the field depends on
time (probed), whether the grid is anisotropic (different spacing and cell counts per axis). The wrappers are
removed on exit. Only the report runs through the recorder; nothing here is part of twinflow.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import sys
from collections import defaultdict
from typing import Any, Callable, Iterator

import numpy as np

import eulerian
import lagrangian
from eulerian.boundary import parse_boundary
from eulerian.continuity import BOUNDARIES as CONT_BOUNDARIES
from eulerian.diffusion import check_diffusion
from eulerian.fokker_planck import FP_BOUNDARIES, _drift_is_time_dependent
from verify import gaussian as vg
from verify.harness import registry

PACKAGES = {"eulerian": eulerian, "lagrangian": lagrangian, "gaussian": vg}


def public_functions() -> dict[str, Callable]:
    """'package.name' -> function, for every public function (not class, not registry) of the three APIs."""
    out = {}
    for label, module in PACKAGES.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                out[f"{label}.{name}"] = obj
    return out


# what the solvers return: built by the library, not by its users
RESULTS = ("BBResult", "Solution", "JKOStepResult", "JKOFlowResult", "ImplicitFlow")


def public_methods() -> dict[str, tuple[type, str, Callable]]:
    """'package.Class.method' -> (class, attribute, function), for the constructor and the public methods of every
    public class (not an exception, not a result) of the three APIs that take a parameter with a default."""
    out = {}
    for label, module in PACKAGES.items():
        for name in module.__all__:
            cls = getattr(module, name)
            if not inspect.isclass(cls) or issubclass(cls, BaseException) or name in RESULTS:
                continue
            for attr, f in vars(cls).items():
                if inspect.isfunction(f) and (attr == "__init__" or not attr.startswith("_")) and _optional(
                        inspect.signature(f)):
                    out[f"{label}.{name}.{attr}"] = (cls, attr, f)
    return out


def module_choices(module: Any) -> dict[str, set]:
    """{parameter name: the values it may take} for the choices ``module`` validates: ``check_choice("p", p,
    CHOICES)`` calls and ``p not in ("a", "b")`` tests, CHOICES a literal or a module-level tuple, list or dict."""
    def resolve(node: ast.AST) -> tuple | None:
        try:
            return tuple(ast.literal_eval(node))
        except ValueError:
            value = getattr(module, node.id, None) if isinstance(node, ast.Name) else None
            return tuple(value) if isinstance(value, (tuple, list, dict, frozenset)) else None

    out: dict[str, set] = {}
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "check_choice" \
                and len(node.args) >= 3 and isinstance(node.args[1], ast.Name):
            name, choices = node.args[1].id, resolve(node.args[2])
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and len(node.ops) == 1 \
                and isinstance(node.ops[0], ast.NotIn):
            name, choices = node.left.id, resolve(node.comparators[0])
        else:
            continue
        if choices and all(isinstance(c, str) for c in choices):
            out.setdefault(name, set()).update(choices)
    return out


def choice_parameters() -> dict[tuple[str, str], set]:
    """{('package.name', parameter): its choices} for the parameters with a default of the public functions and
    methods (public_functions, public_methods) that their module validates as a choice (module_choices)."""
    targets = {**public_functions(), **{name: f for name, (_, _, f) in public_methods().items()}}
    by_module = {module: module_choices(sys.modules[module]) for module in {f.__module__ for f in targets.values()}}
    out = {}
    for name, f in targets.items():
        choices = by_module[f.__module__]
        for parameter in _optional(inspect.signature(f)):
            if parameter in choices:
                out[(name, parameter)] = choices[parameter]
    return out


def _anisotropic(grid: Any) -> bool:
    return grid.dim >= 2 and len(set(grid.shape)) == grid.dim and len(set(np.round(grid.spacing, 12))) == grid.dim


def _time_dependent(field: Callable, t0: float, t1: float, x: np.ndarray) -> bool:
    """Whether field(t, x) changes between two times of [t0, t1] at the points x."""
    a, b = (np.asarray(lagrangian.to_numpy(field(t, x)), dtype=float) for t in (t0 + 0.3 * (t1 - t0), t1))
    return not np.allclose(a, b, rtol=1e-12, atol=0.0)


def _facets(name: str, bound: inspect.BoundArguments, result: Any) -> dict[str, Any]:
    """The options of one call, as {facet: value}."""
    a = bound.arguments
    if name in ("eulerian.solve_fokker_planck", "eulerian.solve_stationary"):
        grid = a["grid"]
        box = parse_boundary(a.get("boundary", "zero-flux"), grid.dim, FP_BOUNDARIES)
        walls = {f"wall:{c.name}": True for pair in box.sides for c in pair}
        diffusion = {"diffusion": check_diffusion(a["diffusion"], grid).kind}
        if name == "eulerian.solve_stationary":
            return {**walls, **diffusion, "flux": a.get("flux", "scharfetter-gummel"), "dim": grid.dim}
        return {**walls, **diffusion, "flux": result.info["flux"], "time": result.info["time"],
                "boundary": result.info["boundary"],
                "backend": result.backend, "solver": result.info["solver"],
                "time-dependent": _drift_is_time_dependent(grid, a["drift"], a["t_final"]),
                "anisotropic": _anisotropic(grid), "dim": grid.dim, "source": a.get("source") is not None,
                "damped_steps": result.info["damped_steps"]}
    if name == "eulerian.solve_continuity":
        grid = a["grid"]
        box = parse_boundary(a.get("boundary", "zero-flux"), grid.dim, CONT_BOUNDARIES)
        return {**{f"wall:{c.name}": True for pair in box.sides for c in pair},
                "limiter": a.get("limiter", "mc"), "boundary": box.label,
                "backend": result.backend,
                # the array backend reports its own probe; probing again would add calls to a velocity that
                # counts them (continuity-options-2d checks how often one independent of t is evaluated)
                "time-dependent": result.info["time_dependent"] if "time_dependent" in result.info
                else _drift_is_time_dependent(grid, a["velocity"], a["t_final"]),
                "anisotropic": _anisotropic(grid), "dim": grid.dim, "source": a.get("source") is not None}
    if name == "eulerian.benamou_brenier":
        grid = a["grid"]
        backend = a.get("backend", "numpy")
        name_ = backend if isinstance(backend, str) else backend.name
        default = {k: p.default for k, p in bound.signature.parameters.items()}
        # the run's own record of its method; dtype None means "mixed" on NumPy, float64 elsewhere
        return {"method": result.method, "boundary": a.get("boundary", default["boundary"]),
                "multilevel": bool(a.get("multilevel", default["multilevel"])),
                "dtype": str(a.get("dtype") or ("mixed" if name_ == "numpy" else "float64")),
                "step_rule": a.get("step_rule", default["step_rule"]),
                "backend": name_, "anisotropic": _anisotropic(grid), "dim": grid.dim}
    if name in ("lagrangian.integrate_ode", "lagrangian.integrate_sde"):
        field = a["field"] if name.endswith("ode") else a["drift"]
        method = a.get("method", "rk4" if name.endswith("ode") else "euler-maruyama")
        x0 = np.asarray(lagrangian.to_numpy(a["x0"]))[:16]
        facets = {"method": method if isinstance(method, str) else method.name,
                  "time-dependent": _time_dependent(field, float(a["t0"]), float(a["t1"]), x0)}
        if name.endswith("sde"):
            facets["diffusion"] = "matrix" if np.ndim(a["diffusion"]) == 2 else "scalar"
        return facets
    if name == "lagrangian.deposit":
        return {"method": a.get("method", "cic"), "outside": a.get("outside", "raise")}
    if name == "lagrangian.gaussian_kde":
        bw = a.get("bandwidth")
        return {"bandwidth": bw if isinstance(bw, str) or bw is None else "number"}
    if name == "lagrangian.kde_bandwidth_factor":
        return {"rule": a.get("rule", "scott")}
    if name in ("lagrangian.network_field", "lagrangian.network_output", "lagrangian.network_loss"):
        return {"activation": a.get("activation", "linear")}
    if name == "eulerian.solve_porous_medium":
        return {"reconstruction": result.info["reconstruction"], "time": result.info["time"],
                "dim": a["grid"].dim, "potential": a.get("potential") is not None}
    if name in ("eulerian.network_velocity", "eulerian.network_risk"):
        return {"activation": a.get("activation", "linear")}
    if name == "eulerian.solve_meanfield":
        return {"limiter": a.get("limiter", "mc"), "boundary": a.get("boundary", "zero-flux"),
                "diffusion": float(a.get("diffusion", 0.0)) > 0, "dim": a["grid"].dim}
    if name == "eulerian.attention_velocity":
        return {"method": a.get("method", "interpolated"), "guard": a.get("wall_mass", 1e-3) is not None}
    if name in ("eulerian.jko_step", "eulerian.jko_flow"):
        return {"dim": a["grid"].dim, "diffusion": float(a.get("diffusion", 0.0)) > 0,
                "potential": a.get("potential") is not None, "internal": a.get("internal") is not None}
    return {}


# the dicts in which a result describes itself (Solution.info, BBResult.extras)
RECORDS = ("info", "extras")


class ReadRecord(dict):
    """A result's record that notes the keys read from it (``[key]``, ``get``, ``in``) in ``reads``."""

    def __init__(self, values: dict, reads: set) -> None:
        super().__init__(values)
        self.reads = reads

    def __getitem__(self, key: Any) -> Any:
        self.reads.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.reads.add(key)
        return super().get(key, default)

    def __contains__(self, key: Any) -> bool:
        self.reads.add(key)
        return super().__contains__(key)


def value_key(value: Any, depth: int = 0) -> str:
    """A short text that tells two argument values apart: scalars by value, arrays by content, functions by their
    code and the values they close over (two lambdas of one factory with different constants differ), other
    objects by their repr (a dataclass's repr holds its fields). The same in every process (no hash(), no id())."""
    if value is None or isinstance(value, (bool, int, float, complex, str, np.generic)):
        return f"{type(value).__name__}:{value!r}"
    if inspect.isfunction(value):
        cells = []
        for cell in value.__closure__ or () if depth < 2 else ():
            try:
                cells.append(value_key(cell.cell_contents, depth + 1))
            except ValueError:   # an empty cell
                cells.append("empty")
        return f"function:{value.__module__}.{value.__qualname__}" + (f"[{', '.join(cells)}]" if cells else "")
    if inspect.ismethod(value):
        return f"method:{value.__qualname__} of {value_key(value.__self__, depth + 1)}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        array = np.ascontiguousarray(lagrangian.to_numpy(value))
        return f"array:{array.shape}:{array.dtype}:{hashlib.sha1(array.tobytes()).hexdigest()[:16]}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}:(" + ", ".join(value_key(v, depth + 1) for v in value) + ")"
    text = repr(value)
    # an object without a telling repr counts as one value per type (the test then asks rather than assumes)
    return text if len(text) <= 400 and " at 0x" not in text else f"object:{type(value).__qualname__}"


def _optional(signature: inspect.Signature) -> dict[str, Any]:
    """The parameters with a default: {name: default}."""
    return {name: p.default for name, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}


@contextlib.contextmanager
def record_usage(records: dict[str, dict[str, set]] | None = None,
                 values: dict[str, dict[str, set]] | None = None) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Yield {'package.name': [facets of each call]} filled while the block runs (public classes' constructors and
    methods too, as 'package.Class.method'). With ``records``: fill
    {'package.name.info': {"written": keys, "read": keys}} for the records (RECORDS) of the results the report
    gets, whose reads are noted from then on. With ``values``: fill {'package.name': {parameter: value keys}} with
    the values (value_key) that the report's calls give each parameter that has a default, the default included
    where a call leaves it out."""
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    originals = public_functions()
    by_id = {id(f): (name, f) for name, f in originals.items()}
    depth = [0]

    def wrap(name: str, f: Callable) -> Callable:
        signature = inspect.signature(f)
        optional = _optional(signature)

        @functools.wraps(f)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            try:
                result = f(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:   # calls made by the library itself are not the report's choices
                bound = signature.bind(*args, **kwargs)
                calls[name].append(_facets(name, bound, result))
                for parameter, default in optional.items() if values is not None else ():
                    seen = values.setdefault(name, {}).setdefault(parameter, set())
                    seen.add(value_key(bound.arguments.get(parameter, default)))
                for attr in RECORDS if records is not None else ():
                    record = getattr(result, attr, None)
                    if isinstance(record, dict) and not isinstance(record, ReadRecord):
                        keys = records.setdefault(f"{name}.{attr}", {"written": set(), "read": set()})
                        keys["written"] |= set(record)
                        setattr(result, attr, ReadRecord(record, keys["read"]))
            return result

        return recorded

    wrappers = {key: wrap(*value) for key, value in by_id.items()}

    def swap(value: Any) -> Any:
        return wrappers[id(value)] if id(value) in wrappers and value is by_id[id(value)][1] else value

    registry()  # import every case module first, so that what is patched does not depend on import order
    methods = public_methods()
    for name, (cls, attr, f) in methods.items():
        setattr(cls, attr, wrap(name, f))
    patched, defaults = [], []
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict) or not getattr(module, "__name__", "").startswith(
                ("eulerian", "lagrangian", "verify")):
            continue
        for attr, value in list(namespace.items()):
            if swap(value) is not value:
                patched.append((namespace, attr, value))
                namespace[attr] = swap(value)
            elif inspect.isfunction(value):   # def check(..., kde=gaussian_kde) or (..., *, kde=gaussian_kde)
                positional, keywords = value.__defaults__ or (), value.__kwdefaults__ or {}
                if any(swap(d) is not d for d in (*positional, *keywords.values())):
                    defaults.append((value, value.__defaults__, value.__kwdefaults__))
                    value.__defaults__ = tuple(swap(d) for d in positional) or None
                    value.__kwdefaults__ = {k: swap(d) for k, d in keywords.items()} or None
    try:
        yield calls
    finally:
        for namespace, attr, value in patched:
            namespace[attr] = value
        for function, positional, keywords in defaults:
            function.__defaults__, function.__kwdefaults__ = positional, keywords
        for cls, attr, f in methods.values():
            setattr(cls, attr, f)


def record_cases(names: list[str]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]],
                                             dict[str, dict[str, set]], dict[str, dict[str, set]]]:
    """Run the report cases ``names`` (quick mode) under :func:`record_usage`: (the recorded calls, per case
    {"error": the error or None, "checks": [(name, passed, value), ...]}, the keys of the results' records written
    and read, the values given to each parameter with a default). Module-level so that a worker process can run
    it; the outcomes are plain tuples so that they travel back."""
    from verify.harness import run_case

    outcomes, records, values = {}, {}, {}
    with record_usage(records, values) as calls:
        for name in names:
            result = run_case(name, quick=True)
            outcomes[name] = {"error": result.error,
                              "checks": [(c.name, c.passed, c.value) for c in result.checks]}
    return dict(calls), outcomes, records, values
