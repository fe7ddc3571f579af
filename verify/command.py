"""The ``twinflow`` command's entry point (also ``python -m verify``).

Its dense matrices are tiny, so unless the user has set them, BLAS and OpenMP get one thread each before NumPy
is imported (on small machines extra threads only compete); then :func:`verify.cli.main` runs.
"""
from __future__ import annotations

import os


def main() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from verify.cli import main as cli_main

    return cli_main()
