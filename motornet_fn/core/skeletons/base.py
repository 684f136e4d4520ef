"""The skeleton interface and MotorNet's joint-limit handling.

A skeleton is a frozen dataclass (static structure: dof, space_dim) whose methods are pure
functions of a parameter NamedTuple. Every parameter NamedTuple carries the joint bounds
``pos_lower_bound``, ``pos_upper_bound``, ``vel_lower_bound``, ``vel_upper_bound`` (each (dof,)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from motornet_fn.core.types import CartesianState, JointState, PointKinematics


def clip_joint(params: Any, pos: torch.Tensor, vel: torch.Tensor) -> JointState:
    """MotorNet's joint-limit rule, applied after each integration step.

    Velocity is clipped to its bounds, then zeroed where the (unclipped) position is at or beyond a
    position bound and the velocity points outward; finally position is clipped.
    """
    vel = torch.minimum(torch.maximum(vel, params.vel_lower_bound), params.vel_upper_bound)
    zero = torch.zeros_like(vel)
    vel = torch.where((vel < 0) & (pos <= params.pos_lower_bound), zero, vel)
    vel = torch.where((vel > 0) & (pos >= params.pos_upper_bound), zero, vel)
    pos = torch.minimum(torch.maximum(pos, params.pos_lower_bound), params.pos_upper_bound)
    return JointState(pos, vel)


def as_vector(name: str, value: Any, n: int, dtype: torch.dtype, device=None) -> torch.Tensor:
    """Validate a scalar-or-(n,) argument and return a (n,) tensor."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a number or a sequence of {n} numbers, got {value!r}") from err
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"{name} must be a scalar or have {n} elements, got {t.numel()}: {t.tolist()}")
    if torch.isnan(t).any():
        raise ValueError(f"{name} must not contain NaN, got {t.tolist()}")
    return t.to(dtype=dtype, device=device).clone()


def as_scalar(name: str, value: Any, dtype: torch.dtype, device=None, positive: bool = False) -> torch.Tensor:
    """Validate a finite scalar parameter and return a 0-dim tensor."""
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number, got {value!r}") from err
    if not torch.isfinite(torch.tensor(v)) or (positive and v <= 0) or (not positive and v < 0):
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return torch.tensor(v, dtype=dtype, device=device)


def check_bounds(lower: torch.Tensor, upper: torch.Tensor, what: str) -> None:
    if (lower > upper).any():
        raise ValueError(f"{what}_lower_bound must be <= {what}_upper_bound, got {lower.tolist()} > {upper.tolist()}")


@dataclass(frozen=True)
class SkeletonModel:
    """Base class of skeletons."""

    name: ClassVar[str] = "Skeleton"
    Params: ClassVar[type] = tuple

    @property
    def dof(self) -> int:
        raise NotImplementedError

    @property
    def space_dim(self) -> int:
        raise NotImplementedError

    def acceleration(self, params, joint: JointState, torque: torch.Tensor, endpoint_load: torch.Tensor):
        """Joint accelerations (..., dof) from generalized forces (..., dof) and an endpoint force
        (..., space_dim) mapped through the transposed endpoint Jacobian."""
        raise NotImplementedError

    def forward_kinematics(self, params, joint: JointState) -> CartesianState:
        """Endpoint position and velocity (..., space_dim)."""
        raise NotImplementedError

    def fixation_points(self, params, joint: JointState, coordinates: torch.Tensor, bodies: tuple,
                        motornet_velocity: bool = True) -> PointKinematics:
        """World kinematics of fixation points given in body frames.

        Args:
            coordinates: (space_dim, n_points) point coordinates in their body's frame (m).
            bodies: static tuple (n_points,) of body indices, 0 = world.
            motornet_velocity: reproduce MotorNet's point velocities (see the skeleton's notes).
        """
        raise NotImplementedError

    def clip(self, params, joint: JointState) -> JointState:
        """Apply MotorNet's joint limits (see :func:`clip_joint`)."""
        return clip_joint(params, joint.pos, joint.vel)

    def euler_update(self, params, joint: JointState, acceleration: torch.Tensor, dt: float) -> JointState:
        """MotorNet's skeleton step: pos += dt * vel_old, vel += dt * acc, then joint limits."""
        return clip_joint(params, joint.pos + joint.vel * dt, joint.vel + acceleration * dt)

    def check_joint(self, params, joint: JointState) -> None:
        """Eager check (outside transforms) that a joint state has the right size, is finite and in bounds."""
        for name, x, lo, hi in (
            ("position", joint.pos, params.pos_lower_bound, params.pos_upper_bound),
            ("velocity", joint.vel, params.vel_lower_bound, params.vel_upper_bound),
        ):
            if x.shape[-1] != self.dof:
                raise ValueError(f"joint {name} must have dof={self.dof} entries in its last dim, got shape {tuple(x.shape)}")
            if not torch.isfinite(x).all():
                raise ValueError(f"joint {name} must be finite, got {x.tolist()}")
            if (x < lo).any() or (x > hi).any():
                raise ValueError(
                    f"joint {name} out of bounds: got values in [{x.min().item():.6g}, {x.max().item():.6g}], "
                    f"bounds are {lo.tolist()} .. {hi.tolist()}"
                )
