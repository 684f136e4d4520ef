"""Losses used to train motor policies. Trajectory tensors have time on dim -2 of the
position / action / hidden arrays: (..., T, features); every loss returns a scalar (mean over
batch and time) unless stated otherwise."""
from __future__ import annotations

import torch


def l1_position(position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """MotorNet tutorial's loss: mean over batch and time of sum_xy |position - goal| (m)."""
    return torch.mean(torch.sum(torch.abs(position - goal), dim=-1))


def l2_position(position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Mean squared Euclidean distance to the goal (m^2)."""
    return torch.mean(torch.sum((position - goal) ** 2, dim=-1))


def clipped_position(position: torch.Tensor, goal: torch.Tensor, radius: float = 0.01) -> torch.Tensor:
    """Mean L1 distance beyond a target radius (m): no penalty inside the target."""
    return torch.mean(torch.clamp(torch.sum(torch.abs(position - goal), dim=-1) - radius, min=0.0))


def activation_l2(activation: torch.Tensor) -> torch.Tensor:
    """Muscle effort: mean over batch and time of sum_muscles activation^2."""
    return torch.mean(torch.sum(activation**2, dim=-1))


def activation_derivative_l2(activation: torch.Tensor, dt: float = 1.0) -> torch.Tensor:
    """Smoothness: mean of sum_muscles (d activation / dt)^2 by finite differences along time."""
    d = torch.diff(activation, dim=-2) / dt
    return torch.mean(torch.sum(d**2, dim=-1))


def hidden_activity_l2(hidden: torch.Tensor) -> torch.Tensor:
    """Recurrent activity regulariser: mean of sum_units h^2."""
    return torch.mean(torch.sum(hidden**2, dim=-1))


def hidden_derivative_l2(hidden: torch.Tensor) -> torch.Tensor:
    """Recurrent dynamics regulariser: mean of sum_units (h_t - h_{t-1})^2."""
    return torch.mean(torch.sum(torch.diff(hidden, dim=-2) ** 2, dim=-1))


LOSSES = {
    "l1_position": l1_position,
    "l2_position": l2_position,
    "clipped_position": clipped_position,
}
