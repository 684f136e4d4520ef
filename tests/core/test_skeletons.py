"""Skeletons against independent mechanics: Newton for the point mass, Lagrange (via autograd on the
kinetic energy) for the two-link arm, exact kinematics, MotorNet's joint-limit rule."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import hessian, jacrev, jvp

from motornet_fn import core
from motornet_fn.core.skeletons import ARM26_SKELETON, TWO_DOF_ARM_DEFAULTS

F64 = torch.float64


def arm_params(preset: str = "default", **kw):
    values = dict(TWO_DOF_ARM_DEFAULTS) if preset == "default" else dict(ARM26_SKELETON)
    values.update(kw)
    return core.TwoDofArm().make_params(dtype=F64, **values), values


# ------------------------------------------------------------------------------------------ PointMass
def test_point_mass_is_newton(gen):
    sk = core.PointMass(3)
    p = sk.make_params(mass=2.5, dtype=F64)
    joint = core.JointState(torch.randn(5, 3, generator=gen, dtype=F64), torch.randn(5, 3, generator=gen, dtype=F64))
    force, load = torch.randn(5, 3, generator=gen, dtype=F64), torch.randn(5, 3, generator=gen, dtype=F64)
    torch.testing.assert_close(sk.acceleration(p, joint, force, load), (force + load) / 2.5)
    if "gravity" in p._fields:  # optional uniform gravity field (zero by default, as in MotorNet)
        g = torch.tensor([0.0, -9.81, 1.0], dtype=F64)
        torch.testing.assert_close(sk.acceleration(p._replace(gravity=g), joint, force, load), (force + load) / 2.5 + g)
    cart = sk.forward_kinematics(p, joint)
    torch.testing.assert_close(cart.pos, joint.pos)
    torch.testing.assert_close(cart.vel, joint.vel)


def test_point_mass_fixation_points(gen):
    sk = core.PointMass(2)
    p = sk.make_params(dtype=F64)
    joint = core.JointState(torch.randn(4, 2, generator=gen, dtype=F64), torch.randn(4, 2, generator=gen, dtype=F64))
    coords = torch.tensor([[2.0, 0.1, -1.0], [2.0, -0.2, 0.5]], dtype=F64)
    pts = sk.fixation_points(p, joint, coords, (0, 1, 0))
    torch.testing.assert_close(pts.pos[:, :, 0], coords[:, 0].expand(4, 2))
    torch.testing.assert_close(pts.pos[:, :, 1], joint.pos + coords[:, 1])
    torch.testing.assert_close(pts.vel[:, :, 1], joint.vel)
    assert (pts.vel[:, :, [0, 2]] == 0).all()
    torch.testing.assert_close(pts.jacobian[..., 1], torch.eye(2, dtype=F64).expand(4, 2, 2))
    assert (pts.jacobian[..., [0, 2]] == 0).all()


# ------------------------------------------------------------------------------------------ TwoDofArm
def com_positions(v: dict, q):
    """World positions of the two links' centres of mass."""
    q0, q1 = q[0], q[1]
    p1 = v["l1g"] * torch.stack([torch.cos(q0), torch.sin(q0)])
    elbow = v["l1"] * torch.stack([torch.cos(q0), torch.sin(q0)])
    return p1, elbow + v["l2g"] * torch.stack([torch.cos(q0 + q1), torch.sin(q0 + q1)])


def kinetic_energy(v: dict, q, qd):
    """T = 1/2 sum_i (m_i |v_i|^2 + I_i w_i^2), centre-of-mass velocities by forward-mode autograd."""
    (_, v1), (_, v2) = (jvp(lambda x: com_positions(v, x)[i], (q,), (qd,)) for i in range(2))
    return 0.5 * (v["m1"] * v1 @ v1 + v["m2"] * v2 @ v2 + v["i1"] * qd[0] ** 2 + v["i2"] * (qd[0] + qd[1]) ** 2)


def lagrangian_acceleration(v: dict, q, qd, tau, f_end, gravity=(0.0, 0.0)):
    """q'' of a planar two-link arm from the Euler-Lagrange equations, with the mass matrix and Coriolis
    terms obtained by autograd from the kinetic energy and the gravity forces from the potential energy
    -sum_i m_i g . p_i (independent of the closed form under test)."""
    kinetic = lambda q, qd: kinetic_energy(v, q, qd)  # noqa: E731
    g = torch.tensor(gravity, dtype=q.dtype)

    def potential(q):
        p1, p2 = com_positions(v, q)
        return -(v["m1"] * g @ p1 + v["m2"] * g @ p2)

    def endpoint(q):
        return v["l1"] * torch.stack([torch.cos(q[0]), torch.sin(q[0])]) + v["l2"] * torch.stack(
            [torch.cos(q[0] + q[1]), torch.sin(q[0] + q[1])])

    mass = hessian(kinetic, argnums=1)(q, qd)
    dT_dqd_dq = jacrev(jacrev(kinetic, argnums=1), argnums=0)(q, qd)  # d/dq (dT/dqd)
    dT_dq = jacrev(kinetic, argnums=0)(q, qd)
    generalized = tau + jacrev(endpoint)(q).T @ f_end - v["viscosity"] * qd - jacrev(potential)(q)
    return torch.linalg.solve(mass, generalized - dT_dqd_dq @ qd + dT_dq)


@pytest.mark.parametrize("gravity", [(0.0, 0.0), (0.0, -9.81), (3.0, 1.5)])
@pytest.mark.parametrize("preset", ["default", "arm26"])
def test_two_link_arm_obeys_euler_lagrange(preset, gravity, gen):
    p, values = arm_params(preset, viscosity=0.3)
    if gravity != (0.0, 0.0):  # MotorNet's arm is horizontal (no gravity); the core can add it
        if "gravity" not in p._fields:
            pytest.skip("this TwoDofArm has no gravity parameter")
        p = p._replace(gravity=torch.tensor(gravity, dtype=F64))
    sk = core.TwoDofArm()
    for _ in range(6):
        q = torch.rand(2, generator=gen, dtype=F64) * 2.5
        qd = (torch.rand(2, generator=gen, dtype=F64) - 0.5) * 8
        tau = (torch.rand(2, generator=gen, dtype=F64) - 0.5) * 20
        f = (torch.rand(2, generator=gen, dtype=F64) - 0.5) * 10
        got = sk.acceleration(p, core.JointState(q, qd), tau, f)
        torch.testing.assert_close(got, lagrangian_acceleration(values, q, qd, tau, f, gravity), rtol=1e-10, atol=1e-10)


def test_two_link_arm_conserves_energy_without_torque(float64):
    """No torque, no viscosity: kinetic energy is conserved along the exact flow (textbook rk4, fine step)."""
    sk = core.TwoDofArm()
    p, values = arm_params("arm26", pos_lower_bound=-100.0, pos_upper_bound=100.0)

    zero = torch.zeros(2)
    f = lambda y: core.JointState(y.vel, sk.acceleration(p, y, zero, zero))  # noqa: E731
    y = core.JointState(torch.tensor([0.3, 1.0]), torch.tensor([4.0, -6.0]))
    e0 = kinetic_energy(values, y.pos, y.vel)
    for _ in range(500):
        y = core.integrators.rk4(f, y, 1e-3)
    assert abs(kinetic_energy(values, y.pos, y.vel) / e0 - 1) < 1e-9
    assert (y.pos - torch.tensor([0.3, 1.0])).abs().max() > 0.5  # it did move


def test_two_link_forward_kinematics_and_endpoint_jacobian(gen):
    sk = core.TwoDofArm()
    p, v = arm_params()
    q = torch.rand(7, 2, generator=gen, dtype=F64) * 2
    qd = torch.randn(7, 2, generator=gen, dtype=F64)
    cart = sk.forward_kinematics(p, core.JointState(q, qd))
    x = v["l1"] * torch.cos(q[:, 0]) + v["l2"] * torch.cos(q.sum(-1))
    y = v["l1"] * torch.sin(q[:, 0]) + v["l2"] * torch.sin(q.sum(-1))
    torch.testing.assert_close(cart.pos, torch.stack([x, y], -1))
    fk = lambda qq: sk.forward_kinematics(p, core.JointState(qq, torch.zeros_like(qq))).pos  # noqa: E731
    for i in range(7):
        jac = jacrev(fk)(q[i])
        torch.testing.assert_close(sk.endpoint_jacobian(p, q[i]), jac)
        torch.testing.assert_close(cart.vel[i], jac @ qd[i])


def test_two_link_fixation_points_kinematics(gen):
    """Positions: rotate the body-frame coordinates by the body angle (forearm about the elbow). Jacobian:
    autograd of the positions. Velocity: exact J q' with ``motornet_velocity=False``; MotorNet's velocity
    differs only for forearm points, whose rotation term it scales by (q0' + q1') on top of q0'."""
    sk = core.TwoDofArm()
    p, v = arm_params()
    coords = torch.tensor([[0.05, 0.1, 0.2, -0.1], [0.02, -0.03, 0.01, 0.04]], dtype=F64)
    bodies = (0, 1, 2, 2)
    q = torch.rand(2, generator=gen, dtype=F64) * 2
    qd = torch.randn(2, generator=gen, dtype=F64)
    pos_fn = lambda qq: sk.fixation_points(p, core.JointState(qq, qd), coords, bodies).pos  # noqa: E731
    pts = sk.fixation_points(p, core.JointState(q, qd), coords, bodies, motornet_velocity=False)

    def rot(angle, c):
        return torch.stack([c[0] * torch.cos(angle) - c[1] * torch.sin(angle),
                            c[0] * torch.sin(angle) + c[1] * torch.cos(angle)])

    elbow = v["l1"] * torch.stack([torch.cos(q[0]), torch.sin(q[0])])
    expected = torch.stack([coords[:, 0], rot(q[0], coords[:, 1]), elbow + rot(q.sum(), coords[:, 2]),
                            elbow + rot(q.sum(), coords[:, 3])], -1)
    torch.testing.assert_close(pts.pos, expected)
    jac = jacrev(pos_fn)(q)  # (2, P, dof)
    torch.testing.assert_close(pts.jacobian, jac.permute(0, 2, 1))
    torch.testing.assert_close(pts.vel, torch.einsum("dpj,j->dp", jac, qd))
    mn = sk.fixation_points(p, core.JointState(q, qd), coords, bodies, motornet_velocity=True)
    torch.testing.assert_close(mn.vel[:, :2], pts.vel[:, :2])
    extra = pts.jacobian[:, 1, 2:] * qd[0]  # forearm rotation term counted once more with q0'
    torch.testing.assert_close(mn.vel[:, 2:], pts.vel[:, 2:] + extra)


def test_endpoint_load_enters_through_jacobian_transpose(gen):
    sk = core.TwoDofArm()
    p, _ = arm_params()
    joint = core.JointState(torch.tensor([0.7, 1.1], dtype=F64), torch.tensor([0.3, -0.4], dtype=F64))
    f = torch.tensor([3.0, -2.0], dtype=F64)
    torque = sk.endpoint_jacobian(p, joint.pos).T @ f
    zero = torch.zeros(2, dtype=F64)
    torch.testing.assert_close(sk.acceleration(p, joint, zero, f), sk.acceleration(p, joint, torque, zero))


# ------------------------------------------------------------------------------------- joint limits
def test_clip_joint_follows_motornet_rule():
    """Velocity clipped to its bounds; zeroed where the position is at/over a bound and the velocity points
    outward (inward velocity is kept); then position clipped."""
    sk = core.PointMass(2)
    p = sk.make_params(pos_lower_bound=-1.0, pos_upper_bound=1.0, vel_lower_bound=-5.0, vel_upper_bound=5.0, dtype=F64)
    pos = torch.tensor([[1.2, 0.0], [1.2, -1.0], [0.5, -1.5], [1.0, 0.2]], dtype=F64)
    vel = torch.tensor([[3.0, 9.0], [-2.0, 2.0], [-7.0, -1.0], [1.0, -0.5]], dtype=F64)
    out = sk.clip(p, core.JointState(pos, vel))
    torch.testing.assert_close(out.pos, torch.tensor([[1.0, 0.0], [1.0, -1.0], [0.5, -1.0], [1.0, 0.2]], dtype=F64))
    torch.testing.assert_close(out.vel, torch.tensor([[0.0, 5.0], [-2.0, 2.0], [-5.0, 0.0], [0.0, -0.5]], dtype=F64))


def test_euler_update_uses_the_old_velocity_for_position():
    sk = core.PointMass(1)
    p = sk.make_params(dtype=F64)
    out = sk.euler_update(p, core.JointState(torch.tensor([0.1], dtype=F64), torch.tensor([2.0], dtype=F64)),
                          torch.tensor([10.0], dtype=F64), 0.01)
    torch.testing.assert_close(out.pos, torch.tensor([0.12], dtype=F64))
    torch.testing.assert_close(out.vel, torch.tensor([2.1], dtype=F64))


def test_check_joint_accepts_in_bounds_states():
    sk = core.TwoDofArm()
    p, _ = arm_params()
    sk.check_joint(p, core.JointState(torch.tensor([[0.0, 0.0], [2.4, 2.79]], dtype=F64), torch.zeros(2, 2, dtype=F64)))


def test_default_bounds_are_motornets():
    p, _ = arm_params()
    np.testing.assert_allclose(p.pos_upper_bound.numpy(), np.deg2rad([140.0, 160.0]))
    np.testing.assert_allclose(p.pos_lower_bound.numpy(), [0.0, 0.0])
    pm = core.PointMass(2).make_params(dtype=F64)
    np.testing.assert_allclose(pm.pos_lower_bound.numpy(), [-1.0, -1.0])
    np.testing.assert_allclose(pm.vel_upper_bound.numpy(), [1000.0, 1000.0])


def test_prefix_sum_is_cumsum_and_leaves_no_cumsum_in_the_kinematics_graph():
    from torch.fx.experimental.proxy_tensor import make_fx

    from motornet_fn.core.math import prefix_sum

    g = torch.Generator().manual_seed(2)
    two = torch.randn(5, 2, generator=g)
    assert torch.equal(prefix_sum(two), torch.cumsum(two, -1))  # two terms: the same bits
    many = torch.randn(5, 7, dtype=torch.float64, generator=g)
    torch.testing.assert_close(prefix_sum(many), torch.cumsum(many, -1), rtol=1e-15, atol=1e-15)
    # inductor's CPU backend calls ATen's cumsum outside its kernels: the kinematics must not use it
    spec, params = core.prebuilt("RigidTendonArm26")
    joint = core.JointState(torch.rand(3, 2, generator=g), torch.rand(3, 2, generator=g))
    graph = make_fx(lambda j: core.cartesian(spec, params, j))(joint).graph
    targets = {str(node.target) for node in graph.nodes if node.op == "call_function"}
    assert not any("cumsum" in t for t in targets), targets
