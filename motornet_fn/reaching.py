"""Reaching environments beyond MotorNet 0.3.0, on MotorNet's :class:`~motornet_fn.environment.Environment`:

* :class:`CentreOutReach`: N targets on a circle around a start posture.
* :class:`DelayedReach`: the target appears, then a go cue after a random delay; catch trials get no
  cue. The go cue is the last observation entry.
* :class:`RandomTargetReachWithLoads`: MotorNet's random reaches with a random constant endpoint load.

Every environment here also takes force fields switchable per trial: a curl field (``curl_gain``,
clockwise for gains > 0) and a force channel; pass per-trial values through ``reset(options=...)``.
Goals and fields are computed by the pure functions of :mod:`motornet_fn.core.tasks` and
:mod:`motornet_fn.core.interventions`; randomness comes from the environment's ``np_random``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from motornet_fn.core import interventions, tasks
from motornet_fn.environment import Environment


class ForceFieldEnvironment(Environment):
    """An Environment whose ``step`` adds endpoint force fields (curl field, force channel) computed
    from the fingertip state entering the step, on top of any ``endpoint_load`` passed to ``step``.

    Args:
        curl_gain: default curl-field gain (N s/m); per-trial gains via ``reset(options={"curl_gain": ...})``.
        channel_stiffness, channel_damping: default force-channel gains (N/m, N s/m); 0 = no channel. The
            channel runs from each trial's start position towards its goal.
        *args, **kwargs: passed to :class:`Environment`.
    """

    def __init__(self, *args, curl_gain: float = 0.0, channel_stiffness: float = 0.0, channel_damping: float = 0.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.curl_gain = float(curl_gain)
        self.channel_stiffness = float(channel_stiffness)
        self.channel_damping = float(channel_damping)
        self._fields = None

    def _set_fields(self, batch_size: int, options: dict | None) -> None:
        """Per-trial field gains (options override the defaults; scalars or (batch,) sequences)."""
        options = options or {}

        def per_trial(name):
            value = torch.as_tensor(options.get(name, getattr(self, name)), dtype=torch.float32)
            if value.numel() not in (1, batch_size):
                raise ValueError(f"options[{name!r}] must be a scalar or have batch_size={batch_size} values, "
                                 f"got {value.numel()}")
            return value.reshape(-1).expand(batch_size).to(self.device)

        start = self.states["fingertip"].detach()
        direction = self.goal.detach() - start
        direction = torch.where(direction.norm(dim=-1, keepdim=True) > 0, direction, torch.tensor([0.0, 1.0]))
        self._fields = dict(curl=per_trial("curl_gain"), stiffness=per_trial("channel_stiffness"),
                            damping=per_trial("channel_damping"), origin=start, direction=direction)

    def field_force(self) -> torch.Tensor:
        """(batch, 2) endpoint force of the fields at the current state."""
        f = self._fields
        pos, vel = self.states["cartesian"].chunk(2, dim=-1)
        force = interventions.curl_force(vel, f["curl"])
        if bool((f["stiffness"] != 0).any() or (f["damping"] != 0).any()):
            force = force + interventions.channel_force(pos, vel, f["origin"], f["direction"], f["stiffness"],
                                                        f["damping"])
        return force

    def step(self, action, deterministic: bool = False, **kwargs):
        """As :meth:`Environment.step`, with the field force added to the endpoint load."""
        load = kwargs.pop("endpoint_load", None)
        field = self.field_force()
        kwargs["endpoint_load"] = field if load is None else field + torch.as_tensor(load, dtype=field.dtype)
        return super().step(action, deterministic=deterministic, **kwargs)


class CentreOutReach(ForceFieldEnvironment):
    """Centre-out reaching: every trial starts at ``start_posture`` and reaches to one of ``n_targets``
    targets on a circle of ``radius`` around the start fingertip.

    Args:
        start_posture: (dof,) start joint angles (default: 45 and 90 deg for arms, the origin for point masses).
        n_targets: number of targets; target i is at angle 2 pi i / n_targets (0 = to the right).
        radius: target distance (m).
        *args, **kwargs: passed to :class:`ForceFieldEnvironment`.

    ``reset(options=...)`` also takes ``target_index`` (batch,) (default: 0, 1, ..., n_targets - 1, 0, ...)
    or ``random_targets=True`` (drawn from ``np_random``).
    """

    def __init__(self, *args, start_posture=None, n_targets: int = 8, radius: float = 0.1, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(n_targets, int) or n_targets < 1:
            raise ValueError(f"n_targets must be a positive int, got {n_targets!r}")
        if not radius > 0:
            raise ValueError(f"radius must be > 0 m, got {radius!r}")
        if start_posture is None:
            start_posture = [0.0] * self.skeleton.dof if self.skeleton.dof == self.space_dim and \
                type(self.skeleton).__name__ == "PointMass" else [np.pi / 4, np.pi / 2]
        self.start_posture = [float(x) for x in np.asarray(start_posture).reshape(-1)]
        if len(self.start_posture) != self.skeleton.dof:
            raise ValueError(f"start_posture must have dof={self.skeleton.dof} values, got {self.start_posture}")
        self.n_targets = n_targets
        self.radius = float(radius)
        self.target_index = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._set_generator(seed=seed)
        options = dict(options or {})
        batch_size = options.get("batch_size", 1)
        if options.get("target_index") is not None:
            index = np.asarray(options["target_index"]).reshape(-1)
            batch_size = index.size
        elif options.get("random_targets", False):
            index = self.np_random.integers(self.n_targets, size=batch_size)
        else:
            index = np.arange(batch_size) % self.n_targets
        if (index < 0).any() or (index >= self.n_targets).any():
            raise ValueError(f"target_index must lie in 0..{self.n_targets - 1}, got {index.tolist()}")
        self.target_index = index
        start = torch.tensor(self.start_posture, dtype=torch.float32, device=self.device)
        joint = torch.cat([start, torch.zeros_like(start)]).expand(batch_size, -1)
        self.effector.reset(options={"batch_size": batch_size, "joint_state": joint})
        spec, params = self.effector.spec, self.effector.params()
        _, goal = tasks.centre_out(spec, params, start, self.radius, self.n_targets,
                                   torch.as_tensor(index, device=self.device))
        self.goal = goal.to(self.device)
        self.elapsed = 0.0
        self._set_fields(batch_size, options)
        return self._start_episode(batch_size, options.get("deterministic", False))


class RandomTargetReachWithLoads(ForceFieldEnvironment):
    """MotorNet's RandomTargetReach with a constant endpoint load per trial, uniform in direction and in
    magnitude up to ``max_load`` (N), drawn from ``np_random`` after the targets.
    ``info["endpoint_load"]`` holds it."""

    def __init__(self, *args, max_load: float = 5.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not max_load >= 0:
            raise ValueError(f"max_load must be >= 0 N, got {max_load!r}")
        self.max_load = float(max_load)
        self.endpoint_load = None
        self.obs_noise[: self.skeleton.space_dim] = [0.0] * self.skeleton.space_dim

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._set_generator(seed=seed)
        batch_size, joint_state, deterministic = self._parse_options(options)
        self.effector.reset(options={"batch_size": batch_size, "joint_state": joint_state})
        self.goal = self.joint2cartesian(self.effector.draw_random_uniform_states(batch_size)).chunk(2, dim=-1)[0]
        angle = self.np_random.uniform(0, 2 * np.pi, size=batch_size)
        magnitude = self.np_random.uniform(0, self.max_load, size=batch_size)
        load = magnitude[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        self.endpoint_load = torch.tensor(load, dtype=torch.float32, device=self.device)
        self.elapsed = 0.0
        self._set_fields(batch_size, options)
        obs, info = self._start_episode(batch_size, deterministic)
        info["endpoint_load"] = self.endpoint_load
        return obs, info

    def step(self, action, deterministic: bool = False, **kwargs):
        extra = kwargs.pop("endpoint_load", None)
        load = self.endpoint_load if extra is None else self.endpoint_load + torch.as_tensor(extra)
        obs, reward, terminated, truncated, info = super().step(action, deterministic, endpoint_load=load, **kwargs)
        info["endpoint_load"] = self.endpoint_load
        return obs, reward, terminated, truncated, info


class DelayedReach(ForceFieldEnvironment):
    """Delayed random reaching with a go cue.

    The target appears ``target_on`` s into the trial (before that the observed goal is the start
    position); the go cue comes after a further delay drawn uniformly from ``go_delay_range`` (s, on the
    dt grid); with probability ``catch_prob`` a trial is a catch trial and never gets the cue. The go
    cue (0/1) is the last observation entry. ``info["desired"]`` is where the hand should be: the start
    until the cue (always, in catch trials), the target afterwards; train on it.

    Args:
        target_on, go_delay_range, catch_prob: see above.
        *args, **kwargs: passed to :class:`ForceFieldEnvironment`.
    """

    def __init__(self, *args, target_on: float = 0.1, go_delay_range=(0.2, 0.4), catch_prob: float = 0.2, **kwargs):
        self.target_on, self.go_delay_range, self.catch_prob = float(target_on), tuple(go_delay_range), float(catch_prob)
        super().__init__(*args, **kwargs)
        steps = [round(x / self.dt) for x in (self.target_on, *self.go_delay_range)]
        if self.target_on < 0 or not 0 <= self.go_delay_range[0] <= self.go_delay_range[1]:
            raise ValueError(f"need target_on >= 0 and 0 <= go_delay_range[0] <= go_delay_range[1], got "
                             f"target_on={target_on}, go_delay_range={go_delay_range}")
        if (steps[0] + steps[2]) * self.dt > self.max_ep_duration + 1e-9:
            raise ValueError(f"target_on + go_delay_range[1] = {self.target_on + self.go_delay_range[1]} s exceeds "
                             f"max_ep_duration={self.max_ep_duration} s")
        if not 0 <= self.catch_prob <= 1:
            raise ValueError(f"catch_prob must lie in [0, 1], got {catch_prob}")
        self.obs_noise[: self.skeleton.space_dim] = [0.0] * self.skeleton.space_dim
        self.schedule = None

    def _get_obs_size(self) -> int:
        return super()._get_obs_size() + 1

    def _step_index(self) -> int:
        return int(round(self.elapsed / self.dt))

    def get_obs(self, action=None, deterministic: bool = False):
        if self.schedule is not None:  # the goal shown now, and the cue
            t = min(self._step_index(), self.schedule.shown.shape[0] - 1)
            self.goal = self.schedule.shown[t]
            self._cue = self.schedule.cue[t]
        self.update_obs_buffer(action=action)
        parts = [self.goal, self.obs_buffer["vision"][0], self.obs_buffer["proprioception"][0]]
        obs = torch.cat(parts + self.obs_buffer["action"][: self.action_frame_stacking] + [self._cue], dim=-1)
        if deterministic is False:
            obs = self.apply_noise(obs, noise=self.obs_noise)
        return obs if self.differentiable else self.detach(obs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._set_generator(seed=seed)
        batch_size, joint_state, deterministic = self._parse_options(options)
        self.effector.reset(options={"batch_size": batch_size, "joint_state": joint_state})
        target = self.joint2cartesian(self.effector.draw_random_uniform_states(batch_size)).chunk(2, dim=-1)[0]
        lo, hi = (int(round(x / self.dt)) for x in self.go_delay_range)
        delay = self.np_random.integers(lo, hi + 1, size=batch_size)
        catch = self.np_random.uniform(size=batch_size) < self.catch_prob
        n_steps = int(round(self.max_ep_duration / self.dt))
        on = torch.full((batch_size,), int(round(self.target_on / self.dt)))
        start = self.states["fingertip"]
        self.schedule = tasks.delayed_schedule(start, target, n_steps, on, on + torch.as_tensor(delay),
                                               torch.as_tensor(catch))
        self.target, self.catch = target, catch
        self.elapsed = 0.0
        self.goal = self.schedule.shown[0]
        self._cue = self.schedule.cue[0]
        self._set_fields(batch_size, {**(options or {}), "channel_stiffness": 0.0})
        obs, info = self._start_episode(batch_size, deterministic)
        info.update(desired=self.schedule.desired[0], go_cue=self._cue)
        return obs, info

    def _set_fields(self, batch_size, options):
        goal, self.goal = self.goal, self.target  # channels point at the target, not the shown goal
        super()._set_fields(batch_size, options)
        self.goal = goal

    def step(self, action, deterministic: bool = False, **kwargs):
        obs, reward, terminated, truncated, info = super().step(action, deterministic, **kwargs)
        t = min(self._step_index(), self.schedule.shown.shape[0] - 1)
        info.update(desired=self.schedule.desired[t], go_cue=self.schedule.cue[t])
        return obs, reward, terminated, truncated, info


__all__ = ["ForceFieldEnvironment", "CentreOutReach", "DelayedReach", "RandomTargetReachWithLoads"]
