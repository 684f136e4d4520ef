"""Muscle models against their published equations (analytic facts, float64).

Constants are restated here from the papers (not imported from the code under test):
Kistemaker et al. (2010) and Thelen (2003) as used by MotorNet, and MuJoCo's muscle model.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from motornet_fn import core
from motornet_fn.core.muscles.compliant_tendon import normalized_velocity

from .helpers import MUSCLE_NAMES

# Kistemaker, Wong & Gribble (2010)
TENDON_STRAIN_AT_FMAX = 0.04
ECCENTRIC_ASYMPTOTE_SLOPE = 0.001
FL_WIDTH = 0.66
A_REL, B_REL_MAX, Q_CRIT = 0.41, 5.2, 0.3
# Thelen (2003)
THELEN_GAMMA, THELEN_KPE, THELEN_E0, THELEN_FLEN = 0.45, 5.0, 0.6, 1.4

F64 = torch.float64
T = lambda *x: torch.tensor(x, dtype=F64)  # noqa: E731


def model_and_params(name: str, n: int = 1, **kw):
    model = core.get_muscle(name)
    base = dict(max_isometric_force=500.0)
    if name != "ReluMuscle":
        base.update(tendon_length=0.1, optimal_muscle_length=0.12)
    return model, model.make_params(n, dtype=F64, **{**base, **kw})


def geometry(length, velocity=None) -> core.Geometry:
    length = torch.as_tensor(length, dtype=F64)
    velocity = torch.zeros_like(length) if velocity is None else torch.as_tensor(velocity, dtype=F64).expand_as(length)
    return core.Geometry(length, velocity, torch.zeros(*length.shape[:-1], 1, length.shape[-1], dtype=F64))


def rigid_outputs(name, length, velocity, activation, **kw):
    """Outputs of a rigid-tendon model at muscle (not musculotendon) ``length``; tendon_length 0.1 m."""
    model, p = model_and_params(name, n=torch.as_tensor(length).shape[-1], **kw)
    lmt = torch.as_tensor(length, dtype=F64) + p.tendon_length
    return p, model.outputs(p, model.Vars(torch.as_tensor(activation, dtype=F64).expand_as(lmt)),
                            geometry(lmt, velocity))


# --------------------------------------------------------------------------------- activation dynamics
@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_activation_derivative_is_thelen_eq_1_2(name):
    """da/dt = (u - a) / tau, tau = tau_act (0.5 + 1.5 a) when u > a, else tau_deact / (0.5 + 1.5 a),
    with u and a clipped to [min_activation, 1]."""
    model, p = model_and_params(name, n=6, min_activation=0.02, tau_activation=0.02, tau_deactivation=0.07)
    u = T(0.0, 0.3, 0.9, 1.4, 0.5, 0.01)
    a = T(0.1, 0.6, 0.2, 0.5, 0.5, 0.0)
    state = model.initial_state(p, geometry(torch.full((6,), 0.3, dtype=F64)), 0.01)._replace(activation=a)
    got = model.derivative(p, state, u).activation
    uc, ac = u.clamp(0.02, 1.0), a.clamp(0.02, 1.0)
    tau = torch.where(uc > ac, 0.02 * (0.5 + 1.5 * ac), 0.07 / (0.5 + 1.5 * ac))
    torch.testing.assert_close(got, (uc - ac) / tau, rtol=1e-12, atol=0)
    assert got[4] == 0  # u == a: at rest


@pytest.mark.parametrize("name,overshoot", [("ReluMuscle", 4 / 3), ("RigidTendonHillMuscle", 4 / 3),
                                            ("RigidTendonHillMuscleThelen", 4 / 3), ("MujocoHillMuscle", 2.0)])
def test_first_euler_step_overshoots_as_in_motornet(name, overshoot):
    """README fact: at dt = 0.01 from rest, the first activation is 1.33 u (2 u for MuJoCo's faster
    default tau_activation = 0.01), then clipped to 1."""
    model, p = model_and_params(name, n=4, min_activation=0.0)
    u = T(0.1, 0.3, 0.6, 0.9)
    state = model.initial_state(p, geometry(torch.full((4,), 0.4, dtype=F64)), 0.01)
    new = model.integrate(p, state, model.derivative(p, state, u), geometry(torch.full((4,), 0.4, dtype=F64)), 0.01)
    torch.testing.assert_close(new.activation, (overshoot * u).clamp(max=1.0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", MUSCLE_NAMES)
def test_state_layout_matches_state_names(name):
    model = core.get_muscle(name)
    assert len(model.State._fields) == len(model.state_names)
    assert model.state_names[0] == "activation" and model.state_names[-1] == "force"
    assert model.state_index("force") == len(model.state_names) - 1


# ----------------------------------------------------------------------------------------------- ReLU
def test_relu_force_is_activation_times_max_force():
    model, p = model_and_params("ReluMuscle", n=3, max_isometric_force=[100.0, 200.0, 300.0])
    g = geometry(T(0.5, 0.6, 0.7), T(-0.1, 0.0, 0.2))
    out = model.outputs(p, model.Vars(T(0.2, 0.5, 1.0)), g)
    torch.testing.assert_close(out.force, T(20.0, 100.0, 300.0))
    torch.testing.assert_close(out.muscle_length, g.length)
    torch.testing.assert_close(out.muscle_velocity, g.velocity)
    assert (model.initial_state(p, g, 0.01).force == 0).all()  # MotorNet starts Relu muscles at zero force


# ------------------------------------------------------------------------------ Kistemaker rigid tendon
def test_kistemaker_force_length_and_passive_curves():
    l0 = 0.12
    lengths = torch.linspace(0.2, 1.9, 35, dtype=F64) * l0
    p, out = rigid_outputs("RigidTendonHillMuscle", lengths, 0.0, 0.5, normalized_slack_muscle_length=1.3)
    ln = lengths / l0
    torch.testing.assert_close(out.flce, (1 - (ln - 1) ** 2 / FL_WIDTH**2).clamp(min=0.01))
    k_pe = 1 / (1.66 - 1.3) ** 2
    torch.testing.assert_close(out.flpe, k_pe * ((lengths - 1.3 * l0) / l0).clamp(min=0) ** 2)
    torch.testing.assert_close(out.muscle_length, lengths)
    # isometric: the contractile element produces a * F_L(l); total force adds the passive element
    torch.testing.assert_close(out.fvce, 0.5 * out.flce)
    torch.testing.assert_close(out.force, (0.5 * out.flce + out.flpe) * 500.0)


@pytest.mark.parametrize("length_n", [0.8, 1.2])
def test_kistemaker_concentric_hyperbola_off_optimal_length(length_n):
    """Away from optimal length, a_rel = 0.41 F_L(l) on the long side and 0.41 on the short side."""
    l0, a = 0.12, 0.6
    flce = 1 - (length_n - 1) ** 2 / FL_WIDTH**2
    a_rel = A_REL * flce if length_n > 1 else A_REL
    v = torch.tensor([-0.2, -0.05], dtype=F64)
    _, out = rigid_outputs("RigidTendonHillMuscle", torch.full((2,), length_n * l0, dtype=F64), v * 10 * l0, a)
    expected = (v * a * a_rel + a * flce * B_REL_MAX) / (B_REL_MAX - v)
    torch.testing.assert_close(out.fvce, expected)


@pytest.mark.parametrize("activation", [0.05, 0.2, 0.6, 1.0])
def test_kistemaker_force_velocity_hill_hyperbola(activation):
    """Concentric branch: Hill's hyperbola, zero force at v = -F_L a b_rel / (a a_rel); continuous at v = 0;
    eccentric branch: slope at v = 0 twice the concentric one, asymptote 1.5 a F_L + s_as v."""
    l0 = 0.12
    vmax = 10 * l0
    a = activation
    b_rel = B_REL_MAX * (1 - 0.9 * ((a - Q_CRIT) / (5e-3 - Q_CRIT))) ** 2 if a < Q_CRIT else B_REL_MAX

    def active(v_n):  # at optimal length, F_L = 1, a_rel = 0.41
        _, out = rigid_outputs("RigidTendonHillMuscle", T(l0), v_n * vmax, a)
        return out.fvce[0]

    v_zero = -a * b_rel / (a * A_REL)
    assert active(torch.tensor(v_zero, dtype=F64)).abs() < 1e-12
    assert active(torch.tensor(v_zero * 1.1, dtype=F64)) == 0  # clamped at zero beyond
    for v in (0.3 * v_zero, 0.7 * v_zero):
        expected = (v * a * A_REL + a * b_rel) / (b_rel - v)
        torch.testing.assert_close(active(torch.tensor(v, dtype=F64)), torch.tensor(expected, dtype=F64))
    torch.testing.assert_close(active(torch.tensor(0.0, dtype=F64)), torch.tensor(a, dtype=F64))
    torch.testing.assert_close(active(torch.tensor(-1e-13, dtype=F64)), torch.tensor(a, dtype=F64))
    slope = lambda v: jacrev(active)(torch.tensor(v, dtype=F64))  # noqa: E731
    left, right = slope(-1e-12), slope(0.0)
    torch.testing.assert_close(left, torch.tensor(a * (1 + A_REL) / b_rel, dtype=F64), rtol=1e-6, atol=0)
    torch.testing.assert_close(right, 2 * left, rtol=1e-6, atol=0)
    big = 1e5
    torch.testing.assert_close(active(torch.tensor(big, dtype=F64)) - ECCENTRIC_ASYMPTOTE_SLOPE * big,
                               torch.tensor(1.5 * a, dtype=F64), rtol=1e-3, atol=0)
    grid = torch.linspace(v_zero, 2.0, 200, dtype=F64)
    values = torch.stack([active(v) for v in grid])
    assert (values.diff() >= 0).all()  # force rises monotonically with lengthening velocity


# ------------------------------------------------------------------------------------ Thelen (2003)
def test_thelen_curves():
    l0 = 0.12
    lengths = torch.linspace(0.4, 1.8, 29, dtype=F64) * l0
    _, out = rigid_outputs("RigidTendonHillMuscleThelen", lengths, 0.0, 0.7, normalized_slack_muscle_length=1.0)
    torch.testing.assert_close(out.flce, torch.exp(-((lengths / l0 - 1) ** 2) / THELEN_GAMMA))
    expected_pe = ((torch.exp(THELEN_KPE * (lengths / l0 - 1.0) / THELEN_E0) - 1) / (math.exp(THELEN_KPE) - 1)).clamp(min=0)
    torch.testing.assert_close(out.flpe, expected_pe)
    torch.testing.assert_close(out.fvce, torch.ones_like(lengths))  # isometric
    # passive force is 1 (max isometric force) at strain e0 beyond slack
    _, out = rigid_outputs("RigidTendonHillMuscleThelen", T(l0 * (1 + THELEN_E0)), 0.0, 0.0)
    torch.testing.assert_close(out.flpe, T(1.0))


def test_thelen_force_velocity():
    l0 = 0.12
    vmax = 10 * l0
    _, out = rigid_outputs("RigidTendonHillMuscleThelen", T(l0), -vmax, 1.0)
    assert out.fvce.abs().max() < 1e-12  # fully active muscle cannot shorten faster than vmax
    _, out = rigid_outputs("RigidTendonHillMuscleThelen", T(l0), 1e6 * vmax, 0.5)
    torch.testing.assert_close(out.fvce, T(THELEN_FLEN), rtol=1e-4, atol=0)  # eccentric plateau F_len
    v = torch.linspace(-vmax, 3 * vmax, 101, dtype=F64)
    _, out = rigid_outputs("RigidTendonHillMuscleThelen", torch.full((101,), l0, dtype=F64), v, 0.5)
    rising = out.fvce.diff()
    assert (rising >= 0).all() and (rising[out.fvce[:-1] > 0] > 0).all()  # monotone, strictly once active
    torch.testing.assert_close(out.force, (0.5 * out.flce * out.fvce + out.flpe) * 500.0)


# ------------------------------------------------------------------------------------------- MuJoCo
def test_mujoco_curves_at_their_anchor_points():
    """MuJoCo muscle model: F_L(1) = 1, F_L(lmin) = F_L(lmax) = 0, F_V(-1) = 0, F_V(0) = 1, F_V(c) = fvmax,
    F_P = 0 up to optimal length and C1 at b = (1 + lmax) / 2."""
    l0, lmin, lmax, fvmax, slack = 0.12, 0.5, 1.6, 1.2, 1.3
    lengths = T(1.0, lmin, lmax, 0.3, 1.7, 0.8, 1.0 + 1e-9) * l0
    _, out = rigid_outputs("MujocoHillMuscle", lengths, 0.0, 0.5)
    torch.testing.assert_close(out.flce[:5], T(1.0, 0.0, 0.0, 0.0, 0.0))
    assert (out.flpe[[0, 1, 5]] == 0).all() and out.flpe[4] > 0
    vmax = 1.5
    c = fvmax - 1
    v = T(-2.0, -1.0, -0.5, 0.0, c, 2 * c) * vmax
    _, out = rigid_outputs("MujocoHillMuscle", torch.full((6,), l0, dtype=F64), v, 0.5)
    torch.testing.assert_close(out.fvce, T(0.0, 0.0, 0.25, 1.0, fvmax, fvmax))
    torch.testing.assert_close(out.muscle_velocity, v)
    b = 0.5 * (1 + lmax)

    def passive(ln):
        return rigid_outputs("MujocoHillMuscle", (ln * l0).reshape(1), 0.0, 0.0)[1].flpe[0]

    eps = 1e-7
    torch.testing.assert_close(passive(T(b - eps)), passive(T(b + eps)), rtol=1e-5, atol=0)
    torch.testing.assert_close(passive(T(b)), torch.tensor(0.25 * slack, dtype=F64))
    d = lambda x: jacrev(passive)(T(x))  # noqa: E731
    torch.testing.assert_close(d(b - 1e-9), d(b + 1e-9), rtol=1e-6, atol=0)


def test_mujoco_force_combines_curves():
    lengths = torch.linspace(0.6, 1.5, 10, dtype=F64) * 0.12
    p, out = rigid_outputs("MujocoHillMuscle", lengths, 0.3, 0.4, passive_forces=0.5)
    torch.testing.assert_close(out.force, (0.4 * out.flce * out.fvce + 0.5 * out.flpe) * 500.0)
    # the second bump adds 0.15 at its peak mid = (lmin + 0.95) / 2; the first bump there is a quadratic spline
    lmin, mid = 0.5, 0.5 * (0.5 + 0.95)
    _, out = rigid_outputs("MujocoHillMuscle", T(mid * 0.12), 0.0, 1.0)
    left = 0.5 * (lmin + 1)  # first bump: 0.5 x^2 below its left knot, x = (L - lmin) / (left - lmin)
    x = (mid - lmin) / (left - lmin)
    torch.testing.assert_close(out.flce, T(0.5 * x * x + 0.15))


# -------------------------------------------------------------------------------- compliant tendon
def test_compliant_velocity_inverts_the_kistemaker_force_velocity_curve():
    """At optimal length the compliant model's contraction velocity is the inverse of the rigid model's
    force-velocity relation (both Kistemaker et al. 2010), on the concentric and the eccentric branch."""
    l0 = 0.12
    a = torch.tensor([0.05, 0.3, 0.8], dtype=F64)[:, None]
    v_n = torch.tensor([-0.3, -0.1, -0.01, 0.01, 0.1, 0.5, 2.0], dtype=F64)
    _, out = rigid_outputs("RigidTendonHillMuscle", torch.full((3, 7), l0, dtype=F64), v_n * 10 * l0, a.expand(3, 7))
    got = normalized_velocity(torch.ones(3, 7, dtype=F64), a.expand(3, 7), out.fvce)
    torch.testing.assert_close(got, v_n.expand(3, 7), rtol=1e-9, atol=1e-12)


def test_compliant_tendon_force_and_outputs():
    model, p = model_and_params("CompliantTendonHillMuscle", n=4, tendon_length=0.1, optimal_muscle_length=0.12)
    lm = T(0.12, 0.12, 0.10, 0.15)
    strain = T(0.0, 0.02, 0.03, 0.06)
    lmt = lm + 0.1 * (1 + strain)
    out = model.outputs(p, model.Vars(T(0.3, 0.3, 0.5, 0.9), lm), geometry(lmt))
    expected = (strain / TENDON_STRAIN_AT_FMAX) ** 2
    torch.testing.assert_close(out.flse, expected.clamp(max=1.0))
    torch.testing.assert_close(out.force, out.flse * 500.0)
    torch.testing.assert_close(out.muscle_length, lm)


def test_compliant_isometric_balance_has_zero_contraction_velocity():
    """When tendon force equals a F_L(l) + F_PE the contractile element is isometric: dl_m/dt = 0."""
    model, p = model_and_params("CompliantTendonHillMuscle", n=1, tendon_length=0.1, optimal_muscle_length=0.12)
    a = T(0.5)
    lm = T(0.12)  # optimal length (F_L = 1), below slack (F_PE = 0)
    strain = math.sqrt(0.5) * TENDON_STRAIN_AT_FMAX  # tendon force 0.5 = a F_L
    g = geometry(lm + 0.1 * (1 + strain))
    rhs = model.ode_rhs(p, model.Vars(a, lm), a, g)
    assert rhs.muscle_length.abs().max() < 1e-12 and rhs.activation.abs().max() < 1e-12
    # more tendon force than the contractile element holds: the muscle lengthens; less: it shortens
    assert model.ode_rhs(p, model.Vars(a, lm), a, geometry(g.length + 1e-3)).muscle_length > 0
    assert model.ode_rhs(p, model.Vars(a, lm), a, geometry(g.length - 1e-3)).muscle_length < 0


def test_compliant_initial_length_splits_slack_between_tendon_and_muscle():
    """MotorNet's initial guess: all length to the tendon below its slack length, then to the muscle up to its
    slack length, then the length where passive muscle and tendon forces balance."""
    model, p = model_and_params("CompliantTendonHillMuscle", n=3, tendon_length=0.1, optimal_muscle_length=0.12,
                                normalized_slack_muscle_length=1.2)
    l0_pe = 1.2 * 0.12
    lmt = T(0.05, 0.1 + 0.5 * l0_pe, 0.1 + l0_pe + 0.02)
    lm = model.equilibrium_length(p, lmt)
    torch.testing.assert_close(lm[:2], T(0.001 * 0.12, 0.5 * l0_pe))
    k_pe = 1 / (1.66 - 1.2) ** 2
    tendon = (lmt[2] - lm[2] - 0.1) / 0.1
    muscle = (lm[2] - l0_pe) / 0.12
    torch.testing.assert_close((tendon / TENDON_STRAIN_AT_FMAX) ** 2, k_pe * muscle**2)
    assert 0 < tendon and 0 < muscle
