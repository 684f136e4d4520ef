"""MotorNet's random reaches with a constant endpoint load per trial."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from motornet_fn.core.tasks import register
from motornet_fn.core.tasks.base import Draw, Task, check_positive, option, uniform_joint_positions
from motornet_fn.core.types import JointState


@register
@dataclass(frozen=True)
class RandomReachLoads(Task):
    """Random reaches (as ``random_reach``) under a constant endpoint load, uniform in direction and
    in magnitude within [0, max_load] N.

    Draws, in order: ``target`` (B, dof), ``load_angle`` (B,), ``load_magnitude`` (B,), all uniform.
    """

    name = "random_reach_loads"
    has_load = True
    max_load: float = option(5.0, "largest endpoint load (N)")

    def __post_init__(self):
        check_positive("max_load", self.max_load, "N", allow_zero=True)

    def draws(self, effector_spec, batch_size, options):
        return (Draw("target", "uniform", (batch_size, effector_spec.dof)),
                Draw("load_angle", "uniform", (batch_size,)), Draw("load_magnitude", "uniform", (batch_size,)))

    def init(self, effector_spec, effector_params, start, draws, options):
        posture = uniform_joint_positions(effector_params.skeleton, draws["target"])
        target = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, JointState(posture, 0 * posture)).pos
        angle = draws["load_angle"].to(target) * (2 * math.pi)
        magnitude = draws["load_magnitude"].to(target) * self.max_load
        load = magnitude.unsqueeze(-1) * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
        return self.reach(effector_spec, effector_params, start, target, load)
