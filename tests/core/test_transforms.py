"""The core composes with torch.func and autograd.

* unbatched (a loop over samples), batched (leading batch dims) and ``vmap`` results agree -- over states,
  actions and loads, and over stacked parameters (ensembles);
* ``jacrev`` of each muscle model's ``integrate`` and of each skeleton's derivative (acceleration) matches
  central finite differences in float64;
* ``torch.autograd.gradcheck`` passes for each muscle model, skeleton and geometry in float64, with respect
  to inputs and parameters;
* gradients through 100 steps of every prebuilt effector are finite (and not all zero), starting at rest
  (zero velocities), at a joint limit, with extreme actions, and with coincident path points.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck
from torch.func import jacrev, vmap

from motornet_fn import core
from motornet_fn.core.tree import tree_leaves, tree_map, tree_stack

from .helpers import MUSCLE_NAMES, PREBUILT_CASES, build_prebuilt, random_joint, random_layout

F64 = torch.float64


def assert_trees_close(a, b, rtol=1e-10, atol=1e-12, what=""):
    la, lb = tree_leaves(a), tree_leaves(b)
    assert len(la) == len(lb)
    for i, (x, y) in enumerate(zip(la, lb)):
        assert x.shape == y.shape, f"{what} leaf {i}: {x.shape} vs {y.shape}"
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol, msg=lambda m: f"{what} leaf {i}: {m}")


def generic_state(spec, params, batch: int, gen: torch.Generator, warmup: int = 3):
    """A non-trivial batched state: random joint state inside the bounds, then a few random-action steps."""
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    pos = lo + (hi - lo) * (0.2 + 0.6 * torch.rand(batch, spec.dof, generator=gen, dtype=lo.dtype))
    vel = 0.5 * torch.randn(batch, spec.dof, generator=gen, dtype=lo.dtype)
    state = core.initial_state(spec, params, core.JointState(pos, vel))
    for _ in range(warmup):
        state = core.step(spec, params, state, torch.rand(batch, spec.n_muscles, generator=gen, dtype=lo.dtype))
    return state


def random_inputs(spec, batch, gen, dtype=F64):
    actions = torch.rand(batch, spec.n_muscles, generator=gen, dtype=dtype)
    loads = core.Loads(torch.randn(batch, spec.space_dim, generator=gen, dtype=dtype),
                       torch.randn(batch, spec.dof, generator=gen, dtype=dtype))
    return actions, loads


def take(tree, i):
    return tree_map(lambda x: x[i], tree)


# ------------------------------------------------------------------------- batched == loop == vmap
INTEGRATORS = ["euler", "rk4_motornet", "rk4"]


def path_case(skeleton, muscle, seed=0):
    layout = random_layout(np.random.default_rng(seed), skeleton, muscle, max_muscles=4)
    sk = core.get_skeleton(skeleton)

    def build(integrator="euler", **kw):  # integrator: core name
        spec, params = core.path_effector(sk, muscle, layout["paths"], sk.make_params(dtype=F64),
                                          integrator=integrator,
                                          muscle_defaults=layout["activation"], dtype=F64, **kw)
        assert spec.integrator == integrator
        return spec, params

    return build


EFFECTORS = {case: (lambda case=case, **kw: build_prebuilt(case, dtype=F64, **kw)) for case in PREBUILT_CASES}
EFFECTORS.update({f"paths-{s}-{m}": path_case(s, m) for s in ("PointMass", "TwoDofArm") for m in MUSCLE_NAMES})


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("case", list(EFFECTORS))
def test_unbatched_batched_and_vmap_steps_agree(case, integrator, gen):
    spec, params = EFFECTORS[case](integrator=integrator, n_ministeps=2)
    batch = 4
    state = generic_state(spec, params, batch, gen)
    actions, loads = random_inputs(spec, batch, gen)
    batched = core.step(spec, params, state, actions, loads)
    looped = tree_stack([core.step(spec, params, take(state, i), actions[i], take(loads, i)) for i in range(batch)])
    vmapped = vmap(lambda s, a, l: core.step(spec, params, s, a, l))(state, actions, loads)
    assert_trees_close(batched, looped, what="batched vs loop")
    assert_trees_close(vmapped, looped, what="vmap vs loop")
    # any number of leading batch dims: (2, 2) gives the same numbers as (4,)
    nested = core.step(spec, params, tree_map(lambda x: x.reshape(2, 2, *x.shape[1:]), state),
                       actions.reshape(2, 2, -1), tree_map(lambda x: x.reshape(2, 2, -1), loads))
    assert_trees_close(tree_map(lambda x: x.reshape(4, *x.shape[2:]), nested), batched, what="nested batch")


@pytest.mark.parametrize("case", ["RigidTendonArm26-Kistemaker", "CompliantTendonArm26", "paths-TwoDofArm-MujocoHillMuscle",
                                  "paths-PointMass-RigidTendonHillMuscleThelen"])
def test_vmap_over_stacked_parameters_is_an_ensemble(case, gen):
    """vmap over a stack of parameter pytrees (muscle strengths, masses/inertias, damping) equals stepping
    each parameter set on its own."""
    spec, params = EFFECTORS[case]()
    n = 3
    scale = 0.7 + 0.6 * torch.rand(n, generator=gen, dtype=F64)

    def perturbed(s):
        sk = tree_map(lambda x: x * s if x.ndim == 0 and x.is_floating_point() and x > 0 else x, params.skeleton)
        strength = params.muscle.max_isometric_force * s
        return params._replace(skeleton=sk, muscle=params.muscle._replace(max_isometric_force=strength),
                               damping=params.damping + 0.1 * s)

    ensemble = [perturbed(s) for s in scale]
    stacked = tree_stack(ensemble)
    state = generic_state(spec, params, n, gen)
    actions, loads = random_inputs(spec, n, gen)
    looped = tree_stack([core.step(spec, ensemble[i], take(state, i), actions[i], take(loads, i)) for i in range(n)])
    vmapped = vmap(lambda p, s, a, l: core.step(spec, p, s, a, l))(stacked, state, actions, loads)
    assert_trees_close(vmapped, looped, what="param ensemble")
    # the perturbation matters (the test would notice parameters being ignored)
    unperturbed = core.step(spec, params, take(state, 0), actions[0], take(loads, 0))
    assert not torch.allclose(looped.joint.vel[0], unperturbed.joint.vel)


def test_vmap_of_jacrev_equals_per_sample_jacobians(gen):
    spec, params = build_prebuilt("RigidTendonArm26-Kistemaker", dtype=F64, integrator="rk4")
    state = generic_state(spec, params, 3, gen)
    actions, _ = random_inputs(spec, 3, gen)
    f = lambda s, a: core.step(spec, params, s, a).joint.pos  # noqa: E731
    per_sample = vmap(jacrev(f, argnums=1))(state, actions)
    for i in range(3):
        torch.testing.assert_close(per_sample[i], jacrev(f, argnums=1)(take(state, i), actions[i]))


# ------------------------------------------------------------------- jacrev == finite differences
def central_differences(f, x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """(out, in) Jacobian of a flat function by central differences with one Richardson extrapolation
    (error O(h^4); muscle curves are strongly curved), step h relative to |x|."""
    cols = []
    for i in range(x.numel()):
        step = h * max(1.0, abs(float(x[i])))
        e = torch.zeros_like(x)
        e[i] = step
        coarse = (f(x + e) - f(x - e)) / (2 * step)
        fine = (f(x + e / 2) - f(x - e / 2)) / step
        cols.append((4 * fine - coarse) / 3)
    return torch.stack(cols, dim=-1)


def assert_jacobian_matches_fd(f, x, what, rtol=1e-6):
    jac = jacrev(f)(x)
    fd = central_differences(f, x)
    scale = max(1.0, float(fd.abs().max()))
    err = float((jac - fd).abs().max())
    assert err <= rtol * scale, f"{what}: max |jacrev - FD| = {err:.3g} (scale {scale:.3g})"
    assert jac.abs().max() > 0, f"{what}: Jacobian is identically zero"
    return jac


def muscle_point(name: str, gen, n: int = 5):
    """(model, params, state, derivative, geometry, dt) in a smooth region of each model's curves, float64.

    Musculotendon lengths put the muscle between 0.7 and 1.3 optimal lengths; velocities are kept away from
    0 (and MuJoCo's -1 / c knots); activations stay inside (min_activation, 1) after the step."""
    model = core.get_muscle(name)
    kw = dict(max_isometric_force=torch.linspace(200, 900, n).tolist())
    l0, l0_se = 0.12, 0.1
    if name != "ReluMuscle":
        kw.update(tendon_length=l0_se, optimal_muscle_length=l0)
    params = model.make_params(n, dtype=F64, **kw)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen, dtype=F64)  # noqa: E731
    sign = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(F64)
    length = l0_se + l0 * u(0.75, 1.25)
    activation = u(0.35, 0.8)
    if name == "CompliantTendonHillMuscle":
        # tendon force between 0.4 and 1.15 times the isometric force a F_L(l_m): concentric and mildly
        # eccentric contractions (close to the eccentric plateau 1.5 a F_L the velocity diverges)
        lm = l0 * u(0.8, 1.2)
        force = activation * (1 - (lm / l0 - 1) ** 2 / 0.66**2) * u(0.4, 1.15)
        length = lm + l0_se * (1 + 0.04 * force.sqrt())
    velocity = sign * u(0.05, 0.3)
    geometry = core.Geometry(length, velocity, torch.zeros(1, n, dtype=F64))
    state = model.initial_state(params, geometry, 0.01)
    state = state._replace(activation=activation)
    if name == "CompliantTendonHillMuscle":
        # make the stored active force consistent with the length, as after an integration step
        state = model.outputs(params, model.ode_vars(state)._replace(muscle_length=lm), geometry)
    derivative = model.derivative(params, state, u(0.2, 0.9))
    return model, params, state, derivative, geometry, 0.002


def flat_integrate(model, params, state, derivative, geometry, dt):
    """integrate() as a function of one flat vector [state fields, derivative fields, length, velocity]."""
    parts = [*state, *derivative, geometry.length, geometry.velocity]
    sizes = [p.numel() for p in parts]

    def f(x):
        chunks = list(torch.split(x, sizes))
        ns, nd = len(state), len(derivative)
        s = type(state)(*chunks[:ns])
        d = type(derivative)(*chunks[ns:ns + nd])
        g = geometry._replace(length=chunks[-2], velocity=chunks[-1])
        return torch.cat(list(model.integrate(params, s, d, g, dt)))

    return f, torch.cat(parts)


@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_jacrev_of_muscle_integrate_matches_finite_differences(name, gen):
    for _ in range(3):
        model, params, state, derivative, geometry, dt = muscle_point(name, gen)
        f, x = flat_integrate(model, params, state, derivative, geometry, dt)
        assert_jacobian_matches_fd(f, x, f"{name}.integrate")


@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_jacrev_of_muscle_derivative_and_continuous_rhs_match_finite_differences(name, gen):
    model, params, state, derivative, geometry, dt = muscle_point(name, gen)
    action = 0.2 + 0.7 * torch.rand(state.activation.shape, generator=gen, dtype=F64)
    sizes = [v.numel() for v in state]

    def deriv(x):
        return torch.cat(list(model.derivative(params, type(state)(*torch.split(x, sizes)), action)))

    assert_jacobian_matches_fd(deriv, torch.cat(list(state)), f"{name}.derivative")
    y = model.ode_vars(state)
    ysizes = [v.numel() for v in y]

    def rhs(x):
        chunks = torch.split(x, ysizes + [geometry.length.numel()])
        g = geometry._replace(length=chunks[-1])
        return torch.cat(list(model.ode_rhs(params, type(y)(*chunks[:-1]), action, g)))

    assert_jacobian_matches_fd(rhs, torch.cat([*y, geometry.length]), f"{name}.ode_rhs")


SKELETONS = {"PointMass": lambda: (core.PointMass(2), core.PointMass(2).make_params(mass=1.7, dtype=F64)),
             "TwoDofArm": lambda: (core.TwoDofArm(), core.TwoDofArm().make_params(dtype=F64, viscosity=0.2))}


@pytest.mark.parametrize("skeleton", list(SKELETONS))
def test_jacrev_of_skeleton_acceleration_matches_finite_differences(skeleton, gen):
    sk, p = SKELETONS[skeleton]()
    for _ in range(4):
        x = torch.cat([torch.rand(2, generator=gen, dtype=F64) * 2, torch.randn(6, generator=gen, dtype=F64)])

        def acc(x):
            pos, vel, torque, load = x.split(2)
            return sk.acceleration(p, core.JointState(pos, vel), torque, load)

        jac = assert_jacobian_matches_fd(acc, x, f"{skeleton}.acceleration")
        if skeleton == "PointMass":  # analytic: d acc / d (torque, load) = I / m, nothing else
            eye = torch.eye(2, dtype=F64) / 1.7
            torch.testing.assert_close(jac, torch.cat([torch.zeros(2, 4, dtype=F64), eye, eye], -1))


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("case", ["RigidTendonArm26-Thelen", "CompliantTendonArm26",
                                  "paths-TwoDofArm-RigidTendonHillMuscle"])
def test_jacrev_of_a_full_step_matches_finite_differences(case, integrator, gen):
    """d(new joint state, new activation) / d(joint state, action) through a whole step."""
    spec, params = EFFECTORS[case](integrator=integrator)
    state = take(generic_state(spec, params, 1, gen), 0)
    action = 0.2 + 0.6 * torch.rand(spec.n_muscles, generator=gen, dtype=F64)

    def f(x):
        pos, vel, a = x[:2], x[2:4], x[4:]
        joint = core.JointState(pos, vel)
        s = state._replace(joint=joint, geometry=core.compute_geometry(spec, params, joint))
        new = core.step(spec, params, s, a)
        return torch.cat([new.joint.pos, new.joint.vel, new.muscle.activation, new.muscle.force])

    assert_jacobian_matches_fd(f, torch.cat([state.joint.pos, state.joint.vel, action]), f"{case} {integrator} step",
                               rtol=1e-5)


# -------------------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_gradcheck_muscle_models(name, gen):
    """gradcheck of integrate w.r.t. state, derivative and geometry, and of outputs w.r.t. every parameter."""
    model, params, state, derivative, geometry, dt = muscle_point(name, gen, n=3)
    f, x = flat_integrate(model, params, state, derivative, geometry, dt)
    assert gradcheck(f, (x.clone().requires_grad_(),))

    names = params._fields
    y = model.ode_vars(state)

    def outputs(*leaves):
        p = type(params)(*leaves)
        return tuple(model.outputs(p, y, geometry))

    leaves = tuple(v.clone().requires_grad_() for v in params)
    assert gradcheck(outputs, leaves), names


@pytest.mark.parametrize("skeleton", list(SKELETONS))
def test_gradcheck_skeletons(skeleton, gen):
    sk, p = SKELETONS[skeleton]()
    pos = (torch.rand(3, 2, generator=gen, dtype=F64) * 2).requires_grad_()
    vel = torch.randn(3, 2, generator=gen, dtype=F64).requires_grad_()
    torque = torch.randn(3, 2, generator=gen, dtype=F64).requires_grad_()
    load = torch.randn(3, 2, generator=gen, dtype=F64).requires_grad_()
    assert gradcheck(lambda a, b, c, d: sk.acceleration(p, core.JointState(a, b), c, d), (pos, vel, torque, load))
    physical = [i for i, f in enumerate(p._fields) if "bound" not in f]

    def by_params(*leaves):
        q = list(p)
        for i, leaf in zip(physical, leaves):
            q[i] = leaf
        q = type(p)(*q)
        cart = sk.forward_kinematics(q, core.JointState(pos.detach(), vel.detach()))
        joint = core.JointState(pos.detach(), vel.detach())
        return sk.acceleration(q, joint, torque.detach(), load.detach()), cart.pos, cart.vel

    assert gradcheck(by_params, tuple(p[i].clone().requires_grad_() for i in physical))
    coords = torch.randn(2, 4, generator=gen, dtype=F64).mul(0.1).requires_grad_()
    bodies = (0, 1, 1, 0) if skeleton == "PointMass" else (0, 1, 2, 2)
    assert gradcheck(lambda a, b, c: tuple(sk.fixation_points(p, core.JointState(a, b), c, bodies)), (pos, vel, coords))


@pytest.mark.parametrize("skeleton", ["PointMass", "TwoDofArm"])
def test_gradcheck_path_geometry(skeleton, rng):
    layout = random_layout(rng, skeleton, "ReluMuscle", max_muscles=3)
    sk = core.get_skeleton(skeleton)
    spec, params = core.path_effector(sk, "ReluMuscle", layout["paths"], sk.make_params(dtype=F64), dtype=F64)
    joint = torch.tensor(random_joint(rng, skeleton, 2), dtype=F64)

    def geom(j, coords):
        g = spec.geometry(sk, params.skeleton, core.PathParams(coords), core.joint_from_tensor(j))
        return tuple(g)

    assert gradcheck(geom, (joint.requires_grad_(), params.geometry.coordinates.clone().requires_grad_()))


def test_gradcheck_polynomial_geometry_and_step(gen):
    spec, params = build_prebuilt("RigidTendonArm26-Kistemaker", dtype=F64, integrator="rk4")
    state = take(generic_state(spec, params, 1, gen), 0)

    def f(pos, vel, action, a1):
        p = params._replace(geometry=params.geometry._replace(a1=a1))
        joint = core.JointState(pos, vel)
        s = state._replace(joint=joint, geometry=core.compute_geometry(spec, p, joint))
        return tuple(core.step(spec, p, s, action).joint)

    assert gradcheck(f, (state.joint.pos.clone().requires_grad_(), state.joint.vel.clone().requires_grad_(),
                         (0.3 + 0.4 * torch.rand(6, generator=gen, dtype=F64)).requires_grad_(),
                         params.geometry.a1.clone().requires_grad_()))


# ------------------------------------------------------------------- gradients through 100 steps
def assert_finite_gradients_through_rollout(spec, params, state, actions, what):
    actions = actions.clone().requires_grad_()
    leaves = [leaf.clone().requires_grad_() for leaf in params.muscle]
    muscle_params = type(params.muscle)(*leaves)
    traj = core.rollout(spec, params._replace(muscle=muscle_params), state, actions)
    assert all(torch.isfinite(x).all() for x in tree_leaves(traj)), f"{what}: non-finite states"
    loss = traj.joint.pos[-1].sum() + traj.joint.vel.mean() + traj.muscle.force.mean() / 100 + traj.geometry.length.mean()
    grads = torch.autograd.grad(loss, [actions, *leaves], allow_unused=True)
    for name, g in zip(["actions", *params.muscle._fields], grads):
        assert g is None or torch.isfinite(g).all(), f"{what}: non-finite gradient w.r.t. {name}"
    assert grads[0].abs().sum() > 0, f"{what}: zero gradient w.r.t. actions"


def hard_actions(n_steps, batch, n_muscles, gen, dtype):
    """Random actions with stretches of exact 0 (min activation), exact 1 (max) and out-of-range values."""
    actions = torch.rand(n_steps, batch, n_muscles, generator=gen, dtype=dtype)
    actions[:15] = 0.0
    actions[40:50] = 1.0
    actions[60:65] = 1.5
    actions[70:75] = -0.5
    return actions


@pytest.mark.parametrize("case", list(PREBUILT_CASES))
def test_gradients_through_100_steps_of_prebuilt_effectors_are_finite(case, gen):
    """float32 (the training dtype), default integrator; batch: at rest mid-range, at rest on the lower
    position bounds, at rest near the upper bounds."""
    spec, params = build_prebuilt(case)
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    pos = torch.stack([0.5 * (lo + hi), lo, hi - 1e-3 * (hi - lo)])
    state = core.initial_state(spec, params, core.JointState(pos, torch.zeros_like(pos)))
    actions = hard_actions(100, 3, spec.n_muscles, gen, torch.float32)
    assert_finite_gradients_through_rollout(spec, params, state, actions, case)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["RigidTendonArm26-Kistemaker", "CompliantTendonArm26", "ReluPointMass24",
                                  "FreePointMass24"])
def test_gradients_through_100_steps_with_textbook_rk4_are_finite(case, gen):
    """The same through the continuous-ODE integrator (the test above uses each effector's MotorNet
    default: euler, or rk4_motornet for CompliantTendonArm26); one effector per geometry model and the
    compliant tendon."""
    spec, params = build_prebuilt(case, integrator="rk4")
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    pos = torch.stack([0.5 * (lo + hi), lo])
    state = core.initial_state(spec, params, core.JointState(pos, torch.zeros_like(pos)))
    actions = hard_actions(100, 2, spec.n_muscles, gen, torch.float32)
    assert_finite_gradients_through_rollout(spec, params, state, actions, f"{case}/rk4")


@pytest.mark.parametrize("muscle", MUSCLE_NAMES)
@pytest.mark.parametrize("skeleton", ["PointMass", "TwoDofArm"])
def test_gradients_with_coincident_path_points_are_finite(skeleton, muscle, gen):
    """Zero-length segments: two fixation points at the same place on one body (always coincident), and a
    world point on which the effector starts (coincident at t = 0, with zero velocity)."""
    if skeleton == "PointMass":
        paths = [dict(path_fixation_body=[0, 1, 1], path_coordinates=[[1.5, 1.5], [0.0, 0.0], [0.0, 0.0]]),
                 dict(path_fixation_body=[0, 1], path_coordinates=[[0.2, -0.1], [0.0, 0.0]]),
                 dict(path_fixation_body=[0, 1], path_coordinates=[[-1.5, -1.2], [0.0, 0.0]])]
        start = torch.tensor([[0.2, -0.1], [0.0, 0.0]])
    else:  # the elbow, once on the upper arm and once on the forearm
        paths = [dict(path_fixation_body=[0, 1, 2, 2],
                      path_coordinates=[[0.0, 0.05], [0.309, 0.0], [0.0, 0.0], [0.1, 0.02]]),
                 dict(path_fixation_body=[0, 2], path_coordinates=[[-0.05, 0.0], [0.15, -0.02]]),
                 dict(path_fixation_body=[1, 1, 2], path_coordinates=[[0.1, 0.02], [0.1, 0.02], [0.05, -0.03]])]
        start = torch.tensor([[0.5, 1.0], [1.2, 0.4]])
    for i, path in enumerate(paths):
        path.update(max_isometric_force=300.0)
        if muscle != "ReluMuscle":
            path.update(tendon_length=0.05, optimal_muscle_length=0.1 if skeleton == "TwoDofArm" else 1.0)
    sk = core.get_skeleton(skeleton)
    spec, params = core.path_effector(sk, muscle, paths, sk.make_params(), dt=0.002 if "Compliant" in muscle else 0.01)
    state = core.initial_state(spec, params, core.JointState(start, torch.zeros_like(start)))
    assert (state.geometry.length > 0).all() or skeleton == "PointMass"
    actions = hard_actions(100, 2, spec.n_muscles, gen, torch.float32)
    assert_finite_gradients_through_rollout(spec, params, state, actions, f"{skeleton}/{muscle}")


@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_muscle_jacobians_are_finite_at_extreme_activation_and_rest(name):
    """Zero activation (min_activation = 0), full activation, zero velocities, a slack tendon and zero force:
    every Jacobian of the muscle model stays finite (the unselected branches of the piecewise curves must not
    leak NaN through ``torch.where``)."""
    model = core.get_muscle(name)
    kw = dict(max_isometric_force=100.0, min_activation=0.0)
    if name != "ReluMuscle":
        kw.update(tendon_length=0.1, optimal_muscle_length=0.1)
    params = model.make_params(4, dtype=F64, **kw)
    a = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=F64)
    length = torch.tensor([0.1, 0.2, 0.2, 0.05], dtype=F64)  # tendon slack / muscle at optimal length / short
    geometry = core.Geometry(length, torch.zeros(4, dtype=F64), torch.zeros(1, 4, dtype=F64))
    state = model.initial_state(params, geometry, 0.01)._replace(activation=a)
    action = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=F64)
    derivative = model.derivative(params, state, action)
    f, x = flat_integrate(model, params, state, derivative, geometry, 0.01)
    assert torch.isfinite(jacrev(f)(x)).all(), "integrate"
    sizes = [v.numel() for v in state]
    deriv = lambda z: torch.cat(list(model.derivative(params, type(state)(*torch.split(z, sizes)), action)))  # noqa: E731
    assert torch.isfinite(jacrev(deriv)(torch.cat(list(state)))).all(), "derivative"
    y = model.ode_vars(state)
    ysizes = [v.numel() for v in y]

    def continuous(z):
        chunks = torch.split(z, ysizes + [4, 4])
        g = geometry._replace(length=chunks[-2], velocity=chunks[-1])
        yy = type(y)(*chunks[:-2])
        return torch.cat([*model.ode_rhs(params, yy, action, g), *model.outputs(params, yy, g)])

    z = torch.cat([*y, geometry.length, geometry.velocity])
    assert torch.isfinite(jacrev(continuous)(z)).all(), "ode_rhs / outputs"
    assert torch.isfinite(continuous(z)).all()
