"""Repository-root conftest: lets `pytest` run from a checkout before installation."""
import os

# One BLAS thread per process: on small machines oversubscription slows dense solves 10-20x.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
