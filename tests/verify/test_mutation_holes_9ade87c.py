"""Negative tests for the report holes found by the mutation sample at 9ade87c (seed 20261221): each check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

import pytest

from tests.verify.mutants import catalog_catches, mutated


def test_end_prox_stationarity_flags_a_power_read_as_a_product(monkeypatch):
    """C = a c m rhobar^(m-1) / (m-1) written with rhobar (m-1): the same number at m = 2, the report's only m."""
    from verify.cases.porous_medium import check_end_prox_stationarity

    assert check_end_prox_stationarity().passed
    mutant = mutated(monkeypatch, "eulerian.jko", "rhobar ** (g.m - 1.0) / (g.m - 1.0)",
                     "rhobar * (g.m - 1.0) / (g.m - 1.0)")
    assert not check_end_prox_stationarity(prox=mutant._end_prox).passed


@pytest.mark.parametrize("label, name, module, old, new, fn", [
    # order = 1 (one Gauss-Hermite node: exact for affine f) refused
    ("gaussian.expectation", "order", "verify.gaussian", "if not 1 <= order <= 100:", "if not 2 <= order <= 100:",
     "expectation"),
    # the largest bandwidth factor, sqrt of float64's largest number, refused
    ("lagrangian.gaussian_kde", "bandwidth", "lagrangian.deposit", "if not low <= c <= high:",
     "if not low <= c < high:", "gaussian_kde"),
])
def test_the_catalog_holds_ranges_to_their_ends(monkeypatch, label, name, module, old, new, fn):
    """A range check tightened at one end passed: no catalog entry called the function at that end."""
    assert catalog_catches(monkeypatch, label, name, module, old, new, fn)
