"""Report holes found by the fresh mutation sample at 2625c5e (seed 20261215), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py). That the checks pass on the library itself is
asserted by the cases' runs in tests/test_option_coverage.py, the bad-input cases' included:

* the noise floor of linear_network's settling test divided by |S q| + |r| instead of multiplied ->
  linear-network-closed-form, ``check_network_settled(..., scale=1e-6)``;
* ``WallTerms`` stopping at the first wall that is neither Dirichlet nor Flux (``break`` for ``continue``) ->
  walls-and-diffusion-2d, the option WALL_ORDER_OPTION (zero flux in x, then Flux and Dirichlet walls in y) against
  FiPy;
* ``_brenier_matrix`` without its shortcut for identical covariances -> pot-gaussian, ``check_identical_gaussians``
  with EXTREME_COVARIANCES (the Brenier map of a law to itself exactly the identity);
* the primal-dual's float64 phase of dtype="mixed" resuming with the float32 dual -> bb-gaussian-1d,
  ``check_mixed_stationarity``;
* the wording of the NumericalError when the network output overflows (message-only, no catalog entry reached it)
  -> a new trouble of the bad-input catalog, whose message digest the bad-input cases compare with the record.
"""
from __future__ import annotations

from tests.verify.mutants import mutated
from verify import gaussian as G
from verify.cases import moment_laws as ML


def test_settled_check_on_scaled_data_passes_and_catches_an_absolute_noise_floor(monkeypatch):
    """With S, r and E[y²] scaled by 1e-6 the flow is the same, 1e6 times slower; a noise floor 1e-12 / (|S q| + |r|)
    stops it while its risk is 2.5e-8 above the optimum (the band: 1e-12 times the optimum's scale). At scale 1 the
    mutant and the original agree."""
    mod = mutated(monkeypatch, "verify.gaussian", "noise = _SETTLED_NOISE * (float(", "noise = _SETTLED_NOISE / (float(")
    monkeypatch.setattr(G, "_settled_event", mod._settled_event)
    assert ML.check_network_settled("unscaled").passed
    check = ML.check_network_settled("scaled", scale=1e-6)
    assert not check.passed and check.value > 1e-9, check.value


def test_the_network_output_overflow_is_a_recorded_trouble(monkeypatch):
    """The NumericalError of NetworkVelocity._residuals (the output ∫ a σ(w u) dμ overflowed), a message no catalog
    entry reached: the bad-input cases now raise it and compare its wording with the record."""
    import sys

    from verify import bad_input
    from verify.refusal_record import TROUBLE_MESSAGES

    label = next(k for k in bad_input.TROUBLES if "network output" in k)

    def digest():
        said: list = []
        assert bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said) is None
        return bad_input.trouble_message_changes({label: said[0]}, TROUBLE_MESSAGES)

    module = sys.modules["eulerian.network_grid"]
    mod = mutated(monkeypatch, "eulerian.network_grid", 'raise NumericalError("the network output int',
                  'raise NumericalError("XXthe network output int')
    monkeypatch.setattr(module.NetworkVelocity, "_residuals", mod.NetworkVelocity._residuals)
    assert digest() == [f"{label}: the error message changed"]


def test_open_walls_after_a_zero_flux_wall_are_applied(monkeypatch):
    """The walls of a box are visited in the order x lower, x upper, y lower, y upper; with zero flux in x first, a
    WallTerms that stops at the first wall it does not handle drops the Flux and Dirichlet walls in y. The
    array run then fails its own mass balance against the walls' flux, and the check against FiPy fails (right:
    4e-10)."""
    import sys

    import pytest

    pytest.importorskip("fipy")
    from eulerian import Grid
    from verify.cases import boundaries as BD

    g = Grid(*BD.BOX, (20, 12))
    kw = BD.diffusion_options(g)[BD.WALL_ORDER_OPTION]
    module = sys.modules["eulerian.operators"]
    mod = mutated(monkeypatch, "eulerian.operators", "                if not isinstance(cond, (Dirichlet, Flux)):\n"
                  "                    continue",
                  "                if not isinstance(cond, (Dirichlet, Flux)):\n                    break")
    monkeypatch.setattr(module.WallTerms, "__init__", mod.WallTerms.__init__)
    bad = BD.fipy_option_checks(g, BD.WALL_ORDER_OPTION, kw, "implicit-euler")
    assert not bad[0].passed, [(c.name, c.value) for c in bad]


def test_identical_gaussians_check_catches_the_bures_formula_on_identical_laws(monkeypatch):
    """Without the shortcut, the Brenier map of a law with correlation 0.999999 to itself is 8e-6 from the identity
    (the square roots of a near-singular matrix); the check wants exactly 0."""
    import numpy as np

    from verify.cases import optimal_transport as OT

    mod = mutated(monkeypatch, "verify.gaussian", "    if np.array_equal(s0, s1):\n        return np.eye(s0.shape[0])",
                  "    if np.array_equal(None, s1):\n        return np.eye(s0.shape[0])")
    monkeypatch.setattr(G, "_brenier_matrix", mod._brenier_matrix)
    check = OT.check_identical_gaussians(np.random.default_rng(1))
    assert not check.passed and check.value > 1e-6 and "extreme" in check.detail, (check.value, check.detail)


def test_mixed_stationarity_check_catches_a_dual_left_in_float32(monkeypatch):
    from verify.cases import benamou_brenier_cases as B

    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "W = [xp.asarray(w, dtype=sg.dtype) for w in resume[1]]",
                  "W = [xp.asarray(w) for w in resume[1]]")
    check = B.check_mixed_stationarity(mod.benamou_brenier)
    assert not check.passed and check.value == float("inf"), check.detail   # stalls at 3.2e-7
