"""Benamou–Brenier cross-checks: each check function of bb-fipy-poisson and bb-particles-2d flags a wrong input
(the cases themselves are run in quick mode by tests/test_option_coverage.py)."""
import numpy as np
import pytest
import scipy.fft

from eulerian.staggered import StaggeredGrid
from eulerian.benamou_brenier import benamou_brenier
from eulerian.grid import Grid
from verify.cases import bb_cross_checks as bx


def _failed(checks, fragment):
    """The checks whose name contains ``fragment``, asserting there is at least one, and whether all failed."""
    hits = [c for c in checks if fragment in c.name]
    assert hits, [c.name for c in checks]
    return all(not c.passed for c in hits)


# ------------------------------------------------------------------------------------------------------------
# bb-fipy-poisson
# ------------------------------------------------------------------------------------------------------------
def test_sparse_reference_is_an_orthogonal_projection():
    # independent of the DCT code: idempotent, feasible, and the correction is orthogonal to the feasible
    # directions (the null space of the restricted divergence)
    rng = np.random.default_rng(0)
    shape, spacing, P = (6, 5), (0.2, 0.25), 4
    V, rho0, rho1 = bx.random_staggered(shape, P, False, rng)
    W = bx.sparse_projection(V, rho0, rho1, spacing)
    again = bx.sparse_projection(W, rho0, rho1, spacing)
    assert max(np.max(np.abs(a - b)) for a, b in zip(W, again)) < 1e-12
    div, scale = bx._divergence(W, spacing, False)
    assert np.max(np.abs(div)) < 1e-13 * scale
    # a feasible direction: the difference of two projections of different points (boundary data equal)
    V2, _, _ = bx.random_staggered(shape, P, False, rng)
    W2 = bx.sparse_projection(V2, rho0, rho1, spacing)
    # W2 - W vanishes on the boundary entries, so the full inner product is the one over the free unknowns
    inner = sum(np.sum((v - w) * (w2 - w)) for v, w, w2 in zip(V, W, W2))
    norm = np.sqrt(sum(np.sum((v - w) ** 2) for v, w in zip(V, W)) * sum(np.sum((a - b) ** 2) for a, b in zip(W2, W)))
    assert abs(inner) < 1e-12 * norm


def _grid(shape, spacing, P, periodic=False):
    return StaggeredGrid(tuple(shape), tuple(spacing), P, periodic, np, scipy.fft, 1)


def _run(project, shape=(8, 6), spacing=(0.125, 0.1), P=5, periodic=False):
    return bx.check_projection_against_sparse("test", project, shape, spacing, P, periodic=periodic,
                                              rng=np.random.default_rng(1))


def test_projection_check_passes_the_solver_projection():
    assert all(c.passed for c in _run(bx.dct_projection((8, 6), (0.125, 0.1), 5)))


def test_projection_check_flags_one_jacobi_step():
    sg = _grid((8, 6), (0.125, 0.1), 5)
    diag = 2 * sg.time_steps**2 + sum(2 / h**2 for h in sg.spacing)
    # one Jacobi sweep from phi = 0
    sg.solve_poisson = lambda r, scale=1.0, overwrite=False: scale * (r - r.mean()) / diag
    checks = _run(lambda V, a, b: sg.project_continuity([v.copy() for v in V], a, b))
    assert _failed(checks, "DCT - sparse") and _failed(checks, "continuity residual")


def test_projection_check_flags_a_wrong_time_step():
    sg = _grid((8, 6), (0.125, 0.1), 5)
    sg.dt = 1.0 / 6                                          # the divergence and gradient of 6 steps
    checks = _run(lambda V, a, b: sg.project_continuity([v.copy() for v in V], a, b))
    assert _failed(checks, "DCT - sparse") and _failed(checks, "continuity residual")


def test_projection_check_flags_swapped_spacings():
    wrong = bx.dct_projection((8, 6), (0.1, 0.125), 5)
    assert _failed(_run(wrong), "DCT - sparse")


def test_projection_check_flags_a_feasible_but_not_nearest_point():
    # P(x + delta) satisfies the constraint exactly but is not the projection of x: only the comparison
    # with the sparse solve can see it
    right = bx.dct_projection((8, 6), (0.125, 0.1), 5)
    rng = np.random.default_rng(3)
    # (a constant shift would not do: constants are discrete gradients of linear potentials, removed by P)
    shifted = lambda V, a, b: right([v + 0.01 * rng.standard_normal(v.shape) for v in V], a, b)
    checks = _run(shifted)
    assert _failed(checks, "DCT - sparse")
    assert all(c.passed for c in checks if "continuity residual" in c.name)


def test_projection_check_flags_wrong_shapes():
    wall = bx.dct_projection((16,), (1 / 16,), 8, False)
    wrong = lambda V, a, b: [V[0], V[1][:, :-1]]             # drops a wall face
    assert all(not c.passed for c in _run(wrong, (16,), (1 / 16,), 8))
    assert all(c.passed for c in _run(wall, (16,), (1 / 16,), 8))


# ------------------------------------------------------------------------------------------------------------
# bb-particles-2d
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, spacing, P, periodic", bx.INTERPOLATION_GRIDS)
def test_interpolation_solve_check_passes_and_flags_a_wrong_pivot(shape, spacing, P, periodic, monkeypatch):
    sg = StaggeredGrid(shape, spacing, P, periodic, np, scipy.fft, 1)
    assert bx.check_interpolation_solve("ok", sg, np.random.default_rng(3)).passed
    # the recursion with its last pivot off by 1 %, and a solve that forgets the I*I part on one component
    if not periodic:
        pivots = [None if p is None else [*p[:-1], p[-1] * 1.01] for p in sg._line_pivots]
        monkeypatch.setattr(sg, "_line_pivots", pivots)
        assert not bx.check_interpolation_solve("wrong pivot", sg, np.random.default_rng(3)).passed
        monkeypatch.undo()
    right = sg.solve_interpolation
    monkeypatch.setattr(sg, "solve_interpolation", lambda R: [R[0].copy(), *right(R)[1:]])
    assert not bx.check_interpolation_solve("no I*I on time", sg, np.random.default_rng(3)).passed


@pytest.fixture(scope="module")
def particle_problem():
    grid = Grid(bx.BOX[0], bx.BOX[1], (32, 32))
    res = benamou_brenier(grid, bx.gaussian_cells(grid, bx.G0), bx.gaussian_cells(grid, bx.G1), 16,
                          method="primal-dual")
    rng = np.random.default_rng(7)
    x0 = bx.truncated_sample(bx.G0, 16_000, rng)
    targets = bx.truncated_sample(bx.G1, 1000, rng)
    reference = bx.truncated_sample(bx.G1, 1000, rng)
    bands = bx.ParticleBands.for_problem(grid.spacing[0], bx.G0, bx.G1)
    return grid, res, x0, targets, reference, bands, bx.push(res, x0)


def _all_checks(problem, x1):
    grid, res, x0, targets, reference, bands, _ = problem
    rho1 = bx.gaussian_cells(grid, bx.G1)
    floor_sq = bx.empirical_w2_squared(reference, targets)
    return (bx.check_brenier_map("p", x0, x1, bx.G0, bx.G1, bands)
            + bx.check_landing("p", grid, rho1, list(np.split(x1, 4)), targets, reference, bands, 1000)
            + bx.check_costs("p", x0, x1, res, targets, bx.G0, bx.G1, bands, bx.BB_BAND[True], 1000, floor_sq))


def test_particle_checks_pass_with_the_right_velocity(particle_problem):
    checks = _all_checks(particle_problem, particle_problem[-1])
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


def test_particle_checks_flag_a_velocity_scaled_by_two(particle_problem):
    x1 = bx.push(particle_problem[1], particle_problem[2], scale=2.0)
    checks = _all_checks(particle_problem, x1)
    for fragment in ("core", "all particles", "L1", "W2(pushed", "- BB W2²", "ρ0 sample"):
        assert _failed(checks, fragment), fragment
    # (the pairing check has its own negative test below: doubled speeds pile particles on the walls, which
    # may or may not break the monotonicity of the pairing)


def test_pairing_check_flags_non_monotone_endpoints(particle_problem):
    # endpoints reflected through their mean: same cloud shape, anti-monotone pairing, far from optimal
    _, res, x0, targets, reference, bands, x1 = particle_problem
    reflected = 2 * x1.mean(axis=0) - x1
    checks = bx.check_costs("p", x0, reflected, res, targets, bx.G0, bx.G1, bands, bx.BB_BAND[True], 1000,
                            bx.empirical_w2_squared(reference, targets))
    assert _failed(checks, "POT W2²(X_0, X_T)")


def test_anisotropic_case_catches_one_spacing_for_both_axes():
    """A solver that uses h_x on both axes: the same cells read on a box with square cells."""
    import numpy as np

    from eulerian import Grid, benamou_brenier
    from verify import gaussian as G
    from verify.cases import benamou_brenier_cases as bc

    grid = Grid((0.0, 0.0), (1.2, 0.8), (30, 16))
    g0 = G.Gaussian([0.35, 0.3], np.diag([0.07 ** 2, 0.06 ** 2]))
    g1 = G.Gaussian([0.8, 0.5], [[0.08 ** 2, 0.001], [0.001, 0.06 ** 2]])
    rho0, rho1 = bc.gaussian_cells(grid, g0), bc.gaussian_cells(grid, g1)
    exact = G.w2_squared(g0, g1)
    right = benamou_brenier(grid, rho0, rho1, 16, method="primal-dual")
    assert bc.check_bb_value("right", right, exact, bc.ANISOTROPIC_BAND).passed
    square = Grid((0.0, 0.0), (1.2, 0.64), (30, 16))
    wrong = benamou_brenier(square, rho0, rho1 * square.mass(rho0) / square.mass(rho1), 16, method="primal-dual",
                            normalize=True)
    assert not bc.check_bb_value("h_x on both axes", wrong, exact, bc.ANISOTROPIC_BAND).passed


def test_map_check_catches_a_wrong_sign_and_a_run_that_did_not_converge():
    import dataclasses

    import numpy as np

    from eulerian import Grid, benamou_brenier
    from verify.cases import benamou_brenier_cases as bc

    grid = Grid((0.0,), (1.0,), (64,))
    rho0, rho1 = bc.gaussian_cells_1d(grid, 0.3, 0.05), bc.gaussian_cells_1d(grid, 0.7, 0.08)
    res = benamou_brenier(grid, rho0, rho1, 64)
    exact = (0.7 + 0.08 / 0.05 * (grid.axes()[0] - 0.3))[:, None]
    assert bc.check_map("right", res, exact, bc.MAP_BAND_1D).passed
    flipped = dataclasses.replace(res, potential=-res.potential)          # T = x - grad phi
    assert not bc.check_map("x - grad phi", flipped, exact, bc.MAP_BAND_1D).passed
    late = dataclasses.replace(res, potential=np.roll(res.potential, -32, axis=0))   # grad phi at t = 1/2
    assert not bc.check_map("potential at the wrong time", late, exact, bc.MAP_BAND_1D).passed
    short = benamou_brenier(grid, rho0, rho1, 64, max_iter=200)
    check = bc.check_map("not converged", short, exact, 1e9)
    assert not check.passed and "NOT CONVERGED" in check.detail


def test_pot_barycentric_map_of_a_whole_cell_shift_is_the_shift():
    import numpy as np

    from eulerian import Grid
    from verify.cases import benamou_brenier_cases as bc

    grid = Grid((0.0, 0.0), (1.0, 1.0), (12, 12))
    rho0, _ = bc.mixture_pair(grid)
    rho0[-3:, :] = 0.0
    rho0[:, -2:] = 0.0
    rho1 = np.roll(np.roll(rho0, 3, axis=0), 2, axis=1)
    T = bc.pot_barycentric_map(grid, rho0, rho1)
    keep = rho0 > 0
    assert np.allclose((T - grid.centers())[keep], [3 / 12, 2 / 12], atol=1e-12)


def test_continuity_defect_tells_the_precision_and_catches_a_broken_density():
    import dataclasses

    from eulerian import Grid, benamou_brenier
    from verify.cases import benamou_brenier_cases as bc

    grid = Grid((0.0,), (1.0,), (32,))
    rho0, rho1 = bc.gaussian_cells_1d(grid, 0.3, 0.05), bc.gaussian_cells_1d(grid, 0.7, 0.08)
    double = benamou_brenier(grid, rho0, rho1, 32, dtype="float64")
    single = benamou_brenier(grid, rho0, rho1, 32, dtype="float32")
    assert bc.continuity_defect(double) <= 1e-12 < 1e-9 <= bc.continuity_defect(single) <= 1e-4
    broken = double.density.copy()
    broken[16] *= 1.0 + 1e-6                                   # one time level off by a relative 1e-6
    assert bc.continuity_defect(dataclasses.replace(double, density=broken)) > 1e-7
