"""Report checks added for the holes of the fresh mutation sample at aa19a50 (seed 20261212).

* ``lagrangian.deposit.x_kde_bandwidth_factor__mutmut_1`` (the default rule misspelt) -> grid-vs-particles'
  ``check_bandwidth_factor`` also calls kde_bandwidth_factor with the rule left at its default (Scott's, against
  scipy);
* ``eulerian.attention.xǁAttentionVelocityǁ_interpolated__mutmut_192`` / ``_195`` (the per-row memory of the
  interpolated attention velocity misestimated: chunks too small or too large) -> chunk-memory measures the
  interpolated evaluation too;
* ``eulerian.network_grid.xǁNetworkVelocityǁfirst_variation__mutmut_26`` (the overflow of the first variation no
  longer silenced: a RuntimeWarning instead of NumericalError) -> a Trouble at theta = (1e200, 1e200);
* ``verify.gaussian.x_expectation__mutmut_129`` (the label of an overflowing E f(X) changed) -> a Trouble whose
  quadrature rounds beyond the largest float64;
* ``eulerian.meanfield.x_solve_meanfield__mutmut_441`` (Solution.info without "diffusion") -> meanfield-periodic-2d
  checks the record of its runs (and 3 velocity evaluations per SSP-RK3 step);
* three float64 arrays in the mixed-precision multigrid hierarchy (``eulerian.multigrid``) -> fokker-planck-options-2d
  checks that every array of the hierarchy is float32, as MultigridSolver's docstring states;
* ``eulerian.adi.xǁDouglasADIǁoperators__mutmut_39`` (DouglasADI's lapack option not passed on) -> ou-2d compares
  Douglas steps with lapack=False against LAPACK and reads which line solver ran (``DouglasADI.line_solver``,
  also in solve_fokker_planck's info, where cupy-paths requires the CUDA kernels on CuPy);
* ``eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_432`` (FiPy's Fokker–Planck min_density lost) ->
  fipy-vs-array compares min_density with a snapshot at every step, for each time scheme;
* ``lagrangian.integrators.x__require_finite__mutmut_6`` (the blow-up diagnosis without silenced warnings) -> a
  Trouble whose field overflows;
* ``eulerian.jko.x_jko_flow__mutmut_80`` (the whole-number test of t_final / tau relaxed below two steps) -> the
  catalog refuses t_final = tau (1 + 1.5e-9) and accepts tau (1 + 5e-10).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases import grid_vs_particles as gvp
from verify.cases.chunk_memory import chunk_checks, chunked_setups


def test_the_default_bandwidth_rule_is_checked():
    from lagrangian import kde_bandwidth_factor

    def silverman_by_default(n, d, rule="silverman"):
        return kde_bandwidth_factor(n, d, rule)

    assert gvp.check_bandwidth_factor("ok").passed
    assert not gvp.check_bandwidth_factor("default silverman", silverman_by_default).passed


@pytest.mark.parametrize("new", ["per_row = 8 * (2 * p ** (d + 1) * d + 3 * d * p)",     # chunks 256x too small
                                 "per_row = 8 * (2 * p ** (d - 1) * d + 3 / d * p)"])    # chunks 1.8x too large
def test_interpolated_attention_chunks_are_measured(monkeypatch, new):
    import eulerian.attention

    setup = next(s for s in chunked_setups(np.random.default_rng(0)) if "interpolated" in s.label)
    interpolated = eulerian.attention.AttentionVelocity._interpolated
    ran = []
    monkeypatch.setattr(eulerian.attention.AttentionVelocity, "_interpolated",
                        lambda self, *a: ran.append(interpolated(self, *a)) or ran[-1])
    assert all(c.passed for c in chunk_checks(setup))
    assert ran and all(r is not None for r in ran)   # interpolated, not the exact sums it falls back to
    mod = mutated(monkeypatch, "eulerian.attention", "per_row = 8 * (2 * p ** (d - 1) * d + 3 * d * p)", new)
    monkeypatch.setattr(eulerian.attention.AttentionVelocity, "_interpolated", mod.AttentionVelocity._interpolated)
    assert not chunk_checks(setup)[0].passed


def test_an_unsilenced_overflow_of_the_first_variation_is_a_gap(monkeypatch):
    import eulerian.network_grid

    label = next(k for k in bad_input.TROUBLES if "first variation" in k)
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    old = 'with np.errstate(over="ignore", invalid="ignore"):\n            for s in range(0, pts.shape[0], rows):\n' \
          '                out[s:s + rows] = self.sigma(be.xp, pts[s:s + rows, :1] * u[None, :]) @ e'
    mod = mutated(monkeypatch, "eulerian.network_grid", old, old.replace('over="ignore", ', ""))
    monkeypatch.setattr(eulerian.network_grid.NetworkVelocity, "first_variation",
                        mod.NetworkVelocity.first_variation)
    assert "RuntimeWarning" in bad_input.trouble_gap(label, bad_input.TROUBLES[label])


def test_the_overflowing_expectation_is_refused_as_recorded(monkeypatch):
    from verify import gaussian
    from verify.refusal_record import TROUBLE_MESSAGES

    label = next(k for k in bad_input.TROUBLES if k.startswith("gaussian.expectation"))
    said: list = []
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said) is None
    assert said == [TROUBLE_MESSAGES[label]]
    mod = mutated(monkeypatch, "verify.gaussian", '"E f(X)")', '"e f(x)")')
    monkeypatch.setattr(mod, "Gaussian", gaussian.Gaussian)   # the catalog's Gaussians are of the real class
    monkeypatch.setattr(gaussian, "expectation", mod.expectation)
    assert "lacks" in bad_input.trouble_gap(label, bad_input.TROUBLES[label])


@pytest.mark.parametrize("old, new", [
    ('"diffusion": D,', '"XXdiffusionXX": D,'),                      # eulerian.meanfield.x_solve_meanfield__mutmut_441
    ('self.evaluations += 1', 'self.evaluations += 2'),
])
def test_the_meanfield_record_is_checked(monkeypatch, old, new):
    from verify.cases.meanfield_periodic import check_record

    assert check_record().passed
    mod = mutated(monkeypatch, "eulerian.meanfield", old, new)
    assert not check_record(solve=mod.solve_meanfield).passed


def test_douglas_adi_honours_lapack(monkeypatch):
    """eulerian.adi.xǁDouglasADIǁoperators__mutmut_39: the lapack option not passed to the line systems (both runs
    then solve with LAPACK, to the same numbers): ou-2d's check_adi_paths reads which line solver ran."""
    import eulerian.adi
    from verify.cases.eulerian_cases import check_adi_paths

    assert check_adi_paths().passed
    mod = mutated(monkeypatch, "eulerian.adi", "THETA * self.dt, self.periodic[k],\n                                      self.lapack)",
                  "THETA * self.dt, self.periodic[k],\n                                      )")
    monkeypatch.setattr(eulerian.adi, "DouglasADI", mod.DouglasADI)
    assert not check_adi_paths().passed


def test_douglas_adi_on_cupy_uses_the_cuda_kernels(monkeypatch):
    """The CUDA kernels not selected on CuPy (the batched recursion in array operations gives the same numbers):
    cupy-paths reads the line solver of each Douglas ADI run."""
    import shutil

    import eulerian.adi
    from verify.cases.cupy_paths import check_call, extra_calls
    from verify.cupy_standin import cupy_standin

    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler for the stand-in's CUDA kernels")
    label = next(k for k in extra_calls() if "Douglas ADI" in k)
    with cupy_standin() as cp:
        assert check_call(label, extra_calls()[label], "backend", cp).passed
        mod = mutated(monkeypatch, "eulerian.adi", 'if (be.name == "cupy" and not self.lapack) else None',
                      'if (be.name == "cupy" and not self.lapack) and False else None')
        monkeypatch.setattr(eulerian.adi.TridiagonalLines, "__init__", mod.TridiagonalLines.__init__)
        check = check_call(label, extra_calls()[label], "backend", cp)
        assert not check.passed and "'thomas'" in check.detail


@pytest.mark.parametrize("old, new", [
    ("shape (n, n//2).\"\"\"\n    xp = be.xp\n    dtype = xp.float64 if dtype is None else dtype",
     "shape (n, n//2).\"\"\"\n    xp = be.xp\n    dtype = xp.float64 if dtype is not None else dtype"),
    ("x=xp.zeros(n, dtype=self.dtype),", "x=xp.zeros(n, ),"),
    ("self.coarse_solve = lambda c: lu.solve(d * c).astype(self.dtype)",
     "self.coarse_solve = lambda c: lu.solve(d * c).astype(None)"),
])
def test_a_float64_array_in_the_mixed_hierarchy_is_caught(monkeypatch, old, new):
    """eulerian.multigrid.x__prolongation_1d__mutmut_5, xǁMultigridSolverǁ_level__mutmut_67 and
    xǁMultigridSolverǁ__post_init____mutmut_114: float64 transfers, work vectors or coarse solves in the mixed
    hierarchy (more memory traffic, the same results to round-off)."""
    from verify.cases.eulerian_cases import check_mixed_precision

    assert check_mixed_precision().passed
    mod = mutated(monkeypatch, "eulerian.multigrid", old, new)
    assert not check_mixed_precision(mod.MultigridSolver).passed


def test_the_fipy_fokker_planck_min_density_is_checked(monkeypatch):
    """eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_432 (min_density lost after a step): fipy-vs-array compares
    the record with the snapshots of every step (the minimum falls until 3/4 of the run, then rises)."""
    import eulerian.fipy_backend
    from verify.cases.eulerian_cases import check_fp_min_density_record

    assert check_fp_min_density_record("fipy", "bdf2").passed
    mod = mutated(monkeypatch, "eulerian.fipy_backend", "            min_rho = min(min_rho, float(rho.min()))\n"
                  "            if save_idx is not None:", "            min_rho = None\n            if save_idx is not None:")
    monkeypatch.setattr(eulerian.fipy_backend, "fokker_planck_fipy", mod.fokker_planck_fipy)
    assert not check_fp_min_density_record("fipy", "bdf2").passed


def test_the_blow_up_diagnosis_silences_warnings(monkeypatch):
    """lagrangian.integrators.x__require_finite__mutmut_6 (the field re-evaluated without silencing floating-point
    warnings: an overflow warning, an error in the catalog, hides the culprit) -> a Trouble with an overflowing
    field."""
    import lagrangian.integrators

    label = next(k for k in bad_input.TROUBLES if "e^(1000 x)" in k)
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    mod = mutated(monkeypatch, "lagrangian.integrators", 'with np.errstate(all="ignore"):\n            culprit',
                  'with np.errstate(all=None):\n            culprit')
    monkeypatch.setattr(lagrangian.integrators, "_require_finite", mod._require_finite)
    assert "lacks" in bad_input.trouble_gap(label, bad_input.TROUBLES[label])


def test_a_single_jko_step_needs_t_final_within_1e_9_of_tau(monkeypatch):
    """eulerian.jko.x_jko_flow__mutmut_80 (the whole-number test of t_final / tau relaxed to 2e-9 below two
    steps) -> the catalog refuses t_final = tau (1 + 1.5e-9)."""
    call = bad_input.CALLS["eulerian.jko_flow"]
    bad = call.refuses["t_final"][0]
    assert bad_input.refusal_gap(call, "t_final", bad, must_refuse=True) is None
    mod = mutated(monkeypatch, "eulerian.jko", "abs(ratio - K) > 1e-9 * max(ratio, 1.0)",
                  "abs(ratio - K) > 1e-9 * max(ratio, 2.0)")
    assert bad_input.refusal_gap(dataclasses.replace(call, func=mod.jko_flow), "t_final", bad,
                                 must_refuse=True) is not None
