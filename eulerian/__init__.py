"""Densities on grids: finite-volume continuity and Fokker-Planck solvers (NumPy/CuPy, FiPy) and
Benamou-Brenier dynamic optimal transport by proximal splitting."""
from .attention import MassAtWallsError, attention_velocity, wall_fraction
from .backend import Backend, cupy_available, get_backend
from .benamou_brenier import BBResult, benamou_brenier, default_gamma, default_tol
from .boundary import Dirichlet, Flux, Outflow, Periodic, ZeroFlux
from .diffusion import Diffusion
from .continuity import solve_continuity
from .flow_matching_grid import FlowMatchingGridField, flow_matching_grid_field
from .errors import BackendUnavailable, CFLError, MemoryLimitError, NumericalError
from .fokker_planck import solve_fokker_planck, solve_stationary
from .grid import Grid
from .jko import JKOFlowResult, JKOStepResult, PowerEnergy, free_energy, jko_flow, jko_step
from .meanfield import solve_meanfield
from .network_grid import NetworkVelocity, network_risk, network_velocity
from .porous_medium import porous_medium_energy, solve_porous_medium
from .solution import Solution

__all__ = [
    "BBResult",
    "Backend",
    "BackendUnavailable",
    "CFLError",
    "Diffusion",
    "Dirichlet",
    "FlowMatchingGridField",
    "Flux",
    "Grid",
    "JKOFlowResult",
    "JKOStepResult",
    "MassAtWallsError",
    "MemoryLimitError",
    "NetworkVelocity",
    "NumericalError",
    "Outflow",
    "Periodic",
    "PowerEnergy",
    "Solution",
    "attention_velocity",
    "benamou_brenier",
    "cupy_available",
    "default_gamma",
    "default_tol",
    "flow_matching_grid_field",
    "free_energy",
    "get_backend",
    "jko_flow",
    "jko_step",
    "network_risk",
    "network_velocity",
    "porous_medium_energy",
    "solve_continuity",
    "solve_fokker_planck",
    "solve_meanfield",
    "solve_porous_medium",
    "solve_stationary",
    "wall_fraction",
    "ZeroFlux",
]
