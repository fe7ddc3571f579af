"""The line kinds of benchmarks/report_coverage.py: which uncovered lines count as error paths, GPU paths or
computational code no report case runs."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "report_coverage_script", Path(__file__).resolve().parent.parent / "benchmarks" / "report_coverage.py")
report_coverage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report_coverage)

SOURCE = '''
def step(x, backend):
    if backend.name == "cupy":
        y = x.get()
    try:
        import cupy
    except ImportError:
        cupy = None
    if x < 0:
        raise ValueError(
            f"x must be >= 0, got {x}")
    return 2.0 * x


def gpu_total(backend):
    """Total memory of the GPU behind a CuPy backend."""
    return backend.memory


def solve(x):
    """A solver.

    On CuPy it runs the same code."""
    try:
        y = 1.0 / x
    except ZeroDivisionError:
        y = 0.0
    return y
'''


def test_line_kinds():
    kinds = report_coverage.Kinds(SOURCE)
    lines = SOURCE.splitlines()

    def kind(text):
        return kinds.kind.get(next(i for i, ln in enumerate(lines, 1) if text in ln), "code")

    assert kind("y = x.get()") == "gpu"                # an if-branch whose test names CuPy
    assert kind("import cupy") == "gpu"                # a try block importing CuPy
    assert kind("f\"x must be") == "error"            # every line of a raise statement
    assert kind("raise ValueError(") == "error"
    assert kind("return 2.0 * x") == "code"
    assert kind("return backend.memory") == "gpu"      # a function whose docstring summary names the GPU
    assert kind("y = 1.0 / x") == "code"               # CuPy named only past the summary
    assert kind("y = 0.0") == "error"                  # an except clause
    assert kinds.func[next(i for i, ln in enumerate(lines, 1) if "y = 1.0 / x" in ln)] == "solve"
