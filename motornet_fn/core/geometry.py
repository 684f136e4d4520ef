"""Musculotendon geometry: length, lengthening velocity and moment arms of every muscle.

Three models, each a frozen dataclass (static structure) with a parameter NamedTuple:

* :class:`PathGeometry`: muscles as polylines through fixation points attached to skeleton bodies
  (Sherman, Seth & Delp 2013). Ragged paths are flattened at build time into one point array, a
  segment mask and a dense (n_segments, n_muscles) incidence matrix, so path sums are one matmul.
* :class:`PolynomialGeometry`: MotorNet's Arm26 lumped-muscle geometry (Nijhof & Kouwenhoven
  2000): length = a0 + sum_j (a1_j + a2_j q~_j) q~_j with q~ = q - a3, moment arm = a1 + 2 a2 q~.
* :class:`ConstantMomentArmGeometry`: fixed moment arms, zero length and velocity (MotorNet's
  Reacher and FreePointMass24).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import torch

from motornet_fn.core.constants import static_tensor
from motornet_fn.core.math import safe_div, safe_norm
from motornet_fn.core.types import Geometry, JointState


class PathParams(NamedTuple):
    """Attributes: coordinates (space_dim, n_points): every fixation point in its body's frame (m)."""

    coordinates: torch.Tensor


class PolynomialParams(NamedTuple):
    """Attributes: a0 (n_muscles,) m; a1 (dof, n_muscles) m/rad; a2 (dof, n_muscles) m/rad^2;
    a3 (dof,) rad (joint offsets)."""

    a0: torch.Tensor
    a1: torch.Tensor
    a2: torch.Tensor
    a3: torch.Tensor


class ConstantMomentArmParams(NamedTuple):
    """Attributes: moment_arm (dof, n_muscles)."""

    moment_arm: torch.Tensor


@dataclass(frozen=True)
class PathGeometry:
    """Polyline muscle paths.

    Attributes:
        bodies: (n_points,) body index of every fixation point (0 = world), muscles concatenated.
        muscle_of_point: (n_points,) muscle index (0-based) of every point, non-decreasing.
        n_muscles: number of muscles.
        motornet_velocity: reproduce MotorNet's fixation-point velocities (see the skeleton).
    """

    bodies: tuple
    muscle_of_point: tuple
    n_muscles: int
    motornet_velocity: bool = True
    incidence: np.ndarray = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        muscles = np.asarray(self.muscle_of_point)
        if len(self.bodies) != len(muscles):
            raise ValueError(f"bodies has {len(self.bodies)} entries but muscle_of_point has {len(muscles)}")
        counts = np.bincount(muscles, minlength=self.n_muscles) if len(muscles) else np.zeros(self.n_muscles, int)
        if len(counts) != self.n_muscles or (counts < 2).any() or (np.diff(muscles) < 0).any():
            raise ValueError(
                f"every muscle needs >= 2 consecutive fixation points; points per muscle: {counts.tolist()}"
            )
        # segment s joins points s and s+1; it belongs to a muscle only if both points do
        same = muscles[1:] == muscles[:-1]
        incidence = np.zeros((len(muscles) - 1, self.n_muscles))
        incidence[np.nonzero(same)[0], muscles[:-1][same]] = 1.0
        object.__setattr__(self, "incidence", incidence)

    @classmethod
    def from_paths(cls, bodies_per_muscle: Sequence[Sequence[int]], motornet_velocity: bool = True) -> "PathGeometry":
        """Build from one list of body indices per muscle."""
        bodies, owner = [], []
        for m, path in enumerate(bodies_per_muscle):
            bodies += [int(b) for b in path]
            owner += [m] * len(path)
        return cls(tuple(bodies), tuple(owner), len(bodies_per_muscle), motornet_velocity)

    def __call__(self, skeleton, skeleton_params, params: PathParams, joint: JointState) -> Geometry:
        pts = skeleton.fixation_points(skeleton_params, joint, params.coordinates, self.bodies, self.motornet_velocity)
        d_pos = pts.pos[..., 1:] - pts.pos[..., :-1]  # (..., D, S)
        d_vel = pts.vel[..., 1:] - pts.vel[..., :-1]
        d_jac = pts.jacobian[..., 1:] - pts.jacobian[..., :-1]  # (..., D, dof, S)
        seg_len = safe_norm(d_pos, dim=-2)  # (..., S)
        seg_vel = safe_div(torch.sum(d_pos * d_vel, dim=-2), seg_len)
        seg_mom = safe_div(torch.sum(d_jac * d_pos.unsqueeze(-2), dim=-3), seg_len.unsqueeze(-2))  # (..., dof, S)
        incidence = static_tensor(("path.incidence", self.muscle_of_point, self.n_muscles), lambda: self.incidence,
                                  seg_len.device, seg_len.dtype)
        return Geometry(seg_len @ incidence, seg_vel @ incidence, seg_mom @ incidence)


@dataclass(frozen=True)
class PolynomialGeometry:
    """Arm26 polynomial geometry (needs no skeleton kinematics)."""

    def __call__(self, skeleton, skeleton_params, params: PolynomialParams, joint: JointState) -> Geometry:
        q = (joint.pos - params.a3).unsqueeze(-1)  # (..., dof, 1)
        moment_arm = q * params.a2 * 2 + params.a1
        length = torch.sum((params.a1 + q * params.a2) * q, dim=-2) + params.a0
        velocity = torch.sum(joint.vel.unsqueeze(-1) * moment_arm, dim=-2)
        return Geometry(length, velocity, moment_arm)


@dataclass(frozen=True)
class ConstantMomentArmGeometry:
    """Constant moment arms; musculotendon length and velocity are zero."""

    def __call__(self, skeleton, skeleton_params, params: ConstantMomentArmParams, joint: JointState) -> Geometry:
        batch = joint.pos.shape[:-1]
        moment_arm = params.moment_arm.expand(*batch, *params.moment_arm.shape)
        zeros = joint.pos.new_zeros(*batch, params.moment_arm.shape[-1])
        return Geometry(zeros, zeros, moment_arm)


#: MotorNet's Arm26 polynomial coefficients (rigid and compliant sets differ only in a0).
ARM26_A0_RIGID = (0.151, 0.2322, 0.2859, 0.2355, 0.3329, 0.2989)
ARM26_A0_COMPLIANT = (0.182, 0.2362, 0.2859, 0.2355, 0.3329, 0.2989)
ARM26_A1 = ((-0.03, 0.03, 0.0, 0.0, -0.03, 0.03), (0.0, 0.0, -0.014, 0.025, -0.016, 0.03))
ARM26_A2 = ((0.0, 0.0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.0, -4e-3, -2.2e-3, -5.7e-3, -3.2e-3))
ARM26_A3 = (np.pi / 2, 0.0)


def arm26_params(compliant: bool = False, dtype=torch.float32, device=None) -> PolynomialParams:
    """Polynomial coefficients of MotorNet's RigidTendonArm26 / CompliantTendonArm26."""
    t = lambda x: torch.tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)  # noqa: E731
    return PolynomialParams(t(ARM26_A0_COMPLIANT if compliant else ARM26_A0_RIGID), t(ARM26_A1), t(ARM26_A2), t(ARM26_A3))
