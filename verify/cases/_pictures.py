"""Density pictures of the 2D grid cases for the report: grid | particles | exact, one colour scale, and the
grid's difference from the exact solution (or from the particles, where there is no closed form)."""
from __future__ import annotations

from typing import Any

import numpy as np

from eulerian import Grid
from lagrangian import deposit
from verify.harness import CaseContext


def density_picture(ctx: CaseContext, name: str, grid: Grid, density: Any, *, exact: Any = None,
                    particles: Any = None, labels: tuple[str, str] = ("grid", "exact")) -> None:
    """Record ``density`` on ``grid`` (2D), the ``particles`` (n, 2) deposited on the same cells (cloud in cell)
    and the ``exact`` cell averages; ``labels`` names the grid and exact panels (e.g. ("NumPy", "FiPy"))."""
    if grid.dim != 2:
        raise ValueError(f"density pictures are for 2D grids, got a {grid.dim}D grid")
    grid_label, exact_label = labels
    panels = {grid_label: np.asarray(density)}
    if particles is not None:
        panels["particles"] = np.asarray(deposit(np.asarray(particles), grid.lower, grid.upper, grid.shape,
                                                 outside="clip"))
    if exact is not None:
        panels[exact_label] = np.asarray(exact)
    other = exact_label if exact is not None else "particles" if particles is not None else None
    extent = (grid.lower[0], grid.upper[0], grid.lower[1], grid.upper[1])
    ctx.image(name, panels, extent=extent, difference=None if other is None else (grid_label, other))
