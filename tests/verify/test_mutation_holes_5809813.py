"""Report holes found by the fresh mutation sample at 5809813 (seed 20261217), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py). That the checks pass on the library itself is
asserted by the cases' runs in tests/test_option_coverage.py:

* ``benamou_brenier`` building its fine grid with walls on a periodic problem
  (eulerian.benamou_brenier.x_benamou_brenier__mutmut_351): every periodic case of bb-1d-exact moved no mass
  through the ends of [0, 1), so walls gave the same answers -> ``check_periodic_crossing``, a bump carried
  through x = 0 (W2² = 0.04 on the circle, 0.596 with walls);
* ``jko_flow`` returning grid=None (eulerian.jko.x_jko_flow__mutmut_223) -> ``check_flow_record`` compares the
  flow's grid, tau and times with the call's (jko-vs-fokker-planck);
* ``jko_step``'s memory estimate counting P - 1 time levels instead of P + 1 (eulerian.jko.x_jko_step__mutmut_139):
  every memory refusal of the catalog had so many levels that the two agreed to three digits -> a trouble with
  100 levels, whose message names 900 GiB (882 GiB with the mutant).
"""
import numpy as np

import eulerian
from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases import benamou_brenier_cases as B
from verify.cases import jko_cases as J
from verify.refusal_record import TROUBLE_MESSAGES


def test_periodic_crossing_catches_walls_on_the_circle(monkeypatch):
    good = B.check_periodic_crossing()
    assert all(c.passed for c in good), [(c.name, c.value) for c in good]
    mod = mutated(monkeypatch, "eulerian.benamou_brenier",
                  'boundary == "periodic", xp, be.fft, workers, dtype=dtype)',
                  'boundary == "XXperiodicXX", xp, be.fft, workers, dtype=dtype)')
    bad = B.check_periodic_crossing(mod.benamou_brenier)
    assert not any(c.passed for c in bad), [(c.name, c.value) for c in bad]   # W2² 0.596 instead of 0.04


def test_flow_record_catches_a_flow_without_its_grid(monkeypatch):
    grid = J._grid_1d(16)
    rho0 = grid.cell_averages(lambda x: np.exp(-((x[..., 0] - 0.3) ** 2) / 0.02))
    kw = dict(potential=J._potential_1d(J.OU), diffusion=J.OU["D"], time_steps=4, tol=1e-3)
    good = eulerian.jko_flow(grid, rho0, 0.05, 0.1, **kw)
    assert J.check_flow_record("flow", good, 2, grid=grid, tau=0.05).passed
    mod = mutated(monkeypatch, "eulerian.jko", "seconds=time.perf_counter() - start, grid=grid, newton=newton)",
                  "seconds=time.perf_counter() - start, grid=None, newton=newton)")
    bad = mod.jko_flow(grid, rho0, 0.05, 0.1, **kw)
    check = J.check_flow_record("flow", bad, 2, grid=grid, tau=0.05)
    assert not check.passed and "grid None" in check.detail, check.detail


def test_the_memory_trouble_names_the_size_of_p_plus_one_levels(monkeypatch):
    label = "eulerian.jko_step: 4096 x 4096 cells x 99 time steps, beyond the memory limit"
    trouble = bad_input.TROUBLES[label]

    def digest():
        said: list = []
        assert bad_input.trouble_gap(label, trouble, messages=said) is None
        return said[0]

    assert digest() == TROUBLE_MESSAGES[label]
    mod = mutated(monkeypatch, "eulerian.jko", "unknowns = 8.0 * (P + 1) * grid.size * (grid.dim + 1)",
                  "unknowns = 8.0 * (P - 1) * grid.size * (grid.dim + 1)")
    monkeypatch.setattr(eulerian, "jko_step", mod.jko_step)
    assert digest() != TROUBLE_MESSAGES[label]
