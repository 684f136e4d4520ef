"""Analysis toolkit on ``torch.func``: muscle sensitivities, effector linearisation, kinematic Jacobians.

Everything here is a pure function of (spec/model, params, operating point), takes any number of
leading batch dims on the operating point (one ``jacfwd``/``jacrev`` per sample under nested
``vmap``) and returns NamedTuples. Forward or reverse mode is picked from the input and output
sizes unless ``mode`` says otherwise. The functions compose with further transforms: e.g.
``torch.func.vmap`` over stacked parameters (see :mod:`motornet_fn.core.sweeps`).

Muscle sensitivities (:func:`muscle_jacobians`): Jacobians of a muscle model's force, of its full
output state, or of the right-hand side of its ODE, with respect to its integrated variables
(activation [, muscle length]), the musculotendon length and velocity, the excitation and every
parameter.

Effector linearisation (:func:`linearise`): the state is the vector of continuous ODE variables
``x = [joint pos (dof), joint vel (dof), muscle ODE vars (n_vars * n_muscles)]`` (see
:func:`state_names`); the action is the excitation ``u`` (n_muscles,). For the discrete map
``x' = step(x, u)`` the effector state is first completed from ``x`` with muscle outputs at the
current geometry (:func:`consistent_state`); for the continuous ODE ``dx/dt = f(x, u)`` this is the
model itself.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
from torch.func import jacfwd

from motornet_fn.core.autodiff import broadcast_leading, choose_mode, jacobian_fn, vmap_leading
from motornet_fn.core.effector import (
    ContinuousState, EffectorParams, EffectorSpec, compute_geometry, continuous_derivative, default_loads, step,
    to_continuous,
)
from motornet_fn.core.tree import tree_leaves, tree_map
from motornet_fn.core.types import EffectorState, Geometry, JointState, Loads

MUSCLE_INPUTS = ("vars", "length", "velocity", "excitation", "params")
MUSCLE_OUTPUTS = ("force", "state", "rhs")


# ------------------------------------------------------------------------------- muscle sensitivities
class MusclePoint(NamedTuple):
    """Operating point of a muscle model.

    Attributes:
        vars: the model's ODE variables NamedTuple (``model.Vars``): activation (n_muscles,) and,
            for compliant tendons, muscle_length (n_muscles,) in m.
        length: (n_muscles,) musculotendon length (m).
        velocity: (n_muscles,) musculotendon lengthening velocity (m/s).
        excitation: (n_muscles,) neural excitation (the action), only used by the ODE right-hand side.
    """

    vars: Any
    length: torch.Tensor
    velocity: torch.Tensor
    excitation: torch.Tensor


class MuscleJacobians(NamedTuple):
    """Value and Jacobians of a muscle output; fields not asked for are ``None``.

    For an output tensor ``out`` (..., n_muscles) and an input tensor ``inp`` (..., n_muscles) a
    Jacobian is (..., n_muscles, n_muscles) with ``J[..., i, j] = d out_i / d inp_j`` (diagonal,
    since muscles are independent; :func:`per_muscle` extracts the diagonals). NamedTuple outputs
    and inputs nest as in ``torch.func``: output structure outside, input structure inside, e.g.
    ``jac.params.force.tendon_length`` for ``output="state"``.

    Attributes:
        value: the output at the operating point: force (..., n_muscles) in N, the model's state
            NamedTuple, or its ODE right-hand side (``model.Vars`` of time derivatives).
        vars: d output / d ODE variables (``model.Vars`` structure).
        length: d output / d musculotendon length (per m).
        velocity: d output / d musculotendon velocity (per m/s).
        excitation: d output / d excitation.
        params: d output / d parameters (``model.Params`` structure).
    """

    value: Any
    vars: Any = None
    length: Any = None
    velocity: Any = None
    excitation: Any = None
    params: Any = None


def muscle_point(model, activation: torch.Tensor, length: torch.Tensor, velocity: torch.Tensor,
                 excitation: torch.Tensor | None = None, muscle_length: torch.Tensor | None = None) -> MusclePoint:
    """Build a :class:`MusclePoint`; all arguments (..., n_muscles).

    Args:
        model: the muscle model (e.g. ``RigidTendonHillMuscle()``).
        excitation: defaults to ``activation`` (da/dt = 0). That is the switch point of the
            activation/deactivation time constant, so pass an explicit excitation to differentiate
            the ODE right-hand side.
        muscle_length: contractile-element length (m), required by models whose ODE variables
            include it (compliant tendons).

    Raises:
        ValueError: ``muscle_length`` is missing for a model that integrates it.
    """
    fields = model.Vars._fields
    if "muscle_length" in fields and muscle_length is None:
        raise ValueError(f"{model.name} integrates the muscle length: pass muscle_length (n_muscles,) in m")
    values = {"activation": activation, "muscle_length": muscle_length}
    excitation = activation if excitation is None else excitation
    return MusclePoint(model.Vars(*(values[f] for f in fields)), length, velocity, excitation)


def muscle_point_of(spec: EffectorSpec, state: EffectorState, excitation: torch.Tensor) -> MusclePoint:
    """The muscle operating point held in an effector state (its ODE variables and geometry)."""
    return MusclePoint(spec.muscle.ode_vars(state.muscle), state.geometry.length, state.geometry.velocity,
                       excitation)


def _muscle_map(model, output: str):
    """Per-sample map (vars, length, velocity, excitation, params) -> output."""

    def fn(ode_vars, length, velocity, excitation, params):
        geometry = Geometry(length, velocity, torch.zeros_like(length).unsqueeze(-2))  # moment arms unused
        if output == "rhs":
            return model.ode_rhs(params, ode_vars, excitation, geometry)
        state = model.outputs(params, ode_vars, geometry)
        return state.force if output == "force" else state

    return fn


def muscle_jacobians(model, params: Any, point: MusclePoint, output: str = "force",
                     wrt: str | Sequence[str] = MUSCLE_INPUTS, mode: str = "auto",
                     batched_params: bool = False) -> MuscleJacobians:
    """Sensitivity Jacobians of a muscle model at one or many operating points, in one call.

    Args:
        model: muscle model (any of ``MUSCLES``).
        params: the model's parameter NamedTuple, leaves (n_muscles,); with ``batched_params`` the
            leaves carry leading dims broadcastable against the point's.
        point: operating point, leaves (..., n_muscles) with any (broadcastable) leading dims.
        output: ``"force"`` (N), ``"state"`` (the model's full output state) or ``"rhs"`` (the ODE
            right-hand side: da/dt [, d muscle_length/dt]).
        wrt: any of ``"vars"``, ``"length"``, ``"velocity"``, ``"excitation"``, ``"params"``.
        mode: ``"fwd"`` (jacfwd), ``"rev"`` (jacrev) or ``"auto"`` (fewer products: forward if the
            inputs have no more elements than the output).
        batched_params: whether ``params`` has leading batch dims (e.g. a parameter sweep).

    Returns:
        :class:`MuscleJacobians` with leading dims equal to the broadcast batch shape.

    Raises:
        ValueError: unknown ``output``, ``wrt`` or ``mode``.
    """
    if output not in MUSCLE_OUTPUTS:
        raise ValueError(f"output must be one of {list(MUSCLE_OUTPUTS)}, got {output!r}")
    wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    unknown = [w for w in wrt if w not in MUSCLE_INPUTS]
    if unknown or not wrt:
        raise ValueError(f"wrt must be a non-empty selection of {list(MUSCLE_INPUTS)}, got {list(wrt)}")
    trees = [point, params] if batched_params else [point]
    batch, expanded = broadcast_leading(trees, [1] * len(trees))
    point = expanded[0]
    params = expanded[1] if batched_params else params
    args = (point.vars, point.length, point.velocity, point.excitation, params)
    argnums = tuple(MUSCLE_INPUTS.index(w) for w in wrt)

    n_muscles = point.length.shape[-1]
    n_out = {"force": 1, "state": len(model.State._fields), "rhs": len(model.Vars._fields)}[output] * n_muscles
    n_in = sum(len(tree_leaves(args[i])) for i in argnums) * n_muscles
    fn = _muscle_map(model, output)

    def with_value(*a):
        out = fn(*a)
        return out, out

    jac = jacobian_fn(with_value, argnums, choose_mode(mode, n_in, n_out), has_aux=True)
    in_dims = (0, 0, 0, 0, 0 if batched_params else None)
    jacs, value = vmap_leading(jac, len(batch), in_dims)(*args)
    fields = {w: tree_map(lambda _, j, k=k: j[k], value, jacs) for k, w in enumerate(wrt)}
    return MuscleJacobians(value=value, **fields)


def per_muscle(jacobians: MuscleJacobians) -> MuscleJacobians:
    """Replace every (..., n_muscles, n_muscles) Jacobian by its diagonal (..., n_muscles):
    the sensitivity of each muscle's output to its own input."""
    diag = lambda j: torch.diagonal(j, dim1=-2, dim2=-1)  # noqa: E731
    fields = {f: getattr(jacobians, f) for f in MuscleJacobians._fields[1:]}
    return jacobians._replace(**{f: tree_map(diag, j) for f, j in fields.items() if j is not None})


# ---------------------------------------------------------------------------- flat effector state
class Linearisation(NamedTuple):
    """Linearisation ``x' ~ f + A (x - x0) + B (u - u0)`` of an effector around (x0, u0).

    Row/column names come from :func:`state_names` and :func:`action_names` (kept out of this
    NamedTuple so that it stays a pytree of tensors, e.g. under ``vmap`` over parameter sweeps).

    Attributes:
        A: (..., n_x, n_x) d f / d x (discrete: per step; continuous: per second).
        B: (..., n_x, n_u) d f / d u.
        x: (..., n_x) operating state x0.
        u: (..., n_u) operating action u0 (excitations).
        f: (..., n_x) the map at (x0, u0): next state (discrete) or dx/dt (continuous).
    """

    A: torch.Tensor
    B: torch.Tensor
    x: torch.Tensor
    u: torch.Tensor
    f: torch.Tensor


def state_size(spec: EffectorSpec) -> int:
    """n_x = 2 dof + n_vars * n_muscles."""
    return 2 * spec.dof + len(spec.muscle.Vars._fields) * spec.n_muscles


def state_names(spec: EffectorSpec) -> tuple[str, ...]:
    """Names of the n_x entries of the flat state, e.g. ``"joint.pos[0]"``,
    ``"muscle.activation[biceps]"``."""
    joint = [f"joint.{kind}[{i}]" for kind in ("pos", "vel") for i in range(spec.dof)]
    muscle = [f"muscle.{field}[{name}]" for field in spec.muscle.Vars._fields for name in spec.muscle_names]
    return tuple(joint + muscle)


def action_names(spec: EffectorSpec) -> tuple[str, ...]:
    """Names of the n_u action entries (the muscle names)."""
    return tuple(spec.muscle_names)


def state_vector(y: ContinuousState) -> torch.Tensor:
    """Flatten continuous ODE variables to (..., n_x) = [pos, vel, muscle vars field by field]
    (leading dims are broadcast)."""
    parts = [y.joint.pos, y.joint.vel, *y.muscle]
    batch = torch.broadcast_shapes(*(t.shape[:-1] for t in parts))
    return torch.cat([t.expand(*batch, t.shape[-1]) for t in parts], dim=-1)


def state_from_vector(spec: EffectorSpec, x: torch.Tensor) -> ContinuousState:
    """Inverse of :func:`state_vector`. x: (..., n_x)."""
    n_vars = len(spec.muscle.Vars._fields)
    pieces = torch.split(x, [spec.dof, spec.dof] + [spec.n_muscles] * n_vars, dim=-1)
    return ContinuousState(JointState(pieces[0], pieces[1]), spec.muscle.Vars(*pieces[2:]))


def consistent_state(spec: EffectorSpec, params: EffectorParams, y: ContinuousState) -> EffectorState:
    """Effector state whose geometry and muscle outputs are those of ``y`` (no clipping).

    MotorNet's discrete scheme stores muscle outputs computed from the previous step's geometry;
    a linearisation needs a state that is a function of ``x`` alone, so outputs are recomputed here.
    """
    geometry = compute_geometry(spec, params, y.joint)
    return EffectorState(y.joint, spec.muscle.outputs(params.muscle, y.muscle, geometry), geometry)


def flat_step(spec: EffectorSpec, params: EffectorParams, x: torch.Tensor, u: torch.Tensor,
              loads: Loads | None = None) -> torch.Tensor:
    """One effector step (``spec.dt``, all ministeps) on the flat state: (..., n_x) -> (..., n_x).

    Args:
        x: (..., n_x) flat state (:func:`state_vector`).
        u: (..., n_muscles) excitation.
        loads: as for :func:`motornet_fn.core.effector.step`.
    """
    new = step(spec, params, consistent_state(spec, params, state_from_vector(spec, x)), u, loads)
    return state_vector(to_continuous(spec, new))


def flat_derivative(spec: EffectorSpec, params: EffectorParams, x: torch.Tensor, u: torch.Tensor,
                    loads: Loads | None = None) -> torch.Tensor:
    """Continuous ODE right-hand side on the flat state: dx/dt (..., n_x) in units of x per second."""
    loads = default_loads(spec, u) if loads is None else loads
    return state_vector(continuous_derivative(spec, params, state_from_vector(spec, x), u, loads))


def as_state_vector(spec: EffectorSpec, point: EffectorState | ContinuousState | torch.Tensor) -> torch.Tensor:
    """Flat state (..., n_x) of an effector state, continuous state or flat tensor (returned as is)."""
    if isinstance(point, EffectorState):
        point = to_continuous(spec, point)
    if isinstance(point, ContinuousState):
        return state_vector(point)
    return point


def linearise(spec: EffectorSpec, params: EffectorParams, point: EffectorState | ContinuousState | torch.Tensor,
              action: torch.Tensor, loads: Loads | None = None, continuous: bool = False,
              mode: str = "auto") -> Linearisation:
    """A and B matrices of one effector step (or of the continuous ODE) around operating points.

    Args:
        spec, params: the effector.
        point: operating state(s): an EffectorState, a ContinuousState or a flat (..., n_x) tensor.
        action: (..., n_muscles) operating excitation(s); leading dims broadcast against the point's.
        loads: constant loads, leading dims broadcastable against the point's; zero if None.
        continuous: linearise ``dx/dt = f(x, u)`` instead of the discrete step ``x' = F(x, u)``.
        mode: ``"fwd"``, ``"rev"`` or ``"auto"`` (by the sizes n_x + n_u in and n_x out).

    Returns:
        :class:`Linearisation` with the broadcast leading dims.

    Note:
        Choose operating points away from joint limits and from the activation bounds: clipping makes
        the step non-differentiable there, and the Jacobian is a one-sided one.
    """
    x = as_state_vector(spec, point)
    loads = default_loads(spec, action) if loads is None else loads
    batch, (x, u, loads) = broadcast_leading([x, action, loads], [1, 1, 1])
    fn = flat_derivative if continuous else flat_step

    def with_value(x, u, loads):
        out = fn(spec, params, x, u, loads)
        return out, out

    n_x, n_u = x.shape[-1], u.shape[-1]
    jac = jacobian_fn(with_value, (0, 1), choose_mode(mode, n_x + n_u, n_x), has_aux=True)
    (a, b), f = vmap_leading(jac, len(batch), (0, 0, 0))(x, u, loads)
    return Linearisation(a, b, x, u, f)


# ------------------------------------------------------------------------------- kinematics
def endpoint_jacobian(spec: EffectorSpec, params: EffectorParams, pos: torch.Tensor) -> torch.Tensor:
    """d(endpoint position)/d(joint position) by autodiff of the forward kinematics.

    Args:
        pos: (..., dof) joint positions (rad or m).

    Returns:
        (..., space_dim, dof) Jacobian (m/rad or m/m).
    """

    def endpoint(q):
        return spec.skeleton.forward_kinematics(params.skeleton, JointState(q, torch.zeros_like(q))).pos

    return vmap_leading(jacfwd(endpoint), pos.ndim - 1, (0,))(pos)


def _length_and_moments(spec, params, q):
    """Per-sample (moment_arm (dof, n_muscles), length (n_muscles,)) by forward-mode autodiff."""

    def length(q):
        out = compute_geometry(spec, params, JointState(q, torch.zeros_like(q))).length
        return out, out

    jac, value = jacfwd(length, has_aux=True)(q)
    return jac.transpose(-1, -2), value


def moment_arms(spec: EffectorSpec, params: EffectorParams, pos: torch.Tensor) -> torch.Tensor:
    """Moment arms d(musculotendon length)/d(joint position) by forward-mode autodiff.

    Matches the geometry's analytic ``moment_arm`` for path and polynomial geometries. The constant
    moment-arm geometry (Reacher, FreePointMass24) declares moment arms but keeps lengths at zero, so
    autodiff gives zeros there.

    Args:
        pos: (..., dof) joint positions (rad or m).

    Returns:
        (..., dof, n_muscles) moment arms (m/rad or m/m), MotorNet's sign convention.
    """
    per_sample = lambda q: _length_and_moments(spec, params, q)[0]  # noqa: E731
    return vmap_leading(per_sample, pos.ndim - 1, (0,))(pos)


def autodiff_geometry(spec: EffectorSpec, params: EffectorParams, joint: JointState) -> Geometry:
    """Musculotendon geometry with moment arms from autodiff and the exact lengthening velocity
    ``moment_arm^T qdot`` (MotorNet's forearm velocity quirk is not reproduced).

    Args:
        joint: positions and velocities, (..., dof) each.

    Returns:
        Geometry: length (..., n_muscles) m, velocity (..., n_muscles) m/s, moment_arm (..., dof, n_muscles).
    """
    batch, (pos, vel) = broadcast_leading([joint.pos, joint.vel], [1, 1])
    per_sample = lambda q: _length_and_moments(spec, params, q)  # noqa: E731
    moment, length = vmap_leading(per_sample, len(batch), (0,))(pos)
    return Geometry(length, torch.sum(vel.unsqueeze(-1) * moment, dim=-2), moment)


__all__ = [
    "MUSCLE_INPUTS", "MUSCLE_OUTPUTS", "MusclePoint", "MuscleJacobians", "muscle_point", "muscle_point_of",
    "muscle_jacobians", "per_muscle", "Linearisation", "state_size", "state_names", "action_names",
    "state_vector", "state_from_vector", "consistent_state", "flat_step", "flat_derivative", "as_state_vector",
    "linearise", "endpoint_jacobian", "moment_arms", "autodiff_geometry",
]
