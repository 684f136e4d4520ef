"""Closed-loop episodes over the functional core: policy -> effector step -> delayed feedback.

The observation is MotorNet's: [goal, delayed fingertip, delayed proprioception, past actions], with
optional Gaussian noise whose samples are drawn up front from an explicit generator, so an episode
is a pure function of (parameters, initial conditions, noise) and can be vmapped over an ensemble.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from motornet_fn.core import effector as eff
from motornet_fn.core import sensory
from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.interventions import Intervention, intervention_loads
from motornet_fn.core.tasks import Schedule
from motornet_fn.core.tree import tree_map
from motornet_fn.core.types import JointState, Loads


@dataclass(frozen=True)
class TaskConfig:
    """Static description of a closed-loop reaching task.

    Attributes:
        effector: effector spec.
        n_steps: steps per episode (episode duration / dt).
        proprio_delay, vision_delay: feedback delays in steps (>= 1; 1 means no lag, as MotorNet).
        action_frames: number of past actions appended to the observation.
        proprio_noise, vision_noise, action_noise, obs_noise: Gaussian noise std (the goal part of
            the observation stays noiseless, as in MotorNet's RandomTargetReach).
        go_cue: append the go cue (0/1) to the observation (delayed-reach tasks).
    """

    effector: EffectorSpec
    n_steps: int = 100
    proprio_delay: int = 1
    vision_delay: int = 1
    action_frames: int = 0
    proprio_noise: float = 0.0
    vision_noise: float = 0.0
    action_noise: float = 0.0
    obs_noise: float = 0.0
    go_cue: bool = False

    def __post_init__(self):
        for name in ("n_steps", "proprio_delay", "vision_delay"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.action_frames, int) or self.action_frames < 0:
            raise ValueError(f"action_frames must be an int >= 0, got {self.action_frames!r}")
        for name in ("proprio_noise", "vision_noise", "action_noise", "obs_noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def obs_dim(self) -> int:
        e = self.effector
        return 2 * e.space_dim + 2 * e.n_muscles + e.n_muscles * self.action_frames + int(self.go_cue)

    @property
    def noisy(self) -> bool:
        return any(x > 0 for x in (self.proprio_noise, self.vision_noise, self.action_noise, self.obs_noise))


class EpisodeInit(NamedTuple):
    """Initial conditions of a batch of trials.

    Attributes:
        joint: start state, (B, dof) each.
        goal: (B, space_dim) target position (m).
        schedule: optional time-varying goal display, desired position and go cue; without it the
            goal is shown and required from the start.
        intervention: optional force fields / force schedules applied during the episode.
    """

    joint: JointState
    goal: torch.Tensor
    schedule: Schedule | None = None
    intervention: Intervention | None = None


class EpisodeNoise(NamedTuple):
    """Pre-drawn noise. Attributes: action (T, B, M); proprio (T+1, B, 2M); vision (T+1, B, space);
    obs (T+1, B, obs_dim)."""

    action: torch.Tensor
    proprio: torch.Tensor
    vision: torch.Tensor
    obs: torch.Tensor


class Trace(NamedTuple):
    """Episode record, batch first. Attributes: fingertip (B, T+1, space) m; goal (B, T+1, space)
    desired position; joint_pos (B, T+1, dof); activation (B, T+1, M); action (B, T, M); hidden
    (B, T, H); obs (B, T, obs_dim). Fields an episode was asked not to record are None."""

    fingertip: torch.Tensor
    goal: torch.Tensor
    joint_pos: torch.Tensor
    activation: torch.Tensor
    action: torch.Tensor
    hidden: torch.Tensor
    obs: torch.Tensor


#: the fields of a :class:`Trace`, in order
TRACE_FIELDS = Trace._fields


def recorded_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The per-step :class:`Trace` fields an episode asked for ``fields`` records: the fingertip
    always, the others when asked (the goal is not recorded per step).

    Raises:
        ValueError: a name in ``fields`` is not a Trace field.
    """
    unknown = set(fields) - set(TRACE_FIELDS)
    if unknown:
        raise ValueError(f"fields must be among {TRACE_FIELDS}, got unknown {sorted(unknown)}")
    return ("fingertip",) + tuple(f for f in TRACE_FIELDS if f in fields and f not in ("fingertip", "goal"))


def draw_noise(task: TaskConfig, batch_size: int, generator: torch.Generator | None, dtype=torch.float32) -> EpisodeNoise | None:
    """Sample the episode's noise (None when the task is noiseless)."""
    if not task.noisy:
        return None
    T, B, M, D = task.n_steps, batch_size, task.effector.n_muscles, task.effector.space_dim
    randn = lambda *shape: torch.randn(shape, generator=generator, dtype=dtype)  # noqa: E731
    obs_std = torch.full((task.obs_dim,), task.obs_noise, dtype=dtype)
    obs_std[:D] = 0.0
    return EpisodeNoise(randn(T, B, M) * task.action_noise, randn(T + 1, B, 2 * M) * task.proprio_noise,
                        randn(T + 1, B, D) * task.vision_noise, randn(T + 1, B, task.obs_dim) * obs_std)


def run_episode(
    task: TaskConfig,
    params: EffectorParams,
    policy: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    hidden: torch.Tensor,
    init: EpisodeInit,
    noise: EpisodeNoise | None = None,
    loads: Loads | None = None,
    truncate_every: int | None = None,
    fields: tuple[str, ...] = TRACE_FIELDS,
) -> Trace:
    """Roll a policy through one episode.

    Args:
        policy: ``(obs (B, obs_dim), h (B, H)) -> (action (B, M), h)``.
        hidden: (B, H) initial hidden state.
        truncate_every: if set, cut the gradient through the effector state and hidden state every
            this many steps (truncated backpropagation through time).
        fields: the :class:`Trace` fields to record (fingertip and goal always are); the others are
            None, which saves their memory in training when the loss does not read them.
    """
    record = {name: [] for name in recorded_fields(fields)}
    spec = task.effector
    state = eff.initial_state(spec, params, init.joint)
    muscles = (spec.muscle, params.muscle)

    def feedback(state, t):  # -> proprioception, vision (noisy when the task is), true fingertip
        prop = sensory.proprioception(*muscles, state.muscle)
        tip = eff.cartesian(spec, params, state.joint).pos
        if noise is None:
            return prop, tip, tip
        return prop + noise.proprio[t], tip + noise.vision[t], tip

    def observe(buffer, t):
        shown = init.goal if init.schedule is None else init.schedule.shown[t]
        obs = sensory.observation(shown, buffer)
        if task.go_cue:
            cue = init.goal.new_ones(init.goal.shape[:-1] + (1,)) if init.schedule is None else init.schedule.cue[t]
            obs = torch.cat([obs, cue], dim=-1)
        return obs + noise.obs[t] if noise is not None else obs

    prop, vis, tip = feedback(state, 0)
    zero_action = init.goal.new_zeros(init.goal.shape[:-1] + (spec.n_muscles,))
    buffer = sensory.init_buffer(prop, vis, zero_action, task.proprio_delay, task.vision_delay, task.action_frames)
    buffer = sensory.update_buffer(buffer, prop, vis)
    obs = observe(buffer, 0)

    def put(**values):
        for name, value in values.items():
            if name in record:
                record[name].append(value)

    put(fingertip=tip, joint_pos=state.joint.pos, activation=state.muscle.activation)
    for t in range(task.n_steps):
        if truncate_every and t > 0 and t % truncate_every == 0:
            state = tuple_detach(state)
            hidden = hidden.detach()
        put(obs=obs)
        action, hidden = policy(obs, hidden)
        noisy_action = action + noise.action[t] if noise is not None else action
        step_loads = loads if init.intervention is None else intervention_loads(spec, params, state, init.intervention, t)
        state = eff.step(spec, params, state, noisy_action, step_loads)
        prop, vis, tip = feedback(state, t + 1)
        buffer = sensory.update_buffer(buffer, prop, vis, noisy_action)
        obs = observe(buffer, t + 1)
        put(fingertip=tip, joint_pos=state.joint.pos, activation=state.muscle.activation, action=action, hidden=hidden)
    stacked = {name: torch.stack(values, dim=-2) for name, values in record.items()}  # batch first, time on -2
    if init.schedule is None:
        goal = init.goal.unsqueeze(-2).expand(*init.goal.shape[:-1], task.n_steps + 1, init.goal.shape[-1])
    else:
        goal = init.schedule.desired.movedim(0, -2)
    return Trace(goal=goal, **{name: stacked.get(name) for name in TRACE_FIELDS if name != "goal"})


def tuple_detach(tree):
    """Detach every leaf of a pytree (cuts the gradient for truncated BPTT)."""
    return tree_map(torch.Tensor.detach, tree)
