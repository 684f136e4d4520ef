"""MotorNet's RandomTargetReach: a random start posture and a target at the endpoint of another random
posture, both uniform in joint space within the position bounds."""
from __future__ import annotations

from dataclasses import dataclass

from motornet_fn.core.tasks import register
from motornet_fn.core.tasks.base import Draw, Task, uniform_joint_positions
from motornet_fn.core.types import JointState


@register
@dataclass(frozen=True)
class RandomReach(Task):
    """Reach from a random posture to the fingertip of another random posture (no options).

    Draws: ``target`` (B, dof) uniform (after the start posture's (B, dof), as MotorNet)."""

    name = "random_reach"

    def draws(self, effector_spec, batch_size, options):
        return (Draw("target", "uniform", (batch_size, effector_spec.dof)),)

    def init(self, effector_spec, effector_params, start, draws, options):
        posture = uniform_joint_positions(effector_params.skeleton, draws["target"])
        target = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, JointState(posture, 0 * posture))
        return self.reach(effector_spec, effector_params, start, target.pos)
