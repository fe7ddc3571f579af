"""Densities on grids: finite-volume continuity and Fokker-Planck solvers (NumPy/CuPy, FiPy)."""
from .backend import Backend, cupy_available, get_backend
from .continuity import solve_continuity
from .errors import BackendUnavailable, CFLError, NumericalError
from .fokker_planck import solve_fokker_planck
from .grid import Grid
from .solution import Solution

__all__ = [
    "Backend",
    "BackendUnavailable",
    "CFLError",
    "Grid",
    "NumericalError",
    "Solution",
    "cupy_available",
    "get_backend",
    "solve_continuity",
    "solve_fokker_planck",
]
