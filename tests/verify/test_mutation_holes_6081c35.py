"""Report holes found by the mutation sample at 6081c35 (seed 20261213) and the checks that now close them; each
test feeds the check the surviving mutant (in memory) and asserts that it is caught.

* ``lagrangian.fields.x_probability_flow_field__mutmut_23`` (a non-square diffusion matrix let through the shape
  test) -> bad-input-lagrangian: a (2, 3) diffusion is now among the refused values of probability_flow_field (and
  of integrate_sde and gaussian.linear_sde).
"""
import numpy as np

from tests.verify.mutants import mutated, recorded_message_changes
from verify import bad_input


def test_a_non_square_diffusion_is_refused_as_recorded(monkeypatch):
    label = "lagrangian.probability_flow_field"
    call = bad_input.CALLS[label]
    assert bad_input.gaps(call, label=label, names=["diffusion"])[1] == []
    assert not recorded_message_changes(call, label, ["diffusion"])
    mod = mutated(monkeypatch, "lagrangian.fields", "dmat.ndim > 2 or dmat.ndim == 2 and dmat.shape[0]",
                  "dmat.ndim > 2 or dmat.ndim == 3 and dmat.shape[0]")
    monkeypatch.setattr(call, "func", mod.probability_flow_field)
    (gap,) = bad_input.gaps(call, label=label, names=["diffusion"])[1]   # NumPy's broadcast error, no name
    assert "does not name 'diffusion'" in gap and "(2,3)" in gap, gap
    assert np.full((2, 3), 0.1).shape in [np.shape(v) for v in call.refuses["diffusion"]]


def test_a_hierarchy_that_stops_before_halving_a_four_cell_axis_is_caught(monkeypatch):
    """eulerian.multigrid.x_transfer_operators__mutmut_8 (no coarsening when every axis is odd or has fewer than 6
    cells: a 4-cell axis is no longer halved) -> fokker-planck-options-2d, ``odd_axis_cycle_check``."""
    from verify.cases import eulerian_cases as EC

    check = EC.odd_axis_cycle_check()
    assert check.passed and "2 levels" in check.detail, check
    mod = mutated(monkeypatch, "eulerian.multigrid", "if all(n % 2 or n // 2 < min_cells for n in shape):",
                  "if all(n % 2 or n // 3 < min_cells for n in shape):")
    check = EC.odd_axis_cycle_check(mod.MultigridSolver)
    assert not check.passed and "1 levels" in check.detail, check
