import numpy as np
import pytest

from eulerian import CFLError, Grid, Solution, solve_continuity, solve_fokker_planck
from tests.eulerian.eulerian_helpers import affine_continuity, l1_error, mms_fokker_planck, ou_problem, slope

pytest.importorskip("fipy")


def relative_difference(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(a)).max())


def ou_pair(shape, steps=6, **kw):
    d = len(shape)
    drift, D, g0, _ = ou_problem(d)
    grid = Grid((-6.0,) * d, (6.0,) * d, shape)
    rho0 = grid.cell_averages(g0.pdf)
    a = solve_fokker_planck(grid, rho0, drift, D, 1.0, steps, **kw)
    b = solve_fokker_planck(grid, rho0, drift, D, 1.0, steps, backend="fipy", **kw)
    return a, b


@pytest.mark.parametrize("time", ["implicit-euler", "crank-nicolson", "bdf2"])
def test_fipy_matches_array_backend_2d_scharfetter_gummel(time):
    a, b = ou_pair((12, 14), time=time)
    assert isinstance(b, Solution) and b.backend == "fipy"
    assert relative_difference(a.density, b.density) < 1e-8
    assert b.mass_drift < 1e-12
    if time == "implicit-euler":  # M-matrix: positive (the second-order schemes may undershoot in the tails)
        assert b.min_density >= 0.0


@pytest.mark.parametrize("flux", ["central", "chang-cooper"])
def test_fipy_matches_array_backend_1d(flux):
    a, b = ou_pair((30,), flux=flux, time="bdf2")
    assert relative_difference(a.density, b.density) < 1e-8


@pytest.mark.parametrize("time", ["implicit-euler", "bdf2"])
def test_fipy_matches_array_backend_periodic_source_time_dependent(time):
    exact, drift, source = mms_fokker_planck()
    grid = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (10, 12))
    kw = dict(boundary="periodic", source=source, time=time, save_at=[0.25, 0.5])
    a = solve_fokker_planck(grid, exact(0.0), drift, 0.3, 0.5, 6, **kw)
    b = solve_fokker_planck(grid, exact(0.0), drift, 0.3, 0.5, 6, backend="fipy", **kw)
    for x, y in zip(a.densities, b.densities_numpy()):
        assert relative_difference(x, y) < 1e-8
    np.testing.assert_allclose(b.times, [0.25, 0.5])


def test_agreement_check_flags_a_different_scheme():
    """Negative check: central flux on one side, Scharfetter-Gummel on the other, differ far above 1e-8."""
    drift, D, g0, _ = ou_problem(1)
    grid = Grid((-6.0,), (6.0,), (30,))
    rho0 = grid.cell_averages(g0.pdf)
    a = solve_fokker_planck(grid, rho0, drift, D, 1.0, 6, flux="central")
    b = solve_fokker_planck(grid, rho0, drift, D, 1.0, 6, backend="fipy")
    assert relative_difference(a.density, b.density) > 1e-4


def test_fipy_fokker_planck_converges_to_exact_law():
    """FiPy (SG + BDF2, steps = N/2) against the exact OU law, 1D: second order (+-0.15)."""
    drift, D, g0, law = ou_problem(1)
    hs, errs = [], []
    for n in (24, 48, 96):
        grid = Grid((-6.0,), (6.0,), (n,))
        sol = solve_fokker_planck(grid, g0.pdf, drift, D, 1.0, n // 2, backend="fipy")
        errs.append(l1_error(grid, sol.density, grid.cell_averages(law(1.0).pdf)))
        hs.append(grid.spacing[0])
    assert abs(slope(hs, errs) - 2.0) < 0.15, errs


def test_fipy_continuity_conserves_mass_and_converges():
    field, g0, law = affine_continuity()
    hs, errs = [], []
    for n in (12, 24, 48):
        grid = Grid((-5.0, -5.0), (5.0, 5.0), (n, n))
        sol = solve_continuity(grid, g0.pdf, field, 0.5, backend="fipy")
        assert sol.mass_drift < 1e-12 and sol.backend == "fipy"
        errs.append(l1_error(grid, sol.density, grid.cell_averages(law(0.5).pdf)))
        hs.append(grid.spacing[0])
    assert slope(hs, errs) >= 1.4, errs
    arr = solve_continuity(grid, g0.pdf, field, 0.5)
    assert l1_error(grid, arr.density, sol.density) < 2 * errs[-1]


def test_fipy_continuity_forced_dt_breaking_cfl():
    field, g0, _ = affine_continuity()
    grid = Grid((-5.0, -5.0), (5.0, 5.0), (16, 16))
    with pytest.raises(CFLError):
        solve_continuity(grid, g0.pdf, field, 1.0, steps=2, backend="fipy")


def test_fipy_rejects_solver_option():
    drift, D, g0, _ = ou_problem(1)
    grid = Grid((-6.0,), (6.0,), (16,))
    with pytest.raises(ValueError, match="solver"):
        solve_fokker_planck(grid, g0.pdf, drift, D, 1.0, 2, backend="fipy", solver="lu")


# ------------------------------------------------------------------ off-diagonal diffusion matrix (cross fluxes)
MATRIX = np.array([[0.3, 0.2], [0.2, 0.25]])


def _matrix_fipy(grid, rho0, drift, boundary, time, D=MATRIX, steps=3):
    from eulerian.boundary import parse_boundary
    from eulerian.diffusion import check_diffusion
    from eulerian.fipy_backend import fokker_planck_fipy
    from eulerian.fokker_planck import FP_BOUNDARIES, check_damped_steps

    return fokker_planck_fipy(grid, rho0, drift, check_diffusion(D, grid), 0.15, steps, flux="scharfetter-gummel",
                              time=time, box=parse_boundary(boundary, 2, FP_BOUNDARIES), save_idx=None,
                              source=None, damped_steps=check_damped_steps(None, time, steps))


def _wavy(grid):
    return grid.cell_averages(lambda x: 2.0 + np.sin(2.0 * x[..., 0] + x[..., 1]))


def _shear(t, x):
    return np.stack([0.5 - 0.3 * x[..., 1], 0.2 * x[..., 0]], axis=-1)


@pytest.mark.parametrize("time", ["implicit-euler", "crank-nicolson", "bdf2"])
def test_fipy_full_matrix_periodic_matches_array_backend(time):
    """Public path (periodic): the cross fluxes swept to convergence give the array backend's operator."""
    grid = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (8, 6))
    rho0 = _wavy(grid)
    a = solve_fokker_planck(grid, rho0, _shear, MATRIX, 0.15, 3, time=time, boundary="periodic")
    b = solve_fokker_planck(grid, rho0, _shear, MATRIX, 0.15, 3, time=time, boundary="periodic", backend="fipy")
    assert relative_difference(a.density, b.density) < 1e-10
    assert b.mass_drift < 1e-13 and b.info["fipy_sweeps"] >= 3 * 5


@pytest.mark.parametrize("boundary", ["zero-flux", ["periodic", "zero-flux"]])
def test_fipy_full_matrix_walls_match_array_backend(boundary):
    """Zero-flux walls: no cross flux through the wall faces, wall cells' gradients with a mirrored cell."""
    grid = Grid((0.0, 0.0), (2.0, 1.0), (8, 6))
    rho0 = _wavy(grid)
    a = solve_fokker_planck(grid, rho0, _shear, MATRIX, 0.15, 3, time="bdf2", boundary=boundary)
    b = _matrix_fipy(grid, rho0, _shear, boundary, "bdf2")
    assert relative_difference(a.density, b.density) < 1e-10
    assert b.mass_drift < 1e-13


def test_fipy_full_matrix_flags_a_dropped_cross_term():
    """Negative: the array backend without the off-diagonal entries is far from FiPy's full matrix."""
    grid = Grid((0.0, 0.0), (2.0, 1.0), (8, 6))
    rho0 = _wavy(grid)
    a = solve_fokker_planck(grid, rho0, _shear, np.diag(np.diag(MATRIX)), 0.15, 3, time="bdf2")
    assert relative_difference(a.density, _matrix_fipy(grid, rho0, _shear, "zero-flux", "bdf2").density) > 1e-4


def test_fipy_full_matrix_refuses_open_walls():
    """Refused up front by solve_fokker_planck, before the FiPy backend builds anything (as on the array backend)."""
    from eulerian.boundary import Dirichlet

    grid = Grid((0.0, 0.0), (2.0, 1.0), (6, 4))
    with pytest.raises(ValueError, match="off-diagonal"):
        solve_fokker_planck(grid, _wavy(grid), _shear, MATRIX, 0.15, 3, backend="fipy", time="bdf2",
                            boundary=[(Dirichlet(1.0), Dirichlet(1.0)), "zero-flux"])


def test_fipy_full_matrix_unconverged_sweeps_raise(monkeypatch):
    import eulerian.fipy_backend as fb
    from eulerian.errors import NumericalError

    monkeypatch.setattr(fb, "MAX_SWEEPS", 2)
    grid = Grid((0.0, 0.0), (2.0, 1.0), (6, 4))
    with pytest.raises(NumericalError, match="did not converge"):
        _matrix_fipy(grid, _wavy(grid), _shear, "zero-flux", "implicit-euler", steps=1)


def test_fipys_own_anisotropic_term_is_a_different_operator():
    """Evidence for the module docstring: FiPy's rank-2 DiffusionTerm, even swept to convergence, takes the
    harmonic face mean of the cell gradients (zero where they change sign) and puts cross fluxes on the wall
    faces, so it is not the array backend's operator (here ~1e-2 apart) and lets mass through zero-flux walls."""
    import fipy as fp
    from fipy.solvers.scipy import LinearLUSolver

    from eulerian.fipy_backend import _from_fipy, _to_fipy, fipy_mesh

    grid = Grid((0.0, 0.0), (2.0, 1.0), (8, 6))
    rho0 = _wavy(grid)
    a = solve_fokker_planck(grid, rho0, lambda t, x: np.zeros_like(x), MATRIX, 0.15, 1, time="implicit-euler")
    mesh = fipy_mesh(grid, False)
    var = fp.CellVariable(mesh=mesh, value=_to_fipy(rho0), hasOld=True)
    coeff = fp.FaceVariable(mesh=mesh, rank=2, value=np.repeat(MATRIX[:, :, None], mesh.numberOfFaces, axis=2))
    eq = fp.TransientTerm() == fp.DiffusionTerm(coeff=coeff)
    var.updateOld()
    for _ in range(100):   # swept to convergence: the difference is the operator, not the deferral
        before = np.array(var.value)
        eq.sweep(var=var, dt=0.15, solver=LinearLUSolver(tolerance=1e-12))
        if np.abs(np.array(var.value) - before).max() < 1e-13:
            break
    else:
        raise AssertionError("FiPy's sweeps did not converge")
    rho = _from_fipy(var.value, grid.shape)
    assert relative_difference(a.density, rho) > 1e-2                     # measured 5.0e-2
    assert abs(grid.mass(rho) - grid.mass(rho0)) > 1e-3 * grid.mass(rho0)  # measured 0.038 of 4.52 lost


# ------------------------------------------------------------------------------------- continuity walls (FiPy)
def _continuity_fipy(grid, rho0, velocity, T, boundary, source=None, steps=None):
    from eulerian.boundary import parse_boundary
    from eulerian.continuity import BOUNDARIES
    from eulerian.fipy_backend import continuity_fipy

    box = parse_boundary(boundary, grid.dim, BOUNDARIES)
    return continuity_fipy(grid, np.asarray(rho0, dtype=float), velocity, T, cfl=0.4, box=box, save_at=None,
                           steps=steps, source=source)


def test_fipy_continuity_uniform_inflow_outflow_is_exact():
    """rho = 1 everywhere, v = (1, 0), inflow value 1 on the left, Outflow on the right: stays 1, and the
    outflow is 0 (inflow 1 x 1 x t in, outflow 1 x 1 x t out)."""
    from eulerian.boundary import Dirichlet, Outflow

    grid = Grid((0.0, 0.0), (1.0, 1.0), (6, 4))
    v = lambda t, x: np.stack([np.ones(x.shape[:-1]), np.zeros(x.shape[:-1])], -1)  # noqa: E731
    sol = _continuity_fipy(grid, np.ones(grid.shape), v, 0.3, [(Dirichlet(1.0), Outflow()), "zero-flux"])
    np.testing.assert_allclose(sol.density, 1.0, atol=1e-13)
    assert abs(sol.boundary_outflow[-1]) < 1e-13


def test_fipy_continuity_empty_box_fills_from_inflow_at_the_right_rate():
    """Empty box, inflow value 2 at speed 1 through the unit left wall: the mass grows by 2 t until the front
    reaches the Outflow wall (t < 1: nothing leaves yet, apart from numerical diffusion)."""
    from eulerian.boundary import Dirichlet, Outflow

    grid = Grid((0.0, 0.0), (1.0, 1.0), (16, 2))
    v = lambda t, x: np.stack([np.ones(x.shape[:-1]), np.zeros(x.shape[:-1])], -1)  # noqa: E731
    sol = _continuity_fipy(grid, np.zeros(grid.shape), v, 0.25, [(Dirichlet(2.0), Outflow()), "periodic"])
    assert abs(sol.mass[-1] - 0.5) < 1e-12 and abs(sol.boundary_outflow[-1] + 0.5) < 1e-12
    assert sol.density[-1].max() < 1e-12   # the front is far from the outflow wall


def test_fipy_continuity_flux_wall_and_mass_balance():
    """Flux(q) walls with a velocity parallel to them: mass(t) = mass(0) - (q_lower + q_upper) x length x t."""
    from eulerian.boundary import Flux

    grid = Grid((0.0, 0.0), (2.0, 1.0), (8, 6))
    v = lambda t, x: np.stack([0.5 + 0.0 * x[..., 1], np.zeros(x.shape[:-1])], -1)  # noqa: E731
    rho0 = grid.cell_averages(lambda x: 2.0 + np.sin(np.pi * x[..., 0]) * np.cos(np.pi * x[..., 1]))
    sol = _continuity_fipy(grid, rho0, v, 0.4, ["periodic", (Flux(0.3), Flux(-0.1))])
    assert abs(sol.mass[-1] - (sol.mass[0] - (0.3 - 0.1) * 2.0 * 0.4)) < 1e-12
    assert abs(sol.boundary_outflow[-1] - 0.2 * 2.0 * 0.4) < 1e-12


def test_fipy_continuity_mixed_periodic_axes_wrap():
    """Periodic x next to zero-flux y walls, v = (1, 0), rho independent of y: the same as the all-periodic run
    (before, a mixed box was run as all zero-flux)."""
    from eulerian.boundary import parse_boundary
    from eulerian.fipy_backend import continuity_fipy

    grid = Grid((0.0, 0.0), (2.0, 1.0), (8, 6))
    v = lambda t, x: np.stack([np.ones(x.shape[:-1]), np.zeros(x.shape[:-1])], -1)  # noqa: E731
    rho0 = grid.cell_averages(lambda x: 1.0 + 0.5 * np.sin(np.pi * x[..., 0]))
    kw = dict(cfl=0.4, save_at=None, steps=None, source=None)
    mixed = continuity_fipy(grid, rho0, v, 1.0, **kw,
                            box=parse_boundary(["periodic", "zero-flux"], 2, ("zero-flux", "periodic")))
    wrapped = continuity_fipy(grid, rho0, v, 1.0, box=parse_boundary("periodic", 2, ("zero-flux", "periodic")), **kw)
    assert abs(mixed.mass[-1] - mixed.mass[0]) < 1e-12 * mixed.mass[0]
    assert relative_difference(wrapped.density, mixed.density) < 1e-13
    assert relative_difference(rho0, mixed.density) > 0.1   # it moved
