"""Mechanical interventions applied inside the step: endpoint force fields, force channels and
scheduled force pulses. Everything is a tensor, so interventions differentiate, batch and vmap, and
can be switched per trial by setting a trial's gain to zero.

Curl field (Shadmehr & Mussa-Ivaldi 1994): f = B v with B = k [[0, 1], [-1, 0]], i.e.
f = k (v_y, -v_x): clockwise for k > 0 (a reach straight "up" (+y) is pushed to the right (+x)).

Force channel (Scheidt et al. 2000): a stiff, damped spring that keeps the endpoint on the line
through ``origin`` along ``direction``: f = -(K d + D d') n, where n is the unit normal to the line and
d = (x - origin) . n the signed distance.

Environments (:mod:`motornet_fn.core.env`) carry per-trial fields in their state; open-loop rollouts
take an :class:`Intervention` (:func:`motornet_fn.core.engine.rollout`).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from motornet_fn.core import effector as eff
from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.types import EffectorState


class Intervention(NamedTuple):
    """Per-trial force fields and per-step force schedules (batch dims ``...`` broadcast).

    Attributes:
        curl_gain: (...,) curl-field gain k (N s/m); 0 switches the field off for a trial.
        channel_stiffness: (...,) K (N/m); 0 switches the channel off.
        channel_damping: (...,) D (N s/m).
        channel_origin: (..., 2) a point on the channel line (m).
        channel_direction: (..., 2) direction of the channel line (normalised internally).
        endpoint_force: (T, ..., space_dim) force added at the endpoint at each step (N), e.g. pulses.
        joint_force: (T, ..., dof) generalized force added at the joints at each step.
    """

    curl_gain: torch.Tensor
    channel_stiffness: torch.Tensor
    channel_damping: torch.Tensor
    channel_origin: torch.Tensor
    channel_direction: torch.Tensor
    endpoint_force: torch.Tensor
    joint_force: torch.Tensor


def no_intervention(spec: EffectorSpec, n_steps: int, batch_shape: tuple = (), dtype=torch.float32,
                    device=None) -> Intervention:
    """An intervention that does nothing (all gains and forces zero)."""
    z = lambda *s: torch.zeros(*s, dtype=dtype, device=device)  # noqa: E731
    direction = z(*batch_shape, 2)
    direction[..., 0] = 1.0
    return Intervention(z(*batch_shape), z(*batch_shape), z(*batch_shape), z(*batch_shape, 2), direction,
                        z(n_steps, *batch_shape, spec.space_dim), z(n_steps, *batch_shape, spec.dof))


def curl_force(velocity: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Curl-field force (..., 2) from endpoint velocity (..., 2) (clockwise for gain > 0)."""
    return gain.unsqueeze(-1) * torch.stack([velocity[..., 1], -velocity[..., 0]], dim=-1)


def channel_force(position, velocity, origin, direction, stiffness, damping) -> torch.Tensor:
    """Force-channel force (..., 2) pulling the endpoint back onto the channel line."""
    unit = direction / torch.linalg.vector_norm(direction, dim=-1, keepdim=True)
    normal = torch.stack([-unit[..., 1], unit[..., 0]], dim=-1)
    distance = torch.sum((position - origin) * normal, dim=-1)
    rate = torch.sum(velocity * normal, dim=-1)
    return -(stiffness * distance + damping * rate).unsqueeze(-1) * normal


def field_force(spec: EffectorSpec, params: EffectorParams, state: EffectorState,
                intervention: Intervention) -> torch.Tensor:
    """Endpoint force (..., space_dim) of the curl field and the channel at the state entering a step."""
    tip = eff.cartesian(spec, params, state.joint)
    return curl_force(tip.vel, intervention.curl_gain) + channel_force(
        tip.pos, tip.vel, intervention.channel_origin, intervention.channel_direction,
        intervention.channel_stiffness, intervention.channel_damping)


def rollout_with_intervention(spec: EffectorSpec, params: EffectorParams, state: EffectorState,
                              actions: torch.Tensor, intervention: Intervention) -> EffectorState:
    """:func:`motornet_fn.core.engine.rollout` with fields and schedules applied every step.

    Returns:
        EffectorState with a leading time dim T + 1.
    """
    from motornet_fn.core.engine import rollout

    return rollout(spec, params, state, actions, intervention=intervention)


def window(n_steps: int, start, duration, dtype=torch.float32, device=None) -> torch.Tensor:
    """(n_steps, ...) 1.0 during steps [start, start + duration) of each trial, else 0.0.

    Args:
        start: () or (...,) first step of each trial's window (an int or an integer tensor).
        duration: () or (...,) steps in each window (0: no window).
    """
    start, duration = torch.as_tensor(start, device=device), torch.as_tensor(duration, device=device)
    lead = torch.broadcast_shapes(start.shape, duration.shape)
    t = torch.arange(n_steps, device=start.device).reshape(-1, *([1] * len(lead)))
    return ((t >= start) & (t < start + duration)).to(dtype)


def pulse(n_steps: int, start, duration, force: torch.Tensor) -> torch.Tensor:
    """A force pulse schedule (n_steps, ..., D): ``force`` (..., D) during steps [start, start + duration)
    of each trial (``start``, ``duration``: ints or (...,) integer tensors, see :func:`window`)."""
    on = window(n_steps, start, duration, force.dtype, force.device)
    pad = max(force.ndim - on.ndim, 0)  # a window shared by every trial broadcasts over the trials
    return on.reshape(n_steps, *([1] * pad), *on.shape[1:], 1) * force


__all__ = ["Intervention", "no_intervention", "curl_force", "channel_force", "field_force",
           "rollout_with_intervention", "window", "pulse"]
