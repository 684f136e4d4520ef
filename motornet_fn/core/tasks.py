"""Task goal and start-state samplers as pure functions (randomness through an explicit generator)."""
from __future__ import annotations

import math
from typing import NamedTuple

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


class Schedule(NamedTuple):
    """What a trial shows and asks for at every step (index 0 = the state after reset).

    Attributes:
        shown: (T+1, B, space_dim) goal position shown in the observation (m).
        desired: (T+1, B, space_dim) where the endpoint should be (m): the start position until the
            go cue (and throughout catch trials), the target afterwards.
        cue: (T+1, B, 1) go cue: 0 before, 1 from the go step on (always 0 in catch trials).
    """

    shown: torch.Tensor
    desired: torch.Tensor
    cue: torch.Tensor


def constant_schedule(goal: torch.Tensor, n_steps: int) -> Schedule:
    """A goal (B, space_dim) shown and required from the start, with the go cue always on."""
    seq = goal.unsqueeze(0).expand(n_steps + 1, *goal.shape)
    return Schedule(seq, seq, goal.new_ones(n_steps + 1, *goal.shape[:-1], 1))


def circle_targets(centre: torch.Tensor, radius: float, n_targets: int) -> torch.Tensor:
    """(n_targets, 2) points on a circle around ``centre`` (2,), the first at angle 0 (to the right)."""
    angle = torch.arange(n_targets, dtype=centre.dtype, device=centre.device) * (2 * math.pi / n_targets)
    return centre + radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def centre_out(spec: EffectorSpec, params: EffectorParams, start_pos: torch.Tensor, radius: float,
               n_targets: int = 8, target_index: torch.Tensor | None = None) -> tuple[JointState, torch.Tensor]:
    """Centre-out reaching from one posture to targets on a circle around its fingertip.

    Args:
        start_pos: (dof,) start joint positions (zero velocity).
        target_index: (B,) which of the ``n_targets`` targets each trial goes to (default: each once).

    Returns:
        (start joint state (B, dof), goal (B, 2)).
    """
    start = JointState(start_pos, torch.zeros_like(start_pos))
    centre = spec.skeleton.forward_kinematics(params.skeleton, start).pos
    targets = circle_targets(centre, radius, n_targets)
    index = torch.arange(n_targets, device=start_pos.device) if target_index is None else target_index
    batch = index.shape[0]
    joint = JointState(start_pos.expand(batch, -1).clone(), torch.zeros(batch, spec.dof, dtype=start_pos.dtype,
                                                                         device=start_pos.device))
    return joint, targets[index]


def delayed_schedule(start_xy: torch.Tensor, goal: torch.Tensor, n_steps: int, target_step: torch.Tensor,
                     go_step: torch.Tensor, catch: torch.Tensor) -> Schedule:
    """Delayed reach: the target appears at ``target_step``, the go cue comes at ``go_step``; the
    endpoint must hold at the start until the cue, then reach. Catch trials never get the cue.

    Args:
        start_xy, goal: (B, 2) start fingertip and target (m).
        target_step, go_step: (B,) integer steps; catch: (B,) bool.
    """
    t = torch.arange(n_steps + 1, device=goal.device).unsqueeze(-1)  # (T+1, 1)
    visible = (t >= target_step).unsqueeze(-1)
    go = ((t >= go_step) & ~catch).unsqueeze(-1)
    shown = torch.where(visible, goal, start_xy)
    desired = torch.where(go, goal, start_xy)
    return Schedule(shown, desired, go.to(goal.dtype))


def sample_delays(batch_size: int, n_steps: int, target_step: int, delay_range: tuple[int, int], catch_prob: float,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random go-cue delays (uniform integer steps in [lo, hi]) and catch-trial flags.

    Returns:
        (target_step (B,), go_step (B,), catch (B,) bool).
    """
    lo, hi = delay_range
    if not 0 <= lo <= hi or target_step + hi > n_steps:
        raise ValueError(f"delay_range must satisfy 0 <= lo <= hi and target_step + hi <= n_steps={n_steps}, "
                         f"got delay_range={delay_range}, target_step={target_step}")
    if not 0.0 <= catch_prob <= 1.0:
        raise ValueError(f"catch_prob must lie in [0, 1], got {catch_prob}")
    delay = torch.randint(lo, hi + 1, (batch_size,), generator=generator)
    catch = torch.rand(batch_size, generator=generator) < catch_prob
    target = torch.full((batch_size,), target_step)
    return target, target + delay, catch


def random_endpoint_loads(batch_size: int, max_force: float, generator: torch.Generator | None = None,
                          dtype=torch.float32) -> torch.Tensor:
    """(B, 2) constant endpoint loads, uniform in direction and in magnitude within [0, max_force] N."""
    angle = torch.rand(batch_size, generator=generator, dtype=dtype) * (2 * math.pi)
    magnitude = torch.rand(batch_size, generator=generator, dtype=dtype) * max_force
    return magnitude.unsqueeze(-1) * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
