"""Gradient-safe numerical helpers (double-``where`` pattern), small rotations and prefix sums."""
from __future__ import annotations

import torch


def safe_div(num: torch.Tensor, den: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """``num / den`` where ``den != 0``, else ``fill``; gradients stay finite at ``den == 0``."""
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, 1.0), fill)


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x)`` for ``x > 0``, 0 elsewhere, with zero (not NaN/inf) gradient at and below 0."""
    ok = x > 0
    return torch.where(ok, torch.sqrt(torch.where(ok, x, 1.0)), 0.0)


def safe_norm(x: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """Euclidean norm along ``dim`` whose gradient is 0 (not NaN) at the zero vector."""
    return safe_sqrt(torch.sum(x * x, dim=dim, keepdim=keepdim))


def rotate2d(coords: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate planar points. coords: (..., 2, P), angle: (..., P) -> (..., 2, P)."""
    c, s = torch.cos(angle), torch.sin(angle)
    x, y = coords[..., 0, :], coords[..., 1, :]
    return torch.stack([x * c - y * s, x * s + y * c], dim=-2)


def prefix_sum(x: torch.Tensor) -> torch.Tensor:
    """Cumulative sum over the last dim, (..., n) -> (..., n), written as n - 1 elementwise adds.

    ``torch.cumsum``'s numbers (to float rounding: ATen accumulates float32 in double, so for n <= 2 they are
    the same bits), but it fuses into compiled kernels: inductor's CPU backend has no lowering for ``cumsum`` and
    calls ATen's out of the kernel, an allocation and a dispatch at every step of a compiled loop (and another
    in the backward).
    """
    parts = x.unbind(-1)
    sums = [parts[0]]
    for part in parts[1:]:
        sums.append(sums[-1] + part)
    return torch.stack(sums, dim=-1)
