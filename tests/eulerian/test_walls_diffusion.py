"""Walls (eulerian.boundary) and diffusion kinds (eulerian.diffusion) of the Fokker-Planck solver."""
import numpy as np
import pytest

from eulerian import Grid, solve_fokker_planck
from eulerian.backend import get_backend
from eulerian.boundary import Dirichlet, Flux, Outflow, parse_boundary
from eulerian.diffusion import Diffusion, check_diffusion, cross_diffusion
from eulerian.fokker_planck import FP_BOUNDARIES, solve_stationary
from eulerian.operators import WallTerms, assemble_generator, face_drift

GRID = Grid((0.0, -1.0), (2.0, 1.0), (12, 8))


def drift(t, x):
    return np.stack([1.0 - x[..., 0] + 0.3 * np.sin(t), -0.5 * x[..., 1]], -1)


def rho0(x):
    return np.exp(-((x[..., 0] - 1.0) ** 2 + x[..., 1] ** 2) / 0.2)


def test_wall_terms_account_for_every_change_of_mass():
    """cell_volume * sum(A rho + s) equals minus the outflow computed face by face (the balance the solver checks)."""
    be = get_backend("numpy")
    box = parse_boundary([(Dirichlet(0.7), Flux(0.2)), (Flux(-0.1), Dirichlet(lambda t, x: 1 + x[..., 0]))], 2,
                         FP_BOUNDARIES)
    A = assemble_generator(be, GRID, face_drift(be, GRID, drift, 0.3, box.periodic), 0.4, "scharfetter-gummel",
                           box.periodic)
    walls = WallTerms(be, GRID, box, drift, lambda k, s: 0.4, "scharfetter-gummel", 0.3)
    rho = np.random.default_rng(1).uniform(0.5, 2.0, GRID.size)
    rate = GRID.cell_volume * float((A @ rho + walls.diagonal * rho + walls.source).sum())
    assert rate == pytest.approx(-walls.outflow(rho), rel=1e-13)


def test_flux_wall_outflow_is_exact_for_a_constant_flux():
    """A constant outward flux q on one wall of length 2: the mass that left by t is 2 q t, to round-off."""
    sol = solve_fokker_planck(GRID, rho0, drift, 0.3, 0.5, 10, boundary=[("zero-flux", "zero-flux"),
                                                                          ("zero-flux", Flux(0.05))])
    assert sol.boundary_outflow[-1] == pytest.approx(2.0 * 0.05 * 0.5, rel=1e-12)
    assert np.allclose(sol.mass - sol.mass[0] + sol.boundary_outflow, 0.0, atol=1e-13)


@pytest.mark.parametrize("time", ["implicit-euler", "crank-nicolson", "bdf2"])
def test_multigrid_matches_lu_with_dirichlet_walls_and_variable_diffusion(time):
    g = Grid((0.0, -1.0), (2.0, 1.0), (32, 24))
    kw = dict(boundary=[(Dirichlet(0.3), Flux(0.1)), "zero-flux"], time=time)
    D = lambda x: 0.2 + 0.1 * x[..., 0]  # noqa: E731
    lu = solve_fokker_planck(g, rho0, drift, D, 0.4, 8, solver="lu", **kw)
    mg = solve_fokker_planck(g, rho0, drift, D, 0.4, 8, solver="multigrid", **kw)
    assert np.abs(lu.to_numpy() - mg.to_numpy()).max() <= 1e-9 * lu.to_numpy().max()
    assert max(mg.info["linear_iterations"]) <= 8


def test_stationary_dirichlet_linear_profile_and_closed_gibbs_state():
    g = Grid((0.0,), (50.0,), (50,))
    r = solve_stationary(g, lambda t, x: np.zeros_like(x), 1.0, boundary=[(Dirichlet(1.0), Dirichlet(0.0))])
    assert np.abs(r - (1.0 - g.axes()[0] / 50.0)).max() < 1e-12
    g2 = Grid((-4.0,), (4.0,), (64,))
    r2 = solve_stationary(g2, lambda t, x: -x, 0.5, mass=2.0)
    assert g2.mass(r2) == pytest.approx(2.0, rel=1e-12)
    # the discrete Gibbs state of the SG flux: rho_{i+1} / rho_i = exp(b h / D) on every face
    x_faces = g2.faces(0)[1:-1]
    assert np.allclose(r2[1:] / r2[:-1], np.exp(-x_faces * g2.spacing[0] / 0.5), rtol=1e-10)


def test_cross_diffusion_conserves_mass_and_is_second_order():
    be = get_backend("numpy")
    errors = []
    for n in (32, 64, 128):
        g = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (n, 3 * n // 4))
        C = cross_diffusion(be, g, np.array([[0.0, 0.3], [0.3, 0.0]]), True)
        assert np.abs(np.asarray(C.sum(axis=0))).max() < 1e-12
        x = g.centers()
        f = np.sin(x[..., 0]) * np.cos(2 * x[..., 1])
        exact = 2 * 0.3 * np.cos(x[..., 0]) * (-2.0 * np.sin(2 * x[..., 1]))  # 2 D_xy d_x d_y f
        errors.append(np.abs((C @ f.reshape(-1)).reshape(g.shape) - exact).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(orders - 2.0) < 0.15), orders


def test_diagonal_matrix_equals_constant_coefficients_per_axis():
    a = solve_fokker_planck(GRID, rho0, drift, np.diag([0.3, 0.3]), 0.3, 6).to_numpy()
    b = solve_fokker_planck(GRID, rho0, drift, 0.3, 0.3, 6).to_numpy()
    assert np.abs(a - b).max() < 1e-13


@pytest.mark.parametrize("boundary, match", [
    ([Dirichlet(1.0)], "entries but the grid has 2 axes"),
    ([("periodic", "zero-flux"), "zero-flux"], "periodic on one side only"),
    (["zero-flux", (Dirichlet(0.1), Flux(0.0), Flux(0.0))], "pair"),
    ("dirichlet", "unknown boundary"),
    ([Outflow(), "zero-flux"], "not available here"),
])
def test_bad_boundary_specs(boundary, match):
    with pytest.raises(ValueError, match=match):
        solve_fokker_planck(GRID, rho0, drift, 0.3, 0.1, 1, boundary=boundary)


def test_bad_wall_values():
    with pytest.raises(ValueError, match="must be >= 0"):
        Dirichlet(-0.5)
    with pytest.raises(TypeError, match="complex"):
        Flux(1j)
    with pytest.raises(ValueError, match="finite"):
        Dirichlet(float("nan"))
    with pytest.raises(TypeError, match="boundary for axis 0"):
        solve_fokker_planck(GRID, rho0, drift, 0.3, 0.1, 1, boundary=[3.0, "zero-flux"])
    with pytest.raises(ValueError, match="must be >= 0"):
        solve_fokker_planck(GRID, rho0, drift, 0.3, 0.1, 1,
                            boundary=[(Dirichlet(lambda t, x: x[..., 1]), "zero-flux"), "zero-flux"])


@pytest.mark.parametrize("diffusion, error, match", [
    (np.array([[0.3, 0.5], [0.5, 0.2]]), ValueError, "positive definite"),
    (np.array([[0.3, 0.1], [0.0, 0.2]]), ValueError, "symmetric"),
    (lambda x: 0.1 - x[..., 0], ValueError, "> 0 everywhere"),
    (lambda x: np.full(x.shape[:-1], np.nan), ValueError, "finite and > 0"),
    (np.zeros(GRID.shape), ValueError, "> 0 everywhere"),
    (np.ones((3, 3)), ValueError, "shape"),
    (0.3 + 0.1j, TypeError, "complex"),
    (-1.0, ValueError, "> 0"),
])
def test_bad_diffusion(diffusion, error, match):
    with pytest.raises(error, match=match):
        solve_fokker_planck(GRID, rho0, drift, diffusion, 0.1, 1)


def test_ambiguous_matrix_or_cells_and_unsupported_combinations():
    g = Grid((0.0, 0.0), (1.0, 1.0), (2, 2))
    with pytest.raises(ValueError, match="Diffusion.cells"):
        check_diffusion(np.eye(2), g)
    assert check_diffusion(Diffusion.cells(np.ones((2, 2))), g).kind == "cells"
    full = np.array([[0.3, 0.1], [0.1, 0.2]])
    with pytest.raises(ValueError, match="zero-flux or periodic walls only"):
        solve_fokker_planck(GRID, rho0, drift, full, 0.1, 1, boundary=[(Dirichlet(0.1), "zero-flux"), "zero-flux"])
    with pytest.raises(ValueError, match="douglas-adi"):
        solve_fokker_planck(GRID, rho0, drift, 0.3, 0.1, 1, time="douglas-adi",
                            boundary=[(Dirichlet(0.1), "zero-flux"), "zero-flux"])
    with pytest.raises(ValueError, match="zero-flux or periodic walls only"):
        solve_fokker_planck(GRID, rho0, drift, full, 0.1, 1, backend="fipy",
                            boundary=[(Dirichlet(0.1), "zero-flux"), "zero-flux"])
    # zero-flux walls with a full matrix: FiPy now reproduces the array backend's operator
    a = solve_fokker_planck(GRID, rho0, drift, full, 0.1, 2).to_numpy()
    f = solve_fokker_planck(GRID, rho0, drift, full, 0.1, 2, backend="fipy").to_numpy()
    assert np.abs(a - f).max() <= 1e-10 * np.abs(a).max()


def test_zero_initial_mass_allowed_only_with_open_walls():
    g = Grid((0.0,), (1.0,), (10,))
    zero = lambda t, x: np.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match="zero mass"):
        solve_fokker_planck(g, np.zeros(10), zero, 1.0, 0.1, 2)
    sol = solve_fokker_planck(g, np.zeros(10), zero, 1.0, 0.1, 2, boundary=[(Dirichlet(1.0), "zero-flux")])
    assert sol.mass[-1] > 0 and sol.mass[-1] == pytest.approx(-sol.boundary_outflow[-1], rel=1e-12)


def test_continuity_walls_balance_mass_on_both_backends():
    from eulerian import solve_continuity

    g = Grid((0.0, 0.0), (2.0, 1.0), (16, 12))
    v = lambda t, x: np.stack([np.ones(x.shape[:-1]), 0.5 * np.ones(x.shape[:-1])], -1)  # noqa: E731
    sol = solve_continuity(g, lambda x: 1.0 + x[..., 0], v, 0.3,
                           boundary=[(Dirichlet(2.0), Outflow()), (Flux(-0.1), "zero-flux")])
    assert np.allclose(sol.mass - sol.mass[0] + sol.boundary_outflow, 0.0, atol=1e-13)
    fipy = solve_continuity(g, lambda x: 1.0 + x[..., 0], v, 0.3, boundary="outflow", backend="fipy")
    assert abs(fipy.mass[-1] - fipy.mass[0] + fipy.boundary_outflow[-1]) < 1e-13
    with pytest.raises(ValueError, match="periodic on one side only"):
        solve_continuity(g, lambda x: 1.0 + x[..., 0], v, 0.3, boundary=[("periodic", Outflow()), "zero-flux"])


def test_continuity_outflow_of_a_uniform_flow_is_exact():
    """rho = 1 everywhere, v = (1, 0), inflow value 1 at x = 0 and outflow at x = 2: nothing changes, and the
    mass that leaves equals the mass that enters (the outflow is 0 to round-off)."""
    from eulerian import solve_continuity

    g = Grid((0.0, 0.0), (2.0, 1.0), (16, 12))
    v = lambda t, x: np.stack([np.ones(x.shape[:-1]), np.zeros(x.shape[:-1])], -1)  # noqa: E731
    sol = solve_continuity(g, np.ones(g.shape), v, 0.5, boundary=[(Dirichlet(1.0), Outflow()), "zero-flux"])
    assert np.abs(sol.to_numpy() - 1.0).max() < 1e-13
    assert abs(sol.boundary_outflow[-1]) < 1e-13
