"""The object layer's skeletons (``motornet_fn.skeleton``): MotorNet layouts over the core skeletons."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn import core
from motornet_fn.core.types import JointState

ARM = dict(m1=1.82, m2=1.43, l1g=0.135, l2g=0.165, i1=0.051, i2=0.057, l1=0.309, l2=0.333)


def built_arm(**kwargs):
    arm = mn.skeleton.TwoDofArm(**{**ARM, **kwargs})
    arm.build(timestep=0.01, pos_upper_bound=[2.0, 2.5], pos_lower_bound=[0.0, 0.0], vel_upper_bound=[10.0, 10.0],
              vel_lower_bound=[-10.0, -10.0])
    return arm


def test_two_dof_arm_methods_are_the_core_model():
    arm = built_arm()
    model = core.TwoDofArm()
    params = model.make_params(**ARM, pos_upper_bound=[2.0, 2.5], pos_lower_bound=[0.0, 0.0],
                               vel_upper_bound=10.0, vel_lower_bound=-10.0)
    gen = torch.Generator().manual_seed(0)
    joint = torch.cat([torch.rand(5, 2, generator=gen) * 2, torch.randn(5, 2, generator=gen)], dim=1)
    torque, load = torch.randn(5, 2, generator=gen), torch.randn(5, 2, generator=gen)
    j = JointState(joint[:, :2], joint[:, 2:])
    acc = arm.ode(torque, joint, load)
    torch.testing.assert_close(acc, model.acceleration(params, j, torque, load))
    new = model.euler_update(params, j, acc, 0.01)
    torch.testing.assert_close(arm.integrate(0.01, acc, joint), torch.cat([new.pos, new.vel], 1))
    coords = torch.tensor([[[0.1, 0.2, -0.05], [0.02, 0.0, 0.01]]])
    xy, dxy_dt, dxy_dq = arm.path2cartesian(coords, torch.tensor([[[0.0, 1.0, 2.0]]]), joint)
    points = model.fixation_points(params, j, coords[0], (0, 1, 2))
    for got, expected in zip((xy, dxy_dt, dxy_dq), points):
        torch.testing.assert_close(got, expected)


def test_two_dof_arm_kinematics_are_the_textbook_ones():
    arm = built_arm()
    q = torch.tensor([[0.3, 1.1, 0.5, -0.7]])
    q0, q1, v0, v1 = q[0]
    x = ARM["l1"] * torch.cos(q0) + ARM["l2"] * torch.cos(q0 + q1)
    y = ARM["l1"] * torch.sin(q0) + ARM["l2"] * torch.sin(q0 + q1)
    pos = torch.stack([x, y])
    jac = torch.autograd.functional.jacobian(
        lambda qq: torch.stack([ARM["l1"] * torch.cos(qq[0]) + ARM["l2"] * torch.cos(qq.sum()),
                                ARM["l1"] * torch.sin(qq[0]) + ARM["l2"] * torch.sin(qq.sum())]), q[0, :2])
    torch.testing.assert_close(arm.joint2cartesian(q)[0], torch.cat([pos, jac @ torch.stack([v0, v1])]))
    # a fixation point at the forearm's tip is the endpoint; its d(position)/dq is the Jacobian
    xy, _, dxy_dq = arm.path2cartesian(torch.tensor([[[ARM["l2"]], [0.0]]]), torch.tensor([[[2.0]]]), q)
    torch.testing.assert_close(xy[0, :, 0], pos)
    torch.testing.assert_close(dxy_dq[0, :, :, 0], jac)
    assert arm.joint2cartesian(q.repeat(3, 2, 1)).shape == (6, 4)  # leading dims flattened, as MotorNet


def test_joint_limit_rule():
    """Velocity clipped to its bounds, zeroed where the new position is at/over a bound and the velocity
    points outward, then position clipped (README of tests/data)."""
    arm = built_arm()
    joint = torch.tensor([[1.995, 0.001, 0.8, -0.3], [1.0, 1.0, 50.0, -50.0]])
    new = arm.integrate(0.01, torch.zeros(2, 2), joint)
    # position moves with the old (unclipped) velocity
    torch.testing.assert_close(new, torch.tensor([[2.0, 0.0, 0.0, 0.0], [1.5, 0.5, 10.0, -10.0]]))
    vel = arm.clip_velocity(torch.tensor([[2.5, -0.1]]), torch.tensor([[-1.0, 1.0]]))
    torch.testing.assert_close(vel, torch.tensor([[-1.0, 1.0]]))  # pointing back inside: kept


def test_overridden_clipping_hooks_are_used_by_integrate():
    class Unbounded(mn.skeleton.TwoDofArm):
        def clip_velocity(self, pos, vel):
            return vel

        def clip_method(self, x):
            return x

    arm = Unbounded(**ARM)
    arm.build(timestep=0.01, pos_upper_bound=1.0, pos_lower_bound=0.0, vel_upper_bound=1.0, vel_lower_bound=-1.0)
    joint = torch.tensor([[0.99, 0.5, 5.0, -3.0]])
    acc = torch.tensor([[100.0, 0.0]])
    expected = torch.tensor([[0.99 + 0.05, 0.5 - 0.03, 5.0 + 1.0, -3.0]])
    torch.testing.assert_close(arm.integrate(0.01, acc, joint), expected)
    torch.testing.assert_close(built_arm().integrate(0.01, acc, joint), torch.tensor([[1.04, 0.47, 6.0, -3.0]]))


def test_point_mass_ode_is_force_and_integrate_divides_by_mass():
    pm = mn.skeleton.PointMass(space_dim=3, mass=2.0)
    pm.build(0.01, pos_upper_bound=5.0, pos_lower_bound=-5.0, vel_upper_bound=100.0, vel_lower_bound=-100.0)
    joint = torch.tensor([[0.1, 0.2, 0.3, 1.0, -1.0, 0.5]])
    force = pm.ode(torch.tensor([[1.0, 2.0, 3.0]]), joint, torch.tensor([[0.5, 0.0, -1.0]]))
    torch.testing.assert_close(force, torch.tensor([[1.5, 2.0, 2.0]]))
    new = pm.integrate(0.01, force, joint)
    pos, vel = joint[:, :3], joint[:, 3:]
    torch.testing.assert_close(new, torch.cat([pos + 0.01 * vel, vel + 0.01 * force / 2.0], 1))
    pm.mass = 4.0  # read at every step, as in MotorNet
    torch.testing.assert_close(pm.integrate(0.01, force, joint)[:, 3:], joint[:, 3:] + 0.01 * force / 4.0)
    assert pm.get_save_config() == {"dof": 3, "dt": "0.01", "space_dim": 3, "mass": 4.0}
    assert pm.joint2cartesian(joint).equal(joint)


def test_two_dof_arm_attributes_and_config():
    arm = mn.skeleton.TwoDofArm(L1=0.4, I2=0.03)  # MotorNet's capitalized aliases win
    assert (arm.L1, arm.l1, arm.I2, arm.i2) == (0.4, 0.4, 0.03, 0.03)
    np.testing.assert_allclose(arm.pos_upper_bound, np.deg2rad([140, 160]))
    cfg = arm.get_save_config()
    assert cfg["coriolis_1"] == -arm.m2 * 0.4 * arm.L2g == -cfg["coriolis_2"] and cfg["dt"] == "None"
    c22 = arm.m2 * arm.L2g ** 2 + 0.03
    torch.testing.assert_close(arm.inertia_c[0, 1, 1], torch.tensor(c22, dtype=torch.float32))
    bounded = mn.skeleton.TwoDofArm(pos_lower_bound=[0.1, 0.2])  # a TypeError in MotorNet
    np.testing.assert_allclose(bounded.pos_lower_bound, [0.1, 0.2])
    arm.c_viscosity = 0.5
    assert float(arm.params().viscosity) == 0.5


def test_base_skeleton_hooks_must_be_implemented():
    skeleton = mn.skeleton.Skeleton(dof=1, space_dim=1)
    assert skeleton.params() is None and skeleton.get_save_config() == {"dof": 1, "dt": "None", "space_dim": 1}
    for call in (lambda: skeleton.ode(torch.zeros(1, 1), torch.zeros(1, 2), torch.zeros(1, 1)),
                 lambda: skeleton.integrate(0.01, torch.zeros(1, 1), torch.zeros(1, 2)),
                 lambda: skeleton.joint2cartesian(torch.zeros(1, 2))):
        with pytest.raises(NotImplementedError):
            call()


def test_bad_bounds_are_rejected():
    with pytest.raises(ValueError, match="pos_lower_bound must be <= pos_upper_bound"):
        built_arm().build(0.01, pos_upper_bound=[0.0, 0.0], pos_lower_bound=[1.0, 1.0], vel_upper_bound=1.0,
                          vel_lower_bound=-1.0)
    with pytest.raises(ValueError, match="pos_upper_bound must be a scalar or have 2 elements"):
        built_arm().build(0.01, pos_upper_bound=[1.0, 2.0, 3.0], pos_lower_bound=0.0, vel_upper_bound=1.0,
                          vel_lower_bound=-1.0)
