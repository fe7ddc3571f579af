"""Every floating-point suppression of the library (an ``np.errstate(over="ignore")`` keyword, or divide, under,
invalid) is either needed, so that some input of the bad-input catalog makes its block raise that flag, or listed
here with the reason it is not reached.

A suppression no input reaches is a mutant that cannot die: dropping the keyword (or setting it to None, which
keeps NumPy's "warn") changes nothing the catalog can see. Mutation samples found 65 such mutants, classified one
by one (equivalent where the operation cannot raise the flag, a hole where an input could and none did).
tests/errstate_sites.py lists the keywords from the source and records which catch a flag while the catalog runs
(one run shared with the guard and boundary tests); test_no_new_silent_suppression fails on a silent keyword not
listed below, and on a listed one that is now reached. Of the 42 found silent, 30 are now reached (29 by new
Troubles of the catalog), 7 were dead and are gone, and the 5 below remain; reaching them found sliced_w2 letting
NumPy's overflow warning escape and solve_continuity's CFLError advising "steps >= nan".
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.errstate_sites import errstate_sites, silent, suppressions

FIPY = "FiPy's own arithmetic: which flags its solvers raise on extreme densities is FiPy's; the results are checked"
BLAS = ("a BLAS dot product: the inputs tried that overflow it with both signs gave no invalid flag (a fused "
        "multiply-add adds the exact product to the partial sum); kept for BLAS builds that sum otherwise")
# (file, function, category): (how many such keywords of that function stay silent, why)
SILENT = {
    ("eulerian/fipy_backend.py", "fokker_planck_fipy", "divide"): (1, FIPY),
    ("eulerian/fipy_backend.py", "continuity_fipy", "divide"): (1, FIPY),
    ("eulerian/fipy_backend.py", "continuity_fipy", "invalid"): (1, FIPY),
    ("lagrangian/deposit.py", "gaussian_kde", "invalid"): (1, "whitening the points, p L^-T: " + BLAS),
    ("verify/gaussian.py", "expectation", "invalid"): (1, "the quadrature sum of f's values: " + BLAS),
}


@pytest.fixture
def catalog_caught(catalog_probes) -> set:
    """The one catalog run's record (tests/verify/conftest.py)."""
    return catalog_probes.caught


def test_no_new_silent_suppression(catalog_caught):
    sites = errstate_sites()
    assert len(sites) >= 80, "the suppression list lost its sites (tests/errstate_sites.py)"
    now = Counter((s.file, s.function, s.category) for s in silent(sites, catalog_caught))
    listed = Counter({k: n for k, (n, _) in SILENT.items()})
    assert not now - listed, "np.errstate keywords no catalog input makes catch a flag (reach them with a Trouble, " \
        "or remove them where the block cannot raise that flag):\n" + "\n".join(map(str, now - listed))
    assert not listed - now, "listed as silent but now reached (lower the count):\n" + \
        "\n".join(map(str, listed - now))


def test_the_spy_records_the_innermost_block_that_ignores_the_flag(tmp_path, monkeypatch):
    import importlib
    import sys
    import warnings

    import numpy as np

    path = tmp_path / "errstate_demo.py"
    path.write_text("import numpy as np\n"
                    "def f(x):\n"
                    "    with np.errstate(over='ignore', invalid='ignore'):\n"
                    "        with np.errstate(divide='ignore'):\n"
                    "            y = x * 1e308\n"
                    "            z = 1.0 / (x - x)\n"
                    "    return y, z\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("errstate_demo", None)
    module = importlib.import_module("errstate_demo")
    sites = errstate_sites([path])
    assert [(s.line, s.category) for s in sites] == [(3, "over"), (3, "invalid"), (4, "divide")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the spy must keep the blocks silent
        with suppressions([path]) as caught:
            y, z = module.f(np.array([10.0]))
    assert y[0] == np.inf and z[0] == np.inf
    assert [(s.line, s.category) for s in silent(sites, caught)] == [(3, "invalid")]
    assert np.errstate is not None and np.errstate.__name__ == "errstate", "numpy.errstate was not restored"
