"""Every floating-point suppression of the library (an ``np.errstate(over="ignore")`` keyword, or divide, under,
invalid) is either needed, so that some input of the bad-input catalog makes its block raise that flag, or listed
here with the reason it is not reached.

A suppression no input reaches is a mutant that cannot die: dropping the keyword (or setting it to None, which
keeps NumPy's "warn") changes nothing the catalog can see. Mutation samples found 65 such mutants, classified one
by one (equivalent where the operation cannot raise the flag, a hole where an input could and none did).
tests/errstate_sites.py lists the keywords from the source and records which catch a flag while the catalog runs
(about 15 s); test_no_new_silent_suppression fails on a silent keyword not listed below, and on a listed one that
is now reached, so the list only shrinks.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.errstate_sites import errstate_sites, silent, suppressions
from verify import bad_input

FIPY = "FiPy's own arithmetic: which flags its solvers raise on extreme densities is FiPy's; the results are checked"
# (file, function, category): (how many such keywords of that function stay silent, why)
SILENT = {
    ("eulerian/fipy_backend.py", "fokker_planck_fipy", "divide"): (1, FIPY),
    ("eulerian/fipy_backend.py", "continuity_fipy", "divide"): (1, FIPY),
    ("eulerian/fipy_backend.py", "continuity_fipy", "invalid"): (1, FIPY),
    ("eulerian/continuity.py", "rhs", "invalid"): (1, "reachable (t_final = 5e-324, cfl = 0.1: a 0/0 in the "
                                                         "step estimate of a forced dt); no catalog trouble yet"),
    # not analysed yet: each is either dead (the operations cannot raise the flag: BLAS products, no inf - inf)
    # or reachable by an input the catalog lacks
    ("eulerian/attention.py", "attention_velocity", "invalid"): (1, "not analysed"),
    ("eulerian/flow_matching_grid.py", "_evaluate", "over"): (2, "not analysed"),
    ("eulerian/flow_matching_grid.py", "_evaluate", "invalid"): (2, "not analysed"),
    ("eulerian/jko.py", "_energy", "invalid"): (1, "not analysed"),
    ("eulerian/network_grid.py", "_residuals", "invalid"): (1, "not analysed"),
    ("eulerian/network_grid.py", "first_variation", "invalid"): (1, "not analysed"),
    ("eulerian/porous_medium.py", "_check_scale", "invalid"): (1, "not analysed"),
    ("eulerian/porous_medium.py", "_check_scale", "divide"): (1, "not analysed"),
    ("lagrangian/deposit.py", "_box", "under"): (1, "not analysed"),
    ("lagrangian/deposit.py", "gaussian_kde", "invalid"): (3, "not analysed"),
    ("lagrangian/deposit.py", "gaussian_kde", "over"): (1, "not analysed"),
    ("lagrangian/fields.py", "__call__", "over"): (1, "not analysed"),
    ("lagrangian/fields.py", "__call__", "invalid"): (1, "not analysed"),
    ("lagrangian/fields.py", "flow_matching_field_from_samples", "invalid"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "_kernel_norm", "divide"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "blob_density", "invalid"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "blob_density", "under"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "_velocity", "invalid"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "blob_energy", "invalid"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "_kernel_blocks", "invalid"): (1, "not analysed"),
    ("lagrangian/gradient_flows.py", "implicit_euler_step", "invalid"): (1, "not analysed"),
    ("lagrangian/integrators.py", "_save_indices", "invalid"): (1, "not analysed"),
    ("lagrangian/integrators.py", "_noise_factor", "invalid"): (1, "not analysed"),
    ("lagrangian/meanfield.py", "network_loss", "invalid"): (1, "not analysed"),
    ("lagrangian/transport.py", "w2_squared", "over"): (2, "not analysed"),
    ("lagrangian/transport.py", "w2_squared", "invalid"): (2, "not analysed"),
    ("lagrangian/transport.py", "sliced_w2", "invalid"): (1, "not analysed"),
    ("verify/gaussian.py", "expectation", "invalid"): (2, "not analysed"),
    ("verify/gaussian.py", "push", "invalid"): (1, "not analysed"),
}


@pytest.fixture(scope="module")
def catalog_caught() -> set:
    with suppressions() as caught:
        bad_input.current_outcomes()
        bad_input.current_trouble_messages()
    return caught


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
