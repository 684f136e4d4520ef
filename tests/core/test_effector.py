"""The effector step: sub-step composition, generalized forces and loads, action clipping, rollouts,
and the consistency of MotorNet's discrete scheme with the continuous ODE."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from motornet_fn import core

from .helpers import PREBUILT_CASES, build_prebuilt, rest_joint

F64 = torch.float64


@pytest.mark.parametrize("case", list(PREBUILT_CASES))
def test_initial_state_is_at_rest_and_consistent_with_geometry(case):
    spec, params = build_prebuilt(case, dtype=F64)
    joint = rest_joint(params)
    state = core.initial_state(spec, params, joint)
    for got, want in zip(state.geometry, core.compute_geometry(spec, params, joint)):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(state.muscle.activation, params.muscle.min_activation.expand(2, -1))
    assert state.joint is joint
    for leaf in core.tree.tree_leaves(state):
        assert leaf.shape[0] == 2 and torch.isfinite(leaf).all()


@pytest.mark.parametrize("integrator", ["euler", "rk4_motornet", "rk4"])
def test_ministeps_are_substeps(integrator):
    """One step with n ministeps == n steps of dt / n (action and loads held)."""
    spec, params = build_prebuilt("RigidTendonArm26-Kistemaker", dtype=F64, integrator=integrator, n_ministeps=3, dt=0.012)
    single = dataclasses.replace(spec, n_ministeps=1, dt=0.004)
    state = core.initial_state(spec, params, rest_joint(params))
    action = torch.tensor([0.2, 0.5, 0.1, 0.7, 0.3, 0.9], dtype=F64)
    loads = core.Loads(torch.tensor([1.0, -2.0], dtype=F64), torch.tensor([0.3, 0.1], dtype=F64))
    expected = state
    for _ in range(3):
        expected = core.step(single, params, expected, action, loads)
    got = core.step(spec, params, state, action, loads)
    for g, e in zip(core.tree.tree_leaves(got), core.tree.tree_leaves(expected)):
        torch.testing.assert_close(g, e, rtol=1e-13, atol=1e-13)


def test_generalized_force_sign_convention():
    """tau = -sum_m F_m r_m + joint_load - damping * q' (MotorNet's convention)."""
    spec, params = core.rigid_tendon_arm26(dtype=F64, damping=0.7)
    joint = core.JointState(torch.tensor([0.5, 1.0], dtype=F64), torch.tensor([0.4, -0.2], dtype=F64))
    geom = core.compute_geometry(spec, params, joint)
    force = torch.tensor([10.0, 0.0, 5.0, 0.0, 0.0, 2.0], dtype=F64)
    load = torch.tensor([0.1, -0.3], dtype=F64)
    got = core.generalized_force(params, force, geom, joint, load)
    expected = -(geom.moment_arm @ force) + load - 0.7 * joint.vel
    torch.testing.assert_close(got, expected)


def test_point_mass_endpoint_and_joint_loads_accelerate_by_f_over_m():
    """Inactive ReLU muscles (zero force): one Euler step adds dt (F_end + F_joint) / m to the velocity."""
    spec, params = core.relu_point_mass24(dtype=F64, mass=2.0)
    state = core.initial_state(spec, params, core.JointState(torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64)))
    loads = core.Loads(torch.tensor([3.0, -1.0], dtype=F64), torch.tensor([1.0, 0.5], dtype=F64))
    new = core.step(spec, params, state, torch.zeros(4, dtype=F64), loads)
    torch.testing.assert_close(new.joint.vel, 0.01 * torch.tensor([4.0, -0.5], dtype=F64) / 2.0)
    torch.testing.assert_close(new.joint.pos, torch.zeros(2, dtype=F64))  # explicit Euler: old velocity


def test_relu_point_mass_muscles_pull_towards_their_anchors():
    """Each X muscle pulls the mass towards its corner (moment arm sign convention end to end)."""
    spec, params = core.relu_point_mass24(dtype=F64)
    state = core.initial_state(spec, params, core.JointState(torch.zeros(4, 2, dtype=F64), torch.zeros(4, 2, dtype=F64)))
    action = torch.eye(4, dtype=F64)
    for _ in range(3):
        state = core.step(spec, params, state, action)
    corners = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [2.0, -2.0], [-2.0, -2.0]], dtype=F64)
    torch.testing.assert_close(torch.sign(state.joint.vel), torch.sign(corners))


@pytest.mark.parametrize("integrator", ["euler", "rk4_motornet", "rk4"])
def test_actions_are_clipped_to_the_activation_range(integrator):
    spec, params = build_prebuilt("RigidTendonArm26-Kistemaker", dtype=F64, integrator=integrator)
    state = core.initial_state(spec, params, rest_joint(params))
    raw = torch.tensor([-1.0, 2.0, 0.5, 1.5, -0.2, 0.0], dtype=F64)
    clipped = raw.clamp(float(params.muscle.min_activation[0]), 1.0)
    a, b = core.step(spec, params, state, raw), core.step(spec, params, state, clipped)
    for x, y in zip(core.tree.tree_leaves(a), core.tree.tree_leaves(b)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_rollout_stacks_states_and_time_varying_loads(gen):
    spec, params = core.rigid_tendon_arm26(dtype=F64)
    state = core.initial_state(spec, params, rest_joint(params))
    actions = torch.rand(5, 2, 6, generator=gen, dtype=F64)
    loads = core.Loads(torch.randn(5, 2, 2, generator=gen, dtype=F64), torch.randn(5, 2, 2, generator=gen, dtype=F64))
    traj = core.rollout(spec, params, state, actions, loads, time_varying_loads=True)
    assert traj.joint.pos.shape == (6, 2, 2) and traj.muscle.force.shape == (6, 2, 6)
    manual = state
    for t in range(5):
        manual = core.step(spec, params, manual, actions[t], core.Loads(loads.endpoint[t], loads.joint[t]))
        torch.testing.assert_close(traj.joint.pos[t + 1], manual.joint.pos, rtol=0, atol=0)
        torch.testing.assert_close(traj.muscle.force[t + 1], manual.muscle.force, rtol=0, atol=0)
    torch.testing.assert_close(traj.joint.vel[0], state.joint.vel)


@pytest.mark.parametrize("case", ["RigidTendonArm26-Kistemaker", "RigidTendonArm26-Thelen", "RigidTendonArm26-Mujoco",
                                  "ReluPointMass24", "CompliantTendonArm26"])
def test_motornet_derivative_agrees_with_the_continuous_ode(case, gen):
    """Where the stored muscle state is in step with the geometry (the continuous ODE's outputs), MotorNet's
    derivative (joint accelerations, activation rate) equals the continuous right-hand side."""
    spec, params = build_prebuilt(case, dtype=F64)
    joint = rest_joint(params)
    joint = joint._replace(vel=torch.randn(2, 2, generator=gen, dtype=F64) * 0.3)
    base = core.initial_state(spec, params, joint)
    act = torch.rand(2, spec.n_muscles, generator=gen, dtype=F64) * 0.5 + 0.2
    y = core.to_continuous(spec, base)._replace(muscle=spec.muscle.ode_vars(base.muscle)._replace(activation=act))
    state = core.from_continuous(spec, params, y)
    action = torch.rand(2, spec.n_muscles, generator=gen, dtype=F64)
    loads = core.Loads(torch.randn(2, 2, generator=gen, dtype=F64), torch.randn(2, 2, generator=gen, dtype=F64))
    discrete = core.motornet_derivative(spec, params, state, action, loads)
    continuous = core.continuous_derivative(spec, params, y, action, loads)
    torch.testing.assert_close(discrete.acceleration, continuous.joint.vel)
    torch.testing.assert_close(continuous.joint.pos, y.joint.vel)
    torch.testing.assert_close(discrete.muscle.activation, continuous.muscle.activation)
    if case == "CompliantTendonArm26":  # MotorNet integrates l_m / l0_ce at rate v_n
        torch.testing.assert_close(discrete.muscle.velocity_n * params.muscle.optimal_muscle_length,
                                   continuous.muscle.muscle_length)


def test_continuous_state_round_trip():
    spec, params = core.compliant_tendon_arm26(dtype=F64)
    state = core.initial_state(spec, params, rest_joint(params))
    y = core.to_continuous(spec, state)
    assert y.muscle._fields == ("activation", "muscle_length")
    back = core.from_continuous(spec, params, y)
    torch.testing.assert_close(back.muscle.muscle_length, state.muscle.muscle_length)
    torch.testing.assert_close(back.geometry.length, state.geometry.length)


def test_joint_limits_hold_during_steps():
    """Driving the arm hard into its limits never leaves the position bounds; velocity at a bound never
    points outward."""
    spec, params = core.rigid_tendon_arm26(dtype=F64)
    state = core.initial_state(spec, params, rest_joint(params))
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    for action in (torch.tensor([1.0, 0, 1.0, 0, 1.0, 0], dtype=F64), torch.tensor([0, 1.0, 0, 1.0, 0, 1.0], dtype=F64)):
        for _ in range(60):
            state = core.step(spec, params, state, action.expand(2, 6))
            assert ((state.joint.pos >= lo) & (state.joint.pos <= hi)).all()
            assert not ((state.joint.pos == hi) & (state.joint.vel > 0)).any()
            assert not ((state.joint.pos == lo) & (state.joint.vel < 0)).any()
        assert ((state.joint.pos == lo) | (state.joint.pos == hi)).any()  # a limit was reached


def test_cartesian_is_forward_kinematics():
    spec, params = core.rigid_tendon_arm26(dtype=F64)
    joint = core.JointState(torch.tensor([0.0, 0.0], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64))
    cart = core.cartesian(spec, params, joint)
    torch.testing.assert_close(cart.pos, torch.tensor([0.309 + 0.333, 0.0], dtype=F64))
    torch.testing.assert_close(cart.vel, torch.tensor([0.0, 0.309 + 0.333], dtype=F64))
