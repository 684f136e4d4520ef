"""Centre-out reaching: every trial starts at one posture and reaches one of ``n_targets`` targets on a
circle around its fingertip."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from motornet_fn.core.tasks import register
from motornet_fn.core.tasks.base import Draw, Task, check_positive, option


def circle_targets(centre: torch.Tensor, radius: float, n_targets: int) -> torch.Tensor:
    """(n_targets, 2) points on a circle around ``centre`` (2,); target i at angle 2 pi i / n (0 = right)."""
    angle = torch.arange(n_targets, dtype=centre.dtype, device=centre.device) * (2 * math.pi / n_targets)
    return centre + radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def default_start(skeleton) -> tuple[float, ...]:
    """The origin for point masses, shoulder 45 deg and elbow 90 deg for arms."""
    return (0.0,) * skeleton.dof if skeleton.name == "PointMass" else (math.pi / 4, math.pi / 2) + (0.0,) * (
        skeleton.dof - 2)


@register
@dataclass(frozen=True)
class CentreOut(Task):
    """Targets on a circle of ``radius`` around the start fingertip; each trial goes to one of them.

    Draws: ``target_index`` (B,) uniform integers in [0, n_targets), unless the reset options give
    ``target_index`` (B,) (an evaluation sweeps every target: ``arange(B) % n_targets``).
    """

    name = "centre_out"
    reset_options = ("target_index",)
    random_start = False
    n_targets: int = option(8, "number of targets; target i lies at angle 2 pi i / n_targets (0 = right)")
    radius: float | None = option(None, "target distance from the start (m); default 0.1 for arms, 0.5 for point masses")
    start_posture: tuple | None = option(None, "start joint positions (rad or m); default 45/90 deg for arms, "
                                               "the origin for point masses")

    def __post_init__(self):
        check_positive("n_targets", self.n_targets, kind=int)
        if self.radius is not None:
            check_positive("radius", self.radius, "m")
        if self.start_posture is not None:
            object.__setattr__(self, "start_posture", tuple(float(x) for x in self.start_posture))

    def target_radius(self, skeleton) -> float:
        return self.radius if self.radius is not None else (0.5 if skeleton.name == "PointMass" else 0.1)

    def fixed_start(self, effector_spec, effector_params):
        posture = self.start_posture if self.start_posture is not None else default_start(effector_spec.skeleton)
        if len(posture) != effector_spec.dof:
            raise ValueError(f"start_posture must have dof={effector_spec.dof} values, got {list(posture)}")
        bounds = effector_params.skeleton
        return torch.tensor(posture, dtype=bounds.pos_upper_bound.dtype, device=bounds.pos_upper_bound.device)

    def draws(self, effector_spec, batch_size, options):
        if options.get("target_index") is not None:
            return ()
        return (Draw("target_index", "integers", (batch_size,), 0, self.n_targets),)

    def init(self, effector_spec, effector_params, start, draws, options):
        given = options.get("target_index")
        index = torch.as_tensor(given if given is not None else draws["target_index"]).reshape(-1).long()
        if bool(((index < 0) | (index >= self.n_targets)).any()):
            raise ValueError(f"target_index must lie in 0..{self.n_targets - 1}, got {index.tolist()}")
        tip = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, start).pos
        targets = circle_targets(tip[..., 0, :], self.target_radius(effector_spec.skeleton), self.n_targets)
        return self.reach(effector_spec, effector_params, start, targets[index.to(tip.device)])
