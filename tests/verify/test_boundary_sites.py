"""Every range check of the library is called at its boundary by the bad-input catalog (verify.bad_input), so a
check whose bound moved by one (``steps < minimum`` written ``steps <= minimum``, ``0 < alpha < 2`` written
``0 < alpha <= 2``) is caught by the catalog.

tests/boundary_sites.py lists the order comparisons in the conditions of the library's ``if ...: raise`` and
records which are evaluated with two equal sides while the catalog runs. Such a boundary mutant changes the outcome
at one value only: two fresh mutation samples found one each (``1 <= order <= 100`` of verify.gaussian.expectation,
the bandwidth factor's upper end), after which 20 more were found by this test and held at their boundary
(``accepts``/``refuses`` of the catalog's calls). A new range check without such a call fails
test_every_range_check_is_called_at_its_boundary.
"""
from __future__ import annotations

import re
import textwrap

import pytest

from tests.boundary_sites import Site, boundary_hits, boundary_sites, unhit

# A bound scaled by a round-off tolerance (c > cfl * (1 + 1e-12), asym > _SYM_RTOL * scale) moves by a relative
# 1e-8 or less: no input tells < from <= there except one built to the last bit, and what matters (values
# within the tolerance accepted, beyond it refused) is what the catalog's accepts/refuses hold (e.g. past()).
TOLERANCE = re.compile(r"\de-\d|_RTOL")

# (file, function, comparison, operator index): why no catalog call makes its two sides equal
COMPUTED = "compares a computed quantity with its bound; equal to the last bit only by accident"
MEMORY = "the limit is a fraction of this machine's memory: no portable input needs exactly that many bytes"
STEPS = "steps = MAX_STEPS = 10^8 would run 10^8 steps"
MULTIGRID = "MultigridSolver is built by the solvers with omega None (damping per level): no public function passes it"
EXEMPT = {
    ("eulerian/_validate.py", "check_memory", "nbytes > limit", 0): MEMORY,
    ("lagrangian/backend.py", "check_memory", "nbytes > limit", 0): MEMORY,
    ("eulerian/_validate.py", "check_mass_balance", "drift > tol", 0):
        "the mass drift of a run against n * MASS_RTOL: " + COMPUTED,
    ("eulerian/attention.py", "_dense", "Z > 0", 0):
        "the softmax normaliser, a sum of exponentials with signs: " + COMPUTED,
    ("eulerian/benamou_brenier.py", "benamou_brenier", "abs(workers) > MAX_WORKERS", 0):
        "workers = 4096 would start 4096 scipy.fft threads for a catalog call of milliseconds",
    ("eulerian/diffusion.py", "coarsen", "n // 2 < m", 0):
        "runs with n // 2 == m on every call (the multigrid levels halve each axis), but only in multigrid solves "
        "with cell-valued D on grids beyond the coarse size of 256 cells, larger than a catalog call",
    ("eulerian/diffusion.py", "check_diffusion", "grid.dim > 1", 0):
        "reached only when an array is both cell values and a d x d matrix, impossible on a 1-D grid of n cells "
        "(shape (n,) against (1, 1))",
    ("eulerian/jko.py", "_check_weights", "weight <= WEIGHT_MAX", 0): "the energy's weight: " + COMPUTED,
    ("eulerian/jko.py", "_check_weights", "log_c <= math.log(WEIGHT_MAX)", 0):
        "the internal energy's weight: " + COMPUTED,
    ("eulerian/jko.py", "jko_flow", "ratio <= max_steps + 0.5", 0):
        "a half-step margin: t_final / tau is refused unless within 1e-9 of a whole number, so it never equals "
        "max_steps + 0.5",
    ("eulerian/multigrid.py", "__post_init__", "self.nu < 1", 0):
        "MultigridSolver is built by the solvers (nu = 2, omega None) and by the report's cycle checks, not by "
        "users: no public function passes nu",
    ("eulerian/multigrid.py", "__post_init__", "0.0 < float(self.omega) < 2.0", 0): MULTIGRID,
    ("eulerian/multigrid.py", "__post_init__", "0.0 < float(self.omega) < 2.0", 1): MULTIGRID,
    ("eulerian/multigrid.py", "solve", "rnorm > tol", 0): "the BiCGStab residual: " + COMPUTED,
    ("eulerian/staggered.py", "perspective_root", "gamma > 0", 0):
        "internal: Benamou-Brenier passes its gamma, refused up front unless in [1e-8, 1e8]",
    ("eulerian/staggered.py", "perspective_root", "max_newton < 2", 0):
        "internal: called with the module's fixed Newton cap",
    ("lagrangian/deposit.py", "_box", "_FLOAT.tiny <= volume <= _FLOAT.max", 0):
        "a box of cell volume exactly tiny holds no particle of the catalog's clouds (outside='raise' refuses "
        "it anyway); the same bound of eulerian.Grid is held at its end",
    ("lagrangian/deposit.py", "_box", "_FLOAT.tiny <= volume <= _FLOAT.max", 1):
        "cells of volume exactly 1.8e308 give densities below the least normal float for any weight the "
        "catalog uses",
    ("lagrangian/deposit.py", "gaussian_kde", "float(xp.max(xsq)) <= _QUARTER_MAX", 0):
        "the largest squared whitened point: " + COMPUTED,
    ("lagrangian/gradient_flows.py", "_kernel_norm", "_TINY <= eps2 < math.inf", 0):
        "epsilon = 2^-511 makes the kernel's normalisation overflow, refused by the next comparison under the "
        "same argument's name",
    ("lagrangian/gradient_flows.py", "_kernel_norm",
     "math.log(_TINY) < log_norm < math.log(np.finfo(np.float64).max)", 0):
        "the logarithm of the kernel's normalisation: " + COMPUTED,
    ("lagrangian/gradient_flows.py", "_blob_args", "mass / x.shape[0] * norm >= _TINY", 0):
        "the mass of one blob at its centre: " + COMPUTED,
    ("lagrangian/gradient_flows.py", "blob_flow", "steps > MAX_STEPS", 0): STEPS,
    ("lagrangian/integrators.py", "_check_steps", "steps > MAX_STEPS", 0): STEPS,
    ("lagrangian/integrators.py", "integrate_sde", "t1 > t0", 0):
        "t1 == t0 is refused before, by _check_span (the catalog's t1 = t0 reaches that refusal)",
    ("verify/gaussian.py", "_jko_data", "tau * D > np.finfo(float).max / 16", 0):
        "the product of two inputs: equal to max / 16 only with tau = max / (16 D), where I + tau H overflows "
        "unless H = 0",
}


def _key(site: Site) -> tuple[str, str, str, int]:
    return site.file, site.function, site.text, site.index


@pytest.fixture
def catalog_hits(catalog_probes) -> set:
    """The one catalog run's record (tests/verify/conftest.py)."""
    return catalog_probes.hits


def test_every_range_check_is_called_at_its_boundary(catalog_hits):
    sites = boundary_sites()
    assert len(sites) >= 140, "the range-check list lost its sites (tests/boundary_sites.py)"
    missing = [s for s in unhit(sites, catalog_hits) if _key(s) not in EXEMPT and not TOLERANCE.search(s.text)]
    assert not missing, ("range checks no call of verify.bad_input meets at their boundary (add the boundary "
                         "value to the call's accepts or refuses):\n" + "\n".join(map(str, missing)))


def test_the_exemptions_name_range_checks_that_exist_and_stay_unhit(catalog_hits):
    sites = {_key(s): s for s in boundary_sites()}
    assert set(EXEMPT) <= set(sites), "EXEMPT names a range check that is gone: " + \
        str(set(EXEMPT) - set(sites))
    hit = set(sites) - {_key(s) for s in unhit(list(sites.values()), catalog_hits)}
    assert not hit & set(EXEMPT), "an exempt range check is now met at its boundary: remove its exemption"
    assert not any(TOLERANCE.search(k[2]) for k in EXEMPT), "a tolerance comparison needs no exemption"


MODULE = textwrap.dedent("""
    def check(n, alpha):
        if n < 2:
            raise ValueError("n")
        if not 0.0 < alpha < 2.0:
            raise ValueError("alpha")
        if n > 10 ** 6 * (1 + 1e-12):
            raise ValueError("tolerance")
        return n < alpha   # not a range check: its body does not raise
""")


def _module(tmp_path, monkeypatch):
    import importlib
    import sys

    (tmp_path / "boundary_demo.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("boundary_demo", None)
    return importlib.import_module("boundary_demo"), tmp_path / "boundary_demo.py"


def test_the_sites_are_the_order_comparisons_of_raising_conditions(tmp_path, monkeypatch):
    _, path = _module(tmp_path, monkeypatch)
    sites = boundary_sites([path])
    assert [(s.function, s.text, s.index, s.of) for s in sites] == [
        ("check", "n < 2", 0, 1), ("check", "0.0 < alpha < 2.0", 0, 2), ("check", "0.0 < alpha < 2.0", 1, 2),
        ("check", "n > 10 ** 6 * (1 + 1e-12)", 0, 1)]
    assert TOLERANCE.search(sites[-1].text) and not any(TOLERANCE.search(s.text) for s in sites[:-1])


def test_a_call_inside_the_range_meets_no_boundary_and_the_ends_are_recorded(tmp_path, monkeypatch):
    module, path = _module(tmp_path, monkeypatch)
    sites = boundary_sites([path])
    with boundary_hits([path]) as hits:
        assert module.check(5, 1.0) is False      # the checks still decide as written
        assert not hits
        with pytest.raises(ValueError, match="alpha"):
            module.check(5, 2.0)                  # the upper end of (0, 2), refused
        module.check(2, 1.0)                      # n's end, accepted
    assert [str(s) for s in unhit(sites, hits)] == [
        f"{path}:5 check: 0.0 < alpha < 2.0 (comparison 1 of 2)", f"{path}:7 check: n > 10 ** 6 * (1 + 1e-12)"]
    assert module.check.__code__.co_names.count("__twinflow_boundary_probe__") == 0, "the code was not restored"
    with pytest.raises(ValueError, match="n"):
        module.check(1, 1.0)


def test_a_moved_bound_is_what_a_boundary_call_catches(tmp_path, monkeypatch):
    """The reason for the test above: the mutant n <= 2 agrees with n < 2 everywhere but at n = 2."""
    module, _ = _module(tmp_path, monkeypatch)
    mutant = MODULE.replace("if n < 2:", "if n <= 2:")
    namespace: dict = {}
    exec(compile(mutant, "mutant", "exec"), namespace)
    for n in (1, 3, 4, 100):
        outcomes = []
        for check in (module.check, namespace["check"]):
            try:
                outcomes.append(check(n, 1.0))
            except ValueError:
                outcomes.append("refused")
        assert outcomes[0] == outcomes[1]
    module.check(2, 1.0)
    with pytest.raises(ValueError):
        namespace["check"](2, 1.0)
