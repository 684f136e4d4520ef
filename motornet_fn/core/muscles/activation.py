"""First-order activation dynamics shared by every muscle model.

Thelen (2003), eqs. 1-2 (also MuJoCo's muscle actuator):

    da/dt = (u - a) / tau(u, a),
    tau = tau_act * (0.5 + 1.5 a)      if u > a,
    tau = tau_deact / (0.5 + 1.5 a)    otherwise,

with u and a clipped to [min_activation, 1] first.
"""
from __future__ import annotations

import torch


def clip_activation(x: torch.Tensor, min_activation: torch.Tensor) -> torch.Tensor:
    """Clip to [min_activation, 1]. x: (..., n_muscles), min_activation: (n_muscles,)."""
    return torch.maximum(x, min_activation).clamp(max=1.0)


def activation_derivative(
    action: torch.Tensor,
    activation: torch.Tensor,
    min_activation: torch.Tensor,
    tau_activation: torch.Tensor,
    tau_deactivation: torch.Tensor,
) -> torch.Tensor:
    """da/dt (1/s). action, activation: (..., n_muscles); time constants (n_muscles,) in s."""
    u = clip_activation(action, min_activation)
    a = clip_activation(activation, min_activation)
    scale = 0.5 + 1.5 * a
    tau = torch.where(u > a, tau_activation * scale, tau_deactivation / scale)
    return (u - a) / tau
