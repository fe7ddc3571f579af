"""Result container shared by every Eulerian solver (array and FiPy backends)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import to_host
from .grid import Grid


@dataclass
class Solution:
    """Output of ``solve_continuity`` / ``solve_fokker_planck``.

    Attributes
    ----------
    grid : the Grid.
    times : (k,) NumPy array, the times of ``densities`` (the ``save_at`` times; [t_final] when save_at is None).
    density : final density, shape grid.shape, on the solver's backend (NumPy or CuPy array).
    densities : list of k densities (backend arrays, cell averages) at ``times``.
    mass : (steps + 1,) NumPy array, mass sum(rho) * cell_volume after every step (index 0 is t = 0).
    mass_times : (steps + 1,) NumPy array, the times of ``mass``.
    min_density : minimum cell value over all steps (>= 0 means no negative cell occurred).
    steps : number of time steps taken.
    wall_time : seconds spent in the solver (setup + stepping).
    backend : "numpy", "cupy" or "fipy".
    info : scheme description and solver statistics (e.g. flux, time scheme, linear iterations).
    boundary_outflow : (steps + 1,) NumPy array, the mass that has left through open walls (Dirichlet, Flux,
        Outflow; negative when mass came in) by each of ``mass_times``, integrated by the time scheme's own
        quadrature, so that mass - mass[0] + boundary_outflow equals the source's mass to round-off; None for
        closed boxes (zero-flux and periodic walls).
    """

    grid: Grid
    times: np.ndarray
    density: Any
    densities: list
    mass: np.ndarray
    mass_times: np.ndarray
    min_density: float
    steps: int
    wall_time: float
    backend: str
    info: dict = field(default_factory=dict)
    boundary_outflow: np.ndarray | None = None

    def to_numpy(self) -> np.ndarray:
        """Final density as a NumPy array (copied from the GPU when needed)."""
        return to_host(self.density)

    def densities_numpy(self) -> list[np.ndarray]:
        """Saved densities as NumPy arrays."""
        return [to_host(r) for r in self.densities]

    @property
    def mass_drift(self) -> float:
        """max_n |mass_n - mass_0| / mass_0 (relative mass change over the run)."""
        return float(np.max(np.abs(self.mass - self.mass[0])) / abs(self.mass[0]))
