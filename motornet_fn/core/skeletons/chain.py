"""Planar chain of N rigid links joined by hinge joints (shoulder at the origin); see
:class:`PlanarChain` for the equations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from motornet_fn.core.constants import static_tensor
from motornet_fn.core.math import prefix_sum
from motornet_fn.core.skeletons.base import SkeletonModel, as_vector, check_bounds
from motornet_fn.core.types import CartesianState, PointKinematics


class ChainParams(NamedTuple):
    """Attributes: each (n_links,): length (m), mass (kg), com (centre-of-mass distance from the
    proximal joint, m), inertia (about the centre of mass, kg m^2); viscosity (n_links,) N m s/rad;
    gravity (2,) m/s^2; pos/vel lower/upper bounds (n_links,) rad and rad/s."""

    length: torch.Tensor
    mass: torch.Tensor
    com: torch.Tensor
    inertia: torch.Tensor
    viscosity: torch.Tensor
    gravity: torch.Tensor
    pos_lower_bound: torch.Tensor
    pos_upper_bound: torch.Tensor
    vel_lower_bound: torch.Tensor
    vel_upper_bound: torch.Tensor


def _u(phi):
    return torch.stack([torch.cos(phi), torch.sin(phi)], dim=-2)  # (..., 2, n)


def _du(phi):
    return torch.stack([-torch.sin(phi), torch.cos(phi)], dim=-2)


@dataclass(frozen=True)
class PlanarChain(SkeletonModel):
    r"""Planar chain of ``n_links`` rigid links joined by hinge joints, the first at the origin.
    Bodies: 0 world, :math:`k = 1 \dots N` link :math:`k` (frame at its proximal joint, x along the link).

    With absolute link angles :math:`\varphi_k = q_1 + \dots + q_k`, unit vectors
    :math:`u(\varphi) = (\cos\varphi, \sin\varphi)` and :math:`u'(\varphi) = (-\sin\varphi, \cos\varphi)`,
    link lengths :math:`l_k`, centre-of-mass distances :math:`c_k` (``com``), masses :math:`m_k` and
    inertias :math:`I_k` about the centre of mass, the centre of mass of link :math:`k` and its Jacobian are

    .. math::

        p_k = \sum_{j<k} l_j\, u(\varphi_j) + c_k\, u(\varphi_k), \qquad
        J_k[:, i] = \frac{\partial p_k}{\partial q_i}
            = \sum_{i \le j < k} l_j\, u'(\varphi_j) + [i \le k]\, c_k\, u'(\varphi_k).

    The equations of motion (Lagrange) are

    .. math::

        M(q)\, \ddot q + h(q, \dot q) = \tau + J_e(q)^\top f_e + G(q) - \beta \odot \dot q,

    .. math::

        M = \sum_k m_k J_k^\top J_k + I_k\, w_k w_k^\top, \qquad
        h_i = \sum_k m_k\, J_k[:, i] \cdot \alpha_k, \qquad
        \alpha_k = -\sum_{j<k} l_j\, u(\varphi_j)\, \dot\varphi_j^2 - c_k\, u(\varphi_k)\, \dot\varphi_k^2,
        \qquad G = \sum_k m_k J_k^\top g,

    where :math:`w_k = ([i \le k])_i` is link :math:`k`'s angular-velocity Jacobian, :math:`J_e` the
    endpoint (tip of link N) Jacobian, :math:`\beta` the per-joint ``viscosity`` and :math:`g` gravity (zero
    by default). For :math:`N = 2` these reduce to :class:`~motornet_fn.core.skeletons.two_link.TwoDofArm`
    step for step (the form of Li & Todorov 2004). Parameters: :class:`ChainParams`.

    References:
        Li W, Todorov E (2004). Iterative linear quadratic regulator design for nonlinear biological
        movement systems. Proceedings of the 1st International Conference on Informatics in Control,
        Automation and Robotics (ICINCO), 222-229.
    """

    n_links: int = 3
    name = "PlanarChain"
    Params = ChainParams

    def __post_init__(self):
        if not isinstance(self.n_links, int) or self.n_links < 1:
            raise ValueError(f"n_links must be a positive int, got {self.n_links!r}")

    @property
    def dof(self) -> int:
        return self.n_links

    @property
    def space_dim(self) -> int:
        return 2

    def make_params(self, length, mass, com=None, inertia=None, viscosity=0.0, gravity=(0.0, 0.0),
                    pos_lower_bound=-np.pi, pos_upper_bound=np.pi, vel_lower_bound=-1000.0, vel_upper_bound=1000.0,
                    dtype=torch.float32, device=None) -> ChainParams:
        """Per-link values may be scalars (shared) or length-n_links sequences. Defaults: centre of mass
        at mid-link, inertia of a uniform rod m l^2 / 12."""
        n = self.n_links
        vec = lambda name, v: as_vector(name, v, n, torch.float64)  # noqa: E731
        length, mass = vec("length", length), vec("mass", mass)
        com = length / 2 if com is None else vec("com", com)
        inertia = mass * length**2 / 12 if inertia is None else vec("inertia", inertia)
        for name, v in (("length", length), ("mass", mass), ("inertia", inertia)):
            if not (torch.isfinite(v).all() and (v > 0).all()):
                raise ValueError(f"{name} must be finite and > 0 for every link, got {v.tolist()}")
        if not (torch.isfinite(com).all() and (com >= 0).all()):
            raise ValueError(f"com must be finite and >= 0, got {com.tolist()}")
        cast = lambda v: v.to(dtype=dtype, device=device)  # noqa: E731
        p = ChainParams(
            cast(length), cast(mass), cast(com), cast(inertia), cast(vec("viscosity", viscosity)),
            as_vector("gravity", gravity, 2, dtype, device),
            *(as_vector(k, v, n, dtype, device) for k, v in (
                ("pos_lower_bound", pos_lower_bound), ("pos_upper_bound", pos_upper_bound),
                ("vel_lower_bound", vel_lower_bound), ("vel_upper_bound", vel_upper_bound))),
        )
        check_bounds(p.pos_lower_bound, p.pos_upper_bound, "pos")
        check_bounds(p.vel_lower_bound, p.vel_upper_bound, "vel")
        return p

    # ------------------------------------------------------------------------ kinematics
    def _tri(self, like):
        """upper[i, k] = 1 if i <= k (joint i moves link k); strict[j, k] = 1 if j < k."""
        n = self.n_links
        upper = static_tensor(("chain.upper", n), lambda: np.triu(np.ones((n, n))), like.device, like.dtype)
        strict = static_tensor(("chain.strict", n), lambda: np.triu(np.ones((n, n)), k=1), like.device, like.dtype)
        return upper, strict

    def com_jacobians(self, params, pos):
        """(phi (..., N), J (..., 2, N_joint i, N_link k)) with J[..., :, i, k] = dp_k/dq_i."""
        upper, strict = self._tri(pos)
        phi = prefix_sum(pos)
        du = _du(phi)  # (..., 2, N)
        # contribution of link j's length to p_k for j < k, moved by joints i <= j
        link_terms = (du * params.length).unsqueeze(-1) * strict  # (..., 2, j, k)
        jac = torch.einsum("ij,...djk->...dik", upper, link_terms)
        jac = jac + (du * params.com).unsqueeze(-2) * upper  # [i <= k] c_k u'(phi_k)
        return phi, jac

    def mass_matrix(self, params, pos):
        """(..., N, N) joint-space inertia M(q)."""
        upper, _ = self._tri(pos)
        _, jac = self.com_jacobians(params, pos)
        translational = torch.einsum("k,...dik,...djk->...ij", params.mass, jac, jac)
        rotational = torch.einsum("k,ik,jk->ij", params.inertia, upper, upper)
        return translational + rotational

    def acceleration(self, params, joint, torque, endpoint_load):
        _, strict = self._tri(joint.pos)
        phi, jac = self.com_jacobians(params, joint.pos)
        omega = prefix_sum(joint.vel)  # absolute angular velocities
        u_w2 = _u(phi) * omega.unsqueeze(-2) ** 2  # (..., 2, N)
        centripetal = -torch.einsum("...dj,jk->...dk", u_w2 * params.length, strict) - u_w2 * params.com
        h = torch.einsum("k,...dik,...dk->...i", params.mass, jac, centripetal)
        gravity = torch.einsum("k,...dik,d->...i", params.mass, jac, params.gravity)
        tip_jac = self.endpoint_jacobian(params, joint.pos)
        external = torch.einsum("...di,...d->...i", tip_jac, endpoint_load)
        rhs = torque + external + gravity - h - params.viscosity * joint.vel
        return torch.linalg.solve(self.mass_matrix(params, joint.pos), rhs.unsqueeze(-1)).squeeze(-1)

    def endpoint_jacobian(self, params, pos):
        """d(endpoint)/dq, (..., 2, N)."""
        upper, _ = self._tri(pos)
        phi = prefix_sum(pos)
        return torch.einsum("...dj,ij->...di", _du(phi) * params.length, upper)

    def forward_kinematics(self, params, joint):
        phi = prefix_sum(joint.pos)
        tip = torch.sum(_u(phi) * params.length, dim=-1)
        vel = torch.einsum("...di,...i->...d", self.endpoint_jacobian(params, joint.pos), joint.vel)
        return CartesianState(tip, vel)

    def joint_positions(self, params, pos):
        """(..., 2, N + 1) positions of the shoulder, each joint and the endpoint."""
        phi = prefix_sum(pos)
        pts = prefix_sum(_u(phi) * params.length)
        return torch.cat([torch.zeros_like(pts[..., :1]), pts], dim=-1)

    def fixation_points(self, params, joint, coordinates, bodies, motornet_velocity=True):
        n, device = self.n_links, coordinates.device
        dtype = joint.pos.dtype
        b = np.asarray(bodies)
        # selection matrices built once per (bodies, device, dtype) from the static body indices
        onehot = static_tensor(("chain.onehot", n, bodies), lambda: np.eye(n + 1)[b][:, 1:].T, device,
                               dtype)  # (N, P): body of point
        moved_by = static_tensor(("chain.moved_by", n, bodies), lambda: np.arange(1, n + 1)[:, None] <= b[None, :],
                                 device, dtype)  # (N_joint, P): joint i rotates point p
        origin_links = static_tensor(("chain.origin_links", n, bodies),
                                     lambda: np.arange(1, n + 1)[:, None] < b[None, :], device,
                                     dtype)  # (N_link j, P): link j lies between the origin and the body
        phi = prefix_sum(joint.pos)
        angle = phi @ onehot  # (..., P); world points keep angle 0
        cos, sin = torch.cos(angle), torch.sin(angle)
        cx, cy = coordinates[0], coordinates[1]
        rotated = torch.stack([cx * cos - cy * sin, cx * sin + cy * cos], dim=-2)
        origin = (_u(phi) * params.length) @ origin_links  # (..., 2, P)
        pos = rotated + origin
        d_rot = torch.stack([-rotated[..., 1, :], rotated[..., 0, :]], dim=-2)  # d(R c)/d(angle)
        link_du = _du(phi) * params.length  # (..., 2, N_link)
        upper, _ = self._tri(joint.pos)
        # d origin_p / dq_i = sum_j [i <= j] [j < body_p] l_j u'(phi_j)
        d_origin = torch.einsum("...dj,ij,jp->...dip", link_du, upper, origin_links)
        jac = d_origin + d_rot.unsqueeze(-2) * moved_by
        vel = torch.einsum("...dip,...i->...dp", jac, joint.vel)
        return PointKinematics(pos, vel, jac)

    def energy(self, params, joint):
        """Kinetic + gravitational potential energy (J), (...)."""
        m = self.mass_matrix(params, joint.pos)
        kinetic = 0.5 * torch.einsum("...i,...ij,...j->...", joint.vel, m, joint.vel)
        phi = prefix_sum(joint.pos)
        _, strict = self._tri(joint.pos)
        com = (_u(phi) * params.length) @ strict + _u(phi) * params.com  # (..., 2, N)
        potential = -torch.einsum("k,...dk,d->...", params.mass, com, params.gravity)
        return kinetic + potential
