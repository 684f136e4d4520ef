"""Delayed reaching with a go cue and catch trials."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from motornet_fn.core.tasks import register
from motornet_fn.core.tasks.base import Draw, Task, TaskState, check_probability, option, steps, uniform_joint_positions
from motornet_fn.core.types import JointState


@register
@dataclass(frozen=True)
class DelayedReach(Task):
    """MotorNet's random reaches with an instructed delay.

    The target appears ``target_on`` s into the trial (before that the start position is shown); the go
    cue comes a delay later, drawn uniformly on the dt grid from ``delay_range`` (s); with probability
    ``catch_prob`` a trial is a catch trial and never gets the cue. The go cue is the last observation
    entry; the desired endpoint is the start until the cue, the target afterwards.

    Draws, in order: ``target`` (B, dof) uniform, ``delay`` (B,) integer steps, ``catch`` (B,) uniform.
    """

    name = "delayed_reach"
    go_cue = True
    target_on: float = option(0.1, "time at which the target appears (s)")
    delay_range: tuple = option((0.2, 0.4), "range of the delay between target and go cue, [min, max] (s)")
    catch_prob: float = option(0.2, "probability of a catch trial (no go cue)")

    def __post_init__(self):
        object.__setattr__(self, "delay_range", tuple(float(x) for x in self.delay_range))
        if not (len(self.delay_range) == 2 and 0 <= self.delay_range[0] <= self.delay_range[1]):
            raise ValueError(f"delay_range must be [min, max] seconds with 0 <= min <= max, got {list(self.delay_range)}")
        if not (isinstance(self.target_on, (int, float)) and math.isfinite(self.target_on) and self.target_on >= 0):
            raise ValueError(f"target_on must be a finite time >= 0 s, got {self.target_on!r}")
        check_probability("catch_prob", self.catch_prob)

    def check(self, n_steps, dt):
        last = steps(self.target_on, dt) + steps(self.delay_range[1], dt)
        if last > n_steps:
            raise ValueError(f"target_on + delay_range[1] = {self.target_on + self.delay_range[1]:g} s exceeds the "
                             f"episode duration of {n_steps * dt:g} s")

    def draws(self, effector_spec, batch_size, options):
        lo, hi = (steps(x, effector_spec.dt) for x in self.delay_range)
        return (Draw("target", "uniform", (batch_size, effector_spec.dof)),
                Draw("delay", "integers", (batch_size,), lo, hi + 1),
                Draw("catch", "uniform", (batch_size,)))

    def init(self, effector_spec, effector_params, start, draws, options):
        posture = uniform_joint_positions(effector_params.skeleton, draws["target"])
        target = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, JointState(posture, 0 * posture)).pos
        tip = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, start).pos
        on = torch.full(tip.shape[:-1], float(steps(self.target_on, effector_spec.dt)), dtype=tip.dtype, device=tip.device)
        catch = draws["catch"].to(tip) < self.catch_prob
        go = torch.where(catch, torch.full_like(on, math.inf), on + draws["delay"].to(tip))
        return TaskState(tip, target.to(tip), on, go, torch.zeros_like(tip))
