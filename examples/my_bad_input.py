"""Holding my own function to twinflow's bad-input standard (verify.bad_input).

``heat_step`` is one explicit step of the periodic 1D heat equation, stable for dt D / h^2 <= 1/2. The first
version takes whatever it is given; the second validates its arguments. ``gaps`` feeds each argument every bad
value of the catalog (complex, NaN, inf, zero, negative, huge, strings, wrong shapes, ...) plus the values this
call declares: ``accepts`` (the stability limit itself must be taken) and ``refuses`` (the next float beyond it
must be refused up front). Run: ``python my_bad_input.py`` (prints the gaps of each version; exit 1 if the
validated one has any).
"""
import math
import sys

import numpy as np

from eulerian import Grid
from verify.bad_input import ValidCall, gaps


def heat_step_unchecked(rho, dt, diffusion=1.0):
    """One explicit step of rho_t = D rho_xx, periodic, rho.size cells on [0, 1]; no validation."""
    rho = np.asarray(rho, dtype=float)
    h = 1.0 / rho.size
    return rho + dt * diffusion / h**2 * (np.roll(rho, 1) - 2 * rho + np.roll(rho, -1))


def heat_step(rho, dt, diffusion=1.0):
    """The same step, its arguments validated with messages that name them."""
    for name, value in (("dt", dt), ("diffusion", diffusion)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if not isinstance(rho, np.ndarray) or rho.dtype.kind not in "iuf" or rho.ndim != 1 or rho.size < 3:
        raise TypeError("rho must be a 1-D real NumPy array of at least 3 cell averages")
    if not np.all(np.isfinite(rho)) or np.abs(rho).max() > 1e300:
        raise ValueError("rho must hold finite values below 1e300")
    h = 1.0 / rho.size
    if dt * diffusion / h**2 > 0.5:
        raise ValueError(f"dt = {dt:g} is beyond the stability limit h^2 / (2 diffusion) = {h**2 / (2 * diffusion):g}")
    return rho + dt * diffusion / h**2 * (np.roll(rho, 1) - 2 * rho + np.roll(rho, -1))


def valid_call(step) -> ValidCall:
    grid = Grid((0.0,), (1.0,), (64,))
    rho0 = np.exp(-50.0 * (grid.centers()[..., 0] - 0.5) ** 2)
    limit = 1.0 / (2 * 64**2)       # dt D / h^2 = 1/2 exactly
    return ValidCall(step, [("rho", rho0), ("dt", 1e-4)], {"diffusion": 1.0},
                     accepts={"dt": [limit]}, refuses={"dt": [np.nextafter(limit, 1.0)]})


if __name__ == "__main__":
    for step in (heat_step_unchecked, heat_step):
        tried, found = gaps(valid_call(step), label=step.__name__)
        print(f"{step.__name__}: {tried} calls, {len(found)} gaps")
        for gap in found[:3]:
            print("   ", gap[:150])
    sys.exit(1 if found else 0)
