"""Time schemes of the implicit Fokker-Planck solver, one small registered object each.

Every scheme advances the semi-discrete system  d rho/dt = A(t) rho + f(t)  (A: the finite-volume generator
with its wall terms, f: the source plus the walls' data) by one step of size dt, declares its ``order`` (the
tests and the report read it), and names the quadrature (``balance``) by which it integrates the mass rate, so
that the solver can check the discrete mass balance to round-off. The step loop, the linear solvers and the
mass bookkeeping live once in ``solve_fokker_planck``; a scheme only writes its update with the ``Stepper``
services (``A(t)``, ``forcing(t)``, ``solve(c0, c1, t, rhs, guess)`` for (c0 I - c1 A(t)) x = rhs).
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol


class Stepper(Protocol):
    """What the driver offers a scheme (see solve_fokker_planck)."""

    dt: float

    def A(self, t: float) -> Any: ...                     # the sparse generator at time t (cached)

    def forcing(self, t: float) -> Any: ...               # f(t) as a flat array, or None

    def solve(self, c0: float, c1: float, t: float, rhs: Any, guess: Any) -> Any: ...

    def rates(self, rho: Any, t: float) -> tuple[float, float]: ...   # (source mass rate, wall outflow rate)


def plus(x: Any, c: float, f: Any) -> Any:
    """x + c f, or x when there is no forcing."""
    return x if f is None else x + c * f


class TimeScheme:
    """One time step of d rho/dt = A(t) rho + f(t). ``order``: global order in dt; ``balance``: the scheme whose
    quadrature integrates the mass rate (eulerian.fokker_planck.advance); ``history``: steps of the past it
    needs (BDF2: rho^{n-1})."""

    name: ClassVar[str] = ""
    order: ClassVar[int] = 0
    balance: ClassVar[str] = ""
    history: ClassVar[int] = 0

    def step(self, s: Stepper, t_old: float, t_new: float, rho: Any, rho_prev: Any) -> tuple[Any, Any]:
        """(rho^{n+1}, None or the (source, outflow) rates that stand for the step's old time level)."""
        raise NotImplementedError


SCHEMES: dict[str, TimeScheme] = {}


def register(cls: type[TimeScheme]) -> type[TimeScheme]:
    """Class decorator: add an instance of the TimeScheme subclass ``cls`` to SCHEMES under ``cls.name``."""
    SCHEMES[cls.name] = cls()
    return cls


@register
class BDF2(TimeScheme):
    """(3/2 I - dt A^{n+1}) rho^{n+1} = 2 rho^n - 1/2 rho^{n-1} + dt f^{n+1}: order 2, L-stable (its first step is
    the damped start, which keeps the global order 2)."""

    name, order, balance, history = "bdf2", 2, "bdf2", 1

    def step(self, s: Stepper, t_old: float, t_new: float, rho: Any, rho_prev: Any) -> tuple[Any, Any]:
        rhs = plus(2.0 * rho - 0.5 * rho_prev, s.dt, s.forcing(t_new))
        return s.solve(1.5, s.dt, t_new, rhs, 2.0 * rho - rho_prev), None


@register
class CrankNicolson(TimeScheme):
    """(I - dt/2 A^{n+1}) rho^{n+1} = (I + dt/2 A^n) rho^n + dt/2 (f^n + f^{n+1}): the trapezoidal rule, order 2,
    A-stable but not L-stable (rough data need the damped start)."""

    name, order, balance = "crank-nicolson", 2, "crank-nicolson"

    def step(self, s: Stepper, t_old: float, t_new: float, rho: Any, rho_prev: Any) -> tuple[Any, Any]:
        rhs = rho + 0.5 * s.dt * (s.A(t_old) @ rho)
        rhs = plus(plus(rhs, 0.5 * s.dt, s.forcing(t_old)), 0.5 * s.dt, s.forcing(t_new))
        return s.solve(1.0, 0.5 * s.dt, t_new, rhs, rho), None


@register
class ImplicitEuler(TimeScheme):
    """(I - dt A^{n+1}) rho^{n+1} = rho^n + dt f^{n+1}: order 1, L-stable, positive with the fitted fluxes."""

    name, order, balance = "implicit-euler", 1, "implicit-euler"

    def step(self, s: Stepper, t_old: float, t_new: float, rho: Any, rho_prev: Any) -> tuple[Any, Any]:
        return s.solve(1.0, s.dt, t_new, plus(rho, s.dt, s.forcing(t_new)), rho), None


@register
class DouglasADI(TimeScheme):
    """Douglas alternating-direction implicit steps, theta = 1/2 (eulerian.adi): order 2 with a splitting error
    O(dt^2); tridiagonal line solves instead of a global sparse solve (zero-flux/periodic walls, diagonal D)."""

    name, order, balance = "douglas-adi", 2, "crank-nicolson"

    def step(self, s: Any, t_old: float, t_new: float, rho: Any, rho_prev: Any) -> tuple[Any, Any]:
        return s.adi.step(rho, t_old, t_new, s.forcing(t_old), s.forcing(t_new)), None


class DampedStart(TimeScheme):
    """Rannacher's damped start: two implicit-Euler half steps (L-stable, they damp the high frequencies of rough
    data). Order 1 per step; a fixed number of them at the start keeps a second-order scheme's global order 2.
    Not registered: ``damped_steps`` of solve_fokker_planck puts it before Crank-Nicolson or BDF2."""

    name, order, balance = "damped", 1, "crank-nicolson"

    def step(self, s: Stepper, t_old: float, t_new: float, rho: Any, rho_prev: Any) -> tuple[Any, Any]:
        t_half = t_new - 0.5 * s.dt
        half = s.solve(1.0, 0.5 * s.dt, t_half, plus(rho, 0.5 * s.dt, s.forcing(t_half)), rho)
        new = s.solve(1.0, 0.5 * s.dt, t_new, plus(half, 0.5 * s.dt, s.forcing(t_new)), half)
        # the mass balance of two half steps: M + dt (r_half + r_new) / 2
        return new, s.rates(half, t_half)


DAMPED = DampedStart()
TIME_SCHEMES = tuple(SCHEMES)   # the registered names
