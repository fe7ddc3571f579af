"""Negative checks of the wall and diffusion cases: a wrong scheme or value must be flagged."""
import numpy as np

from eulerian import Grid
from eulerian.boundary import Dirichlet, Flux
from eulerian.fokker_planck import solve_stationary
from verify.cases import boundaries as B
from verify.metrics import grid_error


def test_mesh1d_checks_flag_a_wrong_wall_flux_sign():
    g = B.mesh1d_grid()
    x = g.axes()[0]
    wrong = np.asarray(solve_stationary(g, B._no_drift, B.piecewise_D, boundary=[(Dirichlet(0.0), Flux(1.0))]))
    assert not B.check_max_error("wrong sign", wrong, B.piecewise_exact(x), 1e-8).passed
    right = np.asarray(solve_stationary(g, B._no_drift, B.piecewise_D, boundary=[(Dirichlet(0.0), Flux(-1.0))]))
    assert B.check_max_error("right sign", right, B.piecewise_exact(x), 1e-8 * B.piecewise_exact(x).max()).passed


def test_mesh1d_transient_flags_undamped_crank_nicolson():
    g = B.mesh1d_grid()
    exact = B.mesh1d_exact(g, B.MESH1D["T"])
    undamped = B.mesh1d_transient("crank-nicolson", 10, damped_steps=0)
    assert not B.check_max_error("undamped", undamped, exact, B.MESH1D_ATOL["crank-nicolson"]).passed


def test_order_check_flags_a_source_missing_the_diffusion_gradient():
    """A manufactured source written for constant D while D(x) varies: the error stops converging."""
    sizes = (16, 32, 64)
    errors = []
    for n in sizes:
        g = Grid(*B.BOX, (n, 3 * n // 4))
        from eulerian import solve_fokker_planck
        sol = solve_fokker_planck(g, lambda x: B.mms_exact(0.0, x), B.mms_drift, B.mms_D, 0.5, n // 2,
                                  boundary=B.mms_walls(B.mms_D), source=B.mms_source(0.25))
        errors.append(grid_error(sol.to_numpy(), g.cell_averages(lambda x: B.mms_exact(0.5, x)), g.cell_volume))
    assert not B.check_order("wrong source", sizes, errors).passed


def test_fplanck_order_check_flags_a_missing_ito_drift():
    L = B.FPLANCK["L"]
    errors, sizes = [], (50, 100, 200)
    for n in sizes:
        g = Grid((-L,), (L,), (n,))
        rho = np.asarray(solve_stationary(g, B._no_drift, B.fplanck_D))
        errors.append(grid_error(rho, B.fplanck_stationary_exact(g), g.cell_volume))
    assert max(errors) > 0.5 and min(errors) > 0.5   # no convergence at all: the order check cannot pass


def test_fipy_matrix_agreement_check_flags_a_wrong_diffusion_matrix():
    """The FiPy/array agreement check of ou-matrix-diffusion-2d: the right matrix passes, the array backend with
    the off-diagonal entries dropped (a different operator) fails."""
    a, f = B.ou_matrix_fipy_pair("implicit-euler", "zero-flux", n=8, steps=1)
    assert B.check_fipy_agreement("right", a, f).passed
    a, f = B.ou_matrix_fipy_pair("implicit-euler", "zero-flux", diffusion=np.diag(np.diag(B.OU_FIPY_D)), n=8, steps=1)
    check = B.check_fipy_agreement("off-diagonal dropped", a, f)
    assert not check.passed and check.value > 1e-4


def test_fipy_continuity_checks_flag_outflow_walls_where_mass_flows_in():
    """FiPy continuity walls: Outflow on the inflow sides (no inflow value) must fail the order check; a wrong
    outflow record must fail the mass balance."""
    sizes = (8, 12, 16)
    T = 0.5
    wrong = [B.transport_fipy_run(n, boundary=["outflow", "outflow"]) for n in sizes]
    checks = B.check_fipy_transport(sizes, wrong, T)
    assert not checks[0].passed and not checks[1].passed   # L1 order, outflow error
    assert all(c.passed for c in checks[2:])   # its balance still holds: the Outflow walls are consistent
    g, sol = B.transport_fipy_run(8)
    assert B.check_mass_balance("right", g, sol).passed
    import dataclasses
    halved = dataclasses.replace(sol, boundary_outflow=0.5 * sol.boundary_outflow)
    assert not B.check_mass_balance("outflow halved", g, halved).passed
