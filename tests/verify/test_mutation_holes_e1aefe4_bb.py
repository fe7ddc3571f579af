"""Report holes of the e1aefe4 mutation sample in the Benamou–Brenier cases: the iteration counts a multilevel,
mixed-precision run reports in ``BBResult.extras`` must add up (bb-1d-exact)."""
import dataclasses

import pytest

from eulerian import Grid, benamou_brenier
from verify.cases import benamou_brenier_cases as BB


@pytest.fixture(scope="module")
def multilevel_run():
    r0, r1, _ = BB.periodic_cases(64)["smooth w=1"]
    return benamou_brenier(Grid((0.0,), (1.0,), (64,)), r0, r1, 64, boundary="periodic", tol=1e-6, multilevel=True)


def test_coarse_levels_follow_the_documented_floor():
    assert BB.coarse_levels((64,), 64) == 2          # 64 -> 32 -> 16 (16 cells is the floor)
    assert BB.coarse_levels((32, 32), 16) == 0       # 16 time steps cannot be halved
    assert BB.coarse_levels((64, 64), 32) == 1


def test_iteration_accounting_passes_for_the_library(multilevel_run):
    assert BB.check_iteration_accounting("right", multilevel_run, (64,), 64).passed


@pytest.mark.parametrize("extras", [
    None,                                                         # the mutant: extras dropped
    {"coarse_iterations": [150], "float32_iterations": 170},      # a level missing
    {"coarse_iterations": [150, 220], "float32_iterations": 270},  # no float64 phase counted
    {"coarse_iterations": [150, 5000], "float32_iterations": 170},  # beyond the coarse cap
    {"coarse_iterations": [150, 220], "float32_iterations": 165},  # records do not match the phases
])
def test_iteration_accounting_catches_wrong_counts(multilevel_run, extras):
    wrong = dataclasses.replace(multilevel_run, extras=extras)
    assert not BB.check_iteration_accounting("wrong", wrong, (64,), 64).passed
