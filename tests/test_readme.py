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


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.DOTALL)


def test_every_readme_python_block_runs_in_order(tmp_path, monkeypatch):
    """All the README's Python blocks, as a reader pastes them: in order, in one namespace; the pytest-plugin
    block's own test is then called and passes."""
    import matplotlib
    import pytest

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    blocks = python_blocks()
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102 - our README
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"README python block {i + 1} raised {type(exc).__name__}: {exc}\n{block}")
    assert namespace["study"].verdict(2).status == "pass"        # the study block's verdicts, as it says
    assert namespace["weak"].verdict(1) == "pass"
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert tests, "the pytest-plugin block defines a test"
    for test in tests:
        test()
