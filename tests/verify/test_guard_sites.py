"""Every guard of the library's results is made to raise by the bad-input catalog (verify.bad_input), so a guard
whose message names the wrong quantity, or the wrong callable, is caught by the catalog's recorded messages.

tests/guard_sites.py lists the guards from the source: each call of a shared refusing helper (an overflow, a
memory refusal, a complex value from a user's callable) with the message's literal start. Coverage cannot tell
these calls apart, since the helper's ``raise`` runs for each of them; a mutation sample found the pushed-forward
covariance of ``Affine.push`` refused under no name at all. A new guard without a catalog entry fails
test_every_guard_raises_under_the_catalog.
"""
from __future__ import annotations

import textwrap

import pytest

from tests.guard_sites import Site, guard_sites, raised_sites, unreached
from verify import bad_input

# (file, function, message start): why no catalog entry makes that guard raise
EXEMPT = {
    ("eulerian/flow_matching_grid.py", "_evaluate", "the flow-matching quadrature of one query point ("):
        "it needs about 1.2e8 cells (1 GiB per density) before a single query row passes the memory limit; "
        "tests/eulerian/test_flow_matching_grid.py reaches it with the limit lowered",
    ("eulerian/fokker_planck.py", "solve_stationary", "source(t, x)"):
        "the same call S(0, cell centres) that check_source has just checked (a deterministic source cannot turn "
        "complex between the two)",
    ("verify/gaussian.py", "mccann", "the McCann interpolant covariance"):
        "Σ_t = T_t Σ0 T_t has the diagonal of a convex combination of the square roots of Σ0's and Σ1's diagonals "
        "(|row of T_t Σ0^(1/2)| <= (1-t) sqrt(Σ0_ii) + t sqrt(Σ1_ii)), so it cannot exceed the larger of two finite "
        "covariances",
}


def _key(site: Site) -> tuple[str, str, str]:
    return site.file, site.function, site.prefix


@pytest.fixture
def catalog_raises(catalog_probes) -> set:
    """The one catalog run's record (tests/verify/conftest.py)."""
    return catalog_probes.raised


def test_every_guard_raises_under_the_catalog(catalog_raises):
    sites = guard_sites()
    assert len(sites) >= 90, "the guard list lost its sites (tests/guard_sites.py)"
    missing = [s for s in unreached(sites, catalog_raises) if _key(s) not in EXEMPT]
    assert not missing, "guards no bad input of verify.bad_input makes raise (add a Trouble):\n" + \
        "\n".join(map(str, missing))


def test_the_exemptions_name_guards_that_exist_and_stay_unreached(catalog_raises):
    sites = {_key(s): s for s in guard_sites()}
    assert set(EXEMPT) <= set(sites), "EXEMPT names a guard that is gone"
    reached = set(sites) - {_key(s) for s in unreached(list(sites.values()), catalog_raises)}
    assert not reached & set(EXEMPT), "an exempt guard is now reached: remove its exemption"


def test_a_guard_without_its_trouble_is_listed():
    """The gaussian troubles alone, with and without those of Affine.push (two reach its covariance guard)."""
    push_cov = [s for s in guard_sites() if s.prefix == "the pushed-forward covariance"]
    assert len(push_cov) == 1
    labels = [k for k in bad_input.TROUBLES if k.startswith("gaussian.")]
    pushes = {k for k in labels if k.startswith("gaussian.Affine.push:")}
    assert len(pushes) >= 2
    for dropped, expected in ((set(), []), (pushes, push_cov)):
        with raised_sites() as raised:
            for label in labels:
                if label not in dropped:
                    bad_input.trouble_gap(label, bad_input.TROUBLES[label])
        assert unreached(push_cov, raised) == expected


def test_guard_sites_reads_literal_messages_in_nested_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(textwrap.dedent('''
        def outer(x, name):
            inner = lambda y: real_output(f"{name}(x)", y)
            def helper(z):
                return check_memory(z, f"the block of {z} bytes", "fix")
            return _finite(x, "the mean"), _finite(x, name), inner, helper
    '''))
    sites = [(s.line, s.function, s.helper, s.prefix) for s in guard_sites([source])]
    assert sorted(sites) == [(3, "outer", "real_output", ""), (5, "helper", "check_memory", "the block of "),
                             (6, "outer", "_finite", "the mean")]

