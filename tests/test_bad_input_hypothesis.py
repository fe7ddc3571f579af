"""Property-based bad-input test (Hypothesis) for the public functions of eulerian, lagrangian and verify.gaussian.

For every function a small VALID call is written down (milliseconds to run). Hypothesis picks one argument
of it and replaces the value by a bad one: complex scalars/arrays, NaN, ±inf, zero or negative numbers, bools,
strings, None, arrays of the wrong shape or dimension, huge integers, callables returning NaN/complex/wrongly
shaped values, objects of the wrong type. The property:

* the call raises ValueError, TypeError or a project exception (eulerian.errors.*, lagrangian.errors.*,
  verify.gaussian.FiniteTimeBlowUp) whose one-line message names the argument, or
* the call returns, and nothing it returns holds a NaN (arrays, floats, dataclass fields, Gaussian moments;
  returned vector fields are evaluated once on a valid cloud and checked the same way).

Every call runs with warnings turned into errors: a silent cast (ComplexWarning) or an overflow RuntimeWarning
escaping as an exception fails the property like any other unexpected exception (IndexError, AttributeError,
ZeroDivisionError, LinAlgError, ...).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import re
import signal
import warnings
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eulerian
import lagrangian
from eulerian import Grid, benamou_brenier, solve_continuity, solve_fokker_planck
from verify import gaussian as vg

EXPECTED = (ValueError, TypeError, eulerian.NumericalError, eulerian.BackendUnavailable,
            eulerian.MemoryLimitError, lagrangian.LagrangianError, vg.FiniteTimeBlowUp)
MAX_EXAMPLES = 40

# ------------------------------------------------------------------------------------------------ valid data
RNG = np.random.default_rng(1)
X = RNG.standard_normal((8, 2))          # a small 2-D cloud
Y = RNG.standard_normal((10, 2)) + 0.5
GRID = Grid((-3.0,), (3.0,), (8,))
GRID_CENTERS = GRID.centers()[..., 0]
RHO0 = np.exp(-GRID_CENTERS ** 2)
RHO1 = np.exp(-(GRID_CENTERS - 0.5) ** 2)
RHO1 *= RHO0.sum() / RHO1.sum()  # equal masses
EYE = np.eye(2)
A = np.array([[-1.0, 0.3], [0.0, -0.5]])
G2 = vg.Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]])
G2B = vg.Gaussian([1.0, -1.0], [[2.0, 0.0], [0.0, 1.0]])
G3 = vg.Gaussian([0.0, 0.5, -0.5], np.diag([1.0, 0.5, 2.0]))   # neurons (w, a) in R^{2+1}
DRIFT = vg.Affine(A, [0.1, 0.0])
Q = np.array([[0.5, 0.1]])
K = np.array([[0.2, -0.3]])
V = np.array([[0.1, 0.0], [0.0, -0.2]])
S_DATA, R_DATA, Y2 = vg.data_moments(X, X[:, 0] - X[:, 1])
THETA = RNG.standard_normal((6, 3))
VALUES = np.zeros((4, 4, 2)) + [0.1, -0.2]   # grid velocities on [-4, 4]^2


def decay(t, x):
    return -x


def half(t, x):
    return -0.5 * x


def score(t, x):
    return -x


def grad_v(x):
    return x


def rho_fn(x):
    return np.exp(-x[..., 0] ** 2)


def confining(x):
    return 0.5 * x[..., 0] ** 2


def attract(z):
    return 0.5 * z


@dataclasses.dataclass
class Case:
    func: Callable
    pos: list            # [(name, value), ...] passed positionally
    kw: dict             # passed by keyword
    probe: Callable | None = None   # evaluates a returned callable on valid input
    aliases: dict = dataclasses.field(default_factory=dict)  # argument -> extra words a message may use

    def names(self) -> list[str]:
        return [n for n, _ in self.pos] + list(self.kw)

    def value(self, name: str) -> Any:
        return dict(self.pos)[name] if name in dict(self.pos) else self.kw[name]

    def call(self, name: str, bad: Any) -> Any:
        args = [bad if n == name else v for n, v in self.pos]
        kw = {n: (bad if n == name else v) for n, v in self.kw.items()}
        return self.func(*args, **kw)


def field_probe(x=X):
    return lambda f: f(0.5, x)


BOX = {"lower": ["box"], "upper": ["box"]}  # "particles lie outside the box [lower, upper]"
DT = {"t_final": ["dt"], "steps": ["dt"]}   # "the time step dt = t_final/steps ..."

NET_GRID = Grid((-1.0, -1.0), (1.0, 1.0), (6, 5))
NET_RHO = np.exp(-(NET_GRID.centers() ** 2).sum(-1))

CASES: dict[str, Case] = {
    # ------------------------------------------------------------------------------------------- eulerian
    "eulerian.Grid": Case(Grid, [("lower", (-1.0, 0.0)), ("upper", (1.0, 2.0)), ("shape", (4, 3))], {}),
    "eulerian.solve_fokker_planck": Case(
        solve_fokker_planck,
        [("grid", GRID), ("rho0", RHO0), ("drift", decay), ("diffusion", 0.5), ("t_final", 0.1), ("steps", 2)],
        {"flux": "scharfetter-gummel", "time": "bdf2", "boundary": "zero-flux", "backend": "numpy",
         "save_at": [0.05, 0.1], "source": None, "solver": "auto", "rtol": 1e-12, "time_dependent": None,
         "damped_steps": None},
        aliases=DT),
    "eulerian.solve_stationary": Case(
        eulerian.solve_stationary, [("grid", GRID), ("drift", decay), ("diffusion", 0.5)],
        {"boundary": "zero-flux", "flux": "scharfetter-gummel", "source": None, "mass": 1.0, "backend": "numpy"}),
    "eulerian.solve_meanfield": Case(
        eulerian.solve_meanfield, [("grid", GRID), ("rho0", RHO0), ("velocity", lambda t, g, rho, x: -x),
                                   ("t_final", 0.1)],
        {"diffusion": 0.1, "cfl": 0.4, "limiter": "mc", "boundary": "zero-flux", "backend": "numpy",
         "save_at": None, "steps": 3, "max_steps": 100}),
    "eulerian.flow_matching_grid_field": Case(
        eulerian.flow_matching_grid_field, [("grid", GRID), ("rho0", RHO0), ("rho1", RHO1)],
        {"grid1": None, "backend": "numpy", "chunk_bytes": 1 << 20},
        probe=lambda f: f(0.5, np.array([[0.2], [-0.4]]))),
    "eulerian.attention_velocity": Case(
        eulerian.attention_velocity, [("Q", np.eye(2)), ("K", 0.5 * np.eye(2)), ("V", -np.eye(2))],
        {"scale": 1.0, "chunk_bytes": 1 << 20, "wall_mass": None, "method": "exact"},
        probe=lambda f: f(0.0, NET_GRID, NET_RHO, np.array([[0.2, -0.3], [0.5, 0.1]]))),
    "eulerian.wall_fraction": Case(eulerian.wall_fraction, [("rho", NET_RHO)], {}),
    "eulerian.jko_step": Case(
        eulerian.jko_step, [("grid", GRID), ("rho", RHO0), ("tau", 0.1)],
        {"potential": confining, "diffusion": 0.5, "internal": ("power", 2.0), "time_steps": 2, "max_iter": 3000,
         "tol": 1e-3, "on_failure": "return"}),
    "eulerian.jko_flow": Case(
        eulerian.jko_flow, [("grid", GRID), ("rho0", RHO0), ("tau", 0.1), ("t_final", 0.2)],
        {"potential": confining, "diffusion": 0.5, "time_steps": 2, "max_iter": 2000, "tol": 1e-3,
         "on_failure": "return"}),
    "eulerian.free_energy": Case(
        eulerian.free_energy, [("grid", GRID), ("rho", RHO0)],
        {"potential": confining, "diffusion": 0.5, "internal": ("power", 2.0)}),
    "eulerian.network_velocity": Case(
        eulerian.network_velocity, [("data_x", X[:, 0]), ("data_y", X[:, 1])],
        {"activation": "relu", "chunk_bytes": 2**20},
        probe=lambda f: f(0.0, NET_GRID, NET_RHO, np.array([[0.2, -0.3], [0.5, 0.1]]))),
    "eulerian.network_risk": Case(
        eulerian.network_risk, [("grid", NET_GRID), ("rho", NET_RHO), ("data_x", X[:, 0]), ("data_y", X[:, 1])],
        {"activation": "relu"}),
    "eulerian.solve_continuity": Case(
        solve_continuity, [("grid", GRID), ("rho0", RHO0), ("velocity", decay), ("t_final", 0.1)],
        {"cfl": 0.4, "limiter": "mc", "boundary": "zero-flux", "backend": "numpy", "save_at": None, "steps": 3,
         "source": None, "time_dependent": None, "max_steps": 100}),
    "eulerian.benamou_brenier": Case(
        benamou_brenier, [("grid", GRID), ("rho0", RHO0), ("rho1", RHO1), ("time_steps", 3)],
        {"method": "douglas-rachford", "max_iter": 20, "tol": 1e-5, "residual_tol": 5e-4, "backend": "numpy",
         "normalize": False, "boundary": "zero-flux", "gamma": None, "alpha": 1.8, "relaxation": 1.9,
         "workers": 1, "check_every": 10, "multilevel": False, "dtype": None}),
    "eulerian.default_tol": Case(eulerian.default_tol, [("grid", GRID), ("time_steps", 3)], {}),
    "eulerian.default_gamma": Case(eulerian.default_gamma, [("method", "primal-dual"), ("dim", 1)], {}),
    "eulerian.solve_porous_medium": Case(
        eulerian.solve_porous_medium, [("grid", GRID), ("rho0", RHO0), ("m", 2.0), ("t_final", 0.1)],
        {"diffusion": 1.0, "potential": confining, "time": "ssp-rk2", "reconstruction": "muscl", "cfl": 0.5,
         "steps": 4, "save_at": [0.05, 0.1], "backend": "numpy", "max_steps": 1000},
        aliases=DT),
    "eulerian.porous_medium_energy": Case(
        eulerian.porous_medium_energy, [("grid", GRID), ("rho", RHO0), ("m", 2.0)],
        {"diffusion": 1.0, "potential": confining}),
    # ----------------------------------------------------------------------------------------- lagrangian
    "lagrangian.get_namespace": Case(lagrangian.get_namespace, [("name", "numpy")], {}, aliases={"name": ["backend"]}),
    "lagrangian.deposit": Case(
        lagrangian.deposit, [("x", X), ("lower", [-6.0, -6.0]), ("upper", [6.0, 6.0]), ("shape", (4, 4))],
        {"weights": np.ones(8), "method": "cic", "outside": "raise"}, aliases=BOX),
    "lagrangian.gaussian_kde": Case(lagrangian.gaussian_kde, [("x", X), ("points", Y)],
                                    {"bandwidth": None, "weights": np.ones(8), "chunk_bytes": 2**20}),
    "lagrangian.kde_bandwidth_factor": Case(lagrangian.kde_bandwidth_factor, [("n", 20), ("d", 2), ("rule", "scott")],
                                            {}),
    "lagrangian.affine_field": Case(lagrangian.affine_field, [("matrix", A), ("offset", [0.1, 0.2])], {},
                                    probe=field_probe()),
    "lagrangian.flow_matching_field_from_samples": Case(
        lagrangian.flow_matching_field_from_samples, [("x0", X), ("x1", Y[:8])],
        {"bandwidth": "scott", "chunk_bytes": 2**20}, probe=lambda f: f(0.5, X)),
    "lagrangian.gradient_field": Case(lagrangian.gradient_field, [("grad_V", grad_v)], {}, probe=field_probe(),
                                      aliases={"grad_V": ["grad_V(x)"]}),
    "lagrangian.grid_velocity_field": Case(
        lagrangian.grid_velocity_field, [("lower", [-4.0, -4.0]), ("upper", [4.0, 4.0]), ("values", VALUES)],
        {"times": None, "outside": "raise"}, probe=field_probe(), aliases=BOX),
    "lagrangian.probability_flow_field": Case(
        lagrangian.probability_flow_field, [("drift", decay), ("diffusion", 0.5), ("score", score)], {},
        probe=field_probe()),
    "lagrangian.integrate_ode": Case(
        lagrangian.integrate_ode, [("field", decay), ("x0", X), ("t0", 0.0), ("t1", 0.3), ("steps", 3)],
        {"method": "rk4", "save_at": [0.1, 0.3]}),
    "lagrangian.integrate_sde": Case(
        lagrangian.integrate_sde,
        [("drift", decay), ("diffusion", 0.5), ("x0", X), ("t0", 0.0), ("t1", 0.3), ("steps", 3)],
        {"rng": np.random.default_rng(0), "method": "euler-maruyama", "save_at": None}),
    "lagrangian.noise_factor": Case(lagrangian.noise_factor, [("diffusion", np.diag([0.5, 1.0])), ("dim", 2)], {}),
    "lagrangian.attention_field": Case(lagrangian.attention_field, [("Q", Q), ("K", K), ("V", V)],
                                       {"scale": 1.0, "chunk_bytes": 2**20}, probe=field_probe()),
    "lagrangian.network_field": Case(lagrangian.network_field, [("data_x", X), ("data_y", X[:, 0])],
                                     {"activation": "linear", "chunk_bytes": 2**20},
                                     probe=lambda f: f(0.5, THETA)),
    "lagrangian.network_loss": Case(lagrangian.network_loss, [("theta", THETA), ("data_x", X), ("data_y", X[:, 0])],
                                    {"activation": "linear"}),
    "lagrangian.network_output": Case(lagrangian.network_output, [("theta", THETA), ("u", X)],
                                      {"activation": "linear"}),
    "lagrangian.softmax_attention": Case(
        lagrangian.softmax_attention, [("queries", X), ("keys", Y), ("Q", Q), ("K", K), ("V", V)],
        {"scale": 1.0, "chunk_bytes": 2**20}),
    "lagrangian.sliced_w2": Case(lagrangian.sliced_w2, [("x", X), ("y", Y[:8])],
                                 {"projections": 8, "rng": np.random.default_rng(0)}),
    "lagrangian.w2": Case(lagrangian.w2, [("x", X), ("y", Y)],
                          {"weights_x": np.ones(8), "weights_y": None, "max_bytes": 2**20}),
    "lagrangian.blob_velocity": Case(lagrangian.blob_velocity, [("x", X), ("m", 2.0), ("epsilon", 0.5)],
                                     {"mass": 1.0, "diffusion": 1.0}),
    "lagrangian.blob_density": Case(lagrangian.blob_density, [("x", X), ("points", Y), ("epsilon", 0.5)],
                                    {"mass": 1.0}),
    "lagrangian.blob_energy": Case(lagrangian.blob_energy, [("x", X), ("m", 2.0), ("epsilon", 0.5)],
                                   {"mass": 1.0, "diffusion": 1.0}),
    "lagrangian.blob_flow": Case(
        lagrangian.blob_flow, [("x0", X), ("m", 2.0), ("epsilon", 0.5), ("t_final", 0.1), ("steps", 4)],
        {"mass": 1.0, "diffusion": 1.0, "save_at": [0.0, 0.05, 0.1], "method": "rk4"}, aliases=DT),
    "lagrangian.implicit_euler_step": Case(
        lagrangian.implicit_euler_step, [("x", X), ("tau", 0.1)],
        {"potential_grad": grad_v, "interaction_grad": attract, "mass": 1.0, "tol": 1e-12, "max_iter": 500}),
    "lagrangian.implicit_euler_flow": Case(
        lagrangian.implicit_euler_flow, [("x0", X), ("tau", 0.1), ("steps", 3)],
        {"potential_grad": grad_v, "interaction_grad": attract, "mass": 1.0, "tol": 1e-12, "max_iter": 500}),
    "lagrangian.w2_squared": Case(lagrangian.w2_squared, [("x", X), ("y", Y)],
                                  {"weights_x": None, "weights_y": np.ones(10), "max_bytes": 2**20}),
    # ---------------------------------------------------------------------------------------- verify.gaussian
    "gaussian.jko_gaussian_step": Case(vg.jko_gaussian_step, [("g", G2), ("H", [[1.0, 0.2], [0.2, 0.5]]),
                                                             ("b", [0.1, 0.0]), ("diffusion", 0.3), ("tau", 0.1)], {}),
    "gaussian.jko_gaussian": Case(vg.jko_gaussian, [("g0", G2), ("H", [[1.0, 0.2], [0.2, 0.5]]), ("b", [0.1, 0.0]),
                                                   ("diffusion", 0.3), ("tau", 0.1), ("steps", 3)], {}),
    "gaussian.gaussian_free_energy": Case(vg.gaussian_free_energy, [("g", G2), ("H", [[1.0, 0.2], [0.2, 0.5]]),
                                                                   ("b", [0.1, 0.0]), ("diffusion", 0.3)], {}),
    "gaussian.Gaussian": Case(vg.Gaussian, [("mean", [0.0, 1.0]), ("cov", [[1.0, 0.2], [0.2, 0.5]])], {}),
    "gaussian.Affine": Case(vg.Affine, [("matrix", A), ("offset", [0.1, 0.0])], {}),
    "gaussian.w2": Case(vg.w2, [("g0", G2), ("g1", G2B)], {}),
    "gaussian.w2_squared": Case(vg.w2_squared, [("g0", G2), ("g1", G2B)], {}),
    "gaussian.brenier_map": Case(vg.brenier_map, [("g0", G2), ("g1", G2B)], {}),
    "gaussian.mccann": Case(vg.mccann, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.mccann_field": Case(vg.mccann_field, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.linear_sde": Case(vg.linear_sde, [("g0", G2), ("drift", DRIFT), ("diffusion", 0.3), ("t", 0.5)], {}),
    "gaussian.linear_sde_transition": Case(vg.linear_sde_transition,
                                           [("drift", DRIFT), ("diffusion", 0.3), ("t", 0.5)], {}),
    "gaussian.linear_moment_rhs": Case(vg.linear_moment_rhs, [("drift", DRIFT), ("diffusion", 0.3),
                                                              ("mean", G2.mean), ("cov", G2.cov)], {}),
    "gaussian.expectation": Case(vg.expectation, [("g", G2), ("f", lambda x: x[..., 0] ** 2)], {"order": 4}),
    "gaussian.stationary": Case(vg.stationary, [("drift", DRIFT), ("diffusion", 0.3)], {}),
    "gaussian.flow_matching_marginal": Case(vg.flow_matching_marginal, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.flow_matching_field": Case(vg.flow_matching_field, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.flow_matching_map": Case(vg.flow_matching_map, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.least_squares_field": Case(vg.least_squares_field, [("g", G2), ("dmean", [0.1, 0.0]),
                                                                  ("dcov", [[0.1, 0.0], [0.0, -0.1]])], {}),
    "gaussian.attention": Case(vg.attention, [("g0", G2), ("Q", Q), ("K", K), ("V", V), ("t", 0.2)],
                               {"scale": 1.0}),
    "gaussian.attention_map": Case(vg.attention_map, [("g", G2), ("Q", Q), ("K", K), ("V", V)], {"scale": 1.0}),
    "gaussian.attention_moment_rhs": Case(vg.attention_moment_rhs, [("mean", G2.mean), ("cov", G2.cov), ("Q", Q),
                                                                    ("K", K), ("V", V)], {"scale": 1.0}),
    "gaussian.data_moments": Case(vg.data_moments, [("u", X), ("y", X[:, 0])], {}),
    "gaussian.linear_network": Case(vg.linear_network, [("g0", G3), ("S", S_DATA), ("r", R_DATA), ("t", 0.2)], {}),
    "gaussian.linear_network_rhs": Case(vg.linear_network_rhs, [("mean", G3.mean), ("cov", G3.cov), ("S", S_DATA),
                                                                ("r", R_DATA)], {}),
    "gaussian.linear_network_risk": Case(vg.linear_network_risk, [("g", G3), ("S", S_DATA), ("r", R_DATA),
                                                                  ("y2", Y2)], {}),
}

# Known gaps: (case, argument) -> reason. The property skips these arguments; test_known_gap runs every bad
# value of each one as a strict xfail (fixing the gap makes it XPASS and fail: then remove the entry).
KNOWN_GAPS: dict[tuple[str, str], str] = {}


# ------------------------------------------------------------------------------------------------ bad values
def _nan_callable(t=None, x=None):
    return np.full(np.shape(x if x is not None else t), np.nan)


def _complex_callable(t=None, x=None):
    a = np.asarray(x if x is not None else t, dtype=float)
    return a * (1 + 1j)


def _wrong_shape_callable(t=None, x=None):
    a = np.asarray(x if x is not None else t, dtype=float)
    return np.zeros(a.shape + (3,))


def _none_callable(*args):
    return None


SCALARS = [None, "abc", True, False, 1j, 1.0 + 1.0j, np.complex128(0.5), math.nan, math.inf, -math.inf, 0, 0.0,
           -1, -0.5, 2**62, -(2**62), 2**70, 1.5, 1e308, -1e308, 5e-324, np.nan, np.float32(np.inf), [], (),
           [math.nan], np.array([]), np.array(1.0 + 0.5j), object(), {"a": 1}]
CALLABLES = [_nan_callable, _complex_callable, _wrong_shape_callable, _none_callable]


def _array_variants(v: np.ndarray) -> list:
    out = [v * (1 + 1j), v.astype(complex), np.full_like(v, np.nan), np.full_like(v, np.inf), -v, np.zeros_like(v),
           v * 1e300, v.astype(str), v.astype(bool), v.astype(object), v[None], v.ravel()[:1],
           np.zeros((0,) + v.shape[1:])]
    if v.ndim >= 1:
        out += [v[..., :-1], np.concatenate([v, v[..., :1]], axis=-1), v[..., None]]
    if v.ndim >= 2:
        out += [v.T.copy(), v.ravel(), v[:1]]
    if v.ndim >= 1 and v.size:
        w = v.astype(float).copy()
        w.flat[0] = np.nan
        out.append(w)
    return out


def _grid_variants() -> list:
    return [Grid((-1.0, -1.0), (1.0, 1.0), (4, 4)), Grid((0.0,), (1.0,), (4,)), RHO0, "grid"]


def _gaussian_variants(g: vg.Gaussian) -> list:
    other = vg.Gaussian(np.zeros(g.dim + 1), np.eye(g.dim + 1))
    huge = vg.Gaussian(np.full(g.dim, 1e300), np.eye(g.dim) * 1e300)
    tiny = vg.Gaussian(np.zeros(g.dim), np.eye(g.dim) * 1e-300)
    return [other, huge, tiny, vg.Affine(np.eye(g.dim)), (g.mean, g.cov)]


def _affine_variants(a: vg.Affine) -> list:
    d = a.dim if hasattr(a, "dim") else a.matrix.shape[0]
    return [vg.Affine(np.eye(d + 1)), vg.Affine(np.eye(d) * 1e300), vg.Affine(np.eye(d)), vg.Affine(np.zeros((d, d))),
            G2, a.matrix, lambda t, x: x]


def bad_values(case: Case, name: str) -> list:
    v = case.value(name)
    vals = list(SCALARS) + list(CALLABLES)
    if isinstance(v, Grid):
        vals += _grid_variants()
    elif isinstance(v, vg.Gaussian):
        vals += _gaussian_variants(v)
    elif isinstance(v, vg.Affine):
        vals += _affine_variants(v)
    elif isinstance(v, (np.ndarray, list, tuple)) and not isinstance(v, str):
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            arr = None
        if arr is not None:
            vals += _array_variants(arr)
            vals += [list(arr.tolist()) + ["x"] if arr.ndim == 1 else arr.tolist()[:-1]]
            if arr.ndim == 1:
                vals += [tuple(int(2**40) for _ in arr), tuple(int(2**62) for _ in arr), tuple(-1 for _ in arr),
                         tuple(0 for _ in arr), tuple(1.5 for _ in arr), tuple(True for _ in arr)]
    elif isinstance(v, np.random.Generator):
        vals += [np.random.RandomState(0), 0, np.random.default_rng]
    elif isinstance(v, str):
        vals += [v.upper() + "x", v[:-1], "", " " + v]
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        vals += [np.int64(-3), np.uint8(0), np.float64(np.nan), np.array([v, v]), np.array(v), 2**31, 10**9,
                 float(2**62)]
    return vals


def _names(message: str, words: list[str]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


CONSISTENCY = re.compile(r"match|equal size|different|same|must each have|expected from the other", re.I)


def _message_names(exc: BaseException, case: Case, name: str, bad: Any) -> bool:
    """The message names the argument (or an alias). Two further messages are clear without it:

    * a consistency error between two arguments (a shape or size that must match): which of them is wrong is
      the caller's call, so naming the other one (and saying what must match) is enough;
    * an overflow of a result ("... overflows float64 ...; rescale the problem"), and numerical trouble
      (NumericalError, FiniteTimeBlowUp) from finite but extreme real numbers, which are valid input.
    """
    message = str(exc)
    if _names(message, [name] + case.aliases.get(name, [])):
        return True
    others = [n for n in case.names() if n != name]
    if CONSISTENCY.search(message) and _names(message, others):
        return True
    if "overflow" in message:
        return True
    extreme_real = (isinstance(bad, (int, float, np.integer, np.floating)) and not isinstance(bad, (bool, np.bool_))
                    and math.isfinite(bad))
    return extreme_real and isinstance(exc, (eulerian.NumericalError, lagrangian.NumericalError, vg.FiniteTimeBlowUp))


# ------------------------------------------------------------------------------------------------ NaN check
def nan_paths(obj: Any, path: str = "result", seen: set | None = None) -> list[str]:
    """Paths of the NaN values in ``obj`` (arrays, floats, containers, dataclasses, Gaussian/Affine)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (bool, int, str, bytes)) or obj is None:
        return []
    if isinstance(obj, (float, np.floating, complex, np.complexfloating)):
        return [path] if np.isnan(obj) else []
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            return [path] if np.isnan(obj).any() else []
        if obj.dtype.kind == "O":
            return [p for i, o in enumerate(obj.ravel()[:50]) for p in nan_paths(o, f"{path}[{i}]", seen)]
        return []
    if isinstance(obj, dict):
        return [p for k, o in obj.items() for p in nan_paths(o, f"{path}[{k!r}]", seen)]
    if isinstance(obj, (list, tuple)):
        return [p for i, o in enumerate(obj) for p in nan_paths(o, f"{path}[{i}]", seen)]
    if isinstance(obj, vg.Gaussian):
        return nan_paths(obj.mean, f"{path}.mean", seen) + nan_paths(obj.cov, f"{path}.cov", seen)
    if isinstance(obj, vg.Affine):
        return nan_paths(obj.matrix, f"{path}.matrix", seen) + nan_paths(obj.offset, f"{path}.offset", seen)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [p for f in dataclasses.fields(obj) if not isinstance(getattr(obj, f.name, None), Grid)
                for p in nan_paths(getattr(obj, f.name, None), f"{path}.{f.name}", seen)]
    return []


# ------------------------------------------------------------------------------------------------ the property
def _alarm(signum, frame):
    raise TimeoutError(f"the call ran for more than {CALL_LIMIT_S} s")


CALL_LIMIT_S = 3  # a valid call takes milliseconds: a bad value that makes it hang is a gap too


def check(case_name: str, name: str, bad: Any) -> None:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CALL_LIMIT_S)
    try:
        _check(case_name, name, bad)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(case_name: str, name: str, bad: Any) -> None:
    case = CASES[case_name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            result = case.call(name, bad)
            if case.probe is not None and callable(result):
                result = (result, case.probe(result))
        except EXPECTED as exc:
            message = str(exc)
            assert "\n" not in message.strip(), f"{case_name}({name}={bad!r}): multi-line message {message!r}"
            assert _message_names(exc, case, name, bad), (
                f"{case_name}({name}={_short(bad)}): {type(exc).__name__} does not name {name!r}: {message}")
            return
        except Exception as exc:  # noqa: BLE001 - any other exception fails the property
            raise AssertionError(f"{case_name}({name}={_short(bad)}) raised {type(exc).__name__}: {exc}") from exc
    nans = nan_paths(result)
    assert not nans, f"{case_name}({name}={_short(bad)}) returned NaN in {nans}"


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) < 120 else r[:117] + "..."


@st.composite
def bad_argument(draw, case_name: str):
    case = CASES[case_name]
    name = draw(st.sampled_from([n for n in case.names() if (case_name, n) not in KNOWN_GAPS]))
    index = draw(st.integers(0, len(bad_values(case, name)) - 1))
    return name, index


def test_every_public_function_is_covered():
    covered = {c.func for c in CASES.values()}
    probes = ("cupy_available", "get_backend")   # machine probes and backend selection: no numerical input
    for mod, names in ((eulerian, ["Grid"] + [n for n in eulerian.__all__ if n not in probes
                                              and inspect.isfunction(getattr(eulerian, n))]),
                       (lagrangian, [n for n in lagrangian.__all__ if inspect.isfunction(getattr(lagrangian, n))]),
                       (vg, [n for n in vg.__all__ if n != "FiniteTimeBlowUp"])):
        for n in names:
            if mod is lagrangian and n in ("get_xp", "to_numpy"):  # converters: any input, passed through as is
                continue
            assert getattr(mod, n) in covered, f"{mod.__name__}.{n} has no bad-input case"


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_valid_call_is_clean(case_name):
    case = CASES[case_name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = case.func(*[v for _, v in case.pos], **case.kw)
        if case.probe is not None:
            result = (result, case.probe(result))
    assert not nan_paths(result)


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_bad_input_is_a_clear_error(case_name):
    if all((case_name, n) in KNOWN_GAPS for n in CASES[case_name].names()):
        pytest.skip("every argument is a known gap (see test_known_gap)")
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bad_argument(case_name))
    def prop(drawn):
        name, index = drawn
        check(case_name, name, bad_values(CASES[case_name], name)[index])

    prop()


@pytest.mark.parametrize("case_name,name", [pytest.param(c, n, marks=pytest.mark.xfail(strict=True, reason=r))
                                            for (c, n), r in sorted(KNOWN_GAPS.items())])
def test_known_gap(case_name, name):
    for bad in bad_values(CASES[case_name], name):
        check(case_name, name, bad)
