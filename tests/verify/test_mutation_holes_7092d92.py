"""Report checks added for the mutation survivors (report holes) of the fresh sample at 7092d92 (seed 20261206).

* ``eulerian.fipy_backend.x_continuity_fipy__mutmut_162`` -> continuity-walls-2d, ``wall_cfl_checks`` (its test is
  in tests/verify/test_mutation_holes_grid.py); ``eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_464`` ->
  fipy-vs-array, ``check_scheme_info`` (tests/verify/test_mutation_holes_open.py);
  ``eulerian.multigrid.x_transfer_operators__mutmut_1`` -> fokker-planck-options-2d, ``short_axis_cycle_check``
  (tests/verify/test_mutation_holes_solvers.py); ``eulerian.porous_medium.x_solve_porous_medium__mutmut_302`` ->
  porous-medium-barenblatt, ``check_slow_step_condition`` (tests/verify/test_report_coverage_solvers.py);
  ``eulerian.operators.x_bernoulli_pair__mutmut_5`` -> fokker-planck-options-2d, ``flux_function_checks`` and
  ``high_peclet_checks`` (the mutant was closer to right than the code: the coefficients were clipped at a
  cell Peclet number of 700; tests/verify/test_report_coverage_solvers.py);
* ``lagrangian.fields.xǁAffineFieldǁ__call____mutmut_26`` (the offset's shape compared with x.shape[1]) ->
  affine-flow-particles, ``check_point_batches`` (which found that AffineField with an offset failed on points
  (..., d) of more than two axes).
"""
import importlib

import numpy as np
import pytest

import lagrangian as L
from tests.verify.mutants import mutated
from verify.cases import particles as P


def _affine_exact(t, x):
    return np.einsum("ij,...j->...i", P.AFFINE_A0, x) + P.AFFINE_C0


def test_point_batches_pass():
    for field, exact in ((L.affine_field(P.AFFINE_A0, P.AFFINE_C0), _affine_exact),
                         (P.quadratic_gradient_field(),
                          lambda t, x: -np.einsum("ij,...j->...i", P.POTENTIAL_H, x - P.POTENTIAL_MIN))):
        check = P.check_point_batches("field", field, exact)
        assert check.passed and check.value < 1e-14, check


@pytest.mark.parametrize("old, new", [
    ("if c is not None and c.shape != (x.shape[-1],):", "if c is not None and c.shape != (x.shape[+1],):"),
    ("    if out.ndim != 2:\n", "    if False:\n"),   # the row add before 2026-12-01: (n, d) only
    ("            _add_row_vector(out.reshape(-1, out.shape[-1]), c, xp, block)",
     "            _add_row_vector(out.reshape(-1, out.shape[-1]).copy(), c, xp, block)"),
])
def test_point_batches_flag_mutants(monkeypatch, old, new):
    mod = mutated(monkeypatch, "lagrangian.fields", old, new)
    check = P.check_point_batches("field", mod.affine_field(P.AFFINE_A0, P.AFFINE_C0), _affine_exact)
    assert not check.passed, check


def test_point_batches_flag_a_wrong_value():
    check = P.check_point_batches("field", L.affine_field(P.AFFINE_A0.T, P.AFFINE_C0), _affine_exact)
    assert not check.passed and check.value > 0.1


# ------------------------------------------------------------------ attention-tokens-2d: the attention values
def test_attention_values_pass():
    check = P.check_attention_values()
    assert check.passed and check.value < 1e-13, check


@pytest.mark.parametrize("old, new", [
    ("    for s in range(0, q.shape[0], chunk):", "    for s in range(0, q.shape[1], chunk):"),   # mutmut_90
    ("        logits -= xp.max(logits, axis=1, keepdims=True)\n", "        pass\n"),
    ("    qk = q @ xp.asarray(float(scale) * Qm.T)", "    qk = q @ xp.asarray(float(scale) * 0.5 * Qm.T)"),
    ("    return out @ xp.asarray(Vm.T)", "    return out @ xp.asarray(Vm)"),
])
def test_attention_values_flag_mutants(monkeypatch, old, new):
    mod = mutated(monkeypatch, "lagrangian.meanfield", old, new)
    with np.errstate(all="ignore"):
        check = P.check_attention_values(mod.softmax_attention, mod.attention_field)
    assert not check.passed, check


# ------------------------------------------- bad-input-lagrangian / bad-input-gaussian: memory sizes, own copies
def test_particle_memory_refusal_passes_and_flags_a_wrong_limit(monkeypatch):
    """lagrangian.backend.x_check_memory__mutmut_23: the limit in the message in units of 2 GiB."""
    from verify.cases import bad_input as BI

    assert BI.check_particle_memory_refusal().passed
    mod = mutated(monkeypatch, "lagrangian.backend", "above the limit of {limit / 2**30:.3g} GiB",
                  "above the limit of {limit / 2**31:.3g} GiB")
    monkeypatch.setattr(importlib.import_module("lagrangian.deposit"), "check_memory", mod.check_memory)
    check = BI.check_particle_memory_refusal()
    assert not check.passed and check.value == 1, check


def test_own_copies_pass_and_flag_a_shared_array(monkeypatch):
    """verify.gaussian.x__real__mutmut_3: _real without a copy by default."""
    import verify.gaussian
    from verify.cases import bad_input as BI

    assert BI.check_own_copies().passed
    mod = mutated(monkeypatch, "verify.gaussian", 'def _real(a, name: str, what: str = "array", *, copy: bool = True)',
                  'def _real(a, name: str, what: str = "array", *, copy: bool = False)')
    monkeypatch.setattr(verify.gaussian, "Gaussian", mod.Gaussian)
    monkeypatch.setattr(verify.gaussian, "Affine", mod.Affine)
    check = BI.check_own_copies()
    assert not check.passed and check.value >= 3, check   # (Affine's matrix is copied on another path as well)
