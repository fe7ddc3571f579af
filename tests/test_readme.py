"""README.md starts with the two commands a newcomer runs; .ci/run runs exactly the second."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", block, re.S).group(1).strip()


def test_readme_opens_with_report_then_test_command():
    text = (ROOT / "README.md").read_text()
    assert text.index("report-command") < text.index("test-command")
    assert "twinflow report --out" in command_after("report-command")
    assert "pytest" in command_after("test-command")


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"cmd=\$\((awk .+?) README\.md\)", script).group(1)
    program = awk.split("'", 2)[1]
    out = subprocess.run(["awk", program, str(ROOT / "README.md")], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == command_after("test-command")


def python_block_after(text: str) -> str:
    block = (ROOT / "README.md").read_text().split(text, 1)[1]
    return re.search(r"```python\n(.+?)\n```", block, re.S).group(1)


def test_readme_solver_passes_its_study_and_a_wrong_variant_fails(tmp_path, monkeypatch):
    """The complete user solver of the README, imported by module:function as `twinflow study` does."""
    import sys

    from verify.cli import main

    (tmp_path / "readme_solver.py").write_text(python_block_after("in a file `mysolver.py`:") + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["study", "ou-2d", "--solver", "readme_solver:solve", "--expected-order", "2",
                     "--levels", "16,32,64,128"]) == 0
        # the same scheme claimed as fourth order is caught
        assert main(["study", "ou-2d", "--solver", "readme_solver:solve", "--expected-order", "4",
                     "--levels", "16,32,64,128"]) == 1
    finally:
        sys.modules.pop("readme_solver", None)


def test_readme_python_study_block_runs_as_written(capsys):
    namespace: dict = {}
    exec(compile(python_block_after("**The same from Python:**"), "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["study"].verdict(2).status == "pass"
    assert namespace["weak"].verdict(1) == "pass"
    assert "fitted order" in capsys.readouterr().out
