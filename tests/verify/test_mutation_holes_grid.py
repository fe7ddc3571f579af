"""Report checks added for mutation survivors of the grid solvers (continuity CFL with walls, FiPy backends, grid
flow matching, the mean-field solver with diffusion, the attention velocity's interpolant).

Each check passes on the right code and fails on the mutant's behaviour, fed to the check directly (the mutant is
built as a separate module from the installed source with the one line changed, never written to disk):

* ``eulerian.continuity.x_solve_continuity__mutmut_167`` (the open walls left out of the Courant number) ->
  continuity-walls-2d, ``check_step_courant`` and ``check_forced_steps``;
* ``..._mutmut_335`` (forced steps checked without the walls) and ``..._mutmut_342`` (forced steps refused only
  beyond twice cfl) -> continuity-walls-2d, ``check_forced_steps``;
* ``eulerian.fipy_backend.x_continuity_fipy__mutmut_185`` (forced steps at exactly C = cfl refused) ->
  continuity-walls-2d, ``check_forced_at_cfl``;
* ``eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_467`` (no boundary_outflow from FiPy's Fokker-Planck) ->
  walls-and-diffusion-2d, ``check_outflow_agreement``;
* ``eulerian.flow_matching_grid.x_flow_matching_grid_field__mutmut_78`` (the target multiplied by its mass) ->
  flow-matching-grid, ``check_normalised_ends``;
* ``eulerian.meanfield.x_solve_meanfield__mutmut_209`` (the diffusion term of a 2-D grid mis-shaped) ->
  attention-grid-2d, ``check_diffusion_orders``;
* ``eulerian.attention.xǁAttentionVelocityǁ_interpolated__mutmut_85`` (the Chebyshev nodes scrambled, the
  interpolant always refused, hidden by the exact fallback) -> attention-grid-2d, ``check_interpolation``.
"""
import types

import numpy as np
import pytest

from eulerian.errors import CFLError
from eulerian.grid import Grid
from tests.verify.mutants import mutated
from verify.cases import attention_grid as A
from verify.cases import boundaries as B
from verify.cases import flow_matching_grid as F


def _by_name(checks, text):
    (check,) = [c for c in checks if text in c.name]
    return check


# ------------------------------------------------------------------- continuity-walls-2d: the CFL step with walls
CONTINUITY_MUTANTS = {
    "167": ("0.0 if walls is None else walls.axis_max[k]", "0.0 if (walls is None) or True else walls.axis_max[k]"),
    "335": ("c = dt * courant_rate(fv, walls)", "c = dt * courant_rate(fv, None)"),
    "342": ("if c > cfl * (1 + 1e-12):", "if c > cfl * (1 + 1.000000000001):"),
}


def test_wall_cfl_checks_pass_on_the_solver():
    pytest.importorskip("fipy")
    checks = B.wall_cfl_checks()
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    courant = _by_name(checks, "largest on the outflow walls: max over steps")
    assert courant.value < 1e-14 and "34 steps" in courant.detail
    assert _by_name(checks, "outflow walls: forced steps N").value == 0.0
    assert [c.value for c in checks if "C = cfl exactly" in c.name] == [0.0, 0.0]


def test_wall_rate_counts_the_walls():
    """rate = (0.5 + 2) / (2/16) + (0.3 + 0.5) / (1/12) = 29.6 (the upper walls); 28.1 on the interior faces."""
    g = Grid(*B.BOX, B.WALL_CFL["cells"])
    assert B.all_faces_rate(g, B.wall_velocity, 0.0) == pytest.approx(29.6, rel=1e-14)
    g8 = Grid(*B.BOX, B.EXACT_CFL["cells"])
    assert B.all_faces_rate(g8, B.uniform_velocity, 0.0) == 4.0 + 4.0   # exactly


@pytest.mark.parametrize("mutant", sorted(CONTINUITY_MUTANTS))
def test_wall_cfl_checks_flag_the_continuity_mutants(monkeypatch, mutant):
    pytest.importorskip("fipy")
    mod = mutated(monkeypatch, "eulerian.continuity", *CONTINUITY_MUTANTS[mutant])
    monkeypatch.setattr(B, "solve_continuity", mod.solve_continuity)
    checks = B.wall_cfl_checks()
    forced = _by_name(checks, "outflow walls: forced steps N")
    assert not forced.passed and "N − 1 refused: False" in forced.detail
    courant = _by_name(checks, "largest on the outflow walls: max over steps")
    if mutant == "167":   # dt from the interior faces: C_n / cfl = 29.6 / 28.1 on the walls
        assert not courant.passed and courant.value > 0.05
    else:
        assert courant.passed


def test_step_courant_check_flags_steps_too_small():
    """A run at 0.9 cfl (steps too cautious) is not 'C = cfl each step' either."""
    g, sol = B.wall_cfl_run(cfl=0.9 * B.WALL_CFL["cfl"])
    check = B.check_step_courant("cautious", g, sol, B.wall_velocity, B.WALL_CFL["cfl"])
    assert not check.passed and abs(check.value - 0.1) < 1e-12


@pytest.mark.parametrize("accepted, refused", [(True, False), (False, True), (False, False)])
def test_forced_steps_check_flags_wrong_outcomes(accepted, refused):
    assert not B.check_forced_steps("x", 34, accepted, refused).passed
    assert B.check_forced_steps("x", 34, True, True).passed


def test_forced_at_cfl_check_flags_the_fipy_mutant(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend as FB

    kw = dict(velocity=B.uniform_velocity, cells=B.EXACT_CFL["cells"], T=B.EXACT_CFL["T"], cfl=B.EXACT_CFL["cfl"],
              backend="fipy")
    _, auto = B.wall_cfl_run(**kw)
    assert auto.steps == 8
    mod = mutated(monkeypatch, "eulerian.fipy_backend", "if dt * r > cfl * (1 + 1e-12):",
                   "if dt * r > cfl / (1 + 1e-12):")
    monkeypatch.setattr(FB, "continuity_fipy", mod.continuity_fipy)   # solve_continuity imports it per call
    with pytest.raises(CFLError):
        B.wall_cfl_run(8, **kw)
    check = B.check_forced_at_cfl("fipy", auto, lambda n: B.wall_cfl_run(n, **kw)[1])
    assert not check.passed and "refused" in check.detail


def test_forced_at_cfl_check_flags_a_different_run():
    kw = dict(velocity=B.uniform_velocity, cells=B.EXACT_CFL["cells"], T=B.EXACT_CFL["T"], cfl=B.EXACT_CFL["cfl"])
    _, auto = B.wall_cfl_run(**kw)
    assert B.check_forced_at_cfl("numpy", auto, lambda n: B.wall_cfl_run(n, **kw)[1]).passed
    # one step more: a smaller dt, a (slightly) different solution
    check = B.check_forced_at_cfl("numpy", auto, lambda n: B.wall_cfl_run(n + 1, **kw)[1])
    assert not check.passed and check.value > 1e-6


# ------------------------------------------------------ walls-and-diffusion-2d: FiPy's mass through the walls
def _fp_pair():
    from eulerian.fokker_planck import solve_fokker_planck

    g = Grid(*B.BOX, (10, 6))
    kw = dict(diffusion=B.mms_D, boundary=B.mms_walls(B.mms_D), source=B.mms_source(B.mms_D), t_final=0.2,
              steps=4, time="bdf2")
    a = solve_fokker_planck(g, lambda x: B.mms_exact(0.0, x), B.mms_drift, **kw)
    f = solve_fokker_planck(g, lambda x: B.mms_exact(0.0, x), B.mms_drift, backend="fipy", **kw)
    return a, f


def test_outflow_agreement_passes_and_flags_a_missing_or_wrong_outflow():
    pytest.importorskip("fipy")
    a, f = _fp_pair()
    check = B.check_outflow_agreement("walls", a, f)
    assert check.passed and check.value < 1e-10
    assert not B.check_outflow_agreement("none", a, types.SimpleNamespace(boundary_outflow=None)).passed
    shifted = types.SimpleNamespace(boundary_outflow=np.asarray(f.boundary_outflow) * (1 + 1e-6))
    assert not B.check_outflow_agreement("scaled", a, shifted).passed
    short = types.SimpleNamespace(boundary_outflow=np.asarray(f.boundary_outflow)[:-1])
    assert not B.check_outflow_agreement("short", a, short).passed


def test_outflow_agreement_flags_the_fipy_fokker_planck_mutant(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend as FB

    mod = mutated(monkeypatch, "eulerian.fipy_backend",
                   "boundary_outflow=np.array(outflows) if box.open else None,",
                   "boundary_outflow=np.array(outflows) if (box.open) and False else None,")
    monkeypatch.setattr(FB, "fokker_planck_fipy", mod.fokker_planck_fipy)
    a, f = _fp_pair()
    assert f.boundary_outflow is None
    check = B.check_outflow_agreement("mutant", a, f)
    assert not check.passed and "None" in check.detail


# ------------------------------------------------------ flow-matching-grid: unnormalised endpoints
def test_normalised_ends_check_passes():
    checks = F.check_normalised_ends("ends")
    assert len(checks) == 2 and all(c.passed for c in checks)
    assert max(c.value for c in checks) < 1e-14


def test_normalised_ends_check_flags_the_mass_multiplied_target(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.flow_matching_grid", "r1 / m1, backend", "r1 * m1, backend")
    checks = F.check_normalised_ends("mutant", make_field=mod.flow_matching_grid_field)
    # at t = 1 the density is rho1 m1 instead of rho1 / m1; at t = 0 the target weights sum to m1^2
    assert all(not c.passed for c in checks)
    assert all(abs(c.value - (F.UNNORMALISED["m1"] ** 2 - 1.0)) < 1e-3 * F.UNNORMALISED["m1"] ** 2 for c in checks)


def test_normalised_ends_check_flags_unnormalised_inputs():
    from eulerian.flow_matching_grid import FlowMatchingGridField

    def raw(g0, r0, r1, grid1):   # the inputs taken as they come (no normalisation)
        return FlowMatchingGridField(g0, np.asarray(r0), grid1, np.asarray(r1))

    checks = F.check_normalised_ends("raw", make_field=raw)
    assert not any(c.passed for c in checks)


# ------------------------------------------------------ attention-grid-2d: the interpolant and diffusion
def test_interpolation_check_passes_on_the_interpolant():
    check = A.check_interpolation("G0", 40)
    assert check.passed and check.value < 1e-12


def test_interpolation_check_needs_enough_faces_to_interpolate():
    """32² grids have 1984 faces < 8 x 16² rows per node: the velocity evaluates exactly there by design."""
    assert A.interpolant(A.attention_velocity(A.ATT_Q, A.ATT_K, A.ATT_V, scale=A.ATT_SCALE), *_faces(32)) is None
    with pytest.raises(ValueError, match="n >= 33"):
        A.check_interpolation("small", 32)


def _faces(n):
    from eulerian.operators import face_points

    g = A.grid(n)
    return g, g.cell_averages(A.G0.pdf), np.concatenate([face_points(g, k, False).reshape(-1, 2) for k in range(2)])


def test_interpolation_check_flags_a_refused_or_wrong_interpolant():
    refused = A.check_interpolation("refused", 40, fast_path=lambda *a: None)
    assert not refused.passed and "refused" in refused.detail
    wrong = A.check_interpolation("off", 40, fast_path=lambda *a: A.interpolant(*a) * (1 + 1e-8))
    assert not wrong.passed


def test_interpolation_check_flags_the_scrambled_nodes_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.attention",
                   'pts = np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1).reshape(-1, d)',
                   'pts = np.stack(np.meshgrid(*coords, indexing="ij"), axis=+1).reshape(-1, d)')
    monkeypatch.setattr(A, "attention_velocity", mod.attention_velocity)
    check = A.check_interpolation("mutant", 40)
    assert not check.passed and "refused" in check.detail


def test_diffusion_orders_pass_and_add_two_d_to_the_covariance():
    sizes = (16, 20, 24, 28, 32)
    errors = [A.diffusion_errors(n) for n in sizes]
    checks = A.check_diffusion_orders(sizes, errors)
    assert all(c.passed for c in checks), [c.detail for c in checks]
    start = A.G0
    grown = A.diffusion_closure(start, A.DIFFUSION).cov - A.diffusion_closure(start, 0.0).cov
    assert np.allclose(np.diag(grown), 2 * A.DIFFUSION * A.T_FINAL, rtol=0.2)   # about 2 D T per axis


@pytest.mark.parametrize("wrong", ["half D on the grid", "closure without 2 D I"])
def test_diffusion_orders_flag_a_wrong_diffusion(wrong):
    sizes = (16, 24, 32)
    if wrong == "half D on the grid":
        errors = [A.diffusion_errors(n, grid_D=0.5 * A.DIFFUSION) for n in sizes]
    else:
        errors = [A.diffusion_errors(n, D=0.0, grid_D=A.DIFFUSION) for n in sizes]
    checks = A.check_diffusion_orders(sizes, errors)
    assert not _by_name(checks, "covariance").passed


def test_diffusion_orders_break_on_the_meanfield_mutant(monkeypatch):
    """The mutant reshapes the diffusion term to None (flat): on a 2-D grid the sum cannot broadcast, the case
    errors."""
    mod = mutated(monkeypatch, "eulerian.meanfield",
                   "out = out + (A_D @ r.reshape(-1)).reshape(grid.shape)",
                   "out = out + (A_D @ r.reshape(-1)).reshape(None)")
    monkeypatch.setattr(A, "solve_meanfield", mod.solve_meanfield)
    with pytest.raises(ValueError, match="broadcast"):
        A.diffusion_errors(16)


def test_wall_cfl_checks_flag_a_wrong_fipy_courant_test(monkeypatch):
    """eulerian.fipy_backend.x_continuity_fipy__mutmut_162 (sample at 7092d92): dt / rate for dt * rate."""
    pytest.importorskip("fipy")
    import eulerian.fipy_backend

    mod = mutated(monkeypatch, "eulerian.fipy_backend", "if dt * r > cfl * (1 + 1e-12):",
                  "if dt / r > cfl * (1 + 1e-12):")
    monkeypatch.setattr(eulerian.fipy_backend, "continuity_fipy", mod.continuity_fipy)
    checks = B.wall_cfl_checks()
    assert [c.name for c in checks if not c.passed] == [_by_name(checks, "fipy backend: forced steps N").name]
