"""verify.pytest_plugin in users' test suites: pytester sub-sessions load it through the pytest11 entry point,
and its assertions pass on correct schemes and fail, with the convergence table, on wrong ones."""
from __future__ import annotations

import re

import numpy as np
import numpy.fft  # noqa: F401
import pytest

# In-process sub-sessions restore sys.modules afterwards: everything a sub-session imports must already be
# imported here, or an extension module (numpy.fft, ...) would be loaded a second time in the next run.
import verify.adapters  # noqa: F401
import verify.baseline  # noqa: F401
import verify.checks  # noqa: F401
import verify.studies  # noqa: F401
from verify.pytest_plugin import _node_seed, assert_samples_match

pytest_plugins = ["pytester"]

ARGS = ("-p", "no:cacheprovider", "-q")


def run(pytester, source, *args):
    pytester.makepyfile(test_user=source)
    return pytester.runpytest(*ARGS, *args)


def section(out, test):
    """The failure report of one test in a sub-session's output (between its ____ header and the next)."""
    m = re.search(rf"_+ {test} _+\n(.*?)(?=\n_{{3,}} |\n=+ short test summary|\Z)", out, re.S)
    assert m, f"no failure section for {test}"
    return m.group(1)


def test_assert_converges_passes_for_twinflows_solver_and_inconclusive_is_not_a_pass(pytester):
    result = run(pytester, """
        from verify.adapters import FokkerPlanckSolver
        from verify.convergence import ConvergenceStudy
        from verify.pytest_plugin import assert_converges

        def test_bdf2_is_second_order():
            study = assert_converges(FokkerPlanckSolver(), "ou-1d", order=2, levels=[32, 64, 128, 256])
            assert isinstance(study, ConvergenceStudy) and abs(study.fit.order - 2) < 0.05

        def test_through_the_fixture(twinflow):
            twinflow.assert_converges(FokkerPlanckSolver(), twinflow.get_problem("ou-1d"), 2,
                                      levels=[32, 64, 128, 256])

        def test_coarse():   # three pre-asymptotic levels, one degree of freedom: inconclusive
            assert_converges(FokkerPlanckSolver(), "ou-1d", order=2, levels=[8, 16, 32])
        """)
    result.assert_outcomes(passed=2, failed=1)
    coarse = section(result.stdout.str(), "test_coarse")
    assert "twinflow: INCONCLUSIVE" in coarse and "add finer levels" in coarse


def test_assert_converges_fails_with_the_table_for_a_wrong_claim(pytester):
    """Implicit Euler (first order in time) claimed as second order: from 256 cells on, dt = h/2 makes the
    time error dominate and the fitted order is 1.00 (see test_convergence.py)."""
    result = run(pytester, """
        from verify.adapters import FokkerPlanckSolver
        from verify.pytest_plugin import assert_converges

        def test_claims_two():
            assert_converges(FokkerPlanckSolver(time="implicit-euler"), "ou-1d", order=2,
                             levels=[256, 512, 1024, 2048, 4096])
        """)
    result.assert_outcomes(failed=1)
    out = section(result.stdout.str(), "test_claims_two")
    assert "AssertionError: twinflow: FAIL" in out
    assert re.search(r"level\s+cells\s+steps\s+h\s+error\s+order", out)   # the convergence table
    assert "fitted order 1.0" in out and "FAIL: measured order" in out and "claimed 2" in out


def test_assert_weak_order_passes_for_euler_maruyama(pytester):
    """n = 20 000 × 16 replicates on ou-sde-1d (steps 1, 2, 4, 8), band 0.25: a pass for seeds 0-5."""
    result = run(pytester, """
        from verify.adapters import SDESampler
        from verify.convergence import WeakOrderStudy
        from verify.pytest_plugin import assert_weak_order

        def test_em(twinflow):
            study = twinflow.assert_weak_order(SDESampler("euler-maruyama"), "ou-sde-1d", order=1,
                                               levels=[1, 2, 4, 8], n=20_000, replicates=16, band=0.25)
            assert isinstance(study, WeakOrderStudy) and study.n == 20_000 and study.seed == 0

        def test_tiny_budget_fails_the_assertion():
            try:
                assert_weak_order(SDESampler("euler-maruyama"), "ou-sde-1d", order=1, levels=[1, 2, 4, 8],
                                  n=500, replicates=4, band=0.25)
            except AssertionError as exc:
                assert "INCONCLUSIVE" in str(exc) and "add samples or replicates" in str(exc)
            else:
                raise AssertionError("an inconclusive weak study must not pass")
        """)
    result.assert_outcomes(passed=2)


def test_assert_samples_match(pytester):
    """Exact draws pass (false alarm 1e-4 per check, fixed seed). With 5e4 draws, a standard deviation 1.1×
    too large makes the variances 21 % too large, ≈ 0.21 / sqrt(2 / 5e4) ≈ 33 standard errors: caught."""
    result = run(pytester, """
        import numpy as np
        from verify.gaussian import Gaussian
        from verify.pytest_plugin import assert_samples_match

        LAW = Gaussian([1.0, -0.5], [[0.5, 0.1], [0.1, 0.3]])

        def test_exact_draws():
            checks = assert_samples_match(LAW.sample(50_000, np.random.default_rng(1)), LAW)
            assert checks and all(c.passed for c in checks)

        def test_wrong_variance():
            x = LAW.sample(50_000, np.random.default_rng(2))
            assert_samples_match(LAW.mean + 1.1 * (x - LAW.mean), LAW, name="my sampler")
        """)
    result.assert_outcomes(passed=1, failed=1)
    out = section(result.stdout.str(), "test_wrong_variance")
    assert "twinflow: samples do not match the law" in out and "my sampler" in out


def test_fixtures_exist_and_rng_is_reproducible_per_test_id(pytester):
    source = """
        import numpy as np

        def test_loaded(request):   # registered through the pytest11 entry point, not by this file
            plugin = request.config.pluginmanager.get_plugin("twinflow")
            assert plugin is not None and plugin.__name__ == "verify.pytest_plugin"

        def test_a(twinflow_rng, twinflow):
            assert isinstance(twinflow_rng, np.random.Generator)
            assert callable(twinflow.assert_converges) and callable(twinflow.assert_weak_order)
            assert callable(twinflow.assert_samples_match) and twinflow.get_problem("ou-1d").dim == 1
            # the fixture's rng and twinflow.rng share the node-id seed
            assert twinflow.rng.random() == np.random.default_rng(twinflow.seed).random()
            print("DRAW-A", twinflow_rng.random(), twinflow.seed)

        def test_b(twinflow_rng):
            print("DRAW-B", twinflow_rng.random())
        """

    def draws(result):
        return dict(re.findall(r"(DRAW-[AB]) ([^\n]+)", result.stdout.str()))

    first = run(pytester, source, "-s")
    first.assert_outcomes(passed=3)
    # the second run in a fresh interpreter: the plugin loads from the entry point there too, and the streams do
    # not depend on the process (no hash randomisation in the seed)
    second = pytester.runpytest_subprocess(*ARGS, "-s")
    second.assert_outcomes(passed=3)
    a, b = draws(first), draws(second)
    assert a == b and set(a) == {"DRAW-A", "DRAW-B"}
    assert a["DRAW-A"].split()[0] != a["DRAW-B"]                 # distinct streams per test
    seed = int(a["DRAW-A"].split()[1])
    assert seed == _node_seed("test_user.py::test_a")
    assert float(a["DRAW-A"].split()[0]) == np.random.default_rng(seed).random()


def test_fixtures_in_this_session(twinflow, twinflow_rng, request):
    """The plugin is active in twinflow's own test session too."""
    assert twinflow.seed == _node_seed(request.node.nodeid)
    assert twinflow_rng.random() == np.random.default_rng(twinflow.seed).random()


def test_assert_samples_match_directly():
    from verify.gaussian import Gaussian

    law = Gaussian([0.0], [[2.0]])
    x = law.sample(20_000, np.random.default_rng(3))
    assert_samples_match(x, law)
    with pytest.raises(AssertionError, match="samples do not match the law"):
        assert_samples_match(x + 0.2, law)   # mean shifted by 0.2 ≈ 20 standard errors


def test_twinflow_baseline_option_records_and_catches_a_regression(pytester):
    """--twinflow-update-baseline writes the fixture's study checks; a later run of a worse scheme against that
    file fails with the regression named; a missing file without the update flag is a usage error."""
    test_file = """
        from verify.adapters import FokkerPlanckSolver

        def test_fp(twinflow):
            twinflow.assert_converges(FokkerPlanckSolver(time="{time}"), "ou-1d", {order}, levels=[64, 128, 256])
    """
    pytester.makepyfile(test_mine=test_file.format(time="bdf2", order=2))
    missing = pytester.runpytest(*ARGS, "--twinflow-baseline", "b.json")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*no such file; create it with --twinflow-update-baseline*"])
    pytester.runpytest(*ARGS, "--twinflow-baseline", "b.json", "--twinflow-update-baseline").assert_outcomes(
        passed=1)
    assert (pytester.path / "b.json").is_file()
    pytester.runpytest(*ARGS, "--twinflow-baseline", "b.json").assert_outcomes(passed=1)
    # implicit Euler (claimed at its own order 1) in place of BDF2: the order check no longer passes as before
    pytester.makepyfile(test_mine=test_file.format(time="implicit-euler", order=1))
    worse = pytester.runpytest(*ARGS, "--twinflow-baseline", "b.json")
    worse.assert_outcomes(failed=1)
    worse.stdout.fnmatch_lines(["*regression against the baseline b.json*", "*REGRESSION*ou-1d*"])
