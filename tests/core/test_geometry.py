"""Musculotendon geometry: path lengths from the fixation points, lengthening velocity and moment arms
as the time and joint derivatives of length (autograd, float64), MotorNet's polynomial Arm26 geometry,
constant moment arms, and degenerate (coincident) path points."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import jacfwd, jvp

from motornet_fn import core

from .helpers import random_joint, random_layout

F64 = torch.float64


def path_pair(skeleton: str, paths, motornet_velocity=True):
    sk = core.get_skeleton(skeleton)
    return core.path_effector(sk, "ReluMuscle", paths, sk.make_params(dtype=F64), motornet_velocity=motornet_velocity,
                              dtype=F64)


def numpy_path_lengths(skeleton, params, paths, joint: np.ndarray) -> np.ndarray:
    """Polyline lengths from world points computed with plain numpy trigonometry."""
    out = []
    for path in paths:
        pts = []
        for body, (x, y) in zip(path["path_fixation_body"], path["path_coordinates"]):
            if skeleton == "PointMass":
                pts.append(np.array([x, y]) + (joint[:2] if body == 1 else 0.0))
                continue
            q0, q1 = joint[0], joint[1]
            l1 = float(params.skeleton.l1)
            if body == 0:
                pts.append(np.array([x, y]))
            elif body == 1:
                pts.append(np.array([x * np.cos(q0) - y * np.sin(q0), x * np.sin(q0) + y * np.cos(q0)]))
            else:
                a = q0 + q1
                pts.append(l1 * np.array([np.cos(q0), np.sin(q0)])
                           + np.array([x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)]))
        out.append(sum(np.linalg.norm(b - a) for a, b in zip(pts[:-1], pts[1:])))
    return np.array(out)


@pytest.mark.parametrize("skeleton", ["PointMass", "TwoDofArm"])
def test_path_length_velocity_and_moment_arms_are_derivatives_of_length(skeleton, rng):
    """length = polyline length; moment arm = d length / dq (Sherman, Seth & Delp 2013); velocity =
    d length / dt = moment_arm . q' with exact point velocities (``motornet_velocity=False``)."""
    layout = random_layout(rng, skeleton, "ReluMuscle", max_muscles=6)
    spec, params = path_pair(skeleton, layout["paths"], motornet_velocity=False)
    joints = random_joint(rng, skeleton, 5)
    for j in joints:
        joint = core.joint_from_tensor(torch.tensor(j, dtype=F64))
        geom = core.compute_geometry(spec, params, joint)
        np.testing.assert_allclose(geom.length.numpy(), numpy_path_lengths(skeleton, params, layout["paths"], j),
                                   rtol=1e-12)
        length = lambda q: core.compute_geometry(spec, params, core.JointState(q, joint.vel)).length  # noqa: E731
        torch.testing.assert_close(geom.moment_arm, jacfwd(length)(joint.pos).T, rtol=1e-10, atol=1e-12)
        _, rate = jvp(length, (joint.pos,), (joint.vel,))
        torch.testing.assert_close(geom.velocity, rate, rtol=1e-10, atol=1e-12)


def test_motornet_velocity_quirk_only_affects_forearm_points(rng):
    """MotorNet's point velocities differ from d/dt only for points on the forearm; a path on the world
    and upper arm only has the exact velocity either way."""
    upper = [dict(path_fixation_body=[0, 1], path_coordinates=[[0.05, 0.1], [0.2, 0.02]], max_isometric_force=1.0)]
    fore = [dict(path_fixation_body=[1, 2], path_coordinates=[[0.1, 0.03], [0.1, 0.02]], max_isometric_force=1.0)]
    joint = core.JointState(torch.tensor([0.6, 1.0], dtype=F64), torch.tensor([1.5, -0.7], dtype=F64))
    for paths, same in ((upper, True), (fore, False)):
        exact = core.compute_geometry(*path_pair("TwoDofArm", paths, False), joint)
        quirk = core.compute_geometry(*path_pair("TwoDofArm", paths, True), joint)
        torch.testing.assert_close(quirk.length, exact.length)
        torch.testing.assert_close(quirk.moment_arm, exact.moment_arm)
        assert torch.allclose(quirk.velocity, exact.velocity) == same


def test_segments_between_muscles_do_not_count():
    """Two muscles built together give the same geometry as each built alone (no bridging segment)."""
    a = dict(path_fixation_body=[0, 1], path_coordinates=[[-0.1, 0.0], [0.1, 0.02]], max_isometric_force=1.0)
    b = dict(path_fixation_body=[0, 2, 2], path_coordinates=[[0.1, -0.1], [0.05, 0.01], [0.2, 0.0]],
             max_isometric_force=1.0)
    joint = core.JointState(torch.tensor([[0.6, 1.0], [1.2, 0.3]], dtype=F64),
                            torch.tensor([[1.0, -1.0], [0.2, 0.4]], dtype=F64))
    both = core.compute_geometry(*path_pair("TwoDofArm", [a, b]), joint)
    for i, path in enumerate((a, b)):
        alone = core.compute_geometry(*path_pair("TwoDofArm", [path]), joint)
        for f_both, f_alone in zip(both, alone):
            torch.testing.assert_close(f_both[..., i], f_alone[..., 0])


def test_coincident_path_points_give_zero_length_and_finite_gradients():
    """A segment of zero length contributes 0 length, 0 velocity, 0 moment arm, and zero (not NaN)
    gradients -- MotorNet would divide by zero here."""
    paths = [dict(path_fixation_body=[1, 1, 0], path_coordinates=[[0.0, 0.0], [0.0, 0.0], [0.5, 0.5]],
                  max_isometric_force=1.0),
             dict(path_fixation_body=[0, 1], path_coordinates=[[0.2, -0.3], [0.0, 0.0]], max_isometric_force=1.0)]
    spec, params = path_pair("PointMass", paths)
    pos = torch.tensor([[0.2, -0.3], [0.0, 0.0]], dtype=F64, requires_grad=True)  # row 0: mass on muscle 2's anchor
    vel = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    geom = core.compute_geometry(spec, params, core.JointState(pos, vel))
    torch.testing.assert_close(geom.length[0, 1], torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(geom.length[:, 0], torch.linalg.vector_norm(0.5 - pos.detach(), dim=-1))
    assert (geom.moment_arm[0, :, 1] == 0).all() and (geom.velocity == 0).all()
    coords = params.geometry.coordinates.clone().requires_grad_(True)
    p2 = params._replace(geometry=core.PathParams(coords))
    geom = core.compute_geometry(spec, p2, core.JointState(pos, vel))
    grads = torch.autograd.grad(sum(g.sum() for g in geom), (pos, vel, coords))
    assert all(torch.isfinite(g).all() for g in grads)


def test_arm26_polynomial_geometry():
    """Nijhof & Kouwenhoven (2000) polynomial: moment arm = d length / dq, velocity = moment arm . q', and
    the coefficients of MotorNet's RigidTendonArm26 (lengths at the joint offsets are a0)."""
    spec, params = core.rigid_tendon_arm26(dtype=F64)
    a3 = torch.tensor([np.pi / 2, 0.0], dtype=F64)
    at_offset = core.compute_geometry(spec, params, core.JointState(a3, torch.zeros(2, dtype=F64)))
    torch.testing.assert_close(at_offset.length, torch.tensor([0.151, 0.2322, 0.2859, 0.2355, 0.3329, 0.2989], dtype=F64))
    torch.testing.assert_close(at_offset.moment_arm, torch.tensor(
        [[-0.03, 0.03, 0.0, 0.0, -0.03, 0.03], [0.0, 0.0, -0.014, 0.025, -0.016, 0.03]], dtype=F64))
    joint = core.JointState(torch.tensor([0.4, 1.7], dtype=F64), torch.tensor([0.8, -1.1], dtype=F64))
    geom = core.compute_geometry(spec, params, joint)
    length = lambda q: core.compute_geometry(spec, params, core.JointState(q, joint.vel)).length  # noqa: E731
    torch.testing.assert_close(geom.moment_arm, jacfwd(length)(joint.pos).T)
    torch.testing.assert_close(geom.velocity, geom.moment_arm.T @ joint.vel)
    _, compliant = core.compliant_tendon_arm26(dtype=F64)
    torch.testing.assert_close(compliant.geometry.a0[:2], torch.tensor([0.182, 0.2362], dtype=F64))


@pytest.mark.parametrize("name", ["Reacher", "FreePointMass24"])
def test_constant_moment_arms(name):
    spec, params = core.prebuilt(name, muscle="ReluMuscle", dtype=F64)
    joint = core.JointState(torch.rand(3, 2, dtype=F64), torch.randn(3, 2, dtype=F64))
    geom = core.compute_geometry(spec, params, joint)
    assert geom.length.shape == geom.velocity.shape == (3, 4) and (geom.length == 0).all() and (geom.velocity == 0).all()
    expected = [[-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.0]] if name == "Reacher" else [[-1.0, 0.0, 1.0, 0.0],
                                                                                         [0.0, -1.0, 0.0, 1.0]]
    torch.testing.assert_close(geom.moment_arm, torch.tensor(expected, dtype=F64).expand(3, 2, 4))
