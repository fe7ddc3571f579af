"""benchmarks/blas_kernels.py: which checks it lists as failing or differing between OpenBLAS kernels, and in
which order (least margin to a bound first)."""
import importlib.util
import math
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "blas_kernels_script", Path(__file__).resolve().parent.parent / "benchmarks" / "blas_kernels.py")
blas_kernels = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = blas_kernels   # its dataclass looks its module up
_spec.loader.exec_module(blas_kernels)


def report(**checks):
    """A report.json with one case "c" holding checks name -> (value, passed, lower, upper)."""
    return {"cases": [{"case": "c", "checks": [
        {"name": n, "value": v, "passed": p, "lower": lo, "upper": up} for n, (v, p, lo, up) in checks.items()]}]}


def test_compare_lists_failures_first_then_the_least_margin():
    a = report(same=(1.0, True, None, 2.0), near=(1230.0, True, None, 1450.0), far=(1e-15, True, None, 1e-12),
               low=(2.0, True, 1.85, 2.15), broke=(1.0, True, None, 2.0))
    b = report(same=(1.0, True, None, 2.0), near=(1340.0, True, None, 1450.0), far=(2e-15, True, None, 1e-12),
               low=(1.9, True, 1.85, 2.15), broke=(3.0, False, None, 2.0))
    rows = blas_kernels.compare({"Haswell": a, "SkylakeX": b})
    assert [r.check for r in rows] == ["broke", "low", "near", "far"]
    assert rows[0].failed == ("SkylakeX",) and rows[0].margin == -0.5        # (2 - 3) / (3 - 1)
    assert math.isclose(rows[1].margin, 0.5) and math.isclose(rows[2].margin, 1.0)   # 0.05 / 0.1, 110 / 110
    assert rows[3].values == {"Haswell": 1e-15, "SkylakeX": 2e-15}


def test_a_check_missing_under_a_kernel_counts_as_failed_there():
    a = report(x=(1.0, True, None, 2.0), y=(1.0, True, None, 2.0))
    b = report(x=(1.0, True, None, 2.0))
    (row,) = blas_kernels.compare({"Haswell": a, "Sandybridge": b})
    assert row.check == "y" and row.failed == ("Sandybridge",) and row.margin == -math.inf
