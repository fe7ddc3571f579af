"""Negative tests for the boundary values the catalog holds (tests/verify/test_boundary_sites.py): each range check
with its bound moved by one (``<`` written ``<=``, or back) must be flagged by the catalog entry that calls it at
that bound, and by nothing else the entry tries (the unmutated entry has no gap)."""
from __future__ import annotations

import functools

import pytest

from tests.verify.mutants import catalog_catches
from verify import bad_input

CASES = [
    # cells of volume exactly TINY accepted
    ("eulerian.Grid", "upper", "eulerian.grid", "if not TINY <= volume < math.inf:",
     "if not TINY < volume < math.inf:", lambda m: m.Grid),
    # m = 1 refused (the heat equation is not a porous-medium equation)
    ("eulerian.solve_porous_medium", "m", "eulerian.porous_medium", "or m <= 1.0:", "or m < 1.0:",
     lambda m: m.solve_porous_medium),
    # a density with cells of exactly 0 (compact support) runs
    ("eulerian.solve_porous_medium", "rho0", "eulerian.porous_medium", "if low < 0.0:", "if low <= 0.0:",
     lambda m: m.solve_porous_medium),
    # a step cap equal to the steps runs
    ("eulerian.solve_continuity", "max_steps", "eulerian.continuity", "estimate > max_steps:",
     "estimate >= max_steps:", lambda m: m.solve_continuity),
    # the attention guard at the density's own wall fraction does not fire
    ("eulerian.attention_velocity", "wall_mass", "eulerian.attention", "if fraction > self.wall_mass:",
     "if fraction >= self.wall_mass:", lambda m: m.attention_velocity),
    ("eulerian.network_velocity", "chunk_bytes", "eulerian.network_grid", "chunk_bytes < MIN_CHUNK_BYTES:",
     "chunk_bytes <= MIN_CHUNK_BYTES:", lambda m: m.network_velocity),
    # the grid flow-matching field at t = 0 (rho0 itself)
    ("eulerian.flow_matching_grid_field(...)(t, z)", "t", "eulerian.flow_matching_grid",
     "if not 0.0 <= t <= 1.0:", "if not 0.0 < t <= 1.0:",
     lambda m: lambda t, z: m.flow_matching_grid_field(bad_input.GRID, bad_input.RHO0, bad_input.RHO1)(t, z)),
    ("lagrangian.w2_squared", "max_bytes", "lagrangian.transport", "if need > max_bytes:", "if need >= max_bytes:",
     lambda m: m.w2_squared),
    ("lagrangian.deposit", "shape", "lagrangian.deposit", "if any(s < 1 for s in entries):",
     "if any(s <= 1 for s in entries):", lambda m: m.deposit),
    ("lagrangian.gaussian_kde, narrowest kernel", "bandwidth", "lagrangian.deposit", "if not low <= c <= high:",
     "if not low < c <= high:", lambda m: m.gaussian_kde),
    ("gaussian.jko_gaussian", "max_steps", "verify.gaussian", "if steps > max_steps:", "if steps >= max_steps:",
     lambda m: m.jko_gaussian),
    # I + tau H singular (an eigenvalue of exactly 0) refused
    ("gaussian.jko_gaussian_step", "H", "verify.gaussian", "if lam[0] <= 0:\n        raise ValueError(f\"I + τH",
     "if lam[0] < 0:\n        raise ValueError(f\"I + τH", lambda m: m.jko_gaussian_step),
    ("gaussian.Gaussian.sample", "n", "verify.gaussian", "and n >= 1):", "and n > 1):",
     lambda m: functools.partial(m.Gaussian.sample, bad_input.G2)),
]


@pytest.mark.parametrize("label, name, module, old, new, make", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_the_catalog_flags_a_moved_bound(monkeypatch, label, name, module, old, new, make):
    assert catalog_catches(monkeypatch, label, name, module, old, new, make), \
        f"{module}: {new!r} passed the catalog entry {label!r}"
