"""Sensory feedback as pure functions: proprioception, vision, delay lines and observation assembly.

Delays follow MotorNet: a delay of ``d`` steps is a line of ``d`` frames; each observation first
pushes the current frame and then reads the oldest, so the value seen is ``d - 1`` steps old (the
default delay of one step means no lag). Noise is not drawn here: callers pass noise tensors (or
nothing), keeping randomness explicit.

Delay lines are batch first: ``(..., n_frames, dim)``, oldest frame first, so a buffer vmaps and
packs like every other state leaf.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class SensoryBuffer(NamedTuple):
    """Delay lines, oldest frame first.

    Attributes:
        proprioception: (d_proprio, 2 * n_muscles) past proprioceptive frames.
        vision: (d_vision, space_dim) past visual frames.
        action: (n_action_frames, n_muscles) past actions (may have 0 frames).
    """

    proprioception: torch.Tensor
    vision: torch.Tensor
    action: torch.Tensor


def proprioception(muscle_model, muscle_params, muscle_state) -> torch.Tensor:
    """(2 * n_muscles,): [muscle length / l0_ce, muscle velocity / vmax] (MotorNet's default)."""
    length_scale, velocity_scale = muscle_model.proprioception_scales(muscle_params)
    return scaled_proprioception(muscle_state.muscle_length, muscle_state.muscle_velocity, length_scale, velocity_scale)


def scaled_proprioception(length: torch.Tensor, velocity: torch.Tensor, length_scale: torch.Tensor,
                          velocity_scale: torch.Tensor) -> torch.Tensor:
    """(..., 2 * n_muscles): [length / length_scale, velocity / velocity_scale] from (..., n_muscles) fibre
    lengths (m) and velocities (m/s)."""
    return torch.cat([length / length_scale, velocity / velocity_scale], -1)


def fill_line(frame: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(..., n_frames, dim) copies of ``frame`` (..., dim): a delay line at rest."""
    return frame.unsqueeze(-2).expand(*frame.shape[:-1], n_frames, frame.shape[-1]).clone()


def push(line: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Drop the oldest frame of ``line`` (..., n, dim) and append ``frame`` (..., dim)."""
    return torch.cat([line[..., 1:, :], frame.unsqueeze(-2)], dim=-2)


def init_buffer(proprio: torch.Tensor, vision: torch.Tensor, action: torch.Tensor, proprio_delay: int,
                vision_delay: int, action_frames: int) -> SensoryBuffer:
    """Delay lines filled with the current frames (delays in steps, >= 1)."""
    return SensoryBuffer(fill_line(proprio, proprio_delay), fill_line(vision, vision_delay),
                         fill_line(action, action_frames))


def update_buffer(buffer: SensoryBuffer, proprio: torch.Tensor, vision: torch.Tensor,
                  action: torch.Tensor | None = None) -> SensoryBuffer:
    """Push new frames; the action line only moves when an action is given (and has frames)."""
    actions = buffer.action if action is None or buffer.action.shape[-2] == 0 else push(buffer.action, action)
    return SensoryBuffer(push(buffer.proprioception, proprio), push(buffer.vision, vision), actions)


def observation(goal: torch.Tensor, buffer: SensoryBuffer, cue: torch.Tensor | None = None) -> torch.Tensor:
    """MotorNet's observation: [goal, delayed vision, delayed proprioception, action frames (oldest
    first)] concatenated on the last dim, plus the go cue (..., 1) when given."""
    frames = buffer.action.flatten(-2)  # (..., n_frames * n_muscles), oldest first
    parts = [goal, buffer.vision[..., 0, :], buffer.proprioception[..., 0, :], frames]
    return torch.cat(parts if cue is None else parts + [cue], dim=-1)
