"""Synthetic hand paths with closed-form kinematics, for the behaviour and figure tests."""
from __future__ import annotations

import math

import torch


def minimum_jerk(n: int) -> torch.Tensor:
    """Progress u(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5 at n samples of tau in [0, 1] (speed peaks at tau = 1/2,
    where du/dtau = 15/8)."""
    tau = torch.linspace(0, 1, n)
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def gamma_progress(n: int, duration: float, tau: float) -> torch.Tensor:
    """Progress u(t) proportional to 1 - exp(-t/tau) (1 + t/tau) on [0, duration]: du/dt ~ t exp(-t/tau)
    peaks at t = tau, where u = (1 - 2/e) / (1 - exp(-duration/tau) (1 + duration/tau))."""
    t = torch.linspace(0, duration, n)
    g = lambda t: 1 - torch.exp(-t / tau) * (1 + t / tau)  # noqa: E731
    return g(t) / g(torch.tensor(duration))


def rotation(angle: float) -> torch.Tensor:
    """2 x 2 counter-clockwise rotation matrix."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]])


def straight(start: torch.Tensor, target: torch.Tensor, progress: torch.Tensor) -> torch.Tensor:
    """(T, 2) points start + u (target - start)."""
    return start + progress[:, None] * (target - start)


def hold_then(path: torch.Tensor, n_hold: int) -> torch.Tensor:
    """Prepend n_hold samples at the path's first point."""
    return torch.cat([path[:1].expand(n_hold, 2), path])


def arc(start: torch.Tensor, target: torch.Tensor, radius: float, progress: torch.Tensor, left: bool) -> torch.Tensor:
    """(T, 2) points on the minor circular arc of ``radius`` from start to target, bulging to the left
    (counter-clockwise side) of the start->target line if ``left``; ``progress`` in [0, 1] is the
    fraction of the arc's angle.

    In a frame with the chord along +x, centred on its midpoint, the centre is at (0, -h) with
    h = sqrt(r^2 - (c/2)^2) and the arc point at angle alpha is (r sin alpha, r cos alpha - h), alpha
    from -Theta/2 to Theta/2, sin(Theta/2) = c / (2 r). The tangent there points at angle -alpha from
    +x, so at progress u it is Theta (1/2 - u) counter-clockwise of the chord (mirrored if not left).
    """
    chord = target - start
    c = float(torch.linalg.norm(chord))
    half = math.asin(c / (2 * radius))
    alpha = -half + 2 * half * progress
    h = math.sqrt(radius**2 - (c / 2) ** 2)
    local = torch.stack([radius * torch.sin(alpha) + c / 2, (radius * torch.cos(alpha) - h) * (1 if left else -1)], -1)
    frame = rotation(math.atan2(float(chord[1]), float(chord[0])))
    return start + local @ frame.T


def arc_angle(chord: float, radius: float) -> float:
    """Central angle Theta (rad) of the minor arc of ``radius`` over ``chord``."""
    return 2 * math.asin(chord / (2 * radius))


def sagitta(chord: float, radius: float) -> float:
    """Largest distance (m) of the minor arc from its chord: r - sqrt(r^2 - (c/2)^2)."""
    return radius - math.sqrt(radius**2 - (chord / 2) ** 2)
