"""Bad input is always a clear error: every public function of eulerian checks its arguments up front (one-line
messages naming the argument and the fix), and numerical trouble raises instead of returning garbage."""
import math

import numpy as np
import pytest

import eulerian._validate as v
from eulerian import (Grid, MemoryLimitError, NumericalError, benamou_brenier, default_gamma, solve_continuity,
                      solve_fokker_planck)
from eulerian.benamou_brenier import DENSITY_NEGATIVITY_FACTOR
from verify.cases.benamou_brenier_cases import gaussian_cells_1d


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------------------------------------------------
# 1. grids: cell count against the memory cap, shapes, spacings
# ---------------------------------------------------------------------------------------------------------
def test_grid_beyond_memory_is_refused_with_size_limit_and_fix():
    with pytest.raises(MemoryLimitError) as excinfo:
        Grid((0.0, 0.0), (1.0, 1.0), (2**40, 2**40))
    message = one_line(excinfo)
    assert "GiB" in message and "limit" in message and "MEMORY_FRACTION" in message
    assert "fewer cells" in message and "(1099511627776, 1099511627776)" in message
    # the same error is a ValueError (bad argument) and a MemoryError (what callers may already catch)
    assert isinstance(excinfo.value, ValueError) and isinstance(excinfo.value, MemoryError)


def test_memory_cap_follows_physical_memory_and_fraction(monkeypatch):
    monkeypatch.setattr(v, "physical_memory_bytes", lambda: 2**30)  # a 1 GiB machine: cap 0.5 GiB
    cells = 2**30 // (8 * v.GRID_ARRAYS)  # 1 GiB of grid arrays
    with pytest.raises(MemoryLimitError, match=r"1 GiB, beyond the limit of 0.5 GiB"):
        Grid((0.0,), (1.0,), (cells,))
    Grid((0.0,), (1.0,), (cells // 4,))  # 0.25 GiB: accepted
    monkeypatch.setattr(v, "MEMORY_FRACTION", 2.0)
    Grid((0.0,), (1.0,), (cells,))


def test_cell_count_does_not_overflow(monkeypatch):
    monkeypatch.setattr(v, "MEMORY_FRACTION", 1e30)  # no cap: the count itself must be exact (int64 wraps to 0)
    g = Grid((0.0, 0.0), (1.0, 1.0), (2**40, 2**40))
    assert g.size == 2**80 and g.cell_volume == pytest.approx(2.0**-80)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        (((0.0,) * 3, (1e-200,) * 3, (4, 4, 4)), ValueError, "cell volume 0"),  # underflows
        (((0.0,) * 3, (1e-110,) * 3, (4, 4, 4)), ValueError, "cell volume"),  # subnormal (1/volume overflows)
        (((-1e308,), (1e308,), (4,)), ValueError, "cell volume inf"),  # upper - lower overflows
        (((0.0,), (1.0,), (True,)), TypeError, "integers"),
        (((0.0,), (1.0,), (-4,)), ValueError, "at least 2 cells"),
        (((0.0,), (1.0,), (np.float64(4.0),)), TypeError, "integers"),
        (((0.0,), (1.0,), None), TypeError, "integers"),
        (((0.0,), (1.0,), (2**70,)), ValueError, "2\\*\\*62"),
        (((0.0,), (1.0 + 0.0j,), (4,)), TypeError, "upper\\[0\\] must be real; got complex128"),
        (((0.0,), (np.complex128(1.0),), (4,)), TypeError, "must be real"),
        ((("0",), (1.0,), (4,)), TypeError, "lower\\[0\\] must be a real number"),
    ],
)
def test_bad_grid_arguments(args, exc, match):
    with pytest.raises(exc, match=match) as excinfo:
        Grid(*args)
    one_line(excinfo)


def test_grid_methods_check_their_arguments():
    g = Grid((0.0, 0.0), (1.0, 1.0), (4, 4))
    with pytest.raises(TypeError, match="f\\(x\\) must be real"):
        g.cell_averages(lambda x: np.exp(1j * x[..., 0]))
    with pytest.raises(TypeError, match="f\\(x\\) must be real"):
        g.point_values(lambda x: 1j * x[..., 0])
    with pytest.raises(TypeError, match="callable"):
        g.cell_averages(3.0)
    with pytest.raises(TypeError, match="order"):
        g.cell_averages(lambda x: x[..., 0], order=2.5)
    with pytest.raises(TypeError, match="rho must be real"):
        g.mass(np.ones((4, 4), dtype=complex))
    with pytest.raises(ValueError, match="positive total"):
        g.mean(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="positive total"):
        g.covariance(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="axis"):
        g.faces(2)
    with pytest.raises(ValueError, match="axis"):
        g.faces(1.0)
    assert g.mass([[1.0] * 4] * 4) == pytest.approx(1.0)  # nested lists are arrays too


# ---------------------------------------------------------------------------------------------------------
# 2. complex input is a TypeError naming the argument, never a ComplexWarning and a silently real result
# ---------------------------------------------------------------------------------------------------------
def _fp_args(**change):
    grid = Grid((0.0, 0.0), (1.0, 1.0), (8, 8))
    kw = dict(grid=grid, rho0=np.ones((8, 8)), drift=lambda t, x: 0 * x, diffusion=0.1, t_final=0.1, steps=2)
    kw.update(change)
    return kw


def _late_complex(t, x):
    """Real at t = 0 (passes the probe of the argument checks), complex afterwards."""
    return -x * (1.0 + (1j if t > 0 else 0.0))


@pytest.mark.filterwarnings("error::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize(
    "change, match",
    [
        ({"rho0": np.ones((8, 8)) + 0j}, "rho0 must be real; got complex128 — pass rho0.real if the imaginary"),
        ({"rho0": lambda x: np.exp(-(x**2).sum(-1)) + 0j}, "rho0\\(x\\) must be real; got complex128"),
        ({"drift": lambda t, x: -x + 0j}, "drift\\(t, x\\) must be real; got complex128 — return real values"),
        ({"drift": _late_complex}, "drift\\(t, x\\) must be real"),
        ({"diffusion": 0.1 + 0j}, "diffusion must be real; got complex128 — pass diffusion.real"),
        ({"diffusion": np.complex128(0.1)}, "diffusion must be real"),
        ({"t_final": np.array(0.1 + 0j)}, "t_final must be real"),
        ({"source": lambda t, x: np.ones(x.shape[:-1]) * (1 + 1j)}, "source\\(t, x\\) must be real"),
        ({"save_at": [0.05 + 0j]}, "save_at must be real"),
    ],
)
def test_complex_fokker_planck_input_is_a_type_error(change, match):
    with pytest.raises(TypeError, match=match) as excinfo:
        solve_fokker_planck(**_fp_args(**change))
    one_line(excinfo)


@pytest.mark.filterwarnings("error::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize(
    "change, match",
    [
        ({"rho0": np.ones(16, dtype=np.complex64)}, "rho0 must be real; got complex64"),
        ({"velocity": lambda t, x: np.ones_like(x) + 0j}, "velocity\\(t, x\\) must be real"),
        ({"velocity": _late_complex, "time_dependent": True}, "velocity\\(t, x\\) must be real"),
        ({"source": lambda t, x: 0j * x[..., 0]}, "source\\(t, x\\) must be real"),
        ({"cfl": 0.4 + 0j}, "cfl must be real"),
    ],
)
def test_complex_continuity_input_is_a_type_error(change, match):
    kw = dict(grid=Grid((0.0,), (1.0,), (16,)), rho0=np.ones(16), velocity=lambda t, x: np.ones_like(x),
              t_final=0.1)
    kw.update(change)
    with pytest.raises(TypeError, match=match):
        solve_continuity(**kw)


@pytest.mark.filterwarnings("error::numpy.exceptions.ComplexWarning")
def test_complex_benamou_brenier_input_is_a_type_error():
    grid = Grid((0.0,), (1.0,), (16,))
    rho = np.ones(16)
    with pytest.raises(TypeError, match="rho1 must be real; got complex128"):
        benamou_brenier(grid, rho, rho + 0j, 4)
    with pytest.raises(TypeError, match="gamma must be real"):
        benamou_brenier(grid, rho, rho, 4, gamma=1 + 0j)
    with pytest.raises(TypeError, match="alpha must be real"):
        benamou_brenier(grid, rho, rho, 4, alpha=np.complex128(1.0))


def test_complex_fipy_drift_is_a_type_error():
    pytest.importorskip("fipy")
    with pytest.raises(TypeError, match="drift\\(t, x\\) must be real"):
        solve_fokker_planck(**_fp_args(drift=_late_complex, backend="fipy"))


# ---------------------------------------------------------------------------------------------------------
# other arguments of the solvers
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, exc, match",
    [
        ({"rtol": 0.0}, ValueError, "rtol"),
        ({"rtol": "1e-12"}, TypeError, "rtol"),
        ({"time_dependent": "yes"}, TypeError, "time_dependent"),
        ({"diffusion": True}, TypeError, "diffusion"),
        ({"diffusion": "0.1"}, TypeError, "diffusion"),
        ({"source": 1.0}, TypeError, "source"),
        ({"source": lambda t, x: x}, ValueError, "source\\(t, x\\) must return one value per point"),
        ({"drift": lambda t, x: np.array([["a"] * 2] * 2)}, TypeError, "real numbers"),
        ({"save_at": ["soon"]}, TypeError, "save_at"),
    ],
)
def test_bad_fokker_planck_arguments(change, exc, match):
    with pytest.raises(exc, match=match) as excinfo:
        solve_fokker_planck(**_fp_args(**change))
    one_line(excinfo)


def test_bad_benamou_brenier_arguments():
    grid = Grid((0.0,), (1.0,), (16,))
    rho = np.ones(16)
    for kw, exc, match in [
        ({"tol": -1.0}, ValueError, "tol"),
        ({"residual_tol": "small"}, TypeError, "residual_tol"),
        ({"normalize": 1}, TypeError, "normalize"),
        ({"multilevel": "no"}, TypeError, "multilevel"),
        ({"workers": 0}, ValueError, "workers"),
        ({"workers": 1.5}, TypeError, "workers"),
        ({"alpha": "1"}, TypeError, "alpha"),
        ({"relaxation": None}, TypeError, "relaxation"),
        ({"dtype": [1]}, ValueError, "dtype"),
    ]:
        with pytest.raises(exc, match=match):
            benamou_brenier(grid, rho, rho, 4, **kw)
    with pytest.raises(ValueError, match="method"):
        default_gamma("newton", 1)
    with pytest.raises(ValueError, match="dim"):
        default_gamma("primal-dual", 4)
    res = benamou_brenier(grid, rho, rho, 4, max_iter=2)
    with pytest.raises(TypeError, match="t must be a real number"):
        res.velocity("half")
    with pytest.raises(ValueError, match="threshold"):
        res.velocity(0.5, threshold=-1.0)


# ---------------------------------------------------------------------------------------------------------
# 3. Fokker-Planck: mass to round-off, or NumericalError
# ---------------------------------------------------------------------------------------------------------
def _ou_1d():
    grid = Grid((-4.0,), (4.0,), (64,))
    x = grid.centers()
    return grid, np.exp(-0.5 * ((x - 0.5) ** 2).sum(-1))


@pytest.mark.parametrize("time", ["implicit-euler", "crank-nicolson", "bdf2", "douglas-adi"])
@pytest.mark.parametrize("boundary", ["zero-flux", "periodic"])
def test_huge_time_step_loses_mass_and_raises(time, boundary):
    """dt = 10^12: the solves of I - dt A lose ~1e-3 of the mass (measured 6e-4 to 2e-3); it used to be returned."""
    grid, rho = _ou_1d()
    solver = "auto" if time == "douglas-adi" else "lu"
    with pytest.raises(NumericalError, match=r"mass drifted by [0-9.e-]+ \(relative\) at step 1") as excinfo:
        solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 1e12, 1, time=time, boundary=boundary, solver=solver)
    message = one_line(excinfo)
    assert "tolerance 1e-09" in message and "more steps" in message


def test_mass_check_keeps_legitimate_runs_and_sources():
    """Zero-flux and periodic runs (large but sane steps too) pass; with a source the scheme's discrete mass
    balance is what is checked (M' = M + dt S for a constant S on every scheme)."""
    grid, rho = _ou_1d()
    for boundary in ("zero-flux", "periodic"):
        for time in ("implicit-euler", "crank-nicolson", "bdf2", "douglas-adi"):
            for T, steps in ((1.0, 10), (100.0, 4)):
                sol = solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, T, steps, time=time, boundary=boundary)
                assert sol.mass_drift < 1e-12
            # a time-dependent, non-symmetric source: the balance differs between schemes
            src = lambda t, x: 0.3 + 0.2 * np.cos(x[..., 0]) * np.sin(3 * t)  # noqa: E731
            sol = solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 1.0, 10, time=time, boundary=boundary,
                                      source=src)
            assert sol.mass[-1] > sol.mass[0]
            const = solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 1.0, 10, time=time, boundary=boundary,
                                        source=lambda t, x: 0.25)  # a scalar source: the same in every cell
            np.testing.assert_allclose(const.mass, const.mass[0] + 0.25 * 8.0 * const.mass_times, rtol=1e-13)


def test_fipy_backend_checks_the_mass_too():
    pytest.importorskip("fipy")
    grid, rho = _ou_1d()
    src = lambda t, x: 0.3 + 0.2 * np.cos(x[..., 0]) * np.sin(3 * t)  # noqa: E731
    for time in ("implicit-euler", "crank-nicolson", "bdf2"):
        solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 1.0, 5, time=time, backend="fipy", source=src)
        with pytest.raises(NumericalError, match="mass drifted"):
            solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 1e12, 1, time=time, backend="fipy")


def test_nan_or_inf_in_the_solution_raises():
    grid, rho = _ou_1d()
    for bad in (np.nan, np.inf):
        src = lambda t, x, bad=bad: np.where(t > 0.3, bad, 0.0) + 0 * x[..., 0]  # noqa: E731
        with pytest.raises(NumericalError, match="non-finite density \\(NaN or inf\\) at step 2"):
            solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 1.0, 5, source=src)


# ---------------------------------------------------------------------------------------------------------
# 4. continuity: the number of CFL steps is estimated and capped
# ---------------------------------------------------------------------------------------------------------
def _fast(calls_allowed=60):
    """Velocity 10^6 (about 1.6e8 CFL steps on 64 cells); fails loudly if the solver starts stepping."""
    calls = []

    def velocity(t, x):
        calls.append(t)
        if len(calls) > calls_allowed:
            raise RuntimeError("the solver started millions of steps instead of refusing")
        return np.full_like(x, 1e6)

    return velocity


def test_continuity_step_estimate_above_default_cap_raises():
    grid = Grid((0.0,), (1.0,), (64,))
    with pytest.raises(ValueError, match=r"about 1\.6e\+08 time steps .* max_steps=1000000") as excinfo:
        solve_continuity(grid, np.ones(64), _fast(), 1.0, time_dependent=True)
    message = one_line(excinfo)
    assert "pass max_steps=160000000" in message and "CFL" in message


def test_continuity_max_steps_argument():
    grid = Grid((0.0,), (1.0,), (64,))
    slow = lambda t, x: np.full_like(x, 1.0)  # noqa: E731  (1 * 64 / 0.4 = 160 steps)
    with pytest.raises(ValueError, match="about 160 time steps"):
        solve_continuity(grid, np.ones(64), slow, 1.0, max_steps=100)
    assert solve_continuity(grid, np.ones(64), slow, 1.0, max_steps=160).steps == 160
    with pytest.raises(ValueError, match="steps=500"):
        solve_continuity(grid, np.ones(64), slow, 1.0, steps=500, max_steps=400)
    with pytest.raises(ValueError, match="max_steps"):
        solve_continuity(grid, np.ones(64), slow, 1.0, max_steps=0)
    with pytest.raises(TypeError, match="max_steps"):
        solve_continuity(grid, np.ones(64), slow, 1.0, max_steps=1e6)
    sol = solve_continuity(grid, np.ones(64), _fast(), 2e-5, max_steps=None, cfl=0.5)  # no cap
    assert sol.steps == 2560 and sol.mass_drift < 1e-12


def test_continuity_velocity_growing_after_start_hits_the_cap():
    grid = Grid((0.0,), (1.0,), (64,))
    grows = lambda t, x: np.full_like(x, math.exp(40 * t))  # noqa: E731  (160 steps estimated at t = 0)
    with pytest.raises(ValueError, match=r"reached max_steps=1000 at t = 0\.1\d* < t_final = 1"):
        solve_continuity(grid, np.ones(64), grows, 1.0, max_steps=1000, time_dependent=True)


def test_continuity_non_finite_velocity_raises():
    grid = Grid((0.0,), (1.0,), (16,))
    bad = lambda t, x: np.full_like(x, np.inf if t > 0 else 1.0)  # noqa: E731
    with pytest.raises(NumericalError, match="velocity returned non-finite"):
        solve_continuity(grid, np.ones(16), bad, 1.0, time_dependent=True)


# ---------------------------------------------------------------------------------------------------------
# 5. Benamou-Brenier: the documented bound on negative densities
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["douglas-rachford", "primal-dual"])
def test_benamou_brenier_negative_density_within_documented_bound(method):
    grid = Grid((0.0,), (1.0,), (32,))
    rho0, rho1 = gaussian_cells_1d(grid, 0.3, 0.05), gaussian_cells_1d(grid, 0.7, 0.08)
    for kw in ({}, {"max_iter": 50}):  # converged, and stopped early (larger residual, larger negative part)
        res = benamou_brenier(grid, rho0, rho1, 16, method=method, **kw)
        r = res.history["continuity"][-1]
        assert np.all(res.density[0] >= 0) and np.all(res.density[-1] >= 0)
        # exact bound on the centred density (L = 1)
        cd, mom = res.centred_density, res.momentum
        negative = math.sqrt(float((np.minimum(cd, 0) ** 2).sum()))
        assert negative <= r * math.sqrt(float((cd**2).sum() + (mom**2).sum())) * (1 + 1e-9)
        # measured bound on the staggered density, and its size with the default stopping tests
        assert res.density.min() >= -DENSITY_NEGATIVITY_FACTOR * r * res.density.max()
        if res.converged:
            assert res.density.min() >= -2e-3 * res.density.max()
    assert res.density.min() < 0  # the bound is not vacuous: negative values do occur


# ---------------------------------------------------------------------------------------------------------
# 6. arrays sized by the arguments are refused before allocating
# ---------------------------------------------------------------------------------------------------------
def test_benamou_brenier_beyond_memory_is_refused_before_allocating():
    grid = Grid((0.0,), (1.0,), (4096,))
    rho = np.ones(4096)
    with pytest.raises(MemoryLimitError, match="benamou_brenier on 4096 cells x 10000001 time levels") as excinfo:
        benamou_brenier(grid, rho, rho, 10**7)
    message = one_line(excinfo)
    assert "GiB" in message and "fewer time_steps" in message


def test_saved_densities_beyond_memory_are_refused():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (256, 256))
    rho = np.ones(grid.shape)
    steps = 2**20
    with pytest.raises(MemoryLimitError, match="saved densities") as excinfo:
        solve_fokker_planck(grid, rho, lambda t, x: 0 * x, 0.1, 1.0, steps, save_at=np.arange(steps + 1) / steps)
    assert "save fewer densities" in one_line(excinfo)
    with pytest.raises(MemoryLimitError, match="mass history"):
        solve_fokker_planck(Grid((0.0,), (1.0,), (8,)), np.ones(8), lambda t, x: 0 * x, 0.1, 1.0, 10**12)
    big = Grid((0.0, 0.0), (1.0, 1.0), (512, 512))
    with pytest.raises(MemoryLimitError, match="solve_continuity: 100000 saved densities"):
        solve_continuity(big, np.ones(big.shape), lambda t, x: np.ones_like(x), 1.0,
                         save_at=np.arange(1, 100_001) / 100_000)


def test_extreme_scalars_are_clear_errors_before_work(recwarn):
    """Found by the property test: a subnormal D, a huge step count, a huge gamma or thread count."""
    grid = Grid((-3.0,), (3.0,), (8,))
    rho0 = np.exp(-grid.centers()[..., 0] ** 2)
    with pytest.raises(ValueError, match="diffusion D = 4.94066e-324 is too small for cells of size 0.75"):
        solve_fokker_planck(grid, rho0, lambda t, x: -x, 5e-324, 1.0, 4)
    with pytest.raises(MemoryLimitError, match="mass history of 1180591620717411303425 values"):
        solve_fokker_planck(grid, rho0, lambda t, x: -x, 0.5, 1.0, 2**70)
    with pytest.raises(ValueError, match=r"gamma must lie in \[1e-08, 1e\+08\]"):
        benamou_brenier(grid, rho0, rho0, 4, gamma=1e308)
    with pytest.raises(ValueError, match="workers must be None or a non-zero integer of size at most 4096"):
        benamou_brenier(grid, rho0, rho0, 4, workers=2**70)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_damped_steps_are_checked():
    grid = Grid((-3.0,), (3.0,), (8,))
    rho0 = np.exp(-grid.centers()[..., 0] ** 2)
    args = (grid, rho0, lambda t, x: -x, 0.5, 1.0, 4)
    with pytest.raises(ValueError, match="damped_steps must be >= 0"):
        solve_fokker_planck(*args, time="crank-nicolson", damped_steps=-1)
    with pytest.raises(TypeError, match="damped_steps"):
        solve_fokker_planck(*args, time="crank-nicolson", damped_steps=1.5)
    with pytest.raises(ValueError, match="damped_steps applies to"):
        solve_fokker_planck(*args, time="douglas-adi", damped_steps=1)
    with pytest.raises(ValueError, match="BDF2 needs a one-step start"):
        solve_fokker_planck(*args, time="bdf2", damped_steps=0)
    sol = solve_fokker_planck(*args, time="crank-nicolson", damped_steps=10)   # more than the steps: all damped
    assert sol.info["damped_steps"] == 4


def test_ragged_lists_are_refused_naming_the_argument():
    """Nested lists whose rows differ in length: NumPy's own error names no argument, ours does."""
    from verify.gaussian import Affine
    grid = Grid((0.0, 0.0), (1.0, 0.5), (4, 3))
    rho = np.ones((4, 3))
    ragged_rho = rho.tolist()
    ragged_rho[-1] = ragged_rho[-1][:-1]
    calls = {
        "lower": lambda: Grid((0.0, [0.0, 0.0]), (1.0, 1.0), (4, 4)),
        "rho": lambda: grid.mass(ragged_rho),
        "rho0": lambda: solve_fokker_planck(grid, ragged_rho, lambda t, x: 0 * x, 0.1, 0.1, steps=2),
        "diffusion": lambda: solve_fokker_planck(grid, rho, lambda t, x: 0 * x, [[0.5, 0.0], [0.0]], 0.1, steps=2),
        "save_at": lambda: solve_fokker_planck(grid, rho, lambda t, x: 0 * x, 0.1, 0.1, steps=2, save_at=[0.05, [0.1]]),
        "matrix": lambda: Affine([[1.0, 0.0], [0.0]]),
    }
    for name, call in calls.items():
        with pytest.raises((ValueError, TypeError)) as excinfo:
            call()
        assert name in one_line(excinfo), (name, str(excinfo.value))
        assert "inhomogeneous" not in str(excinfo.value) or f"{name} must" in str(excinfo.value), name


def test_object_arrays_of_complex_numbers_are_refused_as_complex():
    values = np.array([[0.5 + 0.5j, 0j], [0j, 0.2]], dtype=object)
    with pytest.raises(TypeError, match="D must be real; got an object array with complex entries — pass D.real"):
        v.reject_complex("D", values)
    real = np.array([[0.5, 0.0], [0.0, 0.2]], dtype=object)
    assert v.reject_complex("D", real) is real
    with pytest.raises(TypeError, match="^diffusion must be real; got an object array with complex entries"):
        solve_fokker_planck(Grid((0.0, 0.0), (1.0, 1.0), (4, 4)), np.ones((4, 4)), None, values, 0.1, 2)
