"""The verification harness: checks, cases, a registry and a runner.

A *check* is one number compared with an acceptance band: it passes iff the value is finite and
``lower <= value <= upper`` (either bound may be absent). Checks are built by pure functions
(:func:`make_check` and the ``check_*`` functions of the case modules), so a test can feed the same
function a deliberately wrong scheme and assert that the check fails.

A *case* is a function ``fn(ctx)`` registered with :func:`case`; it builds a problem, runs it and
records checks, plot series and notes on its :class:`CaseContext`. :func:`run_case` executes one case
and returns a :class:`CaseResult`; an exception inside a case becomes a failed result, never a crash.
"""
from __future__ import annotations

import difflib
import hashlib
import math
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

__all__ = [
    "Check", "Series", "Slopes", "Image", "CaseResult", "CaseContext", "CaseSpec", "make_check", "case",
    "registry", "get_case", "run_case", "case_seed", "json_float", "UnknownCaseError",
]


@dataclass(frozen=True)
class Check:
    """One verified number: passes iff ``value`` is finite and ``lower <= value <= upper``.

    Checks built from an interval (fitted orders, :mod:`verify.convergence`) also carry ``verdict``
    ("pass", "fail" or "inconclusive") and the 95 % ``interval``; ``passed`` is True only for "pass".
    """

    name: str
    value: float
    passed: bool
    lower: float | None = None
    upper: float | None = None
    reference: float | None = None
    detail: str = ""
    seconds: float = 0.0
    verdict: str | None = None
    interval: tuple[float, float] | None = None
    standard_error: float | None = None   # Monte Carlo standard error of ``value`` (stochastic checks only)
    false_alarm: float | None = None      # stated probability that the check fails for a correct scheme

    @property
    def status(self) -> str:
        """"pass", "fail" or "inconclusive"."""
        if self.passed:
            return "pass"
        return "inconclusive" if self.verdict == "inconclusive" else "fail"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "value": json_float(self.value), "passed": self.passed,
            "status": self.status, "lower": json_float(self.lower), "upper": json_float(self.upper),
            "reference": json_float(self.reference), "detail": self.detail,
            "seconds": round(self.seconds, 6),
            "interval": None if self.interval is None else [json_float(v) for v in self.interval],
            "standard_error": json_float(self.standard_error),
            "false_alarm": self.false_alarm,
        }

    def band(self) -> str:
        """Human-readable acceptance band, e.g. ``≤ 1e-12`` or ``[1.8, 2.2]``."""
        if self.lower is not None and self.upper is not None:
            return f"[{self.lower:.4g}, {self.upper:.4g}]"
        if self.upper is not None:
            return f"≤ {self.upper:.4g}"
        if self.lower is not None:
            return f"≥ {self.lower:.4g}"
        return "finite"


def json_float(x: float | None) -> float | str | None:
    """A float for JSON: finite values as they are, non-finite ones as "nan", "inf" or "-inf"."""
    if x is None:
        return None
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def make_check(name: str, value: float, *, lower: float | None = None, upper: float | None = None,
               reference: float | None = None, detail: str = "", seconds: float = 0.0,
               standard_error: float | None = None, false_alarm: float | None = None) -> Check:
    """Build a :class:`Check`; NaN or infinite values always fail. ``standard_error``: the Monte Carlo standard
    error of the value for stochastic checks (1 for values measured in standard errors), used by baselines.
    ``false_alarm``: the stated probability that a stochastic check fails although the scheme is right (what
    ``twinflow report --seeds K`` measures)."""
    if false_alarm is not None and not 0.0 < false_alarm < 1.0:
        raise ValueError(f"check {name!r}: false_alarm must lie in (0, 1), got {false_alarm!r}")
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"check {name!r}: lower bound {lower} exceeds upper bound {upper}")
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"check {name!r}: value must be a real number, got {value!r}") from exc
    passed = math.isfinite(value)
    if passed and lower is not None:
        passed = value >= lower
    if passed and upper is not None:
        passed = value <= upper
    return Check(name=name, value=value, passed=bool(passed), lower=lower, upper=upper,
                 reference=None if reference is None else float(reference), detail=detail,
                 seconds=float(seconds), standard_error=None if standard_error is None else float(standard_error),
                 false_alarm=None if false_alarm is None else float(false_alarm))


@dataclass(frozen=True)
class Slopes:
    """An order verdict drawn on a log-log error plot: the fitted slope and its interval, the claimed slope and
    the band of slopes accepted around it."""

    fitted: float
    interval: tuple[float, float]
    claimed: float
    accepted: tuple[float, float]

    def __post_init__(self) -> None:
        values = (self.fitted, self.claimed, *self.interval, *self.accepted)
        if len(self.interval) != 2 or len(self.accepted) != 2 or any(math.isnan(float(v)) for v in values):
            raise ValueError(f"Slopes needs numbers and (low, high) pairs, got {self!r}")

    def to_dict(self) -> dict:
        return {"fitted": json_float(self.fitted), "interval": [json_float(v) for v in self.interval],
                "claimed": json_float(self.claimed), "accepted": [json_float(v) for v in self.accepted]}


@dataclass(frozen=True)
class Series:
    """Data for one line of a plot in the report (with ``slopes``: a convergence plot)."""

    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    xlabel: str
    ylabel: str
    logx: bool = False
    logy: bool = False
    label: str | None = None
    slopes: Slopes | None = None

    def to_dict(self) -> dict:
        out = {"name": self.name, "x": [json_float(v) for v in self.x],
               "y": [json_float(v) for v in self.y], "xlabel": self.xlabel,
               "ylabel": self.ylabel, "logx": self.logx, "logy": self.logy, "label": self.label}
        if self.slopes is not None:
            out["slopes"] = self.slopes.to_dict()
        return out


# The report's pictures are block averages on at most this many pixels per axis, values to 4 digits.
IMAGE_PIXELS = 48


@dataclass(frozen=True)
class Image:
    """Density pictures of a 2D case on one grid, shown side by side on one colour scale, with the difference of
    two of them (``difference``: (minuend, subtrahend) labels) on a diverging scale of its own.

    ``panels``: (label, values) with values[i][j] the density in cell (i, j), axis 0 along x; ``extent``:
    (x_min, x_max, y_min, y_max) of the box."""

    name: str
    panels: tuple[tuple[str, tuple[tuple[float, ...], ...]], ...]
    extent: tuple[float, float, float, float]
    difference: tuple[str, str] | None = None
    xlabel: str = "x"
    ylabel: str = "y"

    def to_dict(self) -> dict:
        return {"name": self.name, "panels": [{"label": k, "values": [list(row) for row in v]}
                                              for k, v in self.panels],
                "extent": list(self.extent), "difference": None if self.difference is None else list(self.difference),
                "xlabel": self.xlabel, "ylabel": self.ylabel}


def _block_mean(a: np.ndarray, pixels: int) -> np.ndarray:
    """Averages over near-equal blocks of cells, so that each axis has at most ``pixels`` entries."""
    for axis in (0, 1):
        n = a.shape[axis]
        if n > pixels:
            starts = np.linspace(0, n, pixels + 1).round().astype(int)
            counts = np.diff(starts)
            a = np.add.reduceat(a, starts[:-1], axis=axis) / (counts[:, None] if axis == 0 else counts[None, :])
    return a


@dataclass
class CaseResult:
    """Outcome of one case: its checks, plot series, notes and wall time."""

    case: str
    title: str
    tags: tuple[str, ...]
    checks: list[Check] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    seed: int | None = None
    images: list[Image] = field(default_factory=list)
    stochastic: bool = False   # the case drew from ctx.rng, so its values depend on the seed

    @property
    def passed(self) -> bool:
        """True iff the case ran without error, recorded at least one check, and all checks passed."""
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        """"pass", "fail" (an error or a failed check) or "inconclusive" (no failure, some inconclusive)."""
        if self.passed:
            return "pass"
        if self.error is not None or not self.checks or any(c.status == "fail" for c in self.checks):
            return "fail"
        return "inconclusive"

    def to_dict(self) -> dict:
        return {"case": self.case, "title": self.title, "tags": list(self.tags),
                "passed": self.passed, "status": self.status, "seed": self.seed, "stochastic": self.stochastic,
                "seconds": round(self.seconds, 6), "error": self.error,
                "checks": [c.to_dict() for c in self.checks],
                "series": [s.to_dict() for s in self.series],
                "images": [i.to_dict() for i in self.images],
                "notes": {k: _note_value(v) for k, v in self.notes.items()}}


def _note_value(v: object) -> object:
    """A note for JSON: numbers stay numbers, sequences of numbers become lists, anything else its text."""
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, (float, np.floating)):
        return json_float(float(v))
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (list, tuple, np.ndarray)) and all(
            isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in v):
        return [json_float(float(x)) for x in v]
    return str(v)


class CaseContext:
    """What a running case records into. ``quick`` asks for smaller sizes (the quick report)."""

    def __init__(self, name: str, *, quick: bool = False, seed: int | None = None,
                 on_check: Callable[[Check], None] | None = None):
        self.name = name
        self._on_check = on_check   # told of every check as it is recorded (progress display)
        self.quick = bool(quick)
        # a fixed, documented seed per case: SHA-256 of the case name unless given
        self.seed = seed if seed is not None else case_seed(name)
        self.checks: list[Check] = []
        self.series_list: list[Series] = []
        self.images: list[Image] = []
        self.notes: dict[str, object] = {}
        self._last = time.perf_counter()
        self.stochastic = False

    def rng(self, label: str = "") -> np.random.Generator:
        """A generator determined by the case's seed and ``label`` (independent streams per label)."""
        self.stochastic = True
        digest = hashlib.sha256(label.encode()).digest()[:8]
        return np.random.default_rng([self.seed, int.from_bytes(digest, "little")])

    def add(self, check: Check) -> Check:
        """Record a check built elsewhere; its ``seconds`` is the time since the previous check."""
        if not isinstance(check, Check):
            raise TypeError(f"ctx.add expects a Check, got {type(check).__name__}")
        now = time.perf_counter()
        if check.seconds == 0.0:
            check = Check(**{**check.__dict__, "seconds": now - self._last})
        self._last = now
        self.checks.append(check)
        if self._on_check is not None:
            self._on_check(check)
        return check

    def add_all(self, checks: Iterable[Check]) -> list[Check]:
        return [self.add(c) for c in checks]

    def check(self, name: str, value: float, *, lower: float | None = None,
              upper: float | None = None, reference: float | None = None,
              detail: str = "") -> Check:
        """Record ``make_check(name, value, ...)``."""
        return self.add(make_check(name, value, lower=lower, upper=upper, reference=reference,
                                   detail=detail))

    def series(self, name: str, x, y, *, xlabel: str, ylabel: str, logx: bool = False,
               logy: bool = False, label: str | None = None, slopes: Slopes | None = None) -> None:
        """Record a line for the report's plots (x, y: 1-D sequences of equal length); with ``slopes`` (a
        convergence plot) the fitted and claimed slopes and the accepted band are drawn through the points."""
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"series {name!r}: x has {x.size} points but y has {y.size}")
        if slopes is not None and not isinstance(slopes, Slopes):
            raise TypeError(f"series {name!r}: slopes must be a Slopes, got {type(slopes).__name__}")
        self.series_list.append(Series(name, tuple(x.tolist()), tuple(y.tolist()), xlabel,
                                       ylabel, logx, logy, label, slopes))

    def image(self, name: str, panels: dict[str, object], *, extent: tuple[float, float, float, float],
              difference: tuple[str, str] | None = None, xlabel: str = "x", ylabel: str = "y") -> None:
        """Record density pictures of one 2D grid (see :class:`Image`): ``panels`` maps a label ("grid",
        "particles", "exact", ...) to an (nx, ny) array of cell values, axis 0 along x."""
        arrays = {k: np.asarray(v, dtype=float) for k, v in panels.items()}
        shapes = {a.shape for a in arrays.values()}
        if not arrays or len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"image {name!r}: panels must be 2D arrays of one shape, got "
                             f"{ {k: a.shape for k, a in arrays.items()} }")
        if difference is not None and not set(difference) <= set(arrays):
            raise ValueError(f"image {name!r}: difference {difference!r} names a panel not in {sorted(arrays)}")
        if len(extent) != 4 or not all(math.isfinite(float(e)) for e in extent):
            raise ValueError(f"image {name!r}: extent must be (x_min, x_max, y_min, y_max), got {extent!r}")
        small = tuple((k, tuple(tuple(float(f"{v:.4g}") for v in row) for row in _block_mean(a, IMAGE_PIXELS)))
                      for k, a in arrays.items())
        self.images.append(Image(name, small, tuple(float(e) for e in extent),
                                 None if difference is None else (difference[0], difference[1]), xlabel, ylabel))

    def note(self, key: str, value: object) -> None:
        """Record an extra scalar shown with the case in the report."""
        self.notes[key] = value


@dataclass(frozen=True)
class CaseSpec:
    name: str
    title: str
    tags: tuple[str, ...]
    fn: Callable[[CaseContext], None]


_REGISTRY: dict[str, CaseSpec] = {}


class UnknownCaseError(ValueError):
    """A case name that is not registered."""


def case(name: str, *, title: str, tags: tuple[str, ...] = ()) -> Callable:
    """Decorator registering ``fn(ctx) -> None`` as the verification case ``name``."""
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise ValueError(f"case name {name!r} must be non-empty and use letters, digits, '-' or '_'")

    def register(fn: Callable[[CaseContext], None]) -> Callable[[CaseContext], None]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"case {name!r} is registered twice ({existing.fn.__module__} and "
                             f"{fn.__module__}); rename one")
        _REGISTRY[name] = CaseSpec(name, title, tuple(tags), fn)
        return fn

    return register


def registry() -> dict[str, CaseSpec]:
    """All registered cases (importing :mod:`verify.cases` registers the built-in ones)."""
    import verify.cases  # noqa: F401  (registers the built-in cases)
    return dict(_REGISTRY)


def get_case(name: str) -> CaseSpec:
    """The registered case ``name``; an unknown name raises UnknownCaseError with the close matches."""
    cases = registry()
    if name not in cases:
        close = difflib.get_close_matches(name.lower(), list(cases), n=3, cutoff=0.6) or sorted(
            c for c in cases if name.lower() in c or c in name.lower())   # a typo, or a part of the name
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownCaseError(f"unknown case {name!r}.{hint} Run `twinflow list` to see all cases.")
    return cases[name]


def case_seed(name: str, seed: int | None = None) -> int:
    """The seed of case ``name``: SHA-256 of the name, or of ``"{seed}:{name}"`` when a run seed is given
    (so every case of a seeded run has its own stream)."""
    text = name if seed is None else f"{int(seed)}:{name}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


# twinflow's own packages: the library never warns (numerical trouble raises, intended overflows are silenced
# where they happen), so a warning from a line of these files is a leak that the case's own checks may not see
OWN_CODE = tuple(Path(__file__).resolve().parent.parent / pkg for pkg in ("eulerian", "lagrangian", "verify"))


class WarningLog:
    """The distinct warnings raised while a case runs, with how often each was raised (one entry per category,
    message and line, so a warning raised at every step of a long run costs one entry)."""

    def __init__(self) -> None:
        self.counts: dict[tuple, int] = {}

    def show(self, message, category, filename, lineno, file=None, line=None) -> None:  # warnings.showwarning
        key = (category, str(message), filename, lineno)
        self.counts[key] = self.counts.get(key, 0) + 1


def check_no_warnings(log: WarningLog) -> Check:
    """The warnings raised from twinflow's own lines (:data:`OWN_CODE`) while a case ran: 0 to pass. Warnings of
    other code (SciPy, FiPy, a user's module) are not counted."""
    own = {key: n for key, n in log.counts.items()
           if any(Path(key[2]).resolve().is_relative_to(d) for d in OWN_CODE)}
    where = "; ".join(f"{Path(f).name}:{line} {cat.__name__}: {msg} (x{n})" for (cat, msg, f, line), n in
                      list(own.items())[:3])
    return make_check("warnings raised by twinflow's own code (eulerian, lagrangian, verify) during the case",
                      float(sum(own.values())), upper=0.0, reference=0.0, detail=where or "none")


def run_case(name: str, *, quick: bool = False, seed: int | None = None,
             on_check: Callable[[Check], None] | None = None) -> CaseResult:
    """Run one registered case; exceptions become a failed :class:`CaseResult` with the traceback.

    ``seed`` (an int) changes every random stream of the case; the case's own seed is recorded in the result.
    ``on_check`` is called with each check as the case records it."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    spec = get_case(name)
    ctx = CaseContext(spec.name, quick=quick, seed=case_seed(spec.name, seed), on_check=on_check)
    start = time.perf_counter()
    error = None
    log = WarningLog()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = log.show   # restored by catch_warnings
        try:
            spec.fn(ctx)
        except Exception as exc:  # a crashing case is a failed case, reported with its traceback
            error = f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=6)
    for category, message, filename, lineno in log.counts:  # shown once each under the caller's filters
        try:
            warnings.warn_explicit(message, category, filename, lineno)
        except Exception as exc:  # filters that make warnings errors fail the case, as inside it
            error = error or f"{type(exc).__name__}: {exc} (a warning that the warning filters make an error)"
    if error is None and not ctx.checks:
        error = "the case recorded no checks"
    if error is None:
        ctx.add(check_no_warnings(log))
    return CaseResult(case=spec.name, title=spec.title, tags=spec.tags, checks=ctx.checks,
                      series=ctx.series_list, notes=ctx.notes, images=ctx.images,
                      seconds=time.perf_counter() - start, error=error, seed=ctx.seed, stochastic=ctx.stochastic)
