"""Report checks added for three mutation survivors (report holes) of the grid code.

Each check passes on the right code and fails on the mutant's behaviour, fed to the check directly (the mutant is
built as a separate module from the installed source with the one line changed, never written to disk):

* ``eulerian.fipy_backend.xǁ_ContinuityWallsǁoutflow__mutmut_10`` (``&`` -> ``|``: the values g of Dirichlet walls
  counted as inflow where the flow leaves) -> continuity-walls-2d, ``dirichlet_outflow_checks``;
* ``eulerian.flow_matching_grid.xǁFlowMatchingGridFieldǁ_interpolate__mutmut_41`` (the lower clip of the cell
  index dropped: extrapolation from index -1 in the half cell next to a lower wall) -> flow-matching-grid,
  ``check_wall_half_cells``;
* ``eulerian.multigrid.xǁTensorProlongationǁ__init____mutmut_30`` (one stage buffer too few) and two other slips of
  TensorProlongation (a wrong weight, a lost periodic wrap) -> fokker-planck-options-2d,
  ``tensor_prolongation_checks``.
"""
import math
import types

import numpy as np
import pytest

from eulerian.grid import Grid
from tests.verify.mutants import mutated
from verify.cases import boundaries as B
from verify.cases import eulerian_cases as E
from verify.cases import flow_matching_grid as F


# ------------------------------------------------------ continuity-walls-2d: outflow through Dirichlet walls
def test_dirichlet_outflow_checks_pass():
    pytest.importorskip("fipy")
    checks = B.dirichlet_outflow_checks()
    assert len(checks) == 2 and all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert max(c.value for c in checks) < 1e-14
    # the exact outflow c div(v) |BOX| T = 1.3 * 0.2 * 2 * 0.25
    assert "exact 0.130000" in checks[0].detail and "outflow at T 0.130000" in checks[0].detail


def test_dirichlet_outflow_checks_flag_the_fipy_mutant(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend as FB

    mod = mutated(monkeypatch, "eulerian.fipy_backend",
                   "inflow = np.where(self.dirichlet_faces & (self.vn < 0.0), self.vn * g, 0.0)",
                   "inflow = np.where(self.dirichlet_faces | (self.vn < 0.0), self.vn * g, 0.0)")
    monkeypatch.setattr(FB, "continuity_fipy", mod.continuity_fipy)   # solve_continuity imports it per call
    balance, agreement = B.dirichlet_outflow_checks()
    # the outflow walls' values (2.5 + y + t and 0.7) counted: outflow at T about 10 times the exact 0.13
    assert not balance.passed and balance.value > 0.3   # (1.27 - 0.13) / mass(0) = 2.6
    assert not agreement.passed and agreement.value > 1.0


def test_dirichlet_outflow_checks_flag_a_wrong_outflow():
    pytest.importorskip("fipy")

    def scaled():
        g, f = B.dirichlet_out_run("fipy")
        return g, types.SimpleNamespace(mass=f.mass, mass_times=f.mass_times,
                                        boundary_outflow=np.asarray(f.boundary_outflow) * (1 + 1e-7))

    assert not any(c.passed for c in B.dirichlet_outflow_checks(scaled))


# ------------------------------------------------------ flow-matching-grid: the half cells next to the walls
def test_wall_points_lie_in_the_half_cells_next_to_the_walls():
    g = Grid(*F.UNNORMALISED["grid0"])
    z = F.wall_points(g, np.random.default_rng(0))
    lo, hi, h = np.asarray(g.lower), np.asarray(g.upper), np.asarray(g.spacing)
    assert z.shape == (2 * g.dim * len(F.WALL_FRACTIONS), g.dim)
    assert np.all((z >= lo) & (z <= hi))
    near = (z - lo <= 0.5 * h) | (hi - z <= 0.5 * h)
    assert np.all(near.any(axis=1))
    # the lower wall of axis 0: exactly on the face, then up to 0.99 h/2 from it
    np.testing.assert_allclose(z[:len(F.WALL_FRACTIONS), 0] - lo[0], 0.5 * h[0] * np.asarray(F.WALL_FRACTIONS))


def test_held_interpolant_is_constant_in_the_wall_half_cells():
    g = Grid((0.0, 0.0), (2.0, 1.0), (4, 2))            # centres 0.25 ... 1.75 and 0.25, 0.75
    vals = np.arange(8.0).reshape(4, 2)
    z = np.array([[0.0, 0.0], [0.1, 0.2], [2.0, 1.0], [1.0, 0.5], [0.25, 0.9]])
    # (0, 0) and (0.1, 0.2): the corner cell held (0); (2, 1): the opposite corner (7); (1, 0.5): the mean of
    # the four middle values (2, 3, 4, 5) = 3.5; (0.25, 0.9): the centre x, y held at the last centre (1)
    np.testing.assert_allclose(F.held_interpolant(g, vals, z), [0.0, 0.0, 7.0, 3.5, 1.0], atol=1e-15)


def test_wall_half_cell_checks_pass():
    checks = F.check_wall_half_cells("walls")
    assert len(checks) == 2 and all(c.passed for c in checks)
    assert max(c.value for c in checks) < 1e-14


def test_wall_half_cell_checks_flag_the_extrapolating_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.flow_matching_grid", "i0 = xp.clip(xp.floor(s), 0, shape[k] - 2)",
                   "i0 = xp.clip(xp.floor(s), None, shape[k] - 2)")
    checks = F.check_wall_half_cells("mutant", make_field=mod.flow_matching_grid_field)
    assert all(not c.passed and c.value > 0.05 for c in checks)


def test_normalised_ends_check_misses_the_extrapolating_mutant(monkeypatch):
    """The same mutant is invisible in the bulk: the normalised-ends check (cell centres) still passes."""
    mod = mutated(monkeypatch, "eulerian.flow_matching_grid", "i0 = xp.clip(xp.floor(s), 0, shape[k] - 2)",
                   "i0 = xp.clip(xp.floor(s), None, shape[k] - 2)")
    assert all(c.passed for c in F.check_normalised_ends("mutant", make_field=mod.flow_matching_grid_field))


# ------------------------------------------------------ fokker-planck-options-2d: the axis-by-axis prolongation
def test_sparse_reference_is_the_kronecker_product_of_the_dense_ones():
    P = E.sparse_prolongation_reference((4, 6), (False, True)).toarray()
    dense = np.kron(E._dense_prolongation_1d(4, False), E._dense_prolongation_1d(6, True))
    np.testing.assert_array_equal(P, dense)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-15)   # interpolation: rows sum to 1


def test_tensor_prolongation_checks_pass_at_round_off():
    from eulerian.multigrid import TENSOR_PROLONGATION_MIN

    assert all(math.prod(shape) >= TENSOR_PROLONGATION_MIN for shape, _ in E.TENSOR_PROLONGATION_CASES)
    checks = E.tensor_prolongation_checks()
    assert len(checks) == 4 and all(c.passed for c in checks), [c for c in checks if not c.passed]
    for c in checks:
        eps = np.finfo(np.float32 if "float32" in c.name else np.float64).eps
        assert c.value < 2 * eps and c.upper < 8 * eps


TENSOR_MUTANTS = {
    "mutmut_30": ("for sh in shapes[:-1]]  # the stages'", "for sh in shapes[:-2]]  # the stages'"),
    "weight": ("xp.multiply(u, 0.75, out=dst)", "xp.multiply(u, 0.76, out=dst)"),
    "wrap": ("dst[head] += q[tail if wrap else head]", "dst[head] += q[head if wrap else head]"),
}


@pytest.mark.parametrize("mutant", sorted(TENSOR_MUTANTS))
def test_tensor_prolongation_checks_flag_the_mutants(monkeypatch, mutant):
    mod = mutated(monkeypatch, "eulerian.multigrid", *TENSOR_MUTANTS[mutant])
    checks = E.tensor_prolongation_checks(prolongation_class=mod.TensorProlongation)
    assert not any(c.passed for c in checks)
    if mutant == "mutmut_30":   # too few stage buffers: the second stage has nowhere to write
        assert all(c.value == math.inf and "IndexError" in c.detail for c in checks)
    else:
        assert all(c.value > 1e-3 for c in checks)


def test_tensor_prolongation_checks_flag_a_result_not_in_place():
    from eulerian.multigrid import TensorProlongation

    class Copying(TensorProlongation):
        def add(self, e, x):
            return super().add(e, x.copy())

    checks = E.tensor_prolongation_checks(prolongation_class=Copying, dtypes=(np.float64,))
    assert all(not c.passed and "in place" in c.detail for c in checks)


def test_scheme_info_check_flags_a_renamed_key_a_wrong_dt_and_a_different_scheme():
    """eulerian.fokker_planck.x_solve_fokker_planck__mutmut_751 (info["dt"] stored as info["DT"]) ->
    fipy-vs-array, check_scheme_info."""
    import dataclasses

    from verify.adapters import FokkerPlanckSolver
    from verify.cases.eulerian_cases import check_scheme_info
    from verify.problems import get_problem, grid_for

    problem = get_problem("ou-2d")
    grid = grid_for(problem, 8)
    a = FokkerPlanckSolver(time="crank-nicolson")(problem, grid, 4)
    b = FokkerPlanckSolver(time="crank-nicolson", backend="fipy")(problem, grid, 4)
    assert check_scheme_info("ok", a, b, problem.t_final).passed
    renamed = dict(a.info)
    renamed["DT"] = renamed.pop("dt")
    wrong_dt = {**a.info, "dt": 2 * a.info["dt"]}
    undamped = {**a.info, "damped_steps": 0}
    for info, value in ((renamed, 2), (wrong_dt, 2), (undamped, 1)):
        check = check_scheme_info("bad", dataclasses.replace(a, info=info), b, problem.t_final)
        assert not check.passed and check.value == value
    # eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_464 (sample at 7092d92): backend="FIPY"
    check = check_scheme_info("bad", a, dataclasses.replace(b, backend="FIPY"), problem.t_final)
    assert not check.passed and check.value == 1 and "'FIPY'" in check.detail


# ---------------------------------------------------------------- survivors of the fresh sample at 919885c
def test_barycentric_check_flags_broken_node_rows_and_weights():
    """eulerian.attention.x__barycentric__mutmut_27 (rows of points on a node set to None) -> attention-grid-2d."""
    from eulerian.attention import _barycentric
    from verify.cases import attention_grid as A

    assert A.check_barycentric().passed

    def nan_rows(xp, t, nodes, weights):
        c = _barycentric(xp, t, nodes, weights)
        c[(t[:, None] == nodes[None, :]).any(axis=1)] = np.nan
        return c

    def wrong_weights(xp, t, nodes, weights):
        return _barycentric(xp, t, nodes, np.abs(weights))

    for bad in (nan_rows, wrong_weights):
        assert not A.check_barycentric(barycentric=bad).passed


def test_wall_fraction_check_flags_a_layer_left_out():
    """eulerian.attention.x_wall_fraction__mutmut_59 (only the upper layer counted) -> attention-grid-2d."""
    from verify.cases import attention_grid as A

    assert A.check_wall_fraction().passed

    def upper_only(rho):
        inner = rho[tuple(slice(-1) for _ in rho.shape)]
        return (rho.sum() - inner.sum()) / rho.sum()

    check = A.check_wall_fraction(fraction=upper_only)
    assert not check.passed and check.value > 0.1


def test_exact_method_check_flags_a_wrong_sum(monkeypatch):
    from verify.cases import attention_grid as A

    assert A.check_exact_method("ok", 36).passed
    true_sum = A.midpoint_sum
    monkeypatch.setattr(A, "midpoint_sum", lambda *a, **k: true_sum(*a, **k) * (1 + 1e-9))
    assert not A.check_exact_method("bad", 36).passed


def test_declared_orders_check_flags_a_missing_or_wrong_declaration():
    """eulerian.porous_medium.x_solve_porous_medium__mutmut_599 (info "time_order" renamed) ->
    porous-medium-barenblatt, check_declared_orders."""
    import dataclasses

    from eulerian import Grid, solve_porous_medium
    from verify.cases.porous_medium import check_declared_orders

    g = Grid((-2.0,), (2.0,), (16,))
    sol = solve_porous_medium(g, np.exp(-g.centers()[..., 0] ** 2), 2.0, 0.01)
    assert check_declared_orders([("default", sol, 2, 2)]).passed
    renamed = {k if k != "time_order" else "TIME_ORDER": v for k, v in sol.info.items()}
    assert check_declared_orders([("x", dataclasses.replace(sol, info=renamed), 2, 2)]).value == 1
    assert check_declared_orders([("x", sol, 1, 2)]).value == 1


def test_continuity_info_check_flags_a_lost_cfl_and_a_wrong_limiter():
    """eulerian.continuity.x_solve_continuity__mutmut_668 (info "cfl" renamed) -> continuity-options-2d."""
    import dataclasses

    from eulerian import Grid, solve_continuity
    from verify.cases.eulerian_cases import check_continuity_info

    g = Grid((-2.0, -1.0), (2.0, 1.0), (8, 6))
    rho = np.exp(-(g.centers() ** 2).sum(-1))
    runs = [solve_continuity(g, rho, lambda t, x: 0.1 - 0.2 * x, 0.1, cfl=0.5, limiter=lim) for lim in ("mc", "none")]
    assert check_continuity_info(runs, 0.5, ("mc", "none")).passed
    lost = dataclasses.replace(runs[0], info={k: v for k, v in runs[0].info.items() if k != "cfl"})
    assert check_continuity_info([lost, runs[1]], 0.5, ("mc", "none")).value == 1
    assert check_continuity_info(runs, 0.5, ("none", "mc")).value == 2


def test_a_default_that_is_not_a_valid_value_is_a_gap():
    """The bad-input catalog also calls each function with its keyword arguments at their defaults: a default
    backend misspelt (as in eulerian.fokker_planck.x_solve_stationary__mutmut_7, where it is equivalent because
    names are case-insensitive) would fail there."""
    from verify.bad_input import ValidCall, defaults_gap, gaps

    def solver(x, backend="nupmy"):
        if backend not in ("numpy", "cupy"):
            raise ValueError(f"backend must be 'numpy' or 'cupy', got {backend!r}")
        return np.asarray(x, dtype=float).sum()

    call = ValidCall(solver, [("x", np.ones(3))], {"backend": "numpy"})
    gap = defaults_gap(call, label="solver")
    assert gap is not None and "with its defaults" in gap and "nupmy" in gap
    assert any("with its defaults" in g for g in gaps(call, label="solver")[1])
    assert defaults_gap(ValidCall(solver, [("x", np.ones(3))], {"backend": "numpy"}, needs=("backend",))) is None


def test_power_energy_derivative_check_flags_a_wrong_exponent():
    """eulerian.jko.xǁPowerEnergyǁderivative__mutmut_6 (s^(m-2)), which no case ran -> porous-medium-barenblatt."""
    from eulerian.jko import PowerEnergy
    from verify.cases.porous_medium import check_power_energy_derivative

    class WrongExponent(PowerEnergy):
        def derivative(self, s):
            return self.coefficient * self.m * s ** (self.m - 2.0) / (self.m - 1.0)

    class Halved(PowerEnergy):
        def derivative(self, s):
            return 0.5 * super().derivative(s)

    assert check_power_energy_derivative().passed
    for wrong in (WrongExponent, Halved):
        assert not check_power_energy_derivative(energy=wrong).passed


def test_default_tol_check_separates_a_converged_step_from_a_loose_one():
    """lagrangian.gradient_flows.x_implicit_euler_step__mutmut_2 (default tol ~ 1) -> porous-medium-barenblatt's
    default-tol check (error <= 1e-11)."""
    from lagrangian import implicit_euler_step

    x = np.linspace(-2.0, 2.0, 9)[:, None]
    good = implicit_euler_step(x, 0.1, potential_grad=lambda y: 3.0 * y)
    loose = implicit_euler_step(x, 0.1, potential_grad=lambda y: 3.0 * y, tol=1.000000000001)
    assert np.abs(good.x - x / 1.3).max() <= 1e-11 < np.abs(loose.x - x / 1.3).max()
