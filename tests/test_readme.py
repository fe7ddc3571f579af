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
