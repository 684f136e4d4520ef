"""Reaching environments beyond MotorNet 0.3.0, on MotorNet's :class:`~motornet_fn.environment.Environment`.
Each runs one registered task of :mod:`motornet_fn.core.tasks`:

* :class:`CentreOutReach` (``centre_out``): N targets on a circle around a start posture.
* :class:`DelayedReach` (``delayed_reach``): the target appears, then a go cue after a random delay; catch
  trials get no cue. The go cue is the last observation entry; ``info["desired"]`` is where the hand
  should be.
* :class:`RandomTargetReachWithLoads` (``random_reach_loads``): MotorNet's random reaches with a random
  constant endpoint load (``info["endpoint_load"]``).

Every environment here also takes force fields switchable per trial: a curl field (``curl_gain``,
clockwise for gains > 0) and a force channel from each trial's start towards its target; pass per-trial
values through ``reset(options=...)``. Randomness comes from the environment's ``np_random``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from motornet_fn.environment import Environment


class ForceFieldEnvironment(Environment):
    """An Environment whose step adds endpoint force fields (curl field, force channel) computed from the
    fingertip state entering the step, on top of any ``endpoint_load`` passed to ``step``.

    Args:
        curl_gain: default curl-field gain (N s/m); per-trial gains via ``reset(options={"curl_gain": ...})``.
        channel_stiffness, channel_damping: default force-channel gains (N/m, N s/m); 0 = no channel. The
            channel runs from each trial's start position towards its target.
        *args: passed to :class:`Environment`.
        **kwargs: passed to :class:`Environment`.
    """

    def __init__(self, *args, curl_gain: float = 0.0, channel_stiffness: float = 0.0, channel_damping: float = 0.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.curl_gain = float(curl_gain)
        self.channel_stiffness = float(channel_stiffness)
        self.channel_damping = float(channel_damping)

    def _field_defaults(self) -> dict:
        return {"curl_gain": self.curl_gain, "channel_stiffness": self.channel_stiffness,
                "channel_damping": self.channel_damping}


class CentreOutReach(ForceFieldEnvironment):
    """Centre-out reaching: every trial starts at ``start_posture`` and reaches to one of ``n_targets``
    targets on a circle of ``radius`` around the start fingertip (task ``centre_out``).

    Args:
        start_posture: (dof,) start joint angles (default: 45 and 90 deg for arms, the origin for point masses).
        n_targets: number of targets; target i is at angle 2 pi i / n_targets (0 = to the right).
        radius: target distance (m).
        *args: passed to :class:`ForceFieldEnvironment`.
        **kwargs: passed to :class:`ForceFieldEnvironment`.

    ``reset(options=...)`` also takes ``target_index`` (batch,) (default: 0, 1, ..., n_targets - 1, 0, ...)
    or ``random_targets=True`` (drawn from ``np_random``).
    """

    task_name = "centre_out"

    def __init__(self, *args, start_posture=None, n_targets: int = 8, radius: float = 0.1, **kwargs):
        self.n_targets, self.radius = n_targets, radius
        self.start_posture = None if start_posture is None else [float(x) for x in np.asarray(start_posture).reshape(-1)]
        super().__init__(*args, **kwargs)
        self.task.fixed_start(self.effector.spec, self.effector.params())  # validates start_posture's length
        self.target_index = None

    def task_options(self) -> dict:
        start = None if self.start_posture is None else tuple(self.start_posture)
        return {"n_targets": self.n_targets, "radius": self.radius, "start_posture": start}

    def _parse_options(self, options):
        batch_size, joint_state, deterministic = super()._parse_options(options)
        index = (options or {}).get("target_index")
        if index is not None:
            batch_size = np.asarray(index).reshape(-1).size
        return batch_size, joint_state, deterministic

    def _task_reset_options(self, batch_size: int, options: dict) -> dict:
        if options.get("target_index") is not None:
            index = np.asarray(options["target_index"]).reshape(-1)
        elif options.get("random_targets", False):
            index = None  # the task draws it from np_random
        else:
            index = np.arange(batch_size) % self.n_targets
        out = {**options, "target_index": None if index is None else torch.as_tensor(index)}
        return out

    def _begin_task(self, batch_size: int, options: dict) -> None:
        super()._begin_task(batch_size, options)
        task, spec, params = self.__dict__["_task_state"], self.effector.spec, self.effector.params()
        centre = task.start[0]
        angles = torch.atan2(*(task.target - centre).flip(-1).unbind(-1)) % (2 * np.pi)
        self.target_index = np.rint(angles.cpu().numpy() / (2 * np.pi / self.n_targets)).astype(int) % self.n_targets


class RandomTargetReachWithLoads(ForceFieldEnvironment):
    """MotorNet's RandomTargetReach with a constant endpoint load per trial, uniform in direction and in
    magnitude up to ``max_load`` (N), drawn from ``np_random`` after the targets (task
    ``random_reach_loads``). ``info["endpoint_load"]`` and :attr:`endpoint_load` hold it."""

    task_name = "random_reach_loads"

    def __init__(self, *args, max_load: float = 5.0, **kwargs):
        self.max_load = max_load
        super().__init__(*args, **kwargs)
        self.max_load = float(max_load)
        self.obs_noise[: self.skeleton.space_dim] = [0.0] * self.skeleton.space_dim

    def task_options(self) -> dict:
        return {"max_load": self.max_load}

    @property
    def endpoint_load(self) -> torch.Tensor | None:
        """(batch, space_dim) the trials' constant endpoint loads (N)."""
        task = self.__dict__.get("_task_state")
        return None if task is None else task.load


class DelayedReach(ForceFieldEnvironment):
    """Delayed random reaching with a go cue (task ``delayed_reach``).

    The target appears ``target_on`` s into the trial (before that the observed goal is the start
    position); the go cue comes after a further delay drawn uniformly from ``go_delay_range`` (s, on the
    dt grid); with probability ``catch_prob`` a trial is a catch trial and never gets the cue. The go
    cue (0/1) is the last observation entry. ``info["desired"]`` is where the hand should be: the start
    until the cue (always, in catch trials), the target afterwards; train on it.

    Args:
        target_on, go_delay_range, catch_prob: see above.
        *args: passed to :class:`ForceFieldEnvironment`.
        **kwargs: passed to :class:`ForceFieldEnvironment`.
    """

    task_name = "delayed_reach"

    def __init__(self, *args, target_on: float = 0.1, go_delay_range=(0.2, 0.4), catch_prob: float = 0.2, **kwargs):
        self.target_on, self.go_delay_range, self.catch_prob = float(target_on), tuple(go_delay_range), float(catch_prob)
        super().__init__(*args, **kwargs)
        self.env_spec()  # checks target_on + go_delay_range[1] against max_ep_duration
        self.obs_noise[: self.skeleton.space_dim] = [0.0] * self.skeleton.space_dim

    def task_options(self) -> dict:
        return {"target_on": self.target_on, "delay_range": self.go_delay_range, "catch_prob": self.catch_prob}

    @property
    def target(self) -> torch.Tensor | None:
        """(batch, space_dim) the trials' targets (m)."""
        task = self.__dict__.get("_task_state")
        return None if task is None else task.target

    @property
    def catch(self) -> np.ndarray | None:
        """(batch,) which trials are catch trials."""
        task = self.__dict__.get("_task_state")
        return None if task is None else torch.isinf(task.go_step).cpu().numpy()


__all__ = ["ForceFieldEnvironment", "CentreOutReach", "DelayedReach", "RandomTargetReachWithLoads"]
