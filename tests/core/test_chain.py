"""Planar N-link chain: equals TwoDofArm for N = 2, conserves energy, matches Lagrangian mechanics."""
import math

import pytest
import torch
from torch.func import jacfwd

from motornet_fn.core import build, engine, integrators
from motornet_fn.core import effector as eff
from motornet_fn.core.skeletons import ARM26_SKELETON, PlanarChain, TwoDofArm
from motornet_fn.core.types import JointState

F64 = torch.float64


def arm26_as_chain(dtype=F64, gravity=(0.0, 0.0)):
    arm = TwoDofArm()
    ap = arm.make_params(dtype=dtype, pos_lower_bound=(0, 0), pos_upper_bound=(math.radians(135), math.radians(155)),
                         gravity=gravity, **ARM26_SKELETON)
    chain = PlanarChain(2)
    cp = chain.make_params(length=[ap.l1, ap.l2], mass=[ap.m1, ap.m2], com=[ap.l1g, ap.l2g], inertia=[ap.i1, ap.i2],
                           pos_lower_bound=ap.pos_lower_bound, pos_upper_bound=ap.pos_upper_bound, gravity=gravity,
                           dtype=dtype)
    return arm, ap, chain, cp


@pytest.mark.parametrize("gravity", [(0.0, 0.0), (0.0, -9.81)])
def test_two_link_chain_equals_two_dof_arm_step_for_step(gravity):
    arm, ap, chain, cp = arm26_as_chain(gravity=gravity)
    spec, params = build.rigid_tendon_arm26(dtype=F64, skeleton_params=ap)
    chain_spec = spec.__class__(**{**spec.__dict__, "skeleton": chain})
    chain_params = params._replace(skeleton=cp)
    joint = JointState(torch.tensor([[0.6, 1.2], [1.1, 0.4]], dtype=F64), torch.tensor([[0.5, -1.0], [0.0, 2.0]], dtype=F64))
    actions = 0.3 + 0.2 * torch.sin(torch.arange(60, dtype=F64)[:, None, None] / 7 + torch.arange(6, dtype=F64))
    actions = actions.expand(60, 2, 6)
    a = engine.rollout(spec, params, eff.initial_state(spec, params, joint), actions)
    b = engine.rollout(chain_spec, chain_params, eff.initial_state(chain_spec, chain_params, joint), actions)
    torch.testing.assert_close(b.joint.pos, a.joint.pos, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(b.joint.vel, a.joint.vel, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(chain.forward_kinematics(cp, b.joint).pos, arm.forward_kinematics(ap, a.joint).pos)


def test_two_link_chain_points_equal_two_dof_arm_exact_points():
    arm, ap, chain, cp = arm26_as_chain()
    joint = JointState(torch.tensor([0.7, 1.3], dtype=F64), torch.tensor([0.4, -0.9], dtype=F64))
    coords = torch.tensor([[0.1, 0.2, -0.05, 0.3, 0.0], [0.02, -0.01, 0.03, 0.0, 0.1]], dtype=F64)
    bodies = (0, 1, 2, 2, 1)
    for x, y in zip(chain.fixation_points(cp, joint, coords, bodies),
                    arm.fixation_points(ap, joint, coords, bodies, motornet_velocity=False)):
        torch.testing.assert_close(x, y)


def chain3(gravity=(0.0, 0.0)):
    chain = PlanarChain(3)
    params = chain.make_params(length=[0.3, 0.25, 0.2], mass=[2.0, 1.5, 0.8], com=[0.14, 0.12, 0.08],
                               inertia=[0.02, 0.015, 0.006], gravity=gravity, pos_lower_bound=-10, pos_upper_bound=10,
                               dtype=F64)
    return chain, params


@pytest.mark.parametrize("gravity", [(0.0, 0.0), (0.0, -9.81)])
def test_unactuated_undamped_chain_conserves_energy(gravity):
    chain, params = chain3(gravity)
    y0 = JointState(torch.tensor([0.3, 0.8, -0.5], dtype=F64), torch.tensor([1.0, -2.0, 3.0], dtype=F64))
    zero_tau, zero_load = torch.zeros(3, dtype=F64), torch.zeros(2, dtype=F64)
    f = lambda y: JointState(y.vel, chain.acceleration(params, y, zero_tau, zero_load))  # noqa: E731
    y, dt = y0, 2e-3
    for _ in range(500):  # 1 s
        y = integrators.rk4(f, y, dt)
    e0, e1 = chain.energy(params, y0), chain.energy(params, y)
    kinetic0 = 0.5 * y0.vel @ chain.mass_matrix(params, y0.pos) @ y0.vel
    assert abs(e1 - e0) / kinetic0 < 1e-4
    assert (y.pos - y0.pos).abs().max() > 0.5  # it really moved


def test_chain_dynamics_match_lagrangian_autodiff():
    """M from the closed form equals the Hessian of kinetic energy; the velocity-product term equals
    dM/dt q' - 1/2 d(q' M q')/dq computed by autodiff."""
    chain, params = chain3(gravity=(0.5, -9.81))
    q = torch.tensor([0.3, 0.8, -0.5], dtype=F64)
    v = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    m = chain.mass_matrix(params, q)
    torch.testing.assert_close(m, m.T)
    assert torch.linalg.eigvalsh(m).min() > 0
    dm = jacfwd(lambda x: chain.mass_matrix(params, x))(q)  # (i, j, k) = dM_ij/dq_k
    coriolis = torch.einsum("ijk,k,j->i", dm, v, v) - 0.5 * torch.einsum("jkl,j,k->l", dm, v, v)
    potential = lambda x: chain.energy(params, JointState(x, torch.zeros_like(x)))  # noqa: E731
    gravity = -jacfwd(potential)(q)
    tau = torch.tensor([0.4, -0.2, 0.1], dtype=F64)
    load = torch.tensor([1.5, -0.7], dtype=F64)
    external = chain.endpoint_jacobian(params, q).T @ load
    want = torch.linalg.solve(m, tau + external + gravity - coriolis)
    got = chain.acceleration(params, JointState(q, v), tau, load)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_chain_jacobians_match_autodiff():
    chain, params = chain3()
    q = torch.tensor([0.3, 0.8, -0.5], dtype=F64)
    v = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    tip = lambda x: chain.forward_kinematics(params, JointState(x, torch.zeros_like(x))).pos  # noqa: E731
    torch.testing.assert_close(chain.endpoint_jacobian(params, q), jacfwd(tip)(q))
    coords = torch.tensor([[0.1, 0.05, -0.02, 0.07], [0.0, 0.02, 0.01, -0.03]], dtype=F64)
    bodies = (0, 1, 2, 3)
    pts = chain.fixation_points(params, JointState(q, v), coords, bodies)
    pos_of = lambda x: chain.fixation_points(params, JointState(x, v), coords, bodies).pos  # noqa: E731
    torch.testing.assert_close(pts.jacobian, jacfwd(pos_of)(q).movedim(-1, -2))
    torch.testing.assert_close(pts.vel, torch.einsum("dip,i->dp", pts.jacobian, v))


def test_chain_effector_with_path_muscles_runs_batched_and_differentiates():
    chain = PlanarChain(3)
    sp = chain.make_params(length=[0.3, 0.25, 0.2], mass=[2.0, 1.5, 0.8], pos_lower_bound=-2.5, pos_upper_bound=2.5)
    paths = [dict(path_fixation_body=[0, 1], path_coordinates=[[0.05, 0.02], [0.1, 0.02]], max_isometric_force=100.0),
             dict(path_fixation_body=[1, 2], path_coordinates=[[0.1, -0.02], [0.05, -0.02]], max_isometric_force=80.0),
             dict(path_fixation_body=[2, 3], path_coordinates=[[0.1, 0.02], [0.05, 0.02]], max_isometric_force=50.0),
             dict(path_fixation_body=[1, 3], path_coordinates=[[0.2, 0.03], [0.02, 0.02]], max_isometric_force=50.0)]
    spec, params = build.path_effector(chain, "ReluMuscle", paths, sp, motornet_velocity=False)
    start = JointState(torch.tensor([[0.5, 0.5, 0.5], [0.2, 0.9, -0.3]]), torch.zeros(2, 3))
    action = torch.full((20, 2, 4), 0.3, requires_grad=True)
    out = engine.rollout(spec, params, eff.initial_state(spec, params, start), action)
    assert out.joint.pos.shape == (21, 2, 3)
    (g,) = torch.autograd.grad(chain.forward_kinematics(params.skeleton, out.joint).pos[-1].sum(), action)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_chain_rejects_bad_parameters():
    with pytest.raises(ValueError, match="mass must be finite and > 0 for every link"):
        PlanarChain(2).make_params(length=[0.3, 0.3], mass=[1.0, -1.0])
    with pytest.raises(ValueError, match="length must be a scalar or have 3 elements"):
        PlanarChain(3).make_params(length=[0.3, 0.3], mass=1.0)
    with pytest.raises(ValueError, match="n_links must be a positive int, got 0"):
        PlanarChain(0)
