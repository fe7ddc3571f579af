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


class SaveSchedule:
    """The ``save_at`` bookkeeping of the explicit solvers (adaptive steps that land on the save times).

    ``save``: the checked save times (None: only the final density is kept). ``snapshot(rho)`` turns the solver's
    state into the stored density (a copy). Use ``clip(t, dt)`` to shorten a step so that it ends on the next
    save time (or t_final), ``record(t, rho)`` after every step, and ``result(rho)`` at the end for the
    (times, densities) of the Solution.
    """

    def __init__(self, save: Any, t_final: float, rho0: Any, snapshot: Any) -> None:
        self.keep_all = save is not None
        self.targets = list(save) if save is not None else []
        self.t_final, self.snapshot = t_final, snapshot
        self.saved: list = []
        self.times: list = []
        self.record(0.0, rho0)

    def clip(self, t: float, dt: float) -> float:
        """dt, or the time left to the next save time (or t_final) when the step would reach it."""
        stop = self.targets[0] if self.targets else self.t_final
        return stop - t if t + dt >= stop * (1 - 1e-12) else dt

    def record(self, t: float, rho: Any) -> None:
        """Store rho for every save time that t has reached."""
        while self.targets and t >= self.targets[0] * (1 - 1e-12):
            self.saved.append(self.snapshot(rho))
            self.times.append(self.targets.pop(0))

    def result(self, final: Any) -> tuple[np.ndarray, list]:
        """(times, densities): the save times and their densities, or [t_final] and [final]."""
        if not self.keep_all:
            return np.array([self.t_final]), [final]
        return np.array(self.times), self.saved
