"""Survivors classified gpu-only (a branch or a namespace that only a CuPy run reads) that the CPU stand-in of
CuPy can show after all, each now caught by the case cupy-paths (mutants built in memory, tests/verify/mutants.py):

* a per-axis diffusion's noise scale left a NumPy array on CuPy
  (lagrangian.integrators.xǁ_Noiseǁ__init____mutmut_35, sample at bdaf3ce): the device runs of the SDE law
  used a matrix D only -> ``check_sde_law`` also with D a (d,) vector;
* the blob kernel's blocks measured against the host's memory (lagrangian.gradient_flows.x__kernel_blocks__mutmut_2,
  sample at fac9180, and the same check without its namespace) -> cupy-paths' device refusals include
  ``blob_velocity`` of 3 000 device particles, whose 1 024 x 3 000 pair blocks exceed the stand-in's device.
"""

import numpy as np
import pytest

import lagrangian
from tests.verify.mutants import mutated
from verify.cases import cupy_paths as cpaths
from verify.cupy_standin import cupy_or_standin


def test_sde_law_catches_a_per_axis_noise_scale_left_on_the_host(monkeypatch):
    with cupy_or_standin(cpaths.STANDIN_MEMORY) as (cp, _):
        assert all(c.passed for c in cpaths.check_sde_law(cp, np.random.default_rng(3)))
        mod = mutated(monkeypatch, "lagrangian.integrators",
                      "if np.ndim(sigma) == 1 else np.sqrt(h) * sigma", "if False else np.sqrt(h) * sigma")
        monkeypatch.setattr(lagrangian, "integrate_sde", mod.integrate_sde)
        checks = cpaths.check_sde_law(cp, np.random.default_rng(3))
    failed = [c.name for c in checks if not c.passed]
    assert failed and all("per-axis D" in name for name in failed), failed
    assert len(failed) == len(lagrangian.SDE_STEPPERS), failed


@pytest.mark.parametrize("old, new", [
    ('"use fewer particles", xp=get_xp(x))', '"use fewer particles", xp=get_xp(None))'),
    ('"use fewer particles", xp=get_xp(x))', '"use fewer particles", )'),
], ids=["namespace of None", "no namespace"])
def test_device_refusals_catch_the_blob_kernel_reading_the_hosts_memory(monkeypatch, old, new):
    with cupy_or_standin(cpaths.STANDIN_MEMORY) as (cp, on_gpu):
        if on_gpu:
            return   # a GPU's memory is too large for cheap requests beyond it
        label = next(k for k in cpaths.device_refusals(cp) if k.startswith("lagrangian.blob_velocity"))
        monkeypatch.setattr(cpaths, "device_refusals", lambda cp, f=cpaths.device_refusals: {label: f(cp)[label]})
        assert cpaths.check_device_refusals(cp).passed
        mod = mutated(monkeypatch, "lagrangian.gradient_flows", old, new)
        monkeypatch.setattr(lagrangian, "blob_velocity", mod.blob_velocity)
        check = cpaths.check_device_refusals(cp)
    assert not check.passed and check.value == 1, check.detail
