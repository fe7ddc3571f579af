"""Report checks for solver paths the quick report never ran (coverage holes), each fed a wrong value or a mutant.

Mutants are built in memory from the installed source with one line changed (tests.verify.mutants.mutated), never
written to disk; each check must pass on the right code and fail on the mutant.

* walls-and-diffusion-2d: cell-valued D on periodic axes (eulerian.diffusion, harmonic means across the wrap) and
  on Dirichlet walls (Diffusion.wall), against FiPy;
* ou-matrix-diffusion-2d: the cross fluxes on a periodic axis (eulerian.diffusion._central_difference,
  _faces_1d), against FiPy; solve_stationary with a full matrix (its own cross-flux term) against the Gaussian law;
* fipy-mesh1d: a (1, 1) diffusion matrix in 1D is the scalar D;
* heat-2d: a scalar source (eulerian.fokker_planck: f * ones) against the exact shift S t and mass m0 + S |box| t;
* continuity-walls-2d: Flux(q(t, x)) walls of the continuity equation (array: eulerian.continuity.WallData;
  FiPy: rhs - div(q n)) against the exact mass balance, and the manufactured solution with Flux outflow walls;
* fokker-planck-options-2d: MultigridSolver / LUSolver on the generic (non-NumPy) array path with a given omega,
  b = 0, TensorProlongation inside a solve.
"""
import numpy as np
import pytest

from tests.verify.mutants import mutated
from verify.cases import boundaries as B
from verify.cases import eulerian_cases as E


def _fails(checks):
    return [c for c in checks if not c.passed]


# ------------------------------------------------------------------ cell-valued D: periodic wrap and Dirichlet walls
@pytest.fixture(scope="module")
def options():
    from eulerian import Grid

    g = Grid(*B.BOX, (20, 12))
    return g, B.diffusion_options(g)


def test_cell_D_options_pass(options):
    pytest.importorskip("fipy")
    g, opts = options
    for label in B.CELL_D_OPTIONS:
        checks = B.fipy_option_checks(g, label, opts[label], "implicit-euler")
        assert checks and not _fails(checks), _fails(checks)
        assert checks[0].value < 2e-9   # measured 4.7e-10 and 5.2e-10


def test_periodic_cell_D_check_flags_a_wrong_wrap(monkeypatch, options):
    pytest.importorskip("fipy")
    import eulerian.diffusion as Dm

    mod = mutated(monkeypatch, "eulerian.diffusion", "lower, upper = np.roll(D, 1, axis=k), D",
                  "lower, upper = np.roll(D, -1, axis=k), D")
    monkeypatch.setattr(Dm.Diffusion, "normal", mod.Diffusion.normal)
    g, opts = options
    check = B.fipy_option_checks(g, B.CELL_D_OPTIONS[0], opts[B.CELL_D_OPTIONS[0]], "implicit-euler")[0]
    assert not check.passed and check.value > 1e-3   # measured 1.6e-2


def test_dirichlet_wall_cell_D_check_flags_the_other_walls_values(monkeypatch, options):
    """The array backend alone takes the mutant (FiPy's own run is computed first, with the right code)."""
    pytest.importorskip("fipy")
    import eulerian.diffusion as Dm
    from eulerian import solve_fokker_planck

    g, opts = options
    kw = opts[B.CELL_D_OPTIONS[1]]
    f = solve_fokker_planck(g, lambda x: B.mms_exact(0.0, x), B.mms_drift, t_final=0.4, steps=8, time="bdf2",
                            backend="fipy", **kw).to_numpy()
    mod = mutated(monkeypatch, "eulerian.diffusion", "return self.value.reshape(-1)[wall_cells(grid, axis, side)]",
                  "return self.value.reshape(-1)[wall_cells(grid, axis, 1 - side)]")
    monkeypatch.setattr(Dm.Diffusion, "wall", mod.Diffusion.wall)
    a = solve_fokker_planck(g, lambda x: B.mms_exact(0.0, x), B.mms_drift, t_final=0.4, steps=8, time="bdf2",
                            **kw).to_numpy()
    assert np.abs(a - f).max() / np.abs(a).max() > 1e-4
    # and through the check itself: FiPy's mass balance (the walls' D from the array code) refuses the mutant
    (check,) = B.fipy_option_checks(g, B.CELL_D_OPTIONS[1], kw, "bdf2")[:1]
    assert not check.passed


# --------------------------------------------------------------------- periodic cross fluxes, stationary matrix D
PERIODIC = ["periodic", "zero-flux"]


def test_periodic_cross_flux_check_passes():
    pytest.importorskip("fipy")
    check = B.check_fipy_agreement("p", *B.ou_matrix_fipy_pair("implicit-euler", PERIODIC, n=8, steps=2))
    assert check.passed and check.value < 1e-11


@pytest.mark.parametrize("old, new", [
    ("up, down = up % n, down % n", "up, down = xp.minimum(up, n - 1), xp.maximum(down, 0)"),   # mirrored ends
    ("L, R, nf = (f - 1) % n, f, n", "L, R, nf = (f - 2) % n, f, n"),                            # wrong wrap
])
def test_periodic_cross_flux_check_flags_mutants(monkeypatch, old, new):
    pytest.importorskip("fipy")
    import eulerian.diffusion as Dm

    mod = mutated(monkeypatch, "eulerian.diffusion", old, new)
    for name in ("_central_difference", "_faces_1d"):
        monkeypatch.setattr(Dm, name, getattr(mod, name))
    check = B.check_fipy_agreement("p", *B.ou_matrix_fipy_pair("implicit-euler", PERIODIC, n=8, steps=2))
    assert not check.passed and check.value > 1e-4


def test_stationary_matrix_check_passes_and_flags_a_diagonal_matrix():
    check = B.check_stationary_matrix(B.STATIONARY_SIZES)
    assert check.passed and abs(check.value - 2.0) < 0.05   # measured 1.975
    wrong = B.check_stationary_matrix(B.STATIONARY_SIZES, np.diag(np.diag(B.OU_D)))
    assert not wrong.passed and abs(wrong.value) < 0.2


def test_stationary_matrix_check_flags_a_stationary_solver_without_cross_fluxes(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.fokker_planck", "A = A + cross_diffusion(be, grid, D.cross, periodic)",
                  "A = A")
    monkeypatch.setattr(B, "solve_stationary", mod.solve_stationary)
    check = B.check_stationary_matrix(B.STATIONARY_SIZES)
    assert not check.passed and abs(check.value) < 0.2


# ---------------------------------------------------------------------------------------- (1, 1) matrix in 1D
def test_one_by_one_matrix_check(monkeypatch):
    cn = B.mesh1d_transient("crank-nicolson", 10)
    assert B.check_one_by_one_matrix(cn).passed
    assert B.check_one_by_one_matrix(cn).value == 0.0
    assert not B.check_one_by_one_matrix(cn, np.array([[1.0 + 1e-9]])).passed
    import eulerian.fokker_planck as FP

    mod = mutated(monkeypatch, "eulerian.diffusion", 'return Diffusion("constant", float(arr[0, 0]))',
                  'return Diffusion("constant", float(np.sqrt(arr[0, 0] * 1.01)))')
    monkeypatch.setattr(FP, "check_diffusion", mod.check_diffusion)
    check = B.check_one_by_one_matrix(cn)
    assert not check.passed and check.value > 1e-5


# ------------------------------------------------------------------------------------------ scalar source
def test_scalar_source_checks_pass():
    checks = E.scalar_source_checks()
    assert len(checks) == 8 and not _fails(checks), _fails(checks)
    assert max(c.value for c in checks) < 1e-14


def test_scalar_source_checks_flag_a_wrong_value():
    checks = E.scalar_source_checks(("bdf2",), value=0.7 * (1 + 1e-9))
    assert all(not c.passed for c in checks)


def test_scalar_source_checks_flag_the_fokker_planck_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.fokker_planck", "f = f * be.xp.ones(grid.size)",
                  "f = f * be.xp.ones(grid.size) / grid.size")
    monkeypatch.setattr(E, "solve_fokker_planck", mod.solve_fokker_planck)
    checks = E.scalar_source_checks(("implicit-euler", "douglas-adi"))
    assert all(not c.passed for c in checks)


# ------------------------------------------------------------------------------------ continuity: Flux walls
def test_flux_wall_checks_pass():
    pytest.importorskip("fipy")
    checks = B.flux_wall_checks()
    assert len(checks) == 4 and not _fails(checks), _fails(checks)
    assert max(c.value for c in checks) < 1e-14


def test_flux_wall_checks_flag_a_frozen_wall_flux(monkeypatch):
    """eulerian.continuity.WallData: q evaluated at t = 0 instead of t."""
    mod = mutated(monkeypatch, "eulerian.continuity",
                  "self.sides[k][side] = (None, None, be.asarray(cond.values(t, x)).reshape(shape))",
                  "self.sides[k][side] = (None, None, be.asarray(cond.values(0.0, x)).reshape(shape))")
    monkeypatch.setattr(B, "solve_continuity", mod.solve_continuity)
    checks = B.flux_wall_checks({"numpy": B.flux_wall_run("numpy")})
    assert all(not c.passed for c in checks) and min(c.value for c in checks) > 1e-3


def test_flux_wall_checks_flag_the_fipy_sign_mutant(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend as FB

    mod = mutated(monkeypatch, "eulerian.fipy_backend", "rhs = rhs - walls.q.divergence",
                  "rhs = rhs + walls.q.divergence")
    monkeypatch.setattr(FB, "continuity_fipy", mod.continuity_fipy)
    checks = B.flux_wall_checks({"fipy": B.flux_wall_run("fipy")})
    assert not checks[0].passed and checks[0].value > 1e-2   # the mass moves the wrong way


def test_flux_wall_checks_flag_a_wrong_outflow_record():
    pytest.importorskip("fipy")
    import types

    g, sol = B.flux_wall_run("fipy")
    shifted = types.SimpleNamespace(mass=sol.mass, mass_times=sol.mass_times,
                                    boundary_outflow=np.asarray(sol.boundary_outflow) * (1 + 1e-6))
    balance, record = B.flux_wall_checks({"fipy": (g, shifted)})
    assert balance.passed and not record.passed


def test_flux_wall_order_check_passes_and_flags_swapped_walls(monkeypatch):
    check = B.check_flux_wall_order()
    assert check.passed and 1.85 < check.value < 2.15
    mod = mutated(monkeypatch, "eulerian.continuity",
                  "self.sides[k][side] = (None, None, be.asarray(cond.values(t, x)).reshape(shape))",
                  "self.sides[k][1 - side] = (None, None, be.asarray(cond.values(t, x)).reshape(shape))")
    monkeypatch.setattr(B, "solve_continuity", mod.solve_continuity)
    assert not B.check_flux_wall_order().passed


# ------------------------------------------------------------------------------------------- multigrid paths
def test_multigrid_path_checks_pass():
    checks = E.multigrid_path_checks()
    assert len(checks) == 12 and not _fails(checks), _fails(checks)


MG_MUTANTS = [   # (old, new, a substring of a check that must fail)
    ("K = (self.be.sparse.diags(-1.0 / d) @ M)", "K = (self.be.sparse.diags(1.0 / d) @ M)", "generic"),
    ("            omega = float(self.omega)\n", "            omega = 0.5 * float(self.omega)\n", "omega = 0.9"),
    ("            out += A @ x\n", "            out -= A @ x\n", "generic"),
    ("        y += a * x\n        return y", "        y += 0.5 * a * x\n        return y", "generic"),
    ("            nxt.c[...] = rc\n", "            pass\n", "generic"),
    ("            c[...] = r * self._dinv\n", "            c[...] = r\n", "generic"),
    ("            return xp.zeros_like(b)\n", "            return xp.ones_like(b)\n", "b = 0"),
    ("pr = (TensorProlongation(self.be, shape, pr[2], self.periodic, self.dtype), *pr[1:])",
     "pr = (TensorProlongation(self.be, shape, pr[2], False, self.dtype), *pr[1:])", "Kronecker"),
    ("            lev.P.add(nxt.x, lev.x)", "            lev.P.add(0.5 * nxt.x, lev.x)", "Kronecker"),
    ("beta = (rho / rho_old) * (alpha / omega)", "beta = (rho / rho_old) * (alpha * omega)", "SciPy's bicgstab"),
    ("                rho_old = rho\n", "                pass\n", "SciPy's bicgstab"),
]


@pytest.mark.parametrize("old, new, where", MG_MUTANTS, ids=[f"mutant{i}" for i in range(len(MG_MUTANTS))])
def test_multigrid_path_checks_flag_mutants(monkeypatch, old, new, where):
    mod = mutated(monkeypatch, "eulerian.multigrid", old, new)
    checks = E.multigrid_path_checks(solver_class=mod.MultigridSolver)
    failed = _fails(checks)
    assert any(where in c.name for c in failed), [c.name for c in checks]


def test_multigrid_path_checks_flag_a_wrong_generic_lu(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.multigrid", "self.lu = self.be.splinalg.splu(self.M.tocsc())",
                  "self.lu = self.be.splinalg.splu(self.M.T.tocsc())")
    checks = E.multigrid_path_checks(lu_class=mod.LUSolver)
    assert [c.name for c in _fails(checks)] == [c.name for c in checks if c.name.startswith("LUSolver")]


# ------------------------------------------------------------ porous medium: the adaptive step redone (cfl = 1)
def test_confined_checks_pass():
    from verify.cases import porous_medium as P

    checks = P.confined_checks()
    assert len(checks) == 4 and not _fails(checks), _fails(checks)
    assert checks[0].value > 50 and checks[1].value < 1e-14


@pytest.mark.parametrize("old, new", [
    ("                dt = dt_new\n", "                pass\n"),                                  # old dt kept
    ("                r1 = rho + dt_new * L0\n", "                pass\n"),                          # stale stage
    ("dt_new = cfl * min(allowed, allowed1)", "dt_new = cfl * allowed"),                            # no safe dt
    ("if steps is None and dt > allowed1 * (1 + 1e-12):", "if False:"),                             # no rejection
])
def test_confined_checks_flag_mutants_of_the_rejection(monkeypatch, old, new):
    from verify.cases import porous_medium as P

    mod = mutated(monkeypatch, "eulerian.porous_medium", old, new)
    checks = P.confined_checks(lambda cells: P.confined_run(solve=mod.solve_porous_medium, cells=cells))
    assert _fails(checks), [(c.name, c.value) for c in checks]


def test_point_values_check_passes_and_catches_a_shifted_centre():
    from eulerian import Grid
    from verify.cases.eulerian_cases import check_point_values

    assert check_point_values().passed

    class Shifted(Grid):
        def point_values(self, f):            # f at the lower faces instead of the centres
            return f(self.centers() - 0.5 * np.asarray(self.spacing))
    assert not check_point_values(Shifted((-1.0, 0.5), (2.0, 1.5), (6, 4))).passed


# ---------------------------------------------------- fokker-planck-options-2d: the flux functions at high Peclet
CLIPPED_B = ("    a = xp.abs(z)\n", "    a = xp.abs(xp.clip(z, -700.0, 700.0))\n")   # the code before 2026-12-01


def test_flux_function_checks_pass():
    checks = E.flux_function_checks()
    assert len(checks) == 2 and not _fails(checks), _fails(checks)


@pytest.mark.parametrize("old, new, index", [
    CLIPPED_B + (0,),
    ("    z = xp.minimum(z, EXP_MAX)\n", "    z = xp.clip(z, -EXP_MAX, EXP_MAX)\n", 0),
    ("1.0 / xp.expm1(xp.minimum(ws, EXP_MAX))", "1.0 / xp.expm1(ws)", 1),
    ("1.0 / ws - 1.0 / xp.expm1", "1.0 / ws + 1.0 / xp.expm1", 1),
    ("0.5 - wt / 12.0 + wt**3 / 720.0", "0.5 + wt / 12.0 + wt**3 / 720.0", 1),
    ("    ws, wt = xp.where(small, 1.0, w), xp.where(small, w, 0.0)", "    ws, wt = xp.where(small, 1.0, w), w", 1),
    ("    zs, zt = xp.where(small, 1.0, z), xp.where(small, z, 0.0)", "    zs, zt = xp.where(small, 1.0, z), z", 0),
])
def test_flux_function_checks_flag_mutants(monkeypatch, old, new, index):
    mod = mutated(monkeypatch, "eulerian.operators", old, new)
    checks = E.flux_function_checks(mod)
    assert not checks[index].passed, checks[index]


def test_high_peclet_checks_flag_a_clipped_bernoulli_function(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.operators

    mod = mutated(monkeypatch, "eulerian.operators", *CLIPPED_B)
    monkeypatch.setattr(eulerian.operators, "bernoulli_pair", mod.bernoulli_pair)
    speed, fipy = E.high_peclet_checks("scharfetter-gummel")
    assert not speed.passed and speed.value > 0.25, speed
    assert not fipy.passed and fipy.value > 0.1, fipy


# ------------------------------------------------------- porous medium: the step condition of a slow run (rate < 1)
def test_slow_step_condition_passes_and_flags_a_rate_floor(monkeypatch):
    """eulerian.porous_medium.x_solve_porous_medium__mutmut_302 (sample at 7092d92): no step limit when the rate
    is at most 1."""
    from verify.cases import porous_medium as P

    check = P.check_slow_step_condition()
    assert check.passed and 0.9 < check.value <= 1.0 + 1e-12, check
    mod = mutated(monkeypatch, "eulerian.porous_medium", "(1.0 / rmax if rmax > 0 else math.inf)",
                  "(1.0 / rmax if rmax > 1 else math.inf)")
    check = P.check_slow_step_condition(mod.solve_porous_medium)
    assert not check.passed and check.value > 5, check
