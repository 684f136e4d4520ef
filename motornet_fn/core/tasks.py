"""Task goal and start-state samplers as pure functions (randomness through an explicit generator)."""
from __future__ import annotations

import torch

from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.types import JointState


def uniform_joint_states(spec: EffectorSpec, params: EffectorParams, batch_size: int,
                         generator: torch.Generator | None = None) -> JointState:
    """Joint positions uniform within the position bounds, zero velocity (MotorNet's
    ``draw_random_uniform_states``: pos = upper + (lower - upper) * U[0, 1)).

    Returns:
        JointState with pos, vel of shape (batch_size, dof).
    """
    sp = params.skeleton
    u = torch.rand((batch_size, spec.dof), generator=generator, dtype=sp.pos_upper_bound.dtype)
    u = u.to(sp.pos_upper_bound.device)
    pos = (sp.pos_lower_bound - sp.pos_upper_bound) * u + sp.pos_upper_bound
    return JointState(pos, torch.zeros_like(pos))


def random_reach(spec: EffectorSpec, params: EffectorParams, batch_size: int,
                 generator: torch.Generator | None = None) -> tuple[JointState, torch.Tensor]:
    """MotorNet's RandomTargetReach: random start posture, goal = fingertip of another random posture.

    Returns:
        (start joint state (batch_size, dof), goal (batch_size, space_dim) in m).
    """
    start = uniform_joint_states(spec, params, batch_size, generator)
    target = uniform_joint_states(spec, params, batch_size, generator)
    goal = spec.skeleton.forward_kinematics(params.skeleton, target).pos
    return start, goal
