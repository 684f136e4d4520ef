"""Shared state pytrees of the functional core.

Every container is a ``typing.NamedTuple`` whose leaves are tensors, so ``torch.func`` transforms
(``vmap``, ``grad``, ``jacrev``, ``jacfwd``) treat it as a pytree. Shapes below are unbatched; every
function of the core accepts any number of leading batch dimensions in front of them.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch


class JointState(NamedTuple):
    """Joint-space state of a skeleton.

    Attributes:
        pos: (dof,) joint positions (rad for arms, m for point masses).
        vel: (dof,) joint velocities (rad/s or m/s).
    """

    pos: torch.Tensor
    vel: torch.Tensor


class CartesianState(NamedTuple):
    """Endpoint (fingertip) state in world coordinates.

    Attributes:
        pos: (space_dim,) endpoint position (m).
        vel: (space_dim,) endpoint velocity (m/s).
    """

    pos: torch.Tensor
    vel: torch.Tensor


class Geometry(NamedTuple):
    """Musculotendon geometry for every muscle.

    Attributes:
        length: (n_muscles,) musculotendon length (m).
        velocity: (n_muscles,) musculotendon lengthening velocity (m/s).
        moment_arm: (dof, n_muscles) d(length)/d(joint position) (m/rad or m/m). MotorNet's sign
            convention: a muscle pulling with force F produces generalized force ``-F * moment_arm``.
    """

    length: torch.Tensor
    velocity: torch.Tensor
    moment_arm: torch.Tensor


class PointKinematics(NamedTuple):
    """World-frame kinematics of muscle fixation points.

    Attributes:
        pos: (space_dim, n_points) positions (m).
        vel: (space_dim, n_points) velocities (m/s).
        jacobian: (space_dim, dof, n_points) d(position)/d(joint position).
    """

    pos: torch.Tensor
    vel: torch.Tensor
    jacobian: torch.Tensor


class EffectorState(NamedTuple):
    """Full state of an effector.

    Attributes:
        joint: skeleton joint state.
        muscle: the muscle model's state NamedTuple (fields in MotorNet's state-name order, each
            (n_muscles,)).
        geometry: musculotendon geometry of ``joint``.
    """

    joint: JointState
    muscle: Any
    geometry: Geometry


class Loads(NamedTuple):
    """External loads held constant over one step.

    Attributes:
        endpoint: (space_dim,) force applied at the endpoint (N), mapped to joints by J^T.
        joint: (dof,) generalized force added at the joints (N.m or N).
    """

    endpoint: torch.Tensor
    joint: torch.Tensor


def geometry_to_tensor(geometry: Geometry) -> torch.Tensor:
    """Stack geometry into MotorNet's layout: (2 + dof, n_muscles) = [length, velocity, moments...]."""
    return torch.cat([geometry.length.unsqueeze(-2), geometry.velocity.unsqueeze(-2), geometry.moment_arm], dim=-2)


def geometry_from_tensor(tensor: torch.Tensor) -> Geometry:
    """Inverse of :func:`geometry_to_tensor`."""
    return Geometry(tensor[..., 0, :], tensor[..., 1, :], tensor[..., 2:, :])


def muscle_to_tensor(muscle_state: Any) -> torch.Tensor:
    """Stack a muscle state NamedTuple into MotorNet's layout (n_states, n_muscles)."""
    return torch.stack(tuple(muscle_state), dim=-2)


def joint_to_tensor(joint: JointState) -> torch.Tensor:
    """MotorNet's joint layout (2 * dof,) = [pos..., vel...]."""
    return torch.cat([joint.pos, joint.vel], dim=-1)


def joint_from_tensor(tensor: torch.Tensor) -> JointState:
    """Inverse of :func:`joint_to_tensor`."""
    pos, vel = tensor.chunk(2, dim=-1)
    return JointState(pos, vel)
