"""Chunked evaluations keep the memory they promise: the case ``chunk-memory``.

Kernel sums, attention and network velocities build (queries x samples) temporaries, so they evaluate in chunks of
queries sized by ``chunk_bytes``. Each function states how much memory one chunk takes: alpha x chunk_bytes, with
alpha = 1/2 for lagrangian.softmax_attention (one logit buffer, exponentiated in place; its docstring) and 1 for
the others. The check measures the peak with tracemalloc (:func:`verify.metrics.peak_memory`) at two budgets
C1 < C2, both far below the unchunked temporaries, and takes the slope

    (peak(C2) - peak(C1)) / (C2 - C1),

the memory per byte of budget. What does not grow with the chunk (inputs, outputs, per-query vectors) cancels.
The slope must lie in [alpha / 2, alpha (1 + CHUNK_SLACK)]. Above, a chunk takes more than promised: a mis-sized
chunk, or a temporary kept alive into the next chunk. Below, the budget is not used: many small matrix products,
or chunks that ignore the budget altogether (a constant peak gives slope 0). The chunked values must also equal
the unchunked ones to round-off.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import eulerian
import lagrangian
from eulerian import Grid
from lagrangian.meanfield import ACTIVATIONS
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import peak_memory

SMOOTH_Q = np.array([[0.6, 0.2], [-0.3, 0.5]])   # s <Q x, K y> of order 1 on the box: an interpolated velocity
SMOOTH_K = np.array([[0.4, -0.1], [0.2, 0.3]])
C1, C2 = 1 << 18, 1 << 20   # the two budgets (bytes); every set-up's unchunked temporaries exceed 8 x C2
UNCHUNKED = 1 << 40         # a budget no set-up reaches: one chunk
CHUNK_SLACK = 0.05          # per-chunk vectors (a row maximum, a row sum) beside the (chunk, n) arrays: ~1 %
CHUNK_VALUES_TOL = 1e-12    # chunked vs unchunked, relative to the largest value: the same sums in other blocks


@dataclass(frozen=True)
class Chunked:
    """One chunked evaluation: ``make(chunk_bytes)`` returns the call to measure; ``alpha`` its stated memory per
    byte of budget."""

    label: str
    alpha: float
    make: Callable[[int], Callable[[], Any]]


def chunked_setups(rng: np.random.Generator) -> list[Chunked]:
    """The chunked public evaluations, each on data whose chunks at C1 hold at least 20 rows."""
    d, n, m = 2, 500, 5000
    x, queries = rng.standard_normal((n, d)), rng.standard_normal((m, d))
    Q, K, V = rng.standard_normal((2, d)), rng.standard_normal((2, d)), np.array([[1.0, 0.3], [-0.2, 0.8]])
    neurons, data_x, data_y = rng.standard_normal((n, d + 1)), rng.standard_normal((m, d)), rng.standard_normal(m)
    grid = Grid((-3.0, -2.0), (3.0, 2.0), (30, 20))
    rho = np.exp(-2.0 * (grid.centers() ** 2).sum(-1))   # standard deviation 1/2: no mass at the walls
    points = rng.uniform(-2.5, 2.5, (m, d))
    many = rng.uniform(-2.5, 2.5, (4 * m, d))
    line = Grid((-3.0,), (3.0,), (200,))
    r0, r1 = np.exp(-line.centers()[..., 0] ** 2), np.exp(-(line.centers()[..., 0] - 1.0) ** 2 / 0.5)
    z = rng.uniform(-2.0, 2.5, (2000, 1))
    box = Grid((-2.0, -1.5), (2.0, 1.5), (16, 12))    # 2D, unequal cell counts and spacings
    b0 = np.exp(-2.0 * ((box.centers() - [0.3, 0.0]) ** 2).sum(-1))
    b1 = np.exp(-3.0 * ((box.centers() + [0.4, -0.2]) ** 2).sum(-1))
    zb = rng.uniform(-1.5, 1.5, (1500, 2))
    setups = [
        Chunked("lagrangian.softmax_attention", 0.5,
                lambda c: lambda: lagrangian.softmax_attention(queries, x, Q, K, V, chunk_bytes=c)),
        Chunked("lagrangian.gaussian_kde", 1.0, lambda c: lambda: lagrangian.gaussian_kde(x, queries, chunk_bytes=c)),
        Chunked("lagrangian.flow_matching_field_from_samples", 1.0,
                lambda c: lambda: lagrangian.flow_matching_field_from_samples(x, x[::-1] + 1.0, chunk_bytes=c)(
                    0.4, queries)),
        *[Chunked(f"lagrangian.network_field (activation {a!r})", 1.0,
                  lambda c, a=a: lambda: lagrangian.network_field(data_x, data_y, activation=a, chunk_bytes=c)(
                      0.0, neurons)) for a in ACTIVATIONS],
        Chunked("eulerian.attention_velocity (method 'exact', 2D)", 1.0,
                lambda c: lambda: eulerian.attention_velocity(Q, K, V, chunk_bytes=c, method="exact")(
                    0.0, grid, rho, points)),
        Chunked("eulerian.attention_velocity (method 'exact', 1D)", 1.0,   # the estimate is tightest in 1D
                lambda c: lambda: eulerian.attention_velocity(Q[:, :1], K[:, :1], np.eye(1), chunk_bytes=c,
                                                              method="exact")(0.0, line, r0, points[:, :1])),
        # fixed moderate logits and 20 000 points: few Chebyshev nodes and enough rows per node, so the velocity
        # is interpolated (random Q, K or 5 000 points fall back to the exact sums)
        Chunked("eulerian.attention_velocity (method 'interpolated', 2D, 20 000 points)", 1.0,
                lambda c: lambda: eulerian.attention_velocity(SMOOTH_Q, SMOOTH_K, V, chunk_bytes=c,
                                                              method="interpolated", wall_mass=None)(
                    0.0, grid, rho, many)),
        Chunked("eulerian.network_velocity", 1.0,
                lambda c: lambda: eulerian.network_velocity(data_x[:n, 0], data_y[:n], chunk_bytes=c)(
                    0.0, grid, rho, points)),
        Chunked("eulerian.flow_matching_grid_field (1D)", 1.0,
                lambda c: lambda: eulerian.flow_matching_grid_field(line, r0, r1, chunk_bytes=c)(0.4, z)),
        Chunked("eulerian.flow_matching_grid_field (2D, 16 x 12 cells)", 1.0,
                lambda c: lambda: eulerian.flow_matching_grid_field(box, b0, b1, chunk_bytes=c)(0.7, zb)),
    ]
    return setups


def chunk_checks(setup: Chunked) -> list[Check]:
    """The slope of the peak memory against the budget, and the chunked values against the unchunked ones."""
    setup.make(UNCHUNKED)()   # caches and lazy imports first: they are not the chunks' memory
    (_, low), (value, high) = (peak_memory(setup.make(c)) for c in (C1, C2))
    whole, _ = peak_memory(setup.make(UNCHUNKED))
    slope = (high - low) / (C2 - C1)
    a, b = np.asarray(lagrangian.to_numpy(value)), np.asarray(lagrangian.to_numpy(whole))
    diff = float(np.abs(a - b).max() / np.abs(b).max())
    return [
        make_check(f"{setup.label}: peak memory per byte of chunk_bytes (slope between {C1 >> 10} and "
                   f"{C2 >> 10} KiB)", slope, lower=0.5 * setup.alpha, upper=setup.alpha * (1 + CHUNK_SLACK),
                   reference=setup.alpha,
                   detail=f"peaks {low / 2**20:.3f} and {high / 2**20:.3f} MiB; stated {setup.alpha:g} x chunk_bytes"),
        make_check(f"{setup.label}: chunked ({C1 >> 10} KiB) vs unchunked values, relative", diff,
                   upper=CHUNK_VALUES_TOL, reference=0.0),
    ]


@case("chunk-memory", title="Chunked evaluations: the peak memory grows with chunk_bytes as each function states, "
      "and chunking leaves the values unchanged", tags=("memory", "lagrangian", "eulerian"))
def chunk_memory(ctx: CaseContext) -> None:
    for setup in chunked_setups(ctx.rng("data")):
        ctx.add_all(chunk_checks(setup))
