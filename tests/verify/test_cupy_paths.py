"""The case ``cupy-paths`` (CuPy on a GPU, else the CPU stand-in) and mistakes in CuPy branches it must catch.

Each negative test builds one mistake of a CuPy-only branch in memory (tests/verify/mutants.py), the kind that
no NumPy run can see, and asserts that the case's checks fail on it.
"""
from __future__ import annotations

import dataclasses
import shutil
import math

import numpy as np
import pytest

import eulerian
import eulerian.adi
import eulerian.attention
import eulerian.fokker_planck
import lagrangian.integrators
import lagrangian.transport
from tests.verify.mutants import mutated
from verify.bad_input import CALLS
from verify.cases import cupy_paths as cpaths
from verify.cases.cupy_paths import (STANDIN_MEMORY, VALUE_TOL, catalog_checks, check_bb_default_dtype, check_call,
                                     check_mixed,
                                     check_device_memory, check_device_refusals, check_sde_law,
                                     device_refusals, extra_calls)
from verify.cupy_standin import cupy_or_standin


@pytest.fixture
def cp():
    with cupy_or_standin(STANDIN_MEMORY) as (module, _):
        yield module


def _with(label: str, func) -> tuple[str, object]:
    return label, dataclasses.replace(CALLS[label], func=func)


def test_bb_default_dtype_on_cupy_is_float64(cp, monkeypatch):
    """Mixed precision forced on CuPy (whose default is float64): float32 round-off beyond VALUE_TOL."""
    assert check_bb_default_dtype(cp).passed
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", 'dtype = "mixed" if be.name == "numpy" else "float64"',
                  'dtype = "mixed"')
    monkeypatch.setattr(eulerian, "benamou_brenier", mod.benamou_brenier)
    check = check_bb_default_dtype(cp)
    assert not check.passed and check.value > 10 * VALUE_TOL


def test_cupy_lu_factorisation(cp, monkeypatch):
    """CuPy's sparse LU path (the branch for backends other than NumPy) given no matrix."""
    mod = mutated(monkeypatch, "eulerian.multigrid", "self.lu = self.be.splinalg.splu(self.M.tocsc())",
                  "self.lu = self.be.splinalg.splu(None)")
    monkeypatch.setattr(eulerian.fokker_planck, "LUSolver", mod.LUSolver)
    check = check_call("eulerian.solve_fokker_planck", CALLS["eulerian.solve_fokker_planck"], "backend", cp,
                       solver="lu")
    assert not check.passed and "raised" in check.detail


def test_host_copy_of_device_particles(cp, monkeypatch):
    """to_numpy that misses CuPy arrays hands them to NumPy: the stand-in refuses, as CuPy does."""
    mod = mutated(monkeypatch, "lagrangian.backend", 'if hasattr(a, "get") and not isinstance(a, np.ndarray):\n'
                  '        return a.get()\n    return np.asarray(a)',
                  'if hasattr(a, "XXgetXX") and not isinstance(a, np.ndarray):\n        return a.get()\n'
                  '    return np.asarray(a)')
    monkeypatch.setattr(lagrangian.transport, "to_numpy", mod.to_numpy)
    check = check_call("lagrangian.w2", CALLS["lagrangian.w2"], "arrays", cp)
    assert not check.passed and "Implicit conversion" in check.detail


def test_attention_host_copy_of_device_points(cp, monkeypatch):
    """The interpolated attention velocity copies the box of the device logits to the host: without .get()."""
    mod = mutated(monkeypatch, "eulerian.attention", 'hasattr(v, "get") else v', 'hasattr(v, "GET") else v')
    monkeypatch.setattr(eulerian.attention, "_host", mod._host)
    label, call = next((k, c) for k, c in extra_calls().items() if k.startswith("eulerian.attention_velocity"))
    check = check_call(label, call, "grid-velocity", cp)
    assert not check.passed and "Implicit conversion" in check.detail


def test_device_noise_without_its_shape(cp, monkeypatch):
    """CuPy's normal draws without their shape: one number for every particle, caught in law."""
    mod = mutated(monkeypatch, "lagrangian.integrators",
                  "xi = self.gen.standard_normal(size=self.shape, dtype=self.xp.float64)",
                  "xi = self.gen.standard_normal(dtype=self.xp.float64)")
    monkeypatch.setattr(lagrangian.integrators, "_Noise", mod._Noise)
    checks = check_sde_law(cp, np.random.default_rng(3))
    assert not any(c.passed for c in checks)


def test_device_noise_with_the_wrong_scale_is_caught_in_law(cp, monkeypatch):
    """Device noise 10 % too strong: the variance z-scores leave the band (20 000 particles)."""
    mod = mutated(monkeypatch, "lagrangian.integrators",
                  "xi = self.gen.standard_normal(size=self.shape, dtype=self.xp.float64)",
                  "xi = 1.1 * self.gen.standard_normal(size=self.shape, dtype=self.xp.float64)")
    monkeypatch.setattr(lagrangian.integrators, "_Noise", mod._Noise)
    assert not any(c.passed for c in check_sde_law(cp, np.random.default_rng(3)))


def test_sde_law_check_false_alarms(cp):
    """The stated false-alarm rate of the law check: 4 two-sided 5-sigma z-scores, 2.3e-6 per method; no alarm
    over 20 seeds (the case's own seed included in the report run)."""
    checks = [c for seed in range(20) for c in check_sde_law(cp, np.random.default_rng(seed))]
    assert all(c.passed for c in checks)
    assert checks[0].false_alarm == pytest.approx(4 * math.erfc(5 / math.sqrt(2)))


def test_device_memory_is_the_devices(cp, monkeypatch):
    mod = mutated(monkeypatch, "lagrangian.backend", "    if is_cupy(xp):\n        try:",
                  "    if is_cupy(xp) and False:\n        try:")
    monkeypatch.setattr(cpaths, "memory_bytes", mod.memory_bytes)
    assert not check_device_memory(cp, STANDIN_MEMORY).passed


def test_catalog_checks_cover_every_backend_call(cp):
    checks, not_run = catalog_checks(cp)
    assert all(c.passed for c in checks)
    # Douglas ADI's CUDA line solves run on the host where a C++ compiler is found
    assert not_run == [] if shutil.which("g++") else all("Douglas ADI" in line for line in not_run)


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler for the stand-in's CUDA kernels")
@pytest.mark.parametrize("old, new", [
    ("kernel(((m + block - 1) // block,), (block,)", "kernel(((m + block - 2) // block,), (block,)"),   # one block short
    ("(*arrays, np.int64(self.n), np.int64(m))", "(*arrays, np.int64(self.n - 1), np.int64(m))"),
    ("self._launch(self._kernels[0], dl, d, du, lo, winv)", "self._launch(self._kernels[0], dl, d, du, winv, lo)"),
])
def test_a_wrong_cuda_launch_of_douglas_adi_is_caught(cp, monkeypatch, old, new):
    """Launches of the line-solve kernels with a block short (65 lines: the second block has one line), the line
    length off by one, or two arguments swapped."""
    mod = mutated(monkeypatch, "eulerian.adi", old, new)
    monkeypatch.setattr(eulerian.adi.TridiagonalLines, "_launch", mod.TridiagonalLines._launch)
    monkeypatch.setattr(eulerian.adi.TridiagonalLines, "_factor", mod.TridiagonalLines._factor)
    label = next(k for k in extra_calls() if "Douglas ADI" in k)
    check = check_call(label, extra_calls()[label], "backend", cp)
    assert not check.passed


def test_the_device_branch_of_the_row_vector_add_is_compared(cp, monkeypatch):
    """An affine field on 2 500 device points adds its offset by broadcasting (the blocked add is NumPy's): a
    wrong sign there is caught by the comparison with NumPy."""
    import lagrangian.fields

    label = "lagrangian.affine_field, 2 500 points"
    assert check_call(label, extra_calls()[label], "arrays", cp).passed
    mod = mutated(monkeypatch, "lagrangian.fields", "no short-inner-loop penalty\n        out += c",
                  "no short-inner-loop penalty\n        out -= c")
    monkeypatch.setattr(lagrangian.fields, "_add_row_vector", mod._add_row_vector)
    assert not check_call(label, extra_calls()[label], "arrays", cp).passed


def test_device_refusals_need_the_devices_memory(cp, monkeypatch):
    """A CuPy backend held to the host's memory (the name read from another object) runs what the device
    cannot hold: the refusal check counts it."""
    import eulerian._validate

    assert check_device_refusals(cp).passed
    mod = mutated(monkeypatch, "eulerian._validate", 'if getattr(backend, "name", backend) != "cupy":',
                  'if getattr(None, "name", backend) != "cupy":')
    monkeypatch.setattr(eulerian._validate, "device_memory_bytes", mod.device_memory_bytes)
    label = next(k for k in device_refusals(cp) if k.startswith("eulerian.benamou_brenier"))
    monkeypatch.setattr(cpaths, "device_refusals", lambda cp: {label: device_refusals(cp)[label]})
    check = check_device_refusals(cp)
    assert not check.passed and "ran" in check.detail


def test_device_scalars_are_copied_to_the_host(cp, monkeypatch):
    """A number computed on the device (a 0-d CuPy array, here t1 of integrate_ode) must be read with .get()."""
    import lagrangian.integrators

    mod = mutated(monkeypatch, "lagrangian.backend", "    if _is_device_array(value):\n        value = value.get()",
                  "    if _is_device_array(value):\n        value = None")
    monkeypatch.setattr(lagrangian.integrators, "as_real_scalar", mod.as_real_scalar)
    check = check_call("lagrangian.integrate_ode", CALLS["lagrangian.integrate_ode"], "arrays", cp)
    assert not check.passed and "raised" in check.detail


def test_multigrid_smoother_on_cupy(cp, monkeypatch):
    """The CuPy branch of the Jacobi smoother's matrix (D^-1 M with D^-1 from diags): a wrong diagonal changes
    the iterations, so the linear iteration counts differ from NumPy's."""
    mod = mutated(monkeypatch, "eulerian.multigrid", "K = (self.be.sparse.diags(-1.0 / d) @ M)",
                  "K = (self.be.sparse.diags(-1.0 * d) @ M)")
    monkeypatch.setattr(eulerian.fokker_planck, "MultigridSolver", mod.MultigridSolver)
    label, call = next((k, c) for k, c in extra_calls().items() if "multigrid" in k)
    assert not check_call(label, call, "backend", cp).passed


def test_mixed_host_and_device_clouds_are_checked(cp, monkeypatch):
    """sliced_w2 running in the namespace of x alone: a device y with a host x fails (CuPy refuses the host
    array in the device product), and the mixed check says so."""
    assert check_mixed("lagrangian.sliced_w2", CALLS["lagrangian.sliced_w2"], cp).passed
    mod = mutated(monkeypatch, "lagrangian.transport", "    xp, (x, y) = on_one_device(x, y)\n",
                  "    xp, (x, y) = on_one_device(x)[0], (x, y)\n")
    monkeypatch.setattr(lagrangian.transport, "sliced_w2", mod.sliced_w2)
    call = dataclasses.replace(CALLS["lagrangian.sliced_w2"], func=mod.sliced_w2)
    check = check_mixed("lagrangian.sliced_w2", call, cp)
    assert not check.passed and "y on the device" in check.detail
