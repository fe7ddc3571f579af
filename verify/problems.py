"""Problems as data: what is solved and its exact reference, independent of any solver.

A :class:`Problem` states an evolution of a density (or of particles) on a box over [0, t_final]:

* ``kind="fokker-planck"``: ∂ρ/∂t + div(ρb) = div(D∇ρ) + S (D scalar: DΔρ), solved on a grid;
* ``kind="continuity"``: ∂ρ/∂t + div(ρv) = S, on a grid (``drift`` is the velocity v);
* ``kind="sde"``: particles dX = b(t, X) dt + sqrt(2D) dW, X_0 ~ the initial law;
* ``kind="ode"``: particles dX/dt = v(t, X).

The drift is an :class:`~verify.gaussian.Affine` map (b(x) = Bx + c), SymPy expressions in ``t`` and the
space variables (``x``, ``y``, ``z``), or a Python callable ``f(t, x)`` on points (..., d). The exact
reference is either the Gaussian law that an affine drift keeps (:func:`verify.gaussian.linear_sde`) or a
manufactured density whose source term :func:`verify.symbolic.manufactured_source` derives. ODE problems
with a non-affine velocity are referenced by an independent high-accuracy integration (SciPy's DOP853).

Built-in problems: :func:`get_problem` by name, :func:`list_problems` for the names. Every solver, built-in
(:mod:`verify.adapters`) or a user's, receives the same Problem.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from verify import gaussian as G
from verify.symbolic import ManufacturedSolution, field_function, manufactured_source

__all__ = [
    "KINDS", "GRID_KINDS", "PARTICLE_KINDS", "BOUNDARIES", "Problem", "ExpressionField",
    "get_problem", "list_problems", "UnknownProblemError", "SPACE_VARIABLES",
]

KINDS = ("fokker-planck", "continuity", "sde", "ode")
GRID_KINDS = ("fokker-planck", "continuity")
PARTICLE_KINDS = ("sde", "ode")
BOUNDARIES = ("zero-flux", "periodic")
SPACE_VARIABLES = ("x", "y", "z")  # names of the coordinates in expressions, by dimension


def space_symbols(d: int) -> tuple[sp.Symbol, sp.Symbol | tuple]:
    """(t, (x, y, z)[:d]) as real SymPy symbols: the variables of every problem expression."""
    t = sp.Symbol("t", real=True)
    return t, tuple(sp.Symbol(n, real=True) for n in SPACE_VARIABLES[:d])


@dataclass(frozen=True, eq=False)
class ExpressionField:
    """A vector field given by SymPy expressions v_k(t, x, y, z), evaluated through NumPy."""

    expressions: tuple[sp.Expr, ...]

    def __post_init__(self) -> None:
        d = len(self.expressions)
        if not 1 <= d <= 3:
            raise ValueError(f"an expression field needs 1 to 3 components, got {d}")
        t, xs = space_symbols(d)
        object.__setattr__(self, "_fn", field_function(self.expressions, t, xs))

    @property
    def dim(self) -> int:
        return len(self.expressions)

    @property
    def time_dependent(self) -> bool:
        t, _ = space_symbols(self.dim)
        return any(t in e.free_symbols for e in self.expressions)

    def __call__(self, t: float, x: Any) -> np.ndarray:
        return self._fn(t, x)

    def __repr__(self) -> str:
        return f"ExpressionField({', '.join(str(e) for e in self.expressions)})"


class UnknownProblemError(ValueError):
    """A problem name that is not built in."""


def _as_box(v: Any, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(a) for a in np.atleast_1d(np.asarray(v, dtype=float)))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers (one per axis), got {v!r}") from None
    if not all(math.isfinite(a) for a in out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


@dataclass(frozen=True, eq=False)
class Problem:
    """What is solved and its exact reference (see the module docstring).

    Parameters
    ----------
    name : identifier shown in tables and reports.
    kind : "fokker-planck", "continuity", "sde" or "ode".
    lower, upper : the box [lower_k, upper_k] (grids are laid on it; particles ignore it).
    t_final : final time T > 0.
    drift : b(t, x) (the velocity v for continuity and ODE problems): an Affine, an ExpressionField, or a
        callable f(t, x) on points (..., d) returning (..., d). Each is called as ``problem.drift(t, x)``.
    diffusion : D ≥ 0 (dX = sqrt(2D) dW, ∂ρ/∂t = DΔρ); a symmetric PSD d×d matrix for anisotropic D.
        Must be > 0 for Fokker–Planck problems and 0 for continuity and ODE problems.
    initial : the initial law, a Gaussian (required for particle problems; for grid problems unless
        ``manufactured`` gives the density).
    manufactured : a manufactured solution (grid problems): its ρ(t, x) is the exact density, its source S
        is added to the equation and ρ(0, ·) is the initial density.
    boundary : "zero-flux" or "periodic" (grid problems).
    levels : default refinement levels: cells per axis (grid problems) or step counts (particle problems).
    steps_per_cell : in space–time studies of grid problems, steps = ceil(steps_per_cell · N) at N cells per
        axis, so dt shrinks with h.
    aspect : cells per axis relative to the level N (grid problems): a level N is the grid of round(aspect_k · N)
        cells on axis k (default 1 on every axis). With a non-square box it makes both the spacing and the cell
        count differ per axis, which symmetric grids cannot test (an axis mix-up cancels on them).
    description : one line for ``twinflow problems``.
    """

    name: str
    kind: str
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    t_final: float
    drift: Any
    diffusion: Any = 0.0
    initial: G.Gaussian | None = None
    manufactured: ManufacturedSolution | None = None
    boundary: str = "zero-flux"
    levels: tuple[int, ...] = ()
    steps_per_cell: float = 0.5
    aspect: tuple[float, ...] | None = None
    description: str = ""
    _diffusion_matrix: np.ndarray = field(init=False, repr=False)
    _laws: dict = field(init=False, repr=False)  # exact laws by time (matrix exponentials computed once)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("name must be a non-empty string")
        object.__setattr__(self, "_laws", {})
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        lower, upper = _as_box(self.lower, "lower"), _as_box(self.upper, "upper")
        d = len(lower)
        if len(upper) != d or not 1 <= d <= 3:
            raise ValueError(f"lower and upper must have the same length 1-3 (one entry per axis), got "
                             f"{len(lower)} and {len(upper)}")
        if any(b <= a for a, b in zip(lower, upper)):
            raise ValueError(f"the box needs lower[k] < upper[k] on every axis, got {lower} and {upper}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        T = self.t_final
        if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)) \
                or not math.isfinite(T) or T <= 0:
            raise ValueError(f"t_final must be a finite number > 0, got {T!r}")
        object.__setattr__(self, "t_final", float(T))
        self._check_drift(d)
        self._check_diffusion(d)
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {', '.join(BOUNDARIES)}; got {self.boundary!r}")
        if self.initial is not None:
            if not isinstance(self.initial, G.Gaussian):
                raise TypeError(f"initial must be a verify.gaussian.Gaussian, got {type(self.initial).__name__}")
            if self.initial.dim != d:
                raise ValueError(f"initial law is {self.initial.dim}-D but the box is {d}-D")
        if self.manufactured is not None:
            if not isinstance(self.manufactured, ManufacturedSolution):
                raise TypeError("manufactured must be a verify.symbolic.ManufacturedSolution")
            if self.kind not in GRID_KINDS:
                raise ValueError(f"a manufactured solution needs a grid problem (kind 'fokker-planck' or "
                                 f"'continuity'), not {self.kind!r}")
            if self.manufactured.dim != d:
                raise ValueError(f"the manufactured solution is {self.manufactured.dim}-D but the box is {d}-D")
            if self.initial is not None:
                raise ValueError("give either initial (a Gaussian) or manufactured (its ρ(0, x) is the initial "
                                 "density), not both")
            self._check_manufactured(d)
        self._check_reference()
        levels = tuple(self.levels)
        if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in levels):
            raise ValueError(f"levels must be positive integers, got {self.levels!r}")
        object.__setattr__(self, "levels", tuple(int(n) for n in levels))
        spc = self.steps_per_cell
        if isinstance(spc, bool) or not isinstance(spc, (int, float)) or not math.isfinite(spc) or spc <= 0:
            raise ValueError(f"steps_per_cell must be a finite number > 0, got {spc!r}")
        if self.aspect is not None:
            aspect = tuple(self.aspect) if isinstance(self.aspect, (tuple, list, np.ndarray)) else None
            if aspect is None or len(aspect) != d or any(
                    isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating))
                    or not math.isfinite(a) or a <= 0 for a in aspect):
                raise ValueError(f"aspect must be {d} finite numbers > 0 (cells per axis relative to the level), "
                                 f"got {self.aspect!r}")
            object.__setattr__(self, "aspect", tuple(float(a) for a in aspect))

    # -- validation --------------------------------------------------------------------------------------
    def _check_drift(self, d: int) -> None:
        f = self.drift
        if isinstance(f, (G.Affine, ExpressionField)):
            if f.dim != d:
                raise ValueError(f"drift is {f.dim}-D but the box is {d}-D")
        elif not callable(f):
            raise TypeError("drift must be a verify.gaussian.Affine, an ExpressionField or a callable f(t, x) "
                            f"on points (..., d); got {type(f).__name__}")

    def _check_diffusion(self, d: int) -> None:
        D = self.diffusion
        if isinstance(D, (complex, np.complexfloating)) or np.iscomplexobj(D):
            raise TypeError("diffusion must be real (a number ≥ 0 or a symmetric PSD matrix), got a complex value")
        try:
            dmat = G._diffusion_matrix(D, d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"diffusion: {exc}") from None
        object.__setattr__(self, "_diffusion_matrix", dmat)
        if np.ndim(D) == 0:
            object.__setattr__(self, "diffusion", float(D))
        else:
            object.__setattr__(self, "diffusion", dmat)
        zero = not np.any(dmat)
        if self.kind == "fokker-planck" and np.linalg.eigvalsh(dmat)[0] <= 0:
            raise ValueError("a Fokker–Planck problem needs diffusion D > 0 (positive definite); for D = 0 use "
                             "kind='continuity'")
        if self.kind in ("continuity", "ode") and not zero:
            raise ValueError(f"a {self.kind} problem has no diffusion; got diffusion={D!r} (use kind="
                             f"'{'fokker-planck' if self.kind == 'continuity' else 'sde'}')")

    def _check_manufactured(self, d: int) -> None:
        """The source was derived for one D and one drift: the problem must state the same ones."""
        m = self.manufactured
        Dm = np.array(sp.Matrix(m.diffusion).evalf(), dtype=float) if isinstance(m.diffusion, sp.MatrixBase) else \
            float(m.diffusion) * np.eye(d)
        if not np.allclose(Dm, self._diffusion_matrix, rtol=1e-12, atol=1e-14):
            raise ValueError(f"diffusion {self.diffusion!r} differs from the manufactured solution's D = {m.diffusion} "
                             "(its source term was derived for that D): pass the same diffusion")
        if self.drift is m.drift:
            return
        rng = np.random.default_rng(0)
        x = np.asarray(self.lower) + rng.random((16, d)) * (np.asarray(self.upper) - np.asarray(self.lower))
        for t in (0.0, 0.37 * self.t_final, self.t_final):
            if not np.allclose(np.asarray(self.drift(t, x), dtype=float), np.asarray(m.drift(t, x), dtype=float),
                               rtol=1e-12, atol=1e-12):
                raise ValueError("drift differs from the manufactured solution's drift (its source term was derived "
                                 "for that drift): pass drift=manufactured.drift")

    def _check_reference(self) -> None:
        gaussian_ref = self.initial is not None and isinstance(self.drift, G.Affine)
        if self.kind in PARTICLE_KINDS and self.initial is None:
            raise ValueError(f"a {self.kind} problem needs an initial Gaussian law to sample particles from")
        if self.kind == "sde" and not gaussian_ref:
            raise ValueError("an sde problem needs an affine drift (verify.gaussian.Affine): its exact law is "
                             "the Gaussian of verify.gaussian.linear_sde")
        if self.kind in GRID_KINDS and not (gaussian_ref or self.manufactured is not None):
            raise ValueError(f"a {self.kind} problem needs an exact reference: an initial Gaussian with an affine "
                             "drift, or a manufactured solution (its source term is derived)")
        if gaussian_ref and self.boundary == "periodic":
            raise ValueError("the Gaussian reference lives on the whole space: use boundary='zero-flux' on a box "
                             "that holds the mass, or a manufactured solution for periodic boundaries")

    # -- what solvers read ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of space dimensions d."""
        return len(self.lower)

    @property
    def time_dependent(self) -> bool | None:
        """Whether the drift depends on t (None: a Python callable, unknown)."""
        if isinstance(self.drift, G.Affine):
            return False
        if isinstance(self.drift, ExpressionField):
            return self.drift.time_dependent
        if self.manufactured is not None:
            t = self.manufactured.t
            return any(t in b.free_symbols for b in self.manufactured.drift_expr)
        return None

    def initial_density(self, x: Any) -> np.ndarray:
        """ρ(0, x) for points (..., d) → (...) (integrates to 1 for a Gaussian initial law)."""
        return self.exact_density(0.0, x)

    @property
    def source(self) -> Callable[[float, Any], Any] | None:
        """S(t, x) on points (..., d) → (...) for manufactured problems; None when the equation has none."""
        return None if self.manufactured is None else self.manufactured.source

    def exact_density(self, t: float, x: Any) -> np.ndarray:
        """The exact density ρ(t, x), points (..., d) → (...)."""
        if self.kind == "ode" and not isinstance(self.drift, G.Affine):
            raise ValueError(f"problem {self.name!r}: the density of a non-affine ODE flow has no closed form; "
                             "compare particles with exact_flow")
        if self.manufactured is not None:
            return np.asarray(self.manufactured.rho(t, x))
        return self.exact_law(t).pdf(x)

    def exact_law(self, t: float | None = None) -> G.Gaussian:
        """The exact Gaussian law at time t (default t_final): linear_sde(initial, drift, D, t)."""
        t = self.t_final if t is None else float(t)
        if self.initial is None or not isinstance(self.drift, G.Affine):
            raise ValueError(f"problem {self.name!r} has no Gaussian exact law (it needs an initial Gaussian and an "
                             "affine drift)")
        if t not in self._laws:
            if len(self._laws) > 1024:
                self._laws.clear()
            self._laws[t] = G.linear_sde(self.initial, self.drift, self.diffusion, t)
        return self._laws[t]

    @property
    def gaussian(self) -> bool:
        """True when the exact reference is a Gaussian law (exact_law is available)."""
        return self.initial is not None and isinstance(self.drift, G.Affine)

    def transition(self, t: float | None = None) -> tuple[G.Affine, np.ndarray]:
        """X_t | X_0 = x ~ N(Φx + φ, Q) for affine drifts: (Affine(Φ, φ), Q) at time t (default t_final)."""
        if not isinstance(self.drift, G.Affine):
            raise ValueError(f"problem {self.name!r}: a transition law needs an affine drift")
        return G.linear_sde_transition(self.drift, self.diffusion, self.t_final if t is None else float(t))

    def exact_flow(self, x0: Any, t: float | None = None) -> np.ndarray:
        """Positions at time t (default t_final) of the ODE flow started at x0 (n, d) (ODE problems).

        Affine velocities: the exact map e^{Bt}x + ∫e^{Bs}c ds; otherwise SciPy's DOP853 at rtol = atol =
        1e-12 on the whole cloud (an independent integrator, accurate far below any fixed-step error)."""
        if self.kind != "ode":
            raise ValueError(f"exact_flow is defined for ODE problems; {self.name!r} is a {self.kind} problem")
        t = self.t_final if t is None else float(t)
        x0 = np.asarray(x0, dtype=float)
        if x0.ndim != 2 or x0.shape[1] != self.dim:
            raise ValueError(f"x0 must have shape (n, {self.dim}), got {x0.shape}")
        if isinstance(self.drift, G.Affine):
            phi, _ = self.transition(t)
            return phi(x0)
        from scipy.integrate import solve_ivp

        shape = x0.shape
        sol = solve_ivp(lambda s, y: np.asarray(self.drift(s, y.reshape(shape)), float).ravel(), (0.0, t),
                        x0.ravel(), method="DOP853", rtol=1e-12, atol=1e-12)
        if not sol.success:
            raise RuntimeError(f"reference integration of {self.name!r} failed: {sol.message}")
        return sol.y[:, -1].reshape(shape)

    def sample_initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws (n, d) of the initial law."""
        if self.initial is None:
            raise ValueError(f"problem {self.name!r} has no initial Gaussian law to sample")
        return self.initial.sample(n, rng)

    def exact_cell_averages(self, grid: Any, t: float | None = None) -> np.ndarray:
        """Cell averages of the exact density on ``grid`` at time t (default t_final), 6-point Gauss rules."""
        t = self.t_final if t is None else float(t)
        return grid.cell_averages(lambda x: self.exact_density(t, x))

    @property
    def conserves_mass(self) -> bool:
        """True for grid problems without a source: mass is conserved exactly by the equation."""
        return self.kind in GRID_KINDS and self.manufactured is None

    def with_(self, **changes: Any) -> "Problem":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def summary(self) -> str:
        """One line: kind, dimension, box, T, D and the reference."""
        box = " × ".join(f"[{a:g}, {b:g}]" for a, b in zip(self.lower, self.upper))
        ref = "manufactured density" if self.manufactured is not None else (
            "Gaussian law" if self.gaussian else "DOP853 reference flow")
        D = f"D = {self.diffusion:g}" if np.ndim(self.diffusion) == 0 else "D matrix"
        return f"{self.kind}, {self.dim}D on {box}, T = {self.t_final:g}, {D}, {self.boundary}; exact: {ref}"


# --------------------------------------------------------------------------------------------- built-ins
_OU_H = np.array([[1.0, 0.4], [0.4, 0.7]])
_OU_C = np.array([0.2, -0.1])
_OU_M = np.array([1.0, -0.5])
_OU_S = np.array([[0.5, 0.1], [0.1, 0.3]])


def _ou(d: int) -> Problem:
    return Problem(
        name=f"ou-{d}d", kind="fokker-planck", lower=(-6.0,) * d, upper=(6.0,) * d, t_final=1.0,
        drift=G.Affine(-_OU_H[:d, :d], _OU_C[:d]), diffusion=0.5, initial=G.Gaussian(_OU_M[:d], _OU_S[:d, :d]),
        levels=(64, 128, 256, 512, 1024) if d == 1 else (16, 32, 64, 128, 256),
        description=f"Ornstein–Uhlenbeck Fokker–Planck in {d}D: b = −Hx + c, D = 1/2, exact Gaussian law")


def _heat_2d() -> Problem:
    return Problem(
        name="heat-2d", kind="fokker-planck", lower=(-7.0, -7.0), upper=(7.0, 7.0), t_final=1.0,
        drift=G.Affine(np.zeros((2, 2))), diffusion=0.5, initial=G.Gaussian([0.3, -0.2], [[0.6, 0.2], [0.2, 0.4]]),
        levels=(16, 32, 64, 128, 256), description="heat equation in 2D: covariance Σ0 + 2DtI")


def _affine_continuity_2d() -> Problem:
    return Problem(
        name="affine-continuity-2d", kind="continuity", lower=(-5.0, -5.0), upper=(5.0, 5.0), t_final=1.0,
        drift=G.Affine([[-0.3, -1.0], [0.6, -0.2]], [0.2, 0.1]),
        initial=G.Gaussian([0.5, 0.0], [[0.4, 0.1], [0.1, 0.3]]), levels=(32, 64, 128, 256), steps_per_cell=3.0,
        description="continuity in 2D with a rotating, shearing, contracting affine field: exact Gaussian law")


def _mms_fokker_planck_2d() -> Problem:
    t, (x, y) = space_symbols(2)
    rho = 1 + sp.Rational(1, 2) * sp.sin(x - t) * sp.cos(y)
    b = (sp.Rational(3, 5) * sp.sin(y) + sp.Rational(3, 10) * sp.cos(t), sp.Rational(1, 2) * sp.cos(x))
    m = manufactured_source(rho, b, sp.Rational(3, 10), t, (x, y))
    return Problem(
        name="mms-fokker-planck-2d", kind="fokker-planck", lower=(0.0, 0.0), upper=(2 * np.pi, 2 * np.pi),
        t_final=0.5, drift=m.drift, diffusion=0.3, manufactured=m, boundary="periodic", levels=(16, 32, 64, 128),
        steps_per_cell=1.0,
        description="manufactured Fokker–Planck in 2D, periodic, time-dependent drift, source from SymPy")


def _mms_continuity_2d() -> Problem:
    t, (x, y) = space_symbols(2)
    rho = 1 + sp.Rational(1, 2) * sp.sin(x + y - t) + sp.Rational(1, 4) * sp.cos(2 * y)
    v = (1 + sp.Rational(1, 2) * sp.sin(y) * sp.cos(t), sp.Rational(1, 2) + sp.Rational(1, 3) * sp.cos(x))
    m = manufactured_source(rho, v, 0, t, (x, y))
    return Problem(
        name="mms-continuity-2d", kind="continuity", lower=(0.0, 0.0), upper=(2 * np.pi, 2 * np.pi), t_final=0.5,
        drift=m.drift, manufactured=m, boundary="periodic", levels=(24, 48, 96, 192), steps_per_cell=0.5,
        description="manufactured continuity in 2D, periodic, time-dependent velocity, source from SymPy")


def _box_mms(kind: str) -> Problem:
    """Zero-flux manufactured problems on [0, 2] × [0, 1] with 4:3 cells (different spacing and cell count per
    axis): ∂ρ/∂n = 0 and b·n = 0 on the walls, so the zero normal flux holds exactly; b depends on t and x."""
    t, (x, y) = space_symbols(2)
    half = sp.Rational(1, 2)
    rho = 1 + half * sp.cos(t) * sp.cos(sp.pi * x / 2) * sp.cos(2 * sp.pi * y) \
        + sp.Rational(1, 4) * sp.sin(t + half) * sp.cos(sp.pi * y)
    b = ((1 + half * sp.sin(t)) * sp.sin(sp.pi * x / 2) * (sp.Rational(3, 5) + sp.Rational(2, 5) * sp.cos(sp.pi * y)),
         half * sp.sin(sp.pi * y) * sp.cos(sp.pi * x / 2 + t))
    D = sp.Rational(1, 5) if kind == "fokker-planck" else 0
    m = manufactured_source(rho, b, D, t, (x, y))
    name = "mms-fokker-planck-box-2d" if kind == "fokker-planck" else "mms-continuity-box-2d"
    return Problem(
        name=name, kind=kind, lower=(0.0, 0.0), upper=(2.0, 1.0), t_final=0.5, drift=m.drift, diffusion=float(D),
        manufactured=m, boundary="zero-flux", levels=(16, 32, 64, 128), steps_per_cell=1.0,
        aspect=(1.0, 0.75),
        description=f"manufactured {'Fokker–Planck' if D else 'continuity'} on [0, 2] × [0, 1], zero flux, N × 3N/4 "
                    "cells (spacing and count differ per axis), time-dependent field, source from SymPy")


def _ou_sde_1d() -> Problem:
    # relaxation from far off equilibrium (mean 10 → −6) over λT = 1/2: weak errors are large against the Monte
    # Carlo noise at dt = T/1 … T/8, where they follow the Talay–Tubaro expansion with one or two correction terms
    # (benchmarks/weak_order_verdicts.py measures the verdicts and the coverage of their intervals)
    return Problem(
        name="ou-sde-1d", kind="sde", lower=(-10.0,), upper=(12.0,), t_final=0.5, drift=G.Affine([[-1.0]], [-6.0]),
        diffusion=0.5, initial=G.Gaussian([10.0], [[0.04]]), levels=(1, 2, 3, 4, 6, 8),
        description="Ornstein–Uhlenbeck particles in 1D: dX = −(X + 6) dt + dW, X0 ~ N(10, 0.2²), exact law")


def _ou_sde_2d() -> Problem:
    return Problem(
        name="ou-sde-2d", kind="sde", lower=(-6.0, -6.0), upper=(6.0, 6.0), t_final=1.0,
        drift=G.Affine([[-1.0, 0.6], [-0.4, -0.7]], [0.2, -0.1]), diffusion=np.array([[0.5, 0.1], [0.1, 0.3]]),
        initial=G.Gaussian([1.0, -0.5], [[0.3, 0.05], [0.05, 0.2]]), levels=(2, 4, 8, 16),
        description="Ornstein–Uhlenbeck particles in 2D: non-normal drift, anisotropic D, exact law (small weak "
                    "errors: a decisive Monte Carlo weak-order study needs far more samples than the default)")


def _affine_ode_2d() -> Problem:
    return Problem(
        name="affine-ode-2d", kind="ode", lower=(-5.0, -5.0), upper=(5.0, 5.0), t_final=1.0,
        drift=G.Affine([[-0.5, 2.0], [-1.5, 0.3]], [0.4, -0.2]), initial=G.Gaussian([0.0, 0.0], np.eye(2)),
        levels=(8, 16, 32, 64), description="particles of a rotating affine field in 2D: exact flow map e^{At}")


_BUILTIN: dict[str, Callable[[], Problem]] = {
    "ou-1d": lambda: _ou(1),
    "ou-2d": lambda: _ou(2),
    "heat-2d": _heat_2d,
    "affine-continuity-2d": _affine_continuity_2d,
    "mms-fokker-planck-2d": _mms_fokker_planck_2d,
    "mms-continuity-2d": _mms_continuity_2d,
    "mms-fokker-planck-box-2d": lambda: _box_mms("fokker-planck"),
    "mms-continuity-box-2d": lambda: _box_mms("continuity"),
    "ou-sde-1d": _ou_sde_1d,
    "ou-sde-2d": _ou_sde_2d,
    "affine-ode-2d": _affine_ode_2d,
}


def list_problems() -> list[str]:
    """Names of the built-in problems."""
    return sorted(_BUILTIN)


def get_problem(name: str) -> Problem:
    """A built-in problem by name (a fresh object; Problems are immutable)."""
    if not isinstance(name, str):
        raise TypeError(f"problem name must be a string, got {type(name).__name__}")
    if name not in _BUILTIN:
        close = difflib.get_close_matches(name, list(_BUILTIN), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownProblemError(f"unknown problem {name!r}.{hint} Run `twinflow problems` to see all problems.")
    return _BUILTIN[name]()


def as_problem(problem: "Problem | str") -> Problem:
    """A Problem, or the built-in problem of that name."""
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, str):
        return get_problem(problem)
    raise TypeError(f"problem must be a verify.problems.Problem or a built-in name, got {type(problem).__name__}")


def grid_for(problem: Problem, cells: int | Sequence[int]) -> Any:
    """The grid of ``cells`` per axis on the problem's box: an int N (round(aspect_k · N) cells on axis k when
    the problem has an aspect), or one count per axis."""
    from eulerian import Grid

    if np.ndim(cells) == 0:
        aspect = problem.aspect or (1.0,) * problem.dim
        shape = tuple(max(1, int(round(a * int(cells)))) for a in aspect)
    else:
        shape = tuple(int(n) for n in cells)
    return Grid(problem.lower, problem.upper, shape)
