"""`twinflow study`, `problems`, `run --seed`, `report --seed` and `--version` through verify.cli.main: exit
statuses 0/1/2/3, reports and plots on disk, user solver modules, and one clear line for every usage error."""
from __future__ import annotations

import json
import sys
import textwrap
import time

import pytest

import verify
from verify.cli import main
from verify.harness import case_seed
from verify.problems import list_problems

CASE = "brenier-pushforward"   # a quick case that draws random instances: its checks depend on the seed
OU_LEVELS = "32,64,128,256"    # SG + BDF2 on ou-1d: pairwise orders 1.99, 1.99, 2.00 → PASS at 2 ± 0.2

GOOD = """
from verify.adapters import FokkerPlanckSolver

_fp = FokkerPlanckSolver()


def solve(problem, grid, steps):
    return _fp(problem, grid, steps).to_numpy()


solve.order = 2
"""

FIRST_ORDER = """
from verify.adapters import FokkerPlanckSolver

_fp = FokkerPlanckSolver(time="implicit-euler")


def solve(problem, grid, steps):
    return _fp(problem, grid, steps)


solve.order = 2   # claimed, but implicit Euler is first order in time
"""


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_usage_error(code, err, match):
    """Exit 2, exactly one line on stderr starting with 'twinflow:', no traceback."""
    assert code == 2, err
    assert err.startswith("twinflow: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write modules into tmp_path (the current directory); sys.path and sys.modules are restored after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    written = []

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


# ------------------------------------------------------------------------------------------ problems, version
def test_problems_lists_every_builtin(capsys):
    code, out, _ = run_cli(["problems"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list_problems()
    assert "fokker-planck" in out and "levels 64,128,256,512,1024" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"twinflow {verify.__version__}"


def test_study_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["study", "--help"])
    assert exc.value.code == 0 and "--solver" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ study: built-in solver
def test_study_default_solver_passes(capsys):
    code, out, err = run_cli(["study", "ou-1d", "--levels", OU_LEVELS], capsys)
    assert code == 0, err
    assert "PASS: measured order" in out and "scharfetter-gummel + bdf2" in out and "256" in out


def test_study_json(capsys):
    code, out, _ = run_cli(["study", "ou-1d", "--levels", OU_LEVELS, "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["status"] == "pass" and data["expected_order"] == 2
    assert data["settings"]["levels"] == [32, 64, 128, 256] and data["settings"]["seed"] == 0
    assert data["study"]["kind"] == "convergence" and len(data["study"]["levels"]) == 4
    assert data["result"]["checks"][0]["status"] == "pass"


def test_study_claimed_order_from_the_command_line(capsys):
    code, out, _ = run_cli(["study", "ou-1d", "--levels", OU_LEVELS, "--expected-order", "1"], capsys)
    assert code == 1 and "FAIL" in out
    code, out, _ = run_cli(["study", "ou-1d", "--levels", OU_LEVELS, "--expected-order", "1", "--band",
                            "0.2,inf"], capsys)
    assert code == 0 and "≥ 0.8" in out


def test_study_out_writes_the_report_and_plots_and_keeps_other_files(tmp_path, capsys):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    code, out, err = run_cli(["study", "ou-1d", "--levels", OU_LEVELS, "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["convergence.png", "index.html", "notes.txt",
                                                          "report.json", "report.md", "work-precision.png"]
    assert keep.read_text() == "mine"
    for png in ("convergence.png", "work-precision.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["status"] == "pass" and report["cases"][0]["case"] == "study-ou-1d"
    assert "study-ou-1d" in (tmp_path / "report.md").read_text()
    assert "report:" in out and "convergence.png" in out


def test_study_out_creates_a_missing_directory(tmp_path, capsys):
    target = tmp_path / "new" / "reports"
    code, _, err = run_cli(["study", "affine-ode-2d", "--levels", "8,16,32", "--particles", "50", "--out",
                            str(target)], capsys)
    assert code == 0, err
    assert {"index.html", "report.json", "convergence.png", "work-precision.png"} <= {p.name for p in target.iterdir()}


def test_study_out_on_a_file_exits_before_running(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    start = time.perf_counter()
    # ou-2d's default levels go to 256² cells: the study itself would take many seconds
    code, out, err = run_cli(["study", "ou-2d", "--out", str(f)], capsys)
    assert_usage_error(code, err, "exists and is not a directory")
    assert out == "" and f.read_text() == "x"
    assert time.perf_counter() - start < 1.0


def test_study_on_an_sde_problem_with_a_tiny_budget_is_inconclusive(capsys):
    code, out, _ = run_cli(["study", "ou-sde-1d", "--samples", "300", "--replicates", "3", "--levels", "1,2,4,8",
                            "--json"], capsys)
    data = json.loads(out)
    assert code == 3 and data["status"] == "inconclusive" and data["settings"]["samples"] == 300
    assert data["study"]["kind"] == "weak-order"


# ------------------------------------------------------------------------------------------ study: user solvers

def test_study_json_with_a_one_sided_band_is_standard_json(capsys):
    code, out, _ = run_cli(["study", "ou-1d", "--levels", OU_LEVELS, "--band", "0.2,inf", "--json"], capsys)
    assert code == 0

    def reject(token):
        raise ValueError(f"not JSON: {token}")

    json.loads(out, parse_constant=reject)



def test_time_study_settings_record_the_levels_that_were_run(capsys):
    code, out, _ = run_cli(["study", "mms-fokker-planck-2d", "--refine", "time", "--cells", "8", "--levels",
                            "4,8,16,32", "--expected-order", "2", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["settings"]["levels"] == [4, 8, 16, 32]


def test_user_solver_that_passes(user_module, capsys):
    mod = user_module("good_solver", GOOD)
    code, out, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", OU_LEVELS], capsys)
    assert code == 0, err
    assert "good_solver:solve" in out and "PASS" in out and "claimed 2" in out


def test_user_solver_that_fails(user_module, capsys):
    """Implicit Euler claimed as second order; from 256 cells on its first-order time error dominates."""
    mod = user_module("first_order_solver", FIRST_ORDER)
    code, out, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", "256,512,1024,2048,4096"],
                             capsys)
    assert code == 1, err
    assert "FAIL: measured order 1.0" in out
    code, out, _ = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", "256,512,1024,2048,4096",
                            "--expected-order", "1"], capsys)
    assert code == 0 and "PASS" in out


def test_user_solver_that_is_inconclusive(user_module, capsys):
    """A correct second-order solver on three coarse levels (8-32 cells: pairwise orders 1.58, 1.75, one
    degree of freedom): the interval [1.05, 2.29] can neither pass nor fail."""
    mod = user_module("coarse_solver", GOOD)
    code, out, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", "8,16,32"], capsys)
    assert code == 3, err
    assert "INCONCLUSIVE" in out and "add finer levels" in out


def test_user_solver_without_a_declared_order_needs_expected_order(user_module, capsys):
    mod = user_module("plain_solver", GOOD.replace("solve.order = 2", ""))
    code, _, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", OU_LEVELS], capsys)
    assert_usage_error(code, err, "give the expected order (--expected-order")
    code, out, _ = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", OU_LEVELS,
                            "--expected-order", "2"], capsys)
    assert code == 0 and "PASS" in out


def test_solver_module_that_raises_at_import(user_module, capsys):
    mod = user_module("broken_solver", "raise RuntimeError('cannot find my data file')\n")
    code, _, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve"], capsys)
    assert_usage_error(code, err, "raised RuntimeError: cannot find my data file")
    assert "importing 'broken_solver' (" in err and "broken_solver.py) " in err


def test_solver_module_importing_a_missing_dependency(user_module, capsys):
    mod = user_module("needs_dep", "import twinflow_missing_dependency_xyz\n")
    code, _, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve"], capsys)
    assert_usage_error(code, err, "raised ModuleNotFoundError: No module named 'twinflow_missing_dependency_xyz'")


@pytest.mark.parametrize("spec, match", [
    ("nomodule_xyz:f", "no module named 'nomodule_xyz' in the current directory"),
    ("bad spec", "expected module:function, e.g. mymod:solve"),
    ("os:path", "'path' is a module, not a function"),
])
def test_solver_spec_errors(spec, match, user_module, capsys):
    code, _, err = run_cli(["study", "ou-1d", "--solver", spec, "--levels", OU_LEVELS], capsys)
    assert_usage_error(code, err, match)



def test_solver_given_as_a_file_name_names_the_fix(user_module, capsys):
    mod = user_module("mymod_file", GOOD)
    code, _, err = run_cli(["study", "ou-1d", "--solver", f"{mod}.py:solve", "--levels", OU_LEVELS], capsys)
    assert_usage_error(code, err, f"{mod}:solve")


def test_solver_missing_attribute(user_module, capsys):
    mod = user_module("has_no_solve", GOOD)
    code, _, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:missing"], capsys)
    assert_usage_error(code, err, "module 'has_no_solve' has no attribute 'missing'")


def test_os_system_as_solver_is_rejected_by_the_signature_check(user_module, monkeypatch, capsys):
    """`os:system` imports os (harmless) but system(command) cannot be called as solve(problem, grid, steps):
    the signature is checked before the first call, so nothing runs."""
    code, out, err = run_cli(["study", "ou-1d", "--solver", "os:system", "--levels", OU_LEVELS], capsys)
    assert_usage_error(code, err, "give the expected order")   # os.system declares no order: stops here
    assert out == ""
    args = ["study", "ou-1d", "--solver", "os:system", "--levels", OU_LEVELS, "--expected-order", "2"]
    code, out, err = run_cli(args, capsys)
    assert_usage_error(code, err, "system cannot be called as solve(problem, grid, steps): too many positional")
    assert out == ""
    calls = []

    def system(command):   # same signature as os.system; records instead of executing
        calls.append(command)
        return 0

    monkeypatch.setattr("os.system", system)
    code, _, err = run_cli(args, capsys)
    assert_usage_error(code, err, "cannot be called as solve(problem, grid, steps)")
    assert calls == []


@pytest.mark.parametrize("index, body, match", [
    (0, "def solve(problem, grid):\n    return None\n", "cannot be called as solve(problem, grid, steps)"),
    (1, "import numpy as np\ndef solve(problem, grid, steps):\n    return np.ones(7)\n",
     "the solver's output is unusable: the solver returned a density of shape (7,)"),
    (2, "import numpy as np\ndef solve(problem, grid, steps):\n    return np.full(grid.shape, np.nan)\n",
     "the solver's output is unusable: the solver's density at level 0 (32 cells, 16 steps) has 32 NaN"),
])
def test_bad_user_solvers_exit_two(index, body, match, user_module, capsys):
    mod = user_module(f"bad_solver_{index}", body + "solve.order = 2\n")
    code, out, err = run_cli(["study", "ou-1d", "--solver", f"{mod}:solve", "--levels", OU_LEVELS], capsys)
    assert_usage_error(code, err, match)
    assert out == ""


# ------------------------------------------------------------------------------------------ study: usage errors
@pytest.mark.parametrize("args, match", [
    (["--levels", "16,32"], "at least 3 levels are needed for an order with an interval, got 2"),
    (["--levels", "a,b"], "--levels must be comma-separated integers, e.g. 32,64,128; got 'a,b'"),
    (["--band", "-1"], "band widths must be ≥ 0"),
    (["--band", "x"], "--band must be a number or below,above"),
    (["--mass-tol", "-1"], "--mass-tol must be a number > 0 or 'none'"),
])
def test_study_usage_errors(args, match, capsys):
    code, out, err = run_cli(["study", "ou-1d", *args], capsys)
    assert_usage_error(code, err, match)
    assert out == ""


def test_unknown_problem_suggests_a_name(capsys):
    code, _, err = run_cli(["study", "ou-2"], capsys)
    assert_usage_error(code, err, "unknown problem 'ou-2'. Did you mean: ou-2d")


def test_argparse_errors_exit_two(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["study", "ou-1d", "--refine", "diagonal"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["study", "ou-1d", "--seed", "-3"])
    assert exc.value.code == 2 and "must be a non-negative integer" in capsys.readouterr().err


def test_malformed_toml_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text('[problem]\nkind = "fokker-planck"\nlower = [-6.0,, 1]\nupper = [6.0]\n')
    code, out, err = run_cli(["study", str(bad)], capsys)
    assert_usage_error(code, err, f"{bad}: TOML syntax error at line 3, column 15 in 'lower = [-6.0,, 1]'")
    assert out == ""
    bad.write_text('[problem]\nkind = "fokker-planck"\nlower = [-6.0\n')
    code, out, err = run_cli(["run", str(bad)], capsys)
    assert_usage_error(code, err, f"{bad}: TOML syntax error at the end of the file")


def test_toml_case_file_study(tmp_path, capsys):
    f = tmp_path / "my-ou.toml"
    f.write_text(textwrap.dedent("""
        [problem]
        kind = "fokker-planck"
        lower = [-6.0]
        upper = [6.0]
        t_final = 1.0
        diffusion = 0.5

        [problem.initial]
        mean = 1.0
        cov = 0.5

        [problem.drift]
        matrix = -1.0
        offset = 0.2

        [study]
        levels = [32, 64, 128, 256]
        expected_order = 2
        seed = 5
        """))
    code, out, err = run_cli(["study", str(f), "--json"], capsys)
    data = json.loads(out)
    assert code == 0, err
    assert data["status"] == "pass" and data["settings"]["seed"] == 5 and data["study"]["problem"] == "my-ou"
    # the same problem as the built-in ou-1d: the same errors to round-off
    code, out, _ = run_cli(["study", "ou-1d", "--levels", OU_LEVELS, "--json"], capsys)
    builtin = json.loads(out)
    assert [lv["error"] for lv in data["study"]["levels"]] == pytest.approx(
        [lv["error"] for lv in builtin["study"]["levels"]], rel=1e-10)
    # `run FILE.toml` runs the same study
    code, out, _ = run_cli(["run", str(f)], capsys)
    assert code == 0 and "PASSED" in out and "(seed 5)" in out


# ------------------------------------------------------------------------------------------ seeds
def test_run_seed_is_recorded_and_changes_the_draws(capsys):
    code, out, _ = run_cli(["run", CASE, "--quick", "--json", "--seed", "7"], capsys)
    seeded = json.loads(out)
    code2, out, _ = run_cli(["run", CASE, "--quick", "--json"], capsys)
    default = json.loads(out)
    assert code == code2 == 0
    assert seeded["seed"] == case_seed(CASE, 7) and default["seed"] == case_seed(CASE)
    assert seeded["seed"] != default["seed"]
    assert [c["value"] for c in seeded["checks"]] != [c["value"] for c in default["checks"]]
    code, out, _ = run_cli(["run", CASE, "--quick", "--json", "--seed", "7"], capsys)
    again = json.loads(out)
    assert [c["value"] for c in again["checks"]] == [c["value"] for c in seeded["checks"]]
    assert again["seed"] == seeded["seed"]


def test_run_prints_the_seed(capsys):
    code, out, _ = run_cli(["run", CASE, "--quick", "--seed", "7"], capsys)
    assert code == 0 and f"(seed {case_seed(CASE, 7)})" in out


def test_report_seed_is_written(tmp_path, capsys):
    code, _, err = run_cli(["report", "--out", str(tmp_path), "--quick", "--case", CASE, "--seed", "7"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["seed"] == 7 and data["cases"][0]["seed"] == case_seed(CASE, 7)
    assert "seed 7" in (tmp_path / "report.md").read_text()


def test_study_seed_is_recorded(capsys):
    code, out, _ = run_cli(["study", "ou-sde-1d", "--samples", "300", "--replicates", "3", "--levels", "1,2,4",
                            "--seed", "11", "--json"], capsys)
    data = json.loads(out)
    assert data["settings"]["seed"] == 11 and data["study"]["seed"] == 11 and data["result"]["seed"] == 11


def test_a_solver_that_raises_is_one_line_with_the_level_and_traceback_on_request(user_module, capsys):
    user_module("crashing", """
        def solve(problem, grid, steps):
            if grid.shape[0] > 16:
                raise RuntimeError("matrix is singular")
            return grid.cell_averages(problem.initial_density)
    """)
    code, _, err = run_cli(["study", "ou-1d", "--solver", "crashing:solve", "--expected-order", "2",
                            "--levels", "16,32,64"], capsys)
    assert_usage_error(code, err, "raised RuntimeError at level 1 (32 cells, 16 steps): matrix is singular")
    assert "--traceback" in err
    with pytest.raises(Exception) as info:
        main(["study", "ou-1d", "--solver", "crashing:solve", "--expected-order", "2", "--levels", "16,32,64",
              "--traceback"])
    assert isinstance(info.value.__cause__, RuntimeError)
