"""MotorNet's base ``Environment``: random start postures and one fixed goal (the origin by default)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from motornet_fn.core.tasks import register
from motornet_fn.core.tasks.base import Task, option


@register
@dataclass(frozen=True)
class FixedGoal(Task):
    """Every trial starts at a random posture; the goal is the same point for all trials."""

    name = "fixed_goal"
    goal: tuple | None = option(None, "the goal position (m) shown in every trial; default: the origin")

    def __post_init__(self):
        if self.goal is not None:
            object.__setattr__(self, "goal", tuple(float(x) for x in self.goal))

    def init(self, effector_spec, effector_params, start, draws, options):
        tip = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, start).pos
        goal = torch.zeros_like(tip) if self.goal is None else torch.tensor(self.goal).to(tip).expand_as(tip)
        if goal.shape[-1] != effector_spec.space_dim:
            raise ValueError(f"goal must have space_dim={effector_spec.space_dim} values, got {self.goal}")
        return self.reach(effector_spec, effector_params, start, goal)
