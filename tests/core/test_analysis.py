"""Analysis toolkit: every autodiff Jacobian against central finite differences (float64).

Finite differences perturb one input element at a time by multiples of h = 1e-5 * max(|x|, 0.1)
(fourth-order central stencil). Operating points are chosen away from
the kinks of the piecewise muscle curves and from clipping (each choice is stated next to it), so
that central differences are valid there; ``assert_away_from_kinks`` re-checks the effector points.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from motornet_fn import core
from motornet_fn.core import analysis as an
from motornet_fn.core.autodiff import central_difference, choose_mode
from motornet_fn.core.tree import tree_leaves, tree_map

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference import build_core, load_case  # noqa: E402

DT = torch.float64
RTOL = 1e-6


# ------------------------------------------------------------------------------------------ helpers
def fd(fn, x, rel=1e-5, floor=0.1):
    """Fourth-order central differences of ``fn`` (tensor or NamedTuple output) w.r.t. tensor ``x``:
    leaves of shape (*out_shape, *x.shape). The five-point stencil
    (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / (12 h) keeps the truncation error far below 1e-6 even
    on the strongly curved eccentric force-velocity branch, where the 3-point error is ~1e-5 at this h."""
    flat = x.detach().reshape(-1)
    cols = []
    for i in range(flat.numel()):
        h = rel * max(abs(flat[i].item()), floor)
        points = []
        for k in (2, 1, -1, -2):
            xk = flat.clone()
            xk[i] += k * h
            points.append(fn(xk.view_as(x)))
        h = (flat[i] + h - (flat[i] - h)).item() / 2  # the step actually representable in floating point
        cols.append(tree_map(lambda p2, p1, m1, m2: (8 * (p1 - m1) - (p2 - m2)) / (12 * h), *points))
    return tree_map(lambda *c: torch.stack(c, -1).reshape(tuple(c[0].shape) + tuple(x.shape)), *cols)


def assert_jac_close(actual, expected, what=""):
    """rtol 1e-6; atol 1e-9 of the block's largest entry (plus 1e-10 for finite-difference round-off
    where the true derivative is zero), for entries that are (near) zero."""
    def check(a, e):
        atol = 1e-9 * float(e.abs().max()) + 1e-10
        torch.testing.assert_close(a, e, rtol=RTOL, atol=atol, msg=lambda m: f"{what}\n{m}")
    tree_map(check, actual, expected)


def assert_trees_close(actual, expected, rtol=0.0, atol=0.0, index=()):
    """Leaf-wise assert_close of two pytrees (``None`` leaves must match); ``index`` selects from ``actual``."""
    la, le = tree_leaves(actual), tree_leaves(expected)
    assert len(la) == len(le)
    for a, e in zip(la, le):
        assert (a is None) == (e is None)
        if a is not None:
            torch.testing.assert_close(a[index], e, rtol=rtol, atol=atol)


def replace_field(tree, name, value):
    return tree._replace(**{name: value})


# ------------------------------------------------------------------------------ muscle operating points
# Three muscles, two operating points (batch of 2). Per-muscle values are chosen away from every kink:
# * activation a in {0.2, 0.5, 0.8, 0.6, 0.15, 0.4}: away from b_rel's switch at 0.3 and from the clip
#   bounds; excitation u differs from a by >= 0.15 (the activation / deactivation time-constant switch).
# * normalized muscle length l: Kistemaker/Thelen {0.8, 1.2, 1.5, 0.9, 1.1, 1.3}, away from 1 (a_rel
#   switch; Thelen's passive onset) and from the passive slack 1.4 and the F_CE floor (|l - 1| = 0.656);
#   MuJoCo {0.8, 1.2, 1.5, 0.9, 1.1, 1.4}, away from the spline knots 0.5, 0.6125, 0.725, 0.75, 0.8375,
#   0.95, 1, 1.3, 1.6.
# * normalized velocity: Hill-type v/(10 l0) in {-0.2, 0.1, 0.3, 0.2, -0.15, -0.1} (away from the
#   concentric/eccentric switch at 0 and from the clamp of the force-velocity factor at 0); MuJoCo v/vmax
#   in {-0.5, 0.1, 0.15, -0.2, 0.05, -0.7}, away from -1, 0 and fvmax - 1 = 0.2.
# * compliant tendon: tendon strain in {0.02, 0.03, 0.035, 0.01, 0.005, 0.015}, inside (0, 0.04) where
#   the tendon force is neither slack nor saturated; active force flse - flpe > 0; both the concentric
#   (second point) and the eccentric branch (first point) of the force-velocity inversion are visited.
A = [[0.2, 0.5, 0.8], [0.6, 0.15, 0.4]]
U = [[0.5, 0.3, 0.95], [0.3, 0.45, 0.1]]
LEN_N = [[0.8, 1.2, 1.5], [0.9, 1.1, 1.3]]
LEN_N_MUJOCO = [[0.8, 1.2, 1.5], [0.9, 1.1, 1.4]]
VEL_N = [[-0.2, 0.1, 0.3], [0.2, -0.15, -0.1]]
VEL_MUJOCO = [[-0.5, 0.1, 0.15], [-0.2, 0.05, -0.7]]
STRAIN = [[0.02, 0.03, 0.035], [0.01, 0.005, 0.015]]
MUSCLE_KW = dict(max_isometric_force=[500.0, 800.0, 1200.0], optimal_muscle_length=[0.1, 0.12, 0.08],
                 tendon_length=[0.1, 0.15, 0.12])


def muscle_case(name):
    """(model, params, point) with a batch of 2 operating points of 3 muscles."""
    model = core.get_muscle(name)
    t = lambda v: torch.tensor(v, dtype=DT)  # noqa: E731
    kw = {k: v for k, v in MUSCLE_KW.items() if k in model.Params._fields}
    params = model.make_params(3, dtype=DT, **kw)
    a, u = t(A), t(U)
    if name == "ReluMuscle":
        return model, params, an.muscle_point(model, a, t([[0.3, 0.2, 0.25]] * 2), t([[0.1, -0.2, 0.3]] * 2), u)
    l0, l0_se = params.optimal_muscle_length, params.tendon_length
    if name == "MujocoHillMuscle":
        length = t(LEN_N_MUJOCO) * l0 + l0_se
        return model, params, an.muscle_point(model, a, length, t(VEL_MUJOCO) * params.vmax, u)
    if name == "CompliantTendonHillMuscle":
        lm = t(LEN_N) * l0
        length = lm + l0_se * (1 + t(STRAIN))
        return model, params, an.muscle_point(model, a, length, t(VEL_N) * 10 * l0, u, muscle_length=lm)
    return model, params, an.muscle_point(model, a, t(LEN_N) * l0 + l0_se, t(VEL_N) * 10 * l0, u)


def muscle_output(model, params, point, output):
    """The muscle map evaluated directly on the model (the finite-difference reference)."""
    geometry = core.Geometry(point.length, point.velocity, point.length.new_zeros(1, point.length.shape[-1]))
    if output == "rhs":
        return model.ode_rhs(params, point.vars, point.excitation, geometry)
    state = model.outputs(params, point.vars, geometry)
    return state.force if output == "force" else state


def select(tree, b):
    return tree_map(lambda x: x[b], tree)


MUSCLE_NAMES = sorted(core.MUSCLES)


@pytest.mark.parametrize("output", an.MUSCLE_OUTPUTS)
@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_muscle_jacobians_match_finite_differences(name, output):
    model, params, point = muscle_case(name)
    jac = an.muscle_jacobians(model, params, point, output=output)
    for b in range(2):
        pt = select(point, b)
        f = lambda p, q: muscle_output(model, p, q, output)  # noqa: E731
        assert_jac_close(select(jac.value, b), f(params, pt), f"{name} value")
        for field in model.Vars._fields:
            expected = fd(lambda x: f(params, pt._replace(vars=replace_field(pt.vars, field, x))),
                          getattr(pt.vars, field))
            actual = tree_map(lambda _, j: getattr(j, field)[b], expected, jac.vars)
            assert_jac_close(actual, expected, f"{name} {output} d/d vars.{field} point {b}")
        for field in ("length", "velocity", "excitation"):
            expected = fd(lambda x: f(params, pt._replace(**{field: x})), getattr(pt, field))
            assert_jac_close(select(getattr(jac, field), b), expected, f"{name} {output} d/d {field} point {b}")
        for field in model.Params._fields:
            expected = fd(lambda x: f(replace_field(params, field, x), pt), getattr(params, field))
            actual = tree_map(lambda _, j: getattr(j, field)[b], expected, jac.params)
            assert_jac_close(actual, expected, f"{name} {output} d/d params.{field} point {b}")


@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_muscle_jacobian_modes_and_batching_agree(name):
    model, params, point = muscle_case(name)
    fwd = an.muscle_jacobians(model, params, point, output="state", mode="fwd")
    rev = an.muscle_jacobians(model, params, point, output="state", mode="rev")
    assert_trees_close(fwd, rev, rtol=1e-12, atol=1e-12)
    # a (2, 1) batch broadcast against a (1, 3) excitation batch equals the per-sample loop
    u3 = torch.tensor([[[0.05, 0.7, 0.9]], [[0.4, 0.25, 0.6]], [[0.9, 0.9, 0.05]]], dtype=DT).transpose(0, 1)
    grid_point = tree_map(lambda x: x.unsqueeze(1), point)._replace(excitation=u3)  # vars (2,1,3), u (1,3,3)
    out = an.muscle_jacobians(model, params, grid_point, output="rhs", wrt=("vars", "excitation"))
    assert out.excitation.activation.shape == (2, 3, 3, 3)
    assert out.length is None and out.params is None
    for b in range(2):
        for k in range(3):
            pt = select(point, b)._replace(excitation=u3[0, k])
            one = an.muscle_jacobians(model, params, pt, output="rhs", wrt=("vars", "excitation"))
            assert_trees_close(out, one, index=(b, k))


def test_muscle_jacobians_with_batched_params_equal_loop():
    model, params, point = muscle_case("RigidTendonHillMuscle")
    scales = torch.tensor([0.9, 1.0, 1.1], dtype=DT)
    stacked = tree_map(lambda leaf: leaf.expand(3, 3), params)
    stacked = stacked._replace(optimal_muscle_length=params.optimal_muscle_length * scales[:, None])
    pt = select(point, 0)
    out = an.muscle_jacobians(model, stacked, pt, wrt="params", batched_params=True)
    for i in range(3):
        one = an.muscle_jacobians(model, select(stacked, i), pt, wrt="params")
        assert_trees_close(out.params, one.params, index=i)


def test_per_muscle_diagonal_is_the_elementwise_sensitivity():
    model, params, point = muscle_case("RigidTendonHillMuscle")
    jac = an.per_muscle(an.muscle_jacobians(model, params, point, wrt=("vars", "length")))
    assert jac.length.shape == (2, 3)
    # d force / d activation of a rigid-tendon Hill muscle at fixed length and velocity, muscle by muscle
    for m in range(3):
        def force_m(a_m):
            act = point.vars.activation[0]
            act = torch.cat([act[:m], a_m.reshape(1), act[m + 1:]])
            return muscle_output(model, params, select(point, 0)._replace(vars=model.Vars(act)), "force")[m]
        expected = fd(force_m, point.vars.activation[0, m])
        assert_jac_close(jac.vars.activation[0, m], expected, f"muscle {m}")


def test_muscle_jacobian_argument_errors():
    model, params, point = muscle_case("ReluMuscle")
    with pytest.raises(ValueError, match="output must be one of"):
        an.muscle_jacobians(model, params, point, output="torque")
    with pytest.raises(ValueError, match="wrt must be a non-empty selection"):
        an.muscle_jacobians(model, params, point, wrt=("activation",))
    with pytest.raises(ValueError, match="mode must be one of"):
        an.muscle_jacobians(model, params, point, mode="forward")
    compliant = core.get_muscle("CompliantTendonHillMuscle")
    with pytest.raises(ValueError, match="pass muscle_length"):
        an.muscle_point(compliant, point.vars.activation, point.length, point.velocity)


def test_choose_mode_by_shape():
    assert choose_mode("auto", 6, 42) == "fwd"
    assert choose_mode("auto", 42, 6) == "rev"
    assert choose_mode("rev", 1, 100) == "rev"


def test_central_difference_helper_matches_analytic_jacobian():
    w = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, 4.0]], dtype=DT)
    x = torch.tensor([0.2, -0.7, 1.1], dtype=DT)
    fn = lambda z: torch.sin(z @ w.T)  # noqa: E731
    expected = torch.cos(w @ x)[:, None] * w
    torch.testing.assert_close(central_difference(fn, x, 1e-6), expected, rtol=1e-8, atol=1e-10)
    xs = torch.stack([x, 2 * x])  # batched points and per-coordinate steps
    batched = central_difference(fn, xs, 1e-6 * xs.abs())
    torch.testing.assert_close(batched[1], torch.cos(w @ (2 * x))[:, None] * w, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------------------ effector operating points
HILL = {"RigidTendonHillMuscle", "RigidTendonHillMuscleThelen", "CompliantTendonHillMuscle"}
FPM_KW = {"max_isometric_force": [1000.0] * 4, "optimal_muscle_length": [0.1] * 4, "tendon_length": [0.0] * 4}
# Arm26 point: q = (0.8, 1.2) rad, inside the (0..135, 0..155) deg limits; qdot = (0.6, 0.4) rad/s puts
# every muscle's normalized velocity 0.0085 or further from 0 and its normalized length 0.007 or more
# from 1 (the a_rel switch) and far from the slack length.
ARM_Q, ARM_QD = [0.8, 1.2], [0.6, 0.4]
ACT6 = [0.2, 0.45, 0.6, 0.35, 0.5, 0.25]  # >= 0.05 from b_rel's switch at 0.3
EXC6 = [0.5, 0.2, 0.8, 0.6, 0.25, 0.55]  # >= 0.2 from the activation (time-constant switch)
# compliant arm: tendon strains inside (0, 0.04); the muscle lengths then sit >= 0.0075 l0 from l0.
STRAIN6 = [0.033, 0.02, 0.015, 0.03, 0.02, 0.01]

EFFECTORS = {
    # point masses: positions well inside the +-1 / +-0.6 m bounds
    "relu_point_mass24": (lambda: core.relu_point_mass24(dtype=DT), [0.1, -0.2], [0.3, 0.1]),
    "free_point_mass24": (lambda: core.free_point_mass24(muscle_kwargs=FPM_KW, damping=0.3, dtype=DT),
                          [0.1, -0.2], [0.3, 0.1]),
    "reacher": (lambda: core.reacher(muscle_kwargs=FPM_KW, dtype=DT), ARM_Q, ARM_QD),
    "rigid_arm26_hill": (lambda: core.rigid_tendon_arm26(dtype=DT), ARM_Q, ARM_QD),
    "rigid_arm26_thelen": (lambda: core.rigid_tendon_arm26("RigidTendonHillMuscleThelen", dtype=DT), ARM_Q, ARM_QD),
    "rigid_arm26_mujoco": (lambda: core.rigid_tendon_arm26("MujocoHillMuscle", damping=0.2, dtype=DT), ARM_Q, ARM_QD),
    "rigid_arm26_rk4motornet": (lambda: core.rigid_tendon_arm26(integrator="rk4_motornet", dtype=DT), ARM_Q, ARM_QD),
    "rigid_arm26_rk4classic_x2": (lambda: core.rigid_tendon_arm26(integrator="rk4", n_ministeps=2, dtype=DT),
                                  ARM_Q, ARM_QD),
    "compliant_arm26": (lambda: core.compliant_tendon_arm26(dtype=DT), ARM_Q, ARM_QD),
    # MotorNet add_muscle paths (6 multi-point muscles on TwoDofArm); q = (0.7, 1.5): lengths >= 0.02 l0
    # from l0 and from slack, velocities >= 0.005 from 0 in normalized units
    "twodofarm_paths": (lambda: build_core(load_case("twodofarm_paths")[0], DT), [0.7, 1.5], [0.5, -0.7]),
}


def effector_case(name):
    """(spec, params, x0 (n_x,), u0 (n_muscles,)) at the operating point described above."""
    make, q, qd = EFFECTORS[name]
    spec, params = make()
    m = spec.n_muscles
    joint = core.JointState(torch.tensor(q, dtype=DT), torch.tensor(qd, dtype=DT))
    a = torch.tensor(ACT6[:m], dtype=DT)
    if spec.muscle.name == "CompliantTendonHillMuscle":
        g = core.compute_geometry(spec, params, joint)
        lm = g.length - params.muscle.tendon_length * (1 + torch.tensor(STRAIN6, dtype=DT))
        vars_ = spec.muscle.Vars(a, lm)
    else:
        vars_ = spec.muscle.Vars(a)
    x0 = an.state_vector(core.ContinuousState(joint, vars_))
    return spec, params, x0, torch.tensor(EXC6[:m], dtype=DT)


def assert_away_from_kinks(spec, params, x0, u0, margin=0.005):
    """Guard: the operating point is not within ``margin`` (normalized units) of a muscle kink."""
    y = an.state_from_vector(spec, x0)
    a = y.muscle.activation
    assert ((u0 - a).abs() > 0.1).all() and (a > params.muscle.min_activation + 0.05).all() and (a < 0.95).all()
    g = core.compute_geometry(spec, params, y.joint)
    mp = params.muscle
    if spec.muscle.name in HILL and (g.length > 0).all():
        assert ((a - 0.3).abs() > margin).all()
        lm = y.muscle.muscle_length if spec.muscle.name == "CompliantTendonHillMuscle" else g.length - mp.tendon_length
        len_n = lm / mp.optimal_muscle_length
        assert ((len_n - 1).abs() > margin).all() and ((len_n - mp.normalized_slack_muscle_length).abs() > margin).all()
        if spec.muscle.name != "CompliantTendonHillMuscle":
            assert ((g.velocity / (10 * mp.optimal_muscle_length)).abs() > margin).all()
        else:
            strain = (g.length - lm - mp.tendon_length) / mp.tendon_length
            assert ((strain > margin) & (strain < 0.04 - margin)).all()
    if spec.muscle.name == "MujocoHillMuscle":
        len_n = (g.length - mp.tendon_length) / mp.optimal_muscle_length
        knots = torch.tensor([0.5, 0.6125, 0.725, 0.75, 0.8375, 0.95, 1.0, 1.3, 1.6], dtype=DT)
        assert ((len_n[:, None] - knots).abs() > margin).all()
        assert ((g.velocity / mp.vmax).abs() > margin / 2).all()
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    assert ((y.joint.pos - lo) > 0.05).all() and ((hi - y.joint.pos) > 0.05).all()


@pytest.mark.parametrize("continuous", [False, True], ids=["step", "ode"])
@pytest.mark.parametrize("name", sorted(EFFECTORS))
def test_linearisation_matches_finite_differences(name, continuous):
    spec, params, x0, u0 = effector_case(name)
    assert_away_from_kinks(spec, params, x0, u0)
    fn = an.flat_derivative if continuous else an.flat_step
    lin = an.linearise(spec, params, x0, u0, continuous=continuous)
    assert lin.A.shape == (an.state_size(spec),) * 2 and lin.B.shape == (an.state_size(spec), spec.n_muscles)
    assert_jac_close(lin.A, fd(lambda x: fn(spec, params, x, u0), x0), f"{name} A")
    assert_jac_close(lin.B, fd(lambda u: fn(spec, params, x0, u), u0), f"{name} B")
    torch.testing.assert_close(lin.f, fn(spec, params, x0, u0), rtol=0, atol=0)


def test_flat_step_is_the_core_step_on_a_consistent_state():
    spec, params, x0, u0 = effector_case("twodofarm_paths")
    joint = core.JointState(x0[:2], x0[2:4])
    geometry = core.compute_geometry(spec, params, joint)
    state = core.EffectorState(joint, spec.muscle.outputs(params.muscle, spec.muscle.Vars(x0[4:]), geometry), geometry)
    new = core.step(spec, params, state, u0)
    expected = torch.cat([new.joint.pos, new.joint.vel, new.muscle.activation])
    torch.testing.assert_close(an.flat_step(spec, params, x0, u0), expected, rtol=0, atol=0)
    names = an.state_names(spec)
    assert names[:4] == ("joint.pos[0]", "joint.pos[1]", "joint.vel[0]", "joint.vel[1]")
    assert names[4] == "muscle.activation[pectoralis]" and len(names) == an.state_size(spec) == 10
    assert an.action_names(spec) == spec.muscle_names


def test_continuous_linearisation_of_relu_point_mass_is_analytic():
    """FreePointMass24 with ReLU muscles: dx/dt is known in closed form, so A and B are too."""
    force = torch.tensor([300.0, 500.0, 700.0, 900.0], dtype=DT)
    spec, params = core.free_point_mass24("ReluMuscle", damping=0.4, dtype=DT,
                                          muscle_kwargs={"max_isometric_force": force.tolist()})
    a = torch.tensor([0.2, 0.6, 0.5, 0.4], dtype=DT)
    u = torch.tensor([0.7, 0.1, 0.9, 0.3], dtype=DT)  # muscles 0, 2 activating; 1, 3 deactivating
    x0 = torch.cat([torch.tensor([0.1, -0.2, 0.3, 0.1], dtype=DT), a])
    lin = an.linearise(spec, params, x0, u, continuous=True)
    mass, damping = 1.0, 0.4
    moment = params.geometry.moment_arm  # (2, 4)
    tau_act, tau_deact = params.muscle.tau_activation, params.muscle.tau_deactivation
    scale = 0.5 + 1.5 * a
    up = u > a
    tau = torch.where(up, tau_act * scale, tau_deact / scale)
    dtau_da = torch.where(up, 1.5 * tau_act, -1.5 * tau_deact / scale**2)
    expected_a = torch.zeros(8, 8, dtype=DT)
    expected_a[0:2, 2:4] = torch.eye(2, dtype=DT)
    expected_a[2:4, 2:4] = -damping / mass * torch.eye(2, dtype=DT)
    expected_a[2:4, 4:8] = -moment * force / mass
    expected_a[4:8, 4:8] = torch.diag(-1 / tau - (u - a) * dtau_da / tau**2)
    expected_b = torch.zeros(8, 4, dtype=DT)
    expected_b[4:8] = torch.diag(1 / tau)
    torch.testing.assert_close(lin.A, expected_a, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.B, expected_b, rtol=1e-12, atol=1e-12)


def test_linearise_batches_modes_and_loads():
    spec, params, x0, u0 = effector_case("rigid_arm26_hill")
    xs = torch.stack([x0, x0 + 0.01, x0 - 0.02])  # (3, n_x): all three inside the kink margins
    loads = core.Loads(torch.tensor([[1.0, -2.0], [0.5, 0.5], [0.0, 3.0]], dtype=DT),
                       torch.tensor([0.1, -0.2], dtype=DT))
    batch = an.linearise(spec, params, xs, u0, loads)
    fwd = an.linearise(spec, params, xs, u0, loads, mode="fwd")
    torch.testing.assert_close(batch.A, fwd.A, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(batch.B, fwd.B, rtol=1e-10, atol=1e-12)
    for i in range(3):
        one = an.linearise(spec, params, xs[i], u0, core.Loads(loads.endpoint[i], loads.joint))
        for a, b in zip(batch, one):
            torch.testing.assert_close(a[i], b, rtol=0, atol=0)
        expected = fd(lambda x: an.flat_step(spec, params, x, u0, core.Loads(loads.endpoint[i], loads.joint)), xs[i])
        assert_jac_close(batch.A[i], expected, f"loaded point {i}")
    # an EffectorState works as the operating point
    state = an.consistent_state(spec, params, an.state_from_vector(spec, x0))
    torch.testing.assert_close(an.linearise(spec, params, state, u0).A, an.linearise(spec, params, x0, u0).A,
                               rtol=0, atol=0)


# ------------------------------------------------------------------------------------ kinematics
@pytest.mark.parametrize("name", ["rigid_arm26_hill", "twodofarm_paths", "relu_point_mass24"])
def test_endpoint_jacobian(name):
    spec, params, x0, _ = effector_case(name)
    pos = torch.stack([x0[:2], x0[:2] * 0.5 + 0.1, x0[:2] * 1.1])
    jac = an.endpoint_jacobian(spec, params, pos)
    assert jac.shape == (3, spec.space_dim, spec.dof)

    def fk(q):
        return spec.skeleton.forward_kinematics(params.skeleton, core.JointState(q, torch.zeros_like(q))).pos

    for i in range(3):
        assert_jac_close(jac[i], fd(fk, pos[i]), f"{name} point {i}")
    if isinstance(spec.skeleton, core.TwoDofArm):
        torch.testing.assert_close(jac, spec.skeleton.endpoint_jacobian(params.skeleton, pos), rtol=1e-12, atol=1e-14)
    else:
        torch.testing.assert_close(jac, torch.eye(2, dtype=DT).expand(3, 2, 2), rtol=0, atol=0)


def arm_angles():
    """A (4, 5, 2) grid of joint angles over the default TwoDofArm range."""
    q0, q1 = torch.meshgrid(torch.linspace(0.2, 2.2, 4, dtype=DT), torch.linspace(0.2, 2.6, 5, dtype=DT), indexing="ij")
    return torch.stack([q0, q1], -1)


def test_path_moment_arms_from_autodiff_equal_analytic():
    """jacfwd of path length w.r.t. joint angles equals PathGeometry's analytic moment arms, for
    MotorNet's add_muscle paths (2- and 3-point muscles spanning one or both joints)."""
    spec, params, _, _ = effector_case("twodofarm_paths")
    q = arm_angles()
    auto = an.moment_arms(spec, params, q)
    analytic = core.compute_geometry(spec, params, core.JointState(q, torch.zeros_like(q))).moment_arm
    assert auto.shape == (4, 5, 2, 6)
    assert (analytic.abs().amax(dim=(0, 1)) > 1e-3).sum() == 7  # 7 muscle-joint pairs are spanned
    torch.testing.assert_close(auto, analytic, rtol=1e-10, atol=1e-12)


def test_polynomial_moment_arms_from_autodiff_equal_analytic():
    spec, params, _, _ = effector_case("rigid_arm26_hill")
    q = arm_angles()
    analytic = core.compute_geometry(spec, params, core.JointState(q, torch.zeros_like(q))).moment_arm
    torch.testing.assert_close(an.moment_arms(spec, params, q), analytic, rtol=1e-10, atol=1e-14)


def test_autodiff_geometry_velocity_is_exact_and_exposes_motornet_quirk():
    config, _ = load_case("twodofarm_paths")
    skeleton = core.TwoDofArm()
    paths = [dict(m) for m in config["add_muscle"]]
    exact_spec, params = core.path_effector(skeleton, "RigidTendonHillMuscle", paths, skeleton.make_params(dtype=DT),
                                            motornet_velocity=False, dtype=DT)
    quirk_spec, _ = core.path_effector(skeleton, "RigidTendonHillMuscle", paths, skeleton.make_params(dtype=DT),
                                       dtype=DT)
    q = arm_angles()
    joint = core.JointState(q, torch.tensor([0.7, -1.1], dtype=DT).expand_as(q))
    auto = an.autodiff_geometry(exact_spec, params, joint)
    exact = core.compute_geometry(exact_spec, params, joint)
    for a, e in zip(auto, exact):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)
    # MotorNet's velocities differ exactly for the muscles with a forearm point (brachioradialis,
    # tricepslat, biceps), and only for those
    quirk = core.compute_geometry(quirk_spec, params, joint).velocity
    forearm = torch.tensor([2 in m["path_fixation_body"] for m in paths])
    differs = (quirk - auto.velocity).abs().amax(dim=(0, 1)) > 1e-6
    assert torch.equal(differs, forearm)
