"""Report checks added for the mutation survivors (report holes) of the fresh sample at 816c443 (seed 20261208).

* ``eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_268`` (the snapshot at t = 0 without the grid's shape) ->
  fipy-vs-array saves at t = 0 as well;
* ``eulerian.jko.x_jko_flow__mutmut_200`` (``converged`` filled with None) -> jko-vs-fokker-planck,
  ``check_flow_record``;
* ``lagrangian.fields.x__check_psd__mutmut_31`` (a singular positive semi-definite diffusion refused) -> the catalog
  must accept diag(0.5, 0) for probability_flow_field;
* ``eulerian.benamou_brenier.x_benamou_brenier__mutmut_496`` (Douglas–Rachford's fine level without the coarse
  warm start) -> bb-gaussian-1d, ``multilevel_saving_checks``;
* ``eulerian.porous_medium.x_solve_porous_medium__mutmut_311`` (a wrong up-front step estimate) ->
  porous-medium-barenblatt, ``step_estimate_checks``.
"""
import dataclasses

import numpy as np
import pytest

from tests.verify.mutants import mutated
from verify import bad_input


def test_flow_record_passes_and_flags_a_missing_convergence_record():
    from verify.cases import jko_cases as J

    @dataclasses.dataclass
    class Flow:
        converged: np.ndarray
        iterations: np.ndarray
        statuses: list = dataclasses.field(default_factory=lambda: ["converged"] * 2)
        status: str = "converged"

    good = Flow(np.array([True, True]), np.array([40, 30]))
    assert J.check_flow_record("flow", good, 2).passed
    for bad in (Flow(np.asarray([None, None], dtype=bool), good.iterations),       # mutmut_200
                Flow(good.converged[:1], good.iterations), Flow(good.converged, np.array([40, 0])),
                Flow(good.converged, good.iterations, ["converged"]),              # a step's status lost
                Flow(good.converged, good.iterations, status="step 2 of 2 did not converge")):
        assert not J.check_flow_record("flow", bad, 2).passed


def test_a_singular_psd_diffusion_must_be_accepted(monkeypatch):
    label = "lagrangian.probability_flow_field"
    call = bad_input.CALLS[label]
    assert not bad_input.gaps(call, label=label, names=["diffusion"])[1]
    mod = mutated(monkeypatch, "lagrangian.fields", "    if low < -1e-12 * scale:", "    if low < +1e-12 * scale:")
    found = bad_input.gaps(dataclasses.replace(call, func=mod.probability_flow_field), label=label,
                           names=["diffusion"])[1]
    assert found and all("diag" in g or "[[0.5, 0.0], [0.0, 0.0]]" in g for g in found), found


def test_fipy_fokker_planck_snapshot_at_zero(monkeypatch):
    """The fipy-vs-array comparison of snapshots (saved at t = 0 too) fails when FiPy's snapshot at t = 0 loses the
    grid's shape (mutmut_268): the snapshots can no longer be stacked and compared with the array backend's."""
    pytest.importorskip("fipy")
    import eulerian.fipy_backend
    from eulerian import Grid, solve_fokker_planck

    g = Grid((-1.0, 0.0), (1.0, 0.5), (6, 4))
    rho0 = np.exp(-g.centers()[..., 0] ** 2)

    def snapshots(backend):
        sol = solve_fokker_planck(g, rho0, lambda t, x: -x, 0.5, 0.1, 2, save_at=[0.0, 0.1], backend=backend)
        return np.stack(sol.densities_numpy())

    assert np.array_equal(snapshots("fipy")[0], rho0)
    assert np.abs(snapshots("fipy") - snapshots("numpy")).max() < 1e-8
    mod = mutated(monkeypatch, "eulerian.fipy_backend", "[_from_fipy(rho, grid.shape) for i in save_idx if i == 0]",
                  "[_from_fipy(rho, ) for i in save_idx if i == 0]")
    monkeypatch.setattr(eulerian.fipy_backend, "fokker_planck_fipy", mod.fokker_planck_fipy)
    with pytest.raises((TypeError, ValueError)):
        assert np.abs(snapshots("fipy") - snapshots("numpy")).max() < 1e-8


def test_direct_solver_record_passes_and_flags_a_wrong_iteration_count(monkeypatch):
    """eulerian.multigrid.xǁLUSolverǁsolve__mutmut_2: the LU path records 1 iteration per solve."""
    import eulerian.fokker_planck
    from eulerian import Grid, solve_fokker_planck
    from verify.cases import eulerian_cases as E

    g = Grid((-1.0, 0.0), (1.0, 0.5), (8, 6))
    rho0 = np.exp(-g.centers()[..., 0] ** 2)

    def runs():
        return [solve_fokker_planck(g, rho0, lambda t, x: -x, 0.5, 0.1, 4, solver=s) for s in ("lu", "multigrid")]

    assert E.check_direct_solver_record("fp", *runs()).passed
    mod = mutated(monkeypatch, "eulerian.multigrid", "        self.iterations.append(0)\n",
                  "        self.iterations.append(1)\n")
    monkeypatch.setattr(eulerian.fokker_planck, "LUSolver", mod.LUSolver)
    check = E.check_direct_solver_record("fp", *runs())
    assert not check.passed, check


def test_multilevel_saving_passes_and_flags_a_fine_level_without_warm_start(monkeypatch):
    from eulerian.benamou_brenier import benamou_brenier
    from eulerian.grid import Grid
    from verify.cases import benamou_brenier_cases as B

    m0, s0, m1, s1 = 0.3, 0.05, 0.7, 0.08
    grid = Grid((0.0,), (1.0,), (64,))
    rho0, rho1 = B.gaussian_cells_1d(grid, m0, s0), B.gaussian_cells_1d(grid, m1, s1)
    exact = (m1 - m0) ** 2 + (s1 - s0) ** 2
    single = benamou_brenier(grid, rho0, rho1, 64, method="douglas-rachford")
    assert all(c.passed for c in B.multilevel_saving_checks(grid, rho0, rho1, single, exact))
    mod = mutated(monkeypatch, "eulerian.benamou_brenier",
                  "state = _douglas_rachford(g, b0, b1, gamma, alpha, cap, tols, w, check_every, V_init)",
                  "state = _douglas_rachford(g, b0, b1, gamma, alpha, cap, tols, w, check_every, )")  # mutmut_496
    checks = B.multilevel_saving_checks(grid, rho0, rho1, single, exact, solve=mod.benamou_brenier)
    assert [c.passed for c in checks] == [True, True, False]


@pytest.mark.parametrize("old, new", [
    ("ratio = t_final * rate / cfl", "ratio = t_final * rate * cfl"),  # cfl * dt for cfl / dt (mutmut_311)
    ("+ (0 if save is None else len(save))", "+ (0 if save is None else 1)"),
    ("estimate > max_steps:", "estimate > max_steps + 1:"),
])
def test_step_estimate_passes_and_flags_a_wrong_estimate(monkeypatch, old, new):
    """The porous-medium solver counts its steps with continuity's check_step_count: the mutants are planted
    there."""
    import eulerian.porous_medium as pm
    from verify.cases import porous_medium as P

    assert all(c.passed for c in P.step_estimate_checks())
    monkeypatch.setattr(pm, "check_step_count", mutated(monkeypatch, "eulerian.continuity", old, new).check_step_count)
    assert not all(c.passed for c in P.step_estimate_checks())
