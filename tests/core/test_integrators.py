"""Integrators: exact one-step formulas on linear ODEs, and measured convergence orders on effectors.

MotorNet's "rk4" chains its stages and updates position with the old velocity, so it is first order; it
is kept as ``rk4_motornet`` (and ``euler``) for parity. Textbook ``rk4`` integrates the continuous ODE and
must be fourth order. The order is measured as log2(err(h) / err(h/2)) against a fine textbook-rk4
reference in float64, on smooth trajectories (constant action, start at rest, away from joint limits and
from the piecewise kinks of the muscle curves), for every state: joint position, joint velocity,
activation and, for the compliant tendon, muscle length.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import pytest
import torch

from motornet_fn import core

F64 = torch.float64


# ------------------------------------------------------------------------------- generic integrators
class Pair(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor


def test_one_step_formulas_on_a_linear_ode():
    """On y' = L y one step is the Taylor polynomial of exp(hL): degree 1 (Euler) and 4 (classic RK4),
    over any pytree."""
    lam = torch.tensor([-3.0, 0.5, 2.0], dtype=F64)
    f = lambda p: Pair(lam * p.x, -2.0 * p.y)  # noqa: E731
    y0 = Pair(torch.tensor([1.0, -2.0, 0.5], dtype=F64), torch.tensor(3.0, dtype=F64))
    h = 0.1
    taylor = lambda z, n: sum(z**k / math.factorial(k) for k in range(n + 1))  # noqa: E731
    e = core.integrators.euler(f, y0, h)
    torch.testing.assert_close(e.x, y0.x * taylor(h * lam, 1), rtol=1e-14, atol=0)
    r = core.integrators.rk4(f, y0, h)
    torch.testing.assert_close(r.x, y0.x * taylor(h * lam, 4), rtol=1e-14, atol=0)
    torch.testing.assert_close(r.y, y0.y * taylor(torch.tensor(-0.2, dtype=F64), 4), rtol=1e-14, atol=0)


@pytest.mark.parametrize("method,order", [("euler", 1), ("rk4", 4)])
def test_generic_integrator_order_on_an_oscillator(method, order):
    """Harmonic oscillator x'' = -x: global error after t = 1 scales as h^order."""
    step = getattr(core.integrators, method)
    f = lambda p: Pair(p.y, -p.x)  # noqa: E731

    def error(h):
        y = Pair(torch.tensor(1.0, dtype=F64), torch.tensor(0.0, dtype=F64))
        for _ in range(round(1.0 / h)):
            y = step(f, y, h)
        return abs(float(y.x) - math.cos(1.0))

    measured = math.log2(error(0.01) / error(0.005))
    assert abs(measured - order) < 0.1, measured


# --------------------------------------------------------------------------- effector convergence
class Case(NamedTuple):
    spec: object
    params: object
    state: object
    action: torch.Tensor
    duration: float
    steps: dict  # integrator -> step sizes, coarse to fine


def arm26_rigid_case() -> Case:
    spec, params = core.rigid_tendon_arm26(dtype=F64)
    joint = core.JointState(torch.tensor([0.8, 1.3], dtype=F64), torch.zeros(2, dtype=F64))
    action = torch.tensor([0.3, 0.25, 0.35, 0.3, 0.2, 0.3], dtype=F64)
    steps = {"euler": (1e-3, 5e-4, 2.5e-4), "rk4_motornet": (1e-3, 5e-4, 2.5e-4), "rk4": (4e-3, 2e-3, 1e-3)}
    return Case(spec, params, core.initial_state(spec, params, joint), action, 0.08, steps)


def arm26_compliant_case() -> Case:
    spec, params = core.compliant_tendon_arm26(dtype=F64)
    joint = core.JointState(torch.tensor([0.8, 1.3], dtype=F64), torch.zeros(2, dtype=F64))
    action = torch.tensor([0.3, 0.25, 0.35, 0.3, 0.2, 0.3], dtype=F64)
    steps = {"euler": (4e-4, 2e-4, 1e-4), "rk4_motornet": (4e-4, 2e-4, 1e-4), "rk4": (8e-4, 4e-4, 2e-4)}
    return Case(spec, params, core.initial_state(spec, params, joint), action, 0.016, steps)


def point_mass_paths_case() -> Case:
    """A point mass held by four rigid-tendon Hill muscles along fixation-point paths (an X)."""
    corners = [(2, 2), (-2, 2), (2, -2), (-2, -2)]
    paths = [dict(path_fixation_body=[0, 1], path_coordinates=[c, (0, 0)], max_isometric_force=500.0,
                  optimal_muscle_length=2.63, tendon_length=0.2) for c in corners]
    sk = core.PointMass(2)
    spec, params = core.path_effector(sk, "RigidTendonHillMuscle", paths, sk.make_params(dtype=F64), dtype=F64)
    joint = core.JointState(torch.tensor([0.1, -0.2], dtype=F64), torch.zeros(2, dtype=F64))
    action = torch.tensor([0.3, 0.32, 0.29, 0.31], dtype=F64)
    steps = {"euler": (1e-3, 5e-4, 2.5e-4), "rk4_motornet": (1e-3, 5e-4, 2.5e-4), "rk4": (4e-3, 2e-3, 1e-3)}
    return Case(spec, params, core.initial_state(spec, params, joint), action, 0.08, steps)


CASES = {"arm26-rigid-hill": arm26_rigid_case, "arm26-compliant": arm26_compliant_case,
         "pointmass-paths-hill": point_mass_paths_case}
REFERENCE_REFINEMENT = 8  # reference step = finest rk4 step / 8


@functools.lru_cache(maxsize=None)
def build_case(name: str) -> Case:
    return CASES[name]()


def sample_interval(case: Case) -> float:
    """States are compared at multiples of the coarsest step size of the case."""
    return max(max(h) for h in case.steps.values())


def simulate(case: Case, integrator: str, h: float) -> list:
    """States at every multiple of :func:`sample_interval` up to ``case.duration``."""
    spec = dataclasses.replace(case.spec, dt=h, n_ministeps=1, integrator=integrator)
    n, every = round(case.duration / h), round(sample_interval(case) / h)
    assert abs(n * h - case.duration) < 1e-12 and abs(every * h - sample_interval(case)) < 1e-12
    state, samples = case.state, []
    for i in range(1, n + 1):
        state = core.step(spec, case.params, state, case.action)
        if i % every == 0:
            samples.append(state)
    return samples


def state_fields(case: Case, states: list) -> dict:
    """{field: (n_samples, ...)} of the states compared: joint position and velocity, activation, and the
    compliant muscle length."""
    fields = {"joint position": [s.joint.pos for s in states], "joint velocity": [s.joint.vel for s in states],
              "activation": [s.muscle.activation for s in states]}
    if case.spec.muscle.name == "CompliantTendonHillMuscle":
        fields["muscle length"] = [s.muscle.muscle_length for s in states]
    return {k: torch.stack(v) for k, v in fields.items()}


@functools.lru_cache(maxsize=None)
def reference(name: str) -> dict:
    case = build_case(name)
    return state_fields(case, simulate(case, "rk4", min(case.steps["rk4"]) / REFERENCE_REFINEMENT))


def assert_smooth_trajectory(case: Case, name: str):
    """Preconditions of an order measurement: no joint limit reached, no muscle-velocity sign change."""
    spec = dataclasses.replace(case.spec, dt=min(case.steps["rk4"]), integrator="rk4")
    state = case.state
    signs = None
    lo, hi = case.params.skeleton.pos_lower_bound, case.params.skeleton.pos_upper_bound
    for _ in range(round(case.duration / spec.dt)):
        state = core.step(spec, case.params, state, case.action)
        assert ((state.joint.pos > lo + 0.05) & (state.joint.pos < hi - 0.05)).all(), f"{name}: near a joint limit"
        s = torch.sign(state.geometry.velocity if spec.muscle.name != "CompliantTendonHillMuscle"
                       else state.muscle.muscle_velocity)
        assert signs is None or (s == signs).all(), f"{name}: a muscle velocity changed sign"
        signs = s


def measured_orders(name: str, integrator: str) -> dict:
    """{state field: [order between consecutive step sizes]} and the errors (max over sampled times and
    components, so that a momentary crossing of two trajectories cannot fake a high order)."""
    case = build_case(name)
    ref = reference(name)
    errors = []
    for h in case.steps[integrator]:
        got = state_fields(case, simulate(case, integrator, h))
        errors.append({k: float((got[k] - ref[k]).abs().max()) for k in ref})
    return {k: [math.log2(a[k] / b[k]) for a, b in zip(errors[:-1], errors[1:])] for k in ref}, errors


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_convergence_cases_are_smooth(name):
    assert_smooth_trajectory(build_case(name), name)


@pytest.mark.slow
@pytest.mark.parametrize("integrator", ["euler", "rk4_motornet"])
@pytest.mark.parametrize("name", list(CASES))
def test_motornet_schemes_are_first_order(name, integrator):
    orders, errors = measured_orders(name, integrator)
    for field, o in orders.items():
        assert all(0.75 <= x <= 1.3 for x in o), f"{name} {integrator} {field}: orders {o}, errors {errors}"
        assert abs(o[-1] - 1.0) <= 0.2, f"{name} {integrator} {field}: orders {o}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_textbook_rk4_is_fourth_order(name):
    orders, errors = measured_orders(name, "rk4")
    for field, o in orders.items():
        assert all(x >= 3.5 for x in o), f"{name} rk4 {field}: orders {o}, errors {errors}"
        # the finest error must still be far above the reference's own error and round-off
        assert errors[-1][field] > 1e-13, f"{name} rk4 {field}: error {errors[-1][field]} at round-off level"
