"""A point mass moving freely in ``space_dim`` dimensions (MotorNet's ``PointMass``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from motornet_fn.core.constants import static_tensor
from motornet_fn.core.skeletons.base import SkeletonModel, as_scalar, as_vector, check_bounds
from motornet_fn.core.types import CartesianState, PointKinematics


class PointMassParams(NamedTuple):
    """Attributes: mass () in kg; pos/vel lower/upper bounds, each (space_dim,) in m and m/s;
    gravity (space_dim,) m/s^2 (zero by default, as MotorNet)."""

    mass: torch.Tensor
    pos_lower_bound: torch.Tensor
    pos_upper_bound: torch.Tensor
    vel_lower_bound: torch.Tensor
    vel_upper_bound: torch.Tensor
    gravity: torch.Tensor


@dataclass(frozen=True)
class PointMass(SkeletonModel):
    r"""A point mass moving freely in ``n_dims`` dimensions (MotorNet's ``PointMass``).

    Its joint state is its position :math:`x` (m) and velocity :math:`\dot x`; Newton's law with the
    generalized force :math:`\tau` of the muscles and joint loads, the endpoint load :math:`f_e` and
    gravity :math:`g` (zero by default, as in MotorNet):

    .. math::

        \ddot x = \frac{\tau + f_e}{m} + g .

    The endpoint is the mass itself (endpoint Jacobian :math:`I`); fixation points on body 1 move with it,
    those on body 0 are fixed in the world. Integration and joint limits: :meth:`SkeletonModel.euler_update`
    and :func:`~motornet_fn.core.skeletons.base.clip_joint`. Parameters: :class:`PointMassParams`.

    References:
        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2023). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591
    """

    n_dims: int = 2
    name = "PointMass"
    Params = PointMassParams

    def __post_init__(self):
        if not isinstance(self.n_dims, int) or self.n_dims < 1:
            raise ValueError(f"space_dim must be a positive int, got {self.n_dims!r}")

    @property
    def dof(self) -> int:
        return self.n_dims

    @property
    def space_dim(self) -> int:
        return self.n_dims

    def make_params(self, mass=1.0, pos_lower_bound=-1.0, pos_upper_bound=1.0, vel_lower_bound=-1000.0,
                    vel_upper_bound=1000.0, gravity=0.0, dtype=torch.float32, device=None) -> PointMassParams:
        n = self.dof
        p = PointMassParams(
            as_scalar("mass", mass, dtype, device, positive=True),
            as_vector("pos_lower_bound", pos_lower_bound, n, dtype, device),
            as_vector("pos_upper_bound", pos_upper_bound, n, dtype, device),
            as_vector("vel_lower_bound", vel_lower_bound, n, dtype, device),
            as_vector("vel_upper_bound", vel_upper_bound, n, dtype, device),
            as_vector("gravity", gravity, n, dtype, device),
        )
        check_bounds(p.pos_lower_bound, p.pos_upper_bound, "pos")
        check_bounds(p.vel_lower_bound, p.vel_upper_bound, "vel")
        return p

    def acceleration(self, params, joint, torque, endpoint_load):
        return (torque + endpoint_load) / params.mass[..., None] + params.gravity

    def forward_kinematics(self, params, joint):
        return CartesianState(joint.pos, joint.vel)

    def fixation_points(self, params, joint, coordinates, bodies, motornet_velocity=True):
        moving = static_tensor(("point_mass.moving", bodies), lambda: np.asarray(bodies) != 0, coordinates.device)  # (P,)
        pos = joint.pos.unsqueeze(-1)  # (..., D, 1)
        vel = joint.vel.unsqueeze(-1)
        zero = torch.zeros((), dtype=pos.dtype, device=pos.device)
        world_pos = torch.where(moving, pos, zero) + coordinates
        world_vel = torch.where(moving, vel, zero).expand_as(world_pos)
        eye = torch.eye(self.dof, dtype=pos.dtype, device=pos.device).unsqueeze(-1)  # (D, dof, 1)
        jac = torch.where(moving, eye, zero)
        jac = jac.expand(*world_pos.shape[:-2], *jac.shape)
        return PointKinematics(world_pos, world_vel, jac)
