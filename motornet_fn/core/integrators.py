"""Generic explicit integrators over pytrees: ``y' = f(y)``.

``euler`` and textbook ``rk4`` (Kutta 1901). MotorNet's chained variant lives with the effector
(:func:`motornet_fn.core.effector.rk4_motornet_step`) because its stages apply the effector's
clipping and geometry update.
"""
from __future__ import annotations

from typing import Any, Callable

from motornet_fn.core.tree import tree_axpy, tree_map


def euler(f: Callable[[Any], Any], y: Any, h: float) -> Any:
    """One explicit Euler step: y + h f(y)."""
    return tree_axpy(h, f(y), y)


def rk4(f: Callable[[Any], Any], y: Any, h: float) -> Any:
    """One classic fourth-order Runge-Kutta step."""
    k1 = f(y)
    k2 = f(tree_axpy(h / 2, k1, y))
    k3 = f(tree_axpy(h / 2, k2, y))
    k4 = f(tree_axpy(h, k3, y))
    return tree_map(lambda y0, a, b, c, d: y0 + (h / 6) * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4)
