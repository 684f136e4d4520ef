"""Planar two-link arm (shoulder, elbow) with MotorNet's ``TwoDofArm`` dynamics; see :class:`TwoDofArm`
for the equations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from motornet_fn.core.constants import static_tensor
from motornet_fn.core.math import prefix_sum
from motornet_fn.core.skeletons.base import SkeletonModel, as_scalar, as_vector, check_bounds
from motornet_fn.core.types import CartesianState, PointKinematics


class TwoLinkParams(NamedTuple):
    """Attributes: m1, m2 (kg); l1g, l2g centre-of-mass distance from the proximal joint (m);
    i1, i2 inertia about the centre of mass (kg m^2); l1, l2 link lengths (m); viscosity (N m s/rad);
    pos/vel lower/upper bounds (2,) in rad and rad/s; gravity (2,) m/s^2 (zero: MotorNet's arm is
    horizontal). All scalars are 0-dim tensors."""

    m1: torch.Tensor
    m2: torch.Tensor
    l1g: torch.Tensor
    l2g: torch.Tensor
    i1: torch.Tensor
    i2: torch.Tensor
    l1: torch.Tensor
    l2: torch.Tensor
    viscosity: torch.Tensor
    pos_lower_bound: torch.Tensor
    pos_upper_bound: torch.Tensor
    vel_lower_bound: torch.Tensor
    vel_upper_bound: torch.Tensor
    gravity: torch.Tensor


#: MotorNet's TwoDofArm defaults.
TWO_DOF_ARM_DEFAULTS = dict(m1=1.864572, m2=1.534315, l1g=0.180496, l2g=0.181479, i1=0.013193, i2=0.020062,
                            l1=0.309, l2=0.26, viscosity=0.0)
#: MotorNet's default position bounds of a TwoDofArm (shoulder, elbow), degrees
TWO_DOF_ARM_BOUNDS_DEG = ((0.0, 0.0), (140.0, 160.0))
#: The arm of Nijhof & Kouwenhoven (2000) used by MotorNet's Arm26 effectors and Reacher.
ARM26_SKELETON = dict(m1=1.82, m2=1.43, l1g=0.135, l2g=0.165, i1=0.051, i2=0.057, l1=0.309, l2=0.333)


@dataclass(frozen=True)
class TwoDofArm(SkeletonModel):
    r"""Planar two-link arm: shoulder angle :math:`q_1`, elbow angle :math:`q_2` (rad), MotorNet's
    ``TwoDofArm``. Bodies: 0 world, 1 upper arm (at angle :math:`q_1`), 2 forearm (at absolute angle
    :math:`q_1 + q_2`, frame at the elbow).

    Link :math:`k` has mass :math:`m_k`, length :math:`l_k`, its centre of mass at :math:`l_{kg}` from its
    proximal joint and inertia :math:`I_k` about it. With :math:`c_k = \cos q_k`, :math:`s_k = \sin q_k`,
    :math:`c_{12} = \cos(q_1 + q_2)`, :math:`s_{12} = \sin(q_1 + q_2)`, the equations of motion are

    .. math::

        M(q)\, \ddot q + C(q, \dot q) + \beta\, \dot q = \tau + J(q)^\top f_e + G(q),

    .. math::

        M_{11} = m_1 l_{1g}^2 + I_1 + m_2 (l_{2g}^2 + l_1^2) + I_2 + 2 m_2 l_1 l_{2g} c_2, \quad
        M_{12} = M_{21} = m_2 l_{2g}^2 + I_2 + m_2 l_1 l_{2g} c_2, \quad
        M_{22} = m_2 l_{2g}^2 + I_2,

    .. math::

        C = m_2 l_1 l_{2g}\, s_2 \begin{pmatrix} -(2 \dot q_1 + \dot q_2)\, \dot q_2 \\ \dot q_1^2 \end{pmatrix},
        \qquad
        J = \begin{pmatrix} -l_1 s_1 - l_2 s_{12} & -l_2 s_{12} \\ l_1 c_1 + l_2 c_{12} & l_2 c_{12} \end{pmatrix},

    .. math::

        G = \begin{pmatrix}
            (m_1 l_{1g} + m_2 l_1)(-s_1 g_x + c_1 g_y) + m_2 l_{2g} (-s_{12} g_x + c_{12} g_y) \\
            m_2 l_{2g} (-s_{12} g_x + c_{12} g_y)
        \end{pmatrix},

    with :math:`\beta` = ``viscosity``, :math:`\tau` the generalized force of the muscles and joint loads,
    :math:`f_e` the endpoint load and :math:`g` gravity (zero by default: MotorNet's arm moves in the
    horizontal plane). The endpoint (fingertip) is at
    :math:`(l_1 c_1 + l_2 c_{12},\ l_1 s_1 + l_2 s_{12})`.

    Fixation-point velocities: MotorNet's (``motornet_velocity=True``, the default) differ from the exact
    time derivative for points on the forearm: MotorNet multiplies the forearm-rotation term by
    :math:`\dot q_1 + \dot q_2` while also counting :math:`\dot q_1` through the shoulder term, so the
    shoulder velocity is counted twice. ``motornet_velocity=False`` gives the exact :math:`J(q)\, \dot q`.

    Defaults (:data:`TWO_DOF_ARM_DEFAULTS`) are MotorNet's ``TwoDofArm``; the Arm26 effectors use the arm of
    Nijhof & Kouwenhoven (2000) (:data:`ARM26_SKELETON`). Parameters: :class:`TwoLinkParams`.

    References:
        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2023). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591

        Nijhof E-J, Kouwenhoven E (2000). Simulation of multijoint arm movements. In Winters JM, Crago PE
        (eds), Biomechanics and Neural Control of Posture and Movement, pp. 363-372. Springer, New York.
        doi:10.1007/978-1-4612-2104-3_29
    """

    name = "TwoDofArm"
    Params = TwoLinkParams

    @property
    def dof(self) -> int:
        return 2

    @property
    def space_dim(self) -> int:
        return 2

    def make_params(self, dtype=torch.float32, device=None, pos_lower_bound=None, pos_upper_bound=None,
                    vel_lower_bound=-1000.0, vel_upper_bound=1000.0, gravity=(0.0, 0.0), **kwargs) -> TwoLinkParams:
        unknown = sorted(set(kwargs) - set(TWO_DOF_ARM_DEFAULTS))
        if unknown:
            raise TypeError(f"TwoDofArm: unknown parameter(s) {unknown}; expected {sorted(TWO_DOF_ARM_DEFAULTS)}")
        values = {**TWO_DOF_ARM_DEFAULTS, **kwargs}
        scalars = {k: as_scalar(k, values[k], dtype, device, positive=(k != "viscosity")) for k in TWO_DOF_ARM_DEFAULTS}
        lb = np.deg2rad(TWO_DOF_ARM_BOUNDS_DEG[0]) if pos_lower_bound is None else pos_lower_bound
        ub = np.deg2rad(TWO_DOF_ARM_BOUNDS_DEG[1]) if pos_upper_bound is None else pos_upper_bound
        p = TwoLinkParams(
            **scalars,
            pos_lower_bound=as_vector("pos_lower_bound", lb, 2, dtype, device),
            pos_upper_bound=as_vector("pos_upper_bound", ub, 2, dtype, device),
            vel_lower_bound=as_vector("vel_lower_bound", vel_lower_bound, 2, dtype, device),
            vel_upper_bound=as_vector("vel_upper_bound", vel_upper_bound, 2, dtype, device),
            gravity=as_vector("gravity", gravity, 2, dtype, device),
        )
        check_bounds(p.pos_lower_bound, p.pos_upper_bound, "pos")
        check_bounds(p.vel_lower_bound, p.vel_upper_bound, "vel")
        return p

    def mass_matrix_terms(self, p):
        """Constant and cos(q1)-proportional parts of the mass matrix (M11, M12, M22)."""
        c11 = p.m1 * p.l1g**2 + p.i1 + p.m2 * (p.l2g**2 + p.l1**2) + p.i2
        c12 = p.m2 * (p.l2g**2) + p.i2
        m11 = 2 * p.m2 * p.l1 * p.l2g
        m12 = p.m2 * p.l1 * p.l2g
        return c11, c12, m11, m12

    def endpoint_jacobian(self, params, pos: torch.Tensor) -> torch.Tensor:
        """d(endpoint)/dq, (..., 2, 2)."""
        p = params
        q0, q1 = pos[..., 0], pos[..., 1]
        s1, c1 = torch.sin(q0), torch.cos(q0)
        s12, c12 = torch.sin(q0 + q1), torch.cos(q0 + q1)
        j11 = -p.l1 * s1 - p.l2 * s12
        j12 = -p.l2 * s12
        j21 = p.l1 * c1 + p.l2 * c12
        j22 = p.l2 * c12
        return torch.stack([torch.stack([j11, j12], -1), torch.stack([j21, j22], -1)], -2)

    def acceleration(self, params, joint, torque, endpoint_load):
        # One pass over shared sines and cosines: the endpoint Jacobian's entries and the gravity
        # directions are written out here (same formulas as endpoint_jacobian / gravity_torque) rather
        # than stacked into a (..., 2, 2) tensor and indexed again.
        p = params
        q0, q1 = joint.pos[..., 0], joint.pos[..., 1]
        v0, v1 = joint.vel[..., 0], joint.vel[..., 1]
        c2, s2 = torch.cos(q1), torch.sin(q1)
        s1, c1 = torch.sin(q0), torch.cos(q0)
        q01 = q0 + q1
        s12, c12 = torch.sin(q01), torch.cos(q01)
        c11, c12m, m11, m12 = self.mass_matrix_terms(p)
        inertia_11 = c11 + c2 * m11
        inertia_12 = c12m + c2 * m12
        inertia_22 = c12m + c2 * 0.0
        coriolis_1 = (-m12 * s2 * (2 * v0 + v1)) * v1 + p.viscosity * v0
        coriolis_2 = (m12 * s2 * v0) * v0 + p.viscosity * v1
        l2s12, l2c12 = p.l2 * s12, p.l2 * c12
        j11, j12 = -p.l1 * s1 - l2s12, -l2s12
        j21, j22 = p.l1 * c1 + l2c12, l2c12
        fx, fy = endpoint_load[..., 0], endpoint_load[..., 1]
        tau0 = torque[..., 0] + (j11 * fx + j21 * fy)
        tau1 = torque[..., 1] + (j12 * fx + j22 * fy)
        gx, gy = p.gravity[..., 0], p.gravity[..., 1]
        on_forearm = p.m2 * p.l2g * (-s12 * gx + c12 * gy)
        on_arm = (p.m1 * p.l1g + p.m2 * p.l1) * (-s1 * gx + c1 * gy)
        tau0, tau1 = tau0 + (on_arm + on_forearm), tau1 + on_forearm
        rhs0, rhs1 = -coriolis_1 + tau0, -coriolis_2 + tau1
        inv_det = 1 / (inertia_11 * inertia_22 - inertia_12 * inertia_12)
        acc0 = (inv_det * inertia_22) * rhs0 + (inv_det * -inertia_12) * rhs1
        acc1 = (inv_det * -inertia_12) * rhs0 + (inv_det * inertia_11) * rhs1
        return torch.stack([acc0, acc1], dim=-1)

    def gravity_torque(self, params, pos):
        """Generalized gravity forces sum_k m_k J_k^T g at the links' centres of mass (0 when g = 0)."""
        p = params
        q0, q1 = pos[..., 0], pos[..., 1]
        gx, gy = p.gravity[..., 0, None], p.gravity[..., 1, None]
        du1 = (-torch.sin(q0), torch.cos(q0))
        du12 = (-torch.sin(q0 + q1), torch.cos(q0 + q1))
        on_forearm = p.m2 * p.l2g * (du12[0] * gx[..., 0] + du12[1] * gy[..., 0])
        on_arm = (p.m1 * p.l1g + p.m2 * p.l1) * (du1[0] * gx[..., 0] + du1[1] * gy[..., 0])
        return on_arm + on_forearm, on_forearm

    def forward_kinematics(self, params, joint):
        # segment k points along the absolute angle q0 + ... + qk, which turns at v0 + ... + vk:
        # x = sum_k l_k cos(a_k), y = sum_k l_k sin(a_k), (vx, vy) = sum_k l_k w_k (-sin(a_k), cos(a_k))
        angle, rate = prefix_sum(joint.pos), prefix_sum(joint.vel)  # (..., 2)
        lengths = torch.stack([params.l1, params.l2], -1)  # (..., 2)
        lc, ls = lengths * torch.cos(angle), lengths * torch.sin(angle)
        pos = torch.stack([lc.sum(-1), ls.sum(-1)], -1)
        vel = torch.stack([-(ls * rate).sum(-1), (lc * rate).sum(-1)], -1)
        return CartesianState(pos, vel)

    def fixation_points(self, params, joint, coordinates, bodies, motornet_velocity=True):
        device = coordinates.device
        on_arm = static_tensor(("two_link.on_arm", bodies), lambda: np.asarray(bodies) != 0, device)
        on_forearm = static_tensor(("two_link.on_forearm", bodies), lambda: np.asarray(bodies) == 2, device)
        q0, q1 = joint.pos[..., 0:1], joint.pos[..., 1:2]  # (..., 1)
        v0, v1 = joint.vel[..., 0:1, None], joint.vel[..., 1:2, None]  # (..., 1, 1)
        zero = torch.zeros((), dtype=q0.dtype, device=device)
        angle = torch.where(on_forearm, q0 + q1, torch.where(on_arm, q0, zero))  # (..., P)
        cos, sin = torch.cos(angle), torch.sin(angle)
        cx, cy = coordinates[0], coordinates[1]
        rx, ry = cx * cos - cy * sin, cx * sin + cy * cos  # rotated coordinates R(angle) c
        elbow = params.l1[..., None, None] * torch.stack([torch.cos(q0), torch.sin(q0)], dim=-2)  # (..., 2, 1)
        pos = torch.stack([rx, ry], dim=-2) + torch.where(on_forearm, elbow, zero)
        d_rot = torch.where(on_arm, torch.stack([-ry, rx], dim=-2), zero)  # d(R c)/d(angle)
        d_elbow = torch.stack([-elbow[..., 1, :], elbow[..., 0, :]], dim=-2)
        jac_shoulder = d_rot + torch.where(on_forearm, d_elbow, zero)
        jac_elbow = torch.where(on_forearm, d_rot, zero)
        elbow_rate = v1 + v0 if motornet_velocity else v1
        vel = jac_shoulder * v0 + jac_elbow * elbow_rate
        return PointKinematics(pos, vel, torch.stack([jac_shoulder, jac_elbow], dim=-2))
