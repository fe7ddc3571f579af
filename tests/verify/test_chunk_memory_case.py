"""The case chunk-memory: its checks pass for the library and flag chunks that take more memory than stated, chunks
that ignore the budget, and a temporary kept alive into the next chunk."""
import importlib

import numpy as np
import pytest

from tests.verify.mutants import mutated
from verify.cases import chunk_memory as CM


def _setup(label: str) -> CM.Chunked:
    return next(s for s in CM.chunked_setups(np.random.default_rng(3)) if s.label == label)


def test_every_chunked_evaluation_keeps_its_stated_memory():
    for setup in CM.chunked_setups(np.random.default_rng(3)):
        slope, values = CM.chunk_checks(setup)
        assert slope.passed and values.passed, (slope, values)


@pytest.mark.parametrize("label, module, old, new, package, attr, slope_at_least", [
    # chunks twice the stated size (the kernel sum's divisor of the old two-array layout)
    ("lagrangian.gaussian_kde", "lagrangian.deposit", "chunk_bytes // (8 * n)))", "chunk_bytes // (4 * n)))",
     "lagrangian", "gaussian_kde", 1.5),
    # the previous chunk's weights kept alive while the next one is built
    ("eulerian.flow_matching_grid_field (1D)", "eulerian.flow_matching_grid", "del W   # free the chunk",
     "W = W   # keep the chunk", "eulerian", "flow_matching_grid_field", None),
    # the logit buffer kept alive into the next chunk: twice the stated chunk_bytes / 2
    ("lagrangian.softmax_attention", "lagrangian.meanfield", "del logits, p  # free", "pass  # keep",
     "lagrangian", "softmax_attention", 0.8),
    # the factorised attention's per-axis exponentials counted once instead of twice
    ("eulerian.attention_velocity (method 'exact', 1D)", "eulerian.attention",
     "per_row = 8 * (FACTORISED_ARRAYS * rest + 2 * sum(shape))", "per_row = 8 * (FACTORISED_ARRAYS * rest + sum(shape))",
     "eulerian", "attention_velocity", 1.5),
])
def test_a_chunk_larger_than_stated_is_caught(monkeypatch, label, module, old, new, package, attr, slope_at_least):
    mod = mutated(monkeypatch, module, old, new)
    monkeypatch.setattr(importlib.import_module(package), attr, getattr(mod, attr))
    slope, values = CM.chunk_checks(_setup(label))
    assert not slope.passed and slope.value > slope.upper, slope
    assert slope_at_least is None or slope.value >= slope_at_least, slope
    assert values.passed   # the values are right: only the memory tells


@pytest.mark.parametrize("label, module, old, new, package, attr", [
    # one chunk whatever the budget (lagrangian.meanfield.xǁNetworkFieldǁ_velocity: chunk_bytes * n / 16)
    ("lagrangian.network_field (activation 'relu')", "lagrangian.meanfield",
     "self.chunk_bytes // (8 * NETWORK_CHUNK_ARRAYS * n)", "self.chunk_bytes * (8 * NETWORK_CHUNK_ARRAYS * n)",
     "lagrangian", "network_field"),
    # the row size from the dimension instead of the cell count (eulerian.flow_matching_grid, near-equivalent
    # in the sample at 919885c): rows 100x larger than the budget allows
    ("eulerian.flow_matching_grid_field (1D)", "eulerian.flow_matching_grid", 'n_nodes = outer["nodes"].shape[0]',
     'n_nodes = outer["nodes"].shape[1]', "eulerian", "flow_matching_grid_field"),
])
def test_a_chunk_that_ignores_the_budget_is_caught(monkeypatch, label, module, old, new, package, attr):
    mod = mutated(monkeypatch, module, old, new)
    monkeypatch.setattr(importlib.import_module(package), attr, getattr(mod, attr))
    slope, _ = CM.chunk_checks(_setup(label))
    assert not slope.passed and slope.value < slope.lower, slope


def test_peak_memory_measures_a_known_allocation_and_refuses_to_nest():
    import tracemalloc

    from verify.metrics import peak_memory

    def run():
        a = np.ones(1 << 20)          # 8 MiB
        b = np.ones(1 << 19)          # 4 MiB more while a lives
        return float(a[0] + b[0])

    value, peak = peak_memory(run)
    assert value == 2.0 and 12 << 20 <= peak < (12 << 20) + (1 << 16)
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match="already tracing"):
            peak_memory(run)
    finally:
        tracemalloc.stop()
