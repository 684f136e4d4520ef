r"""Generic explicit integrators over pytrees for :math:`\dot y = f(y)`: :func:`euler` and the classic
fourth-order Runge-Kutta method :func:`rk4`. Every leaf of the pytree ``y`` is advanced with the same
stages.

MotorNet's chained variant lives with the effector (:func:`motornet_fn.core.effector.rk4_motornet_step`)
because its stages apply the effector's clipping and geometry update.

References:
    Kutta W (1901). Beitrag zur näherungsweisen Integration totaler Differentialgleichungen.
    Z Math Phys 46:435-453.
"""
from __future__ import annotations

from typing import Any, Callable

from motornet_fn.core.tree import tree_axpy, tree_map


def euler(f: Callable[[Any], Any], y: Any, h: float) -> Any:
    r"""One explicit Euler step (first order):

    .. math::

        y_{n+1} = y_n + h\, f(y_n).

    Args:
        f: the right-hand side, a pytree to pytree function.
        y: the state pytree.
        h: the step (s).
    """
    return tree_axpy(h, f(y), y)


def rk4(f: Callable[[Any], Any], y: Any, h: float) -> Any:
    r"""One step of the classic fourth-order Runge-Kutta method (Kutta 1901):

    .. math::

        k_1 = f(y_n), \quad k_2 = f\!\left(y_n + \tfrac{h}{2} k_1\right), \quad
        k_3 = f\!\left(y_n + \tfrac{h}{2} k_2\right), \quad k_4 = f(y_n + h\, k_3),

    .. math::

        y_{n+1} = y_n + \frac{h}{6} (k_1 + 2 k_2 + 2 k_3 + k_4).

    Args:
        f: the right-hand side, a pytree to pytree function.
        y: the state pytree.
        h: the step (s).
    """
    k1 = f(y)
    k2 = f(tree_axpy(h / 2, k1, y))
    k3 = f(tree_axpy(h / 2, k2, y))
    k4 = f(tree_axpy(h, k3, y))
    return tree_map(lambda y0, a, b, c, d: y0 + (h / 6) * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4)
