r"""Effector = skeleton + muscles + geometry, stepped through time.

One step reads as: geometry -> muscle derivative -> skeleton derivative -> integrate.

Generalized forces (MotorNet's convention: the moment arm :math:`r_{im} = \partial l_m / \partial q_i` is the
derivative of musculotendon length, so a pulling muscle produces :math:`-F_m r_{im}`):

.. math::

    \tau_i = -\sum_m F_m\, r_{im} + \tau_{\mathrm{load}, i} - d\, \dot q_i ,

with the joint load :math:`\tau_\mathrm{load}` and the damping :math:`d`; the endpoint load enters the
skeleton through :math:`J(q)^\top`.

Integrators (``EffectorSpec.integrator``), for a time step :math:`h` = ``dt / n_ministeps`` with the
excitation :math:`u` held constant:

* ``"euler"``: MotorNet's scheme (:func:`euler_step`). The muscle state at :math:`t + h` comes from the
  geometry at :math:`t`; the skeleton takes an explicit Euler step with the old velocity, then the joint
  limits apply (:func:`~motornet_fn.core.skeletons.base.clip_joint`), then the geometry is computed at the
  new joint state:

  .. math::

      a_{t+h} = \mathrm{clip}(a_t + h\, \dot a(u, a_t)), \quad
      q_{t+h} = q_t + h\, \dot q_t, \quad
      \dot q_{t+h} = \dot q_t + h\, \ddot q(q_t, \dot q_t, F_t).

* ``"rk4_motornet"``: MotorNet's "rk4" (:func:`rk4_motornet_step`), kept only to reproduce its numbers.
  With :math:`U(s, k, h)` the Euler update above from state :math:`s` with derivative :math:`k` (clipping
  included) and :math:`D(s)` the derivative at :math:`s`, its stages are chained:

  .. math::

      k_1 = D(s), \ s_1 = U(s, k_1, \tfrac{h}{2}), \ k_2 = D(s_1), \ s_2 = U(s_1, k_2, \tfrac{h}{2}),
      \ k_3 = D(s_2), \ s_3 = U(s_2, k_3, h), \ k_4 = D(s_3),

  .. math::

      s_{t+h} = U\!\left(s, \tfrac16 (k_1 + 2 k_2 + 2 k_3 + k_4), h\right),

  and since :math:`U` updates positions with the old velocity, the scheme is first order.
* ``"rk4"``: the classic Runge-Kutta method (:func:`motornet_fn.core.integrators.rk4`, :func:`rk4_step`)
  on the continuous ODE in (joint position, joint velocity, muscle ODE variables), with the muscle
  outputs evaluated at the current geometry (:func:`continuous_derivative`); joint limits and activation
  clipping are applied once, after the step. Fourth order on smooth trajectories.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import torch

from motornet_fn.core import checks, integrators
from motornet_fn.core.tree import tree_map
from motornet_fn.core.types import CartesianState, EffectorState, Geometry, JointState, Loads


class EffectorParams(NamedTuple):
    """Attributes: skeleton, muscle, geometry parameter NamedTuples; damping () joint damping
    coefficient (N m s/rad)."""

    skeleton: Any
    muscle: Any
    geometry: Any
    damping: torch.Tensor


class EffectorDerivative(NamedTuple):
    """MotorNet's effector derivative.

    Attributes:
        muscle: the muscle model's derivative NamedTuple.
        acceleration: (dof,) joint accelerations.
    """

    muscle: Any
    acceleration: torch.Tensor


class ContinuousState(NamedTuple):
    """Variables of the continuous effector ODE.

    Attributes:
        joint: joint positions and velocities.
        muscle: the muscle model's ODE variables (activation, [muscle length]).
    """

    joint: JointState
    muscle: Any


@dataclass(frozen=True)
class EffectorSpec:
    """Static structure of an effector.

    Attributes:
        skeleton: skeleton model (e.g. ``TwoDofArm()``).
        muscle: muscle model (e.g. ``RigidTendonHillMuscle()``).
        geometry: geometry model (path, polynomial or constant moment arms).
        dt: timestep (s).
        n_ministeps: integration sub-steps per timestep (action held constant).
        integrator: ``"euler"``, ``"rk4"`` or ``"rk4_motornet"``.
        muscle_names: one name per muscle.
        init_dt: step used for the muscle's initial state (MotorNet builds some muscles with ``dt``,
            others with ``dt / n_ministeps``); ``None`` means ``dt / n_ministeps``.
    """

    skeleton: Any
    muscle: Any
    geometry: Any
    dt: float = 0.01
    n_ministeps: int = 1
    integrator: str = "euler"
    muscle_names: tuple = ()
    init_dt: float | None = None

    def __post_init__(self):
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"unknown integrator {self.integrator!r}; valid names: {sorted(INTEGRATORS)}")
        if not (isinstance(self.n_ministeps, int) and self.n_ministeps >= 1):
            raise ValueError(f"n_ministeps must be a positive int, got {self.n_ministeps!r}")
        for name in ("dt", "init_dt"):
            value = getattr(self, name)
            if value is None and name == "init_dt":
                continue
            try:
                seconds = float(value)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{name} must be a number of seconds, got {value!r}") from err
            if not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")

    @property
    def n_muscles(self) -> int:
        return len(self.muscle_names)

    @property
    def dof(self) -> int:
        return self.skeleton.dof

    @property
    def space_dim(self) -> int:
        return self.skeleton.space_dim

    @property
    def minidt(self) -> float:
        return self.dt / self.n_ministeps


# ---------------------------------------------------------------------------------------- pieces
def compute_geometry(spec: EffectorSpec, params: EffectorParams, joint: JointState) -> Geometry:
    """Musculotendon geometry at ``joint``."""
    return spec.geometry(spec.skeleton, params.skeleton, params.geometry, joint)


def generalized_force(params: EffectorParams, force: torch.Tensor, geometry: Geometry, joint: JointState,
                      joint_load: torch.Tensor) -> torch.Tensor:
    """(..., dof) generalized forces from muscle forces (..., n_muscles), loads and damping."""
    muscle_torque = torch.sum(force.unsqueeze(-2) * geometry.moment_arm, dim=-1)
    return -muscle_torque + joint_load - params.damping * joint.vel


def default_loads(spec: EffectorSpec, like: torch.Tensor) -> Loads:
    """Zero endpoint and joint loads."""
    return Loads(like.new_zeros(spec.space_dim), like.new_zeros(spec.dof))


def initial_state(spec: EffectorSpec, params: EffectorParams, joint: JointState) -> EffectorState:
    """Effector state at rest (minimum activation) consistent with ``joint``.

    Raises:
        TypeError, ValueError: ``joint`` is not (..., dof) positions and velocities of one shape and of the
            params' dtype; with the finite checks on (:func:`~motornet_fn.core.checks.check_finite`), it
            is not finite.
    """
    checks.check_joint_input(spec, params, joint)
    if checks.finite_checks():
        checks.raise_non_finite(joint, "joint")
    geometry = compute_geometry(spec, params, joint)
    dt = spec.init_dt if spec.init_dt is not None else spec.minidt
    return EffectorState(joint, spec.muscle.initial_state(params.muscle, geometry, dt), geometry)


def cartesian(spec: EffectorSpec, params: EffectorParams, joint: JointState) -> CartesianState:
    """Endpoint position and velocity."""
    return spec.skeleton.forward_kinematics(params.skeleton, joint)


# ------------------------------------------------------------------------ MotorNet's discrete scheme
def motornet_derivative(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor,
                        loads: Loads) -> EffectorDerivative:
    """MotorNet's ``Effector.ode``: muscle derivative and joint accelerations from the stored state."""
    force = state.muscle.force
    tau = generalized_force(params, force, state.geometry, state.joint, loads.joint)
    acc = spec.skeleton.acceleration(params.skeleton, state.joint, tau, loads.endpoint)
    return EffectorDerivative(spec.muscle.derivative(params.muscle, state.muscle, action), acc)


def motornet_update(spec: EffectorSpec, params: EffectorParams, state: EffectorState, derivative: EffectorDerivative,
                    dt: float) -> EffectorState:
    """MotorNet's ``integration_step``: muscle at the old geometry, skeleton Euler, new geometry."""
    muscle = spec.muscle.integrate(params.muscle, state.muscle, derivative.muscle, state.geometry, dt)
    joint = spec.skeleton.euler_update(params.skeleton, state.joint, derivative.acceleration, dt)
    return EffectorState(joint, muscle, compute_geometry(spec, params, joint))


def euler_step(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor, loads: Loads,
               dt: float) -> EffectorState:
    """MotorNet's Euler step."""
    return motornet_update(spec, params, state, motornet_derivative(spec, params, state, action, loads), dt)


def chained_rk4(derivative: Callable[[Any], Any], update: Callable[[Any, Any, float], Any], state: Any,
                dt: float) -> Any:
    """MotorNet's chained "rk4" scheme over any state representation (pytree derivatives).

    Args:
        derivative: ``derivative(state)`` -> derivative pytree.
        update: ``update(state, derivative, h)`` -> state advanced by ``h`` (MotorNet's
            ``integration_step``, clipping included).
    """
    k1 = derivative(state)
    s = update(state, k1, dt / 2)
    k2 = derivative(s)
    s = update(s, k2, dt / 2)
    k3 = derivative(s)
    s = update(s, k3, dt)
    k4 = derivative(s)
    k = tree_map(lambda a, b, c, d: (a + 2 * (b + c) + d) / 6, k1, k2, k3, k4)
    return update(state, k, dt)


def rk4_motornet_step(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor, loads: Loads,
                      dt: float) -> EffectorState:
    """MotorNet's chained, first-order "rk4" step (parity only)."""
    return chained_rk4(lambda s: motornet_derivative(spec, params, s, action, loads),
                       lambda s, k, h: motornet_update(spec, params, s, k, h), state, dt)


# ------------------------------------------------------------------------------- continuous ODE
def continuous_derivative(spec: EffectorSpec, params: EffectorParams, y: ContinuousState, action: torch.Tensor,
                          loads: Loads) -> ContinuousState:
    """Right-hand side of the continuous effector ODE, dy/dt."""
    geometry = compute_geometry(spec, params, y.joint)
    muscle = spec.muscle.outputs(params.muscle, y.muscle, geometry)
    tau = generalized_force(params, muscle.force, geometry, y.joint, loads.joint)
    acc = spec.skeleton.acceleration(params.skeleton, y.joint, tau, loads.endpoint)
    d_muscle = spec.muscle.ode_rhs(params.muscle, y.muscle, action, geometry)
    return ContinuousState(JointState(y.joint.vel, acc), d_muscle)


def to_continuous(spec: EffectorSpec, state: EffectorState) -> ContinuousState:
    """Continuous ODE variables held in an effector state."""
    return ContinuousState(state.joint, spec.muscle.ode_vars(state.muscle))


def from_continuous(spec: EffectorSpec, params: EffectorParams, y: ContinuousState) -> EffectorState:
    """Project ODE variables onto their admissible set and complete the effector state."""
    joint = spec.skeleton.clip(params.skeleton, y.joint)
    muscle_vars = spec.muscle.project_vars(params.muscle, y.muscle)
    geometry = compute_geometry(spec, params, joint)
    return EffectorState(joint, spec.muscle.outputs(params.muscle, muscle_vars, geometry), geometry)


def rk4_step(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor, loads: Loads,
             dt: float) -> EffectorState:
    """Classic RK4 on the continuous ODE."""
    f = lambda y: continuous_derivative(spec, params, y, action, loads)  # noqa: E731
    return from_continuous(spec, params, integrators.rk4(f, to_continuous(spec, state), dt))


INTEGRATORS: dict[str, Callable] = {"euler": euler_step, "rk4": rk4_step, "rk4_motornet": rk4_motornet_step}


# --------------------------------------------------------------------------------- step / rollout
def step(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor,
         loads: Loads | None = None) -> EffectorState:
    """Advance one timestep ``spec.dt`` with ``spec.n_ministeps`` sub-steps.

    Args:
        action: (..., n_muscles) excitation, clipped to [min_activation, 1]; its batch dims broadcast to the
            state's.
        loads: endpoint (..., space_dim) and joint (..., dof) loads; zero if None.

    Raises:
        TypeError, ValueError: ``action`` does not fit the state (shape, dtype); with the finite checks on
            (:func:`~motornet_fn.core.checks.check_finite`), the action or the state is not finite.
    """
    checks.check_step(spec, params, state, action)
    return advance(spec, params, state, action, loads)


def advance(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor,
            loads: Loads | None = None) -> EffectorState:
    """:func:`step` without its input checks (for loops whose entry point checked them once)."""
    loads = default_loads(spec, action) if loads is None else loads
    action = spec.muscle.clip_activation(params.muscle, action)
    integrate = INTEGRATORS[spec.integrator]
    for _ in range(spec.n_ministeps):
        state = integrate(spec, params, state, action, loads, spec.minidt)
    return state
