"""My own finite-volume Fokker–Planck solver, checked with twinflow.

Solves ∂ρ/∂t + div(ρb) = DΔρ + S on a box with zero-flux walls, in 1, 2 or 3 dimensions (scalar D):

* space: cell averages. On each interior face between cells L and R (h apart) the flux is
  F = ρ_face·b_face − D (ρ_R − ρ_L)/h, with the central average ρ_face = (ρ_L + ρ_R)/2 and the drift at the
  face centre; F = 0 on the walls. Second order in h, and mass is conserved to round-off.
* time: Crank–Nicolson, second order in dt; one sparse LU factorisation for the whole run unless the drift
  depends on time.

    cd examples && twinflow study ou-2d --solver my_fokker_planck:solve --expected-order 2

``solve_upwind`` and ``solve_half_diffusion`` are two deliberately wrong variants for twinflow to catch.
"""
import numpy as np
import scipy.sparse as sparse
from scipy.sparse.linalg import splu


def _operator(problem, grid, t, D, upwind):
    """The sparse matrix A of dρ/dt = Aρ (ρ: the cell averages, flattened) at time t."""
    index = np.arange(int(np.prod(grid.shape))).reshape(grid.shape)
    centres = grid.centers()                                   # (*shape, d)
    rows, cols, vals = [], [], []
    for k, h in enumerate(grid.spacing):
        inner = np.arange(grid.shape[k] - 1)                   # interior faces along axis k
        left = np.take(index, inner, axis=k).ravel()           # cell L of each face ...
        right = np.take(index, inner + 1, axis=k).ravel()      # ... and cell R
        face = np.take(centres, inner, axis=k).copy()
        face[..., k] += h / 2                                  # face centres
        b = np.asarray(problem.drift(t, face))[..., k].ravel()
        if upwind:   # ρ_face = ρ_L if b > 0 else ρ_R
            wl, wr = np.where(b > 0, b, 0.0), np.where(b > 0, 0.0, b)
        else:        # ρ_face = (ρ_L + ρ_R)/2
            wl = wr = b / 2
        a_l, a_r = wl + D / h, wr - D / h                      # F = a_l ρ_L + a_r ρ_R
        # F leaves cell L and enters cell R: dρ_L/dt −= F/h, dρ_R/dt += F/h
        rows += [left, left, right, right]
        cols += [left, right, left, right]
        vals += [-a_l / h, -a_r / h, a_l / h, a_r / h]
    n = index.size
    return sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def _crank_nicolson(problem, grid, steps, upwind=False, diffusion_factor=1.0):
    if problem.boundary != "zero-flux" or np.ndim(problem.diffusion) != 0:
        raise ValueError("my_fokker_planck handles zero-flux boxes with a scalar diffusion D only")
    D = diffusion_factor * float(problem.diffusion)
    dt = problem.t_final / steps
    centres = grid.centers()
    rho = grid.cell_averages(problem.initial_density).ravel()

    def source(t):  # S at the cell centres (0 when the problem has none)
        return 0.0 if problem.source is None else np.asarray(problem.source(t, centres)).ravel()

    moving = problem.time_dependent is not False               # None (unknown) counts as time dependent
    eye = sparse.identity(rho.size, format="csc")
    a_old = _operator(problem, grid, 0.0, D, upwind)
    lu = None
    for n in range(steps):
        t0, t1 = n * dt, (n + 1) * dt
        a_new = _operator(problem, grid, t1, D, upwind) if moving else a_old
        if lu is None or moving:
            # an ordering for structurally symmetric matrices: half the fill-in of splu's default here
            lu = splu(eye - dt / 2 * a_new, permc_spec="MMD_AT_PLUS_A")
        # (I − dt/2 A¹) ρ¹ = (I + dt/2 A⁰) ρ⁰ + dt (S⁰ + S¹)/2
        rho = lu.solve(rho + dt / 2 * (a_old @ rho) + dt / 2 * (source(t0) + source(t1)))
        a_old = a_new
    return rho.reshape(grid.shape)


def solve(problem, grid, steps):
    """Central fluxes + Crank–Nicolson: second order in space and time."""
    return _crank_nicolson(problem, grid, steps)


def solve_upwind(problem, grid, steps):
    # WRONG on purpose: upwind face values ρ_face = ρ_L or ρ_R make the flux only first-order accurate (they add
    # a numerical diffusion |b|h/2), so the scheme is first order although it "looks like" the one above.
    return _crank_nicolson(problem, grid, steps, upwind=True)


def solve_half_diffusion(problem, grid, steps):
    # WRONG on purpose: uses D/2, the ½σ² slip (dX = σ dW has generator ½σ²Δ, but twinflow's D already *is* that
    # coefficient: dX = sqrt(2D) dW). It converges, to the solution of another equation, so the error stalls.
    return _crank_nicolson(problem, grid, steps, diffusion_factor=0.5)
