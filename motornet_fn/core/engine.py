"""The one episode engine: a step body written once, run by an eager Python loop or by a ``scan``.

* :func:`iterate` runs any ``body(carry, x) -> (carry, record)`` over a time axis: eagerly (a Python
  loop: any transform, truncated backpropagation) or as ``torch._higher_order_ops.scan`` (which
  ``torch.compile`` traces once, whatever the number of steps, and lowers to a loop in generated code;
  the carry and the records then travel packed into one tensor each, see :mod:`packing`).
* :func:`closed_loop_body` is the step of (policy, environment): policy -> :func:`env.step` -> record.
  :func:`run_episode` runs it from a reset state and returns a :class:`Trace`.
* :func:`open_loop_body` is the same engine without a policy: actions (and loads, fields, force
  schedules) in, effector states out. :func:`rollout` runs it.

Eager and scanned runs of a body give the same numbers (the scan is the same body, traced).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch

from motornet_fn.core import checks
from motornet_fn.core import effector as eff
from motornet_fn.core import env as environment
from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.env import EnvParams, EnvSpec, EnvState, StepDraws
from motornet_fn.core.packing import ConstantLayout, FlatLayout, batch_first, batch_last, materialise
from motornet_fn.core.tasks import goal_at
from motornet_fn.core.tree import tree_detach, tree_flatten, tree_leaves, tree_map, tree_stack, tree_unflatten
from motornet_fn.core.types import EffectorState, Loads

try:  # a prototype API in torch >= 2.5
    from torch._higher_order_ops.scan import scan as _scan
except ImportError:  # pragma: no cover - depends on the torch version
    _scan = None


def scan_available() -> bool:
    """Whether this torch has ``torch._higher_order_ops.scan`` (needed by ``scan=True``)."""
    return _scan is not None


# ------------------------------------------------------------------------------------ the loop
def iterate(body: Callable[[Any, Any], tuple[Any, Any]], carry: Any, xs: Any, n_steps: int, *, scan: bool = False,
            batch_shape: tuple | None = None, record_example: Any = None,
            truncate_every: int | None = None, unroll: int = 1, constants: Any = None) -> tuple[Any, Any]:
    """Run ``body`` for ``n_steps`` steps.

    Args:
        body: ``(carry, x) -> (carry, record)``, or with ``constants`` ``(carry, x, constants) -> (carry,
            record)``; ``x`` is the step-t slice of ``xs``.
        xs: a pytree whose leaves have a leading time dim of ``n_steps`` (None leaves are absent inputs).
        scan: run as a ``scan`` (for ``torch.compile``) instead of a Python loop.
        batch_shape: the leading batch dims shared by every carry and record leaf (``scan`` only: the
            carry and records are packed into one ``(n, *batch)`` tensor each, batch last, and inputs with the
            batch dims are moved batch last: :meth:`~motornet_fn.core.packing.FlatLayout.pack_by_field`).
        record_example: a record with the structure and shapes of ``body``'s (``scan`` only).
        truncate_every: detach the carry every this many steps (eager only: truncated backpropagation
            through time).
        unroll: steps per scan iteration (``scan`` only): each iteration runs ``unroll`` copies of the body,
            sharing the per-iteration cost of the compiled loop (allocations, dispatch) at the price of a
            graph ``unroll`` times larger to compile; the last ``n_steps % unroll`` steps run after the scan.
        constants: a pytree of tensors every step reads and none changes (parameters, constant loads),
            passed to ``body`` as its third argument. A no-grad ``scan`` takes those that need no gradient
            into its loop packed into one tensor (:class:`~motornet_fn.core.packing.ConstantLayout`) instead of
            one loop input per tensor (each costs a tensor handle per step): no-grad compiled Arm26 rollouts
            ran 1.81 -> 1.47 ms (B = 1) and 2.37 -> 1.94 ms (B = 32). Where autograd records (an input
            requires grad), the body closes over them as they are: packed, a 100-step Arm26 rollout +
            backward measured 12.3 against 9.7 ms, and the trainer's episode 29-31 against 26-28 ms.

    Returns:
        (final carry, records with a leading time dim of ``n_steps``).

    Raises:
        ValueError: ``n_steps`` is not an int >= 0, or an input's leading dim is not ``n_steps``.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}")
    checks.check_time_dim(xs, n_steps, "xs")
    leaves, structure = tree_flatten(xs)
    present = [i for i, leaf in enumerate(leaves) if leaf is not None]

    def rebuild(sliced):  # the step's x, absent (None) inputs in place
        out = [None] * len(leaves)
        for i, value in zip(present, sliced):
            out[i] = value
        return tree_unflatten(out, structure)

    if constants is not None:
        step_body, step_constants = body, (lambda: constants)
        if scan and not _records_gradient(carry, xs, constants):
            # the scan lifts the one packed tensor into its loop, unpacked (views) inside
            layout = ConstantLayout.of(constants)
            flat, rest = layout.pack(constants)
            step_constants = lambda: layout.unpack(flat, rest)  # noqa: E731

        def body(carry, x):
            return step_body(carry, x, step_constants())

    if not scan:
        records = []
        for t in range(n_steps):
            if truncate_every and t > 0 and t % truncate_every == 0:
                carry = tree_detach(carry)
            carry, record = body(carry, rebuild([leaves[i][t] for i in present]))
            records.append(record)
        return carry, tree_stack(records)
    if _scan is None:  # pragma: no cover - depends on the torch version
        raise RuntimeError("scan=True needs torch._higher_order_ops.scan (torch >= 2.5)")
    if truncate_every:
        raise ValueError(f"truncate_every={truncate_every!r} needs the eager loop (scan=False)")
    nb = len(batch_shape)
    carry_layout = FlatLayout.of(carry, nb)
    record_layout = FlatLayout.of(record_example, nb)
    # Batch last (FlatLayout.pack_by_field: carry, records and per-step inputs), inductor vectorizes a step across
    # the batch: Arm26, 200 steps, final state, B = 1024, 14.7-17.7 -> 8.4-9.0 ms in alternating runs. Records as
    # wide as the carry (a recorded state) keep the batch-first layout: a draft with them batch last measured
    # 44.7 ms for that rollout, against 29.2 ms batch first in the session before (not a same-session A/B).
    by_field = record_layout.width < carry_layout.width
    tensors = [leaves[i] for i in present]
    moved = [by_field and x.ndim > 1 + nb and tuple(x.shape[1:1 + nb]) == tuple(batch_shape) for x in tensors]
    tensors = [batch_last(x, 1, nb) if m else x for x, m in zip(tensors, moved)]
    pack = FlatLayout.pack_by_field if by_field else FlatLayout.pack
    unpack = FlatLayout.unpack_by_field if by_field else FlatLayout.unpack

    def packed_body(packed, x):
        x = [batch_first(value, 0, nb) if m else value for value, m in zip(x, moved)]
        new, record = body(unpack(carry_layout, packed, batch_shape), rebuild(x))
        return pack(carry_layout, new, batch_shape), pack(record_layout, record, batch_shape)

    packed = pack(carry_layout, carry, batch_shape)
    if not tensors:  # scan needs something to iterate over
        tensors, rebuild_empty = [packed.new_zeros(n_steps)], rebuild
        rebuild = lambda sliced: rebuild_empty([])  # noqa: E731
    if isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"unroll must be an int >= 1 (steps per scan iteration), got {unroll!r}")
    k = min(unroll, n_steps)
    main = n_steps // k * k

    def unrolled_body(packed, xk):
        outs = []
        for j in range(k):
            packed, out = packed_body(packed, [x[j] for x in xk])
            outs.append(out)
        return packed, torch.stack(outs)

    if k > 1:
        packed, ys = _scan(unrolled_body, packed, [x[:main].reshape(main // k, k, *x.shape[1:]) for x in tensors])
        ys = ys.reshape(main, *ys.shape[2:])
    else:
        packed, ys = _scan(packed_body, packed, tensors)
    tail = []
    for t in range(main, n_steps):
        packed, out = packed_body(packed, [x[t] for x in tensors])
        tail.append(out)
    if tail:
        ys = torch.cat([ys, torch.stack(tail)], dim=0)
    return unpack(carry_layout, packed, batch_shape), unpack(record_layout, ys, batch_shape, lead=1)


def _records_gradient(*trees: Any) -> bool:
    """Whether autograd records through a loop over these inputs (a trace-time fact under ``torch.compile``)."""
    return torch.is_grad_enabled() and any(isinstance(leaf, torch.Tensor) and leaf.requires_grad
                                           for tree in trees for leaf in tree_leaves(tree))


# ------------------------------------------------------------------------------------ closed loop
class Trace(NamedTuple):
    """An episode record, batch first, time on dim -2. Fields an episode was not asked to record are None.

    Attributes:
        fingertip: (..., T+1, space_dim) endpoint position (m).
        fingertip_vel: (..., T+1, space_dim) endpoint velocity (m/s).
        goal: (..., T+1, space_dim) where the endpoint should be (m): the task's desired position.
        joint_pos: (..., T+1, dof) joint positions (rad or m).
        joint_vel: (..., T+1, dof) joint velocities.
        activation: (..., T+1, n_muscles) muscle activation.
        force: (..., T+1, n_muscles) muscle force (N).
        action: (..., T, n_muscles) the policy's actions (before action noise).
        hidden: (..., T, n_units) the policy's unit activity after each step.
        obs: (..., T, obs_dim) the observation each action answered.
    """

    fingertip: torch.Tensor | None = None
    fingertip_vel: torch.Tensor | None = None
    goal: torch.Tensor | None = None
    joint_pos: torch.Tensor | None = None
    joint_vel: torch.Tensor | None = None
    activation: torch.Tensor | None = None
    force: torch.Tensor | None = None
    action: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    obs: torch.Tensor | None = None


TRACE_FIELDS = Trace._fields
#: fields recorded at every state (index 0 is the reset state); the others at every step
STATE_FIELDS = ("fingertip", "fingertip_vel", "goal", "joint_pos", "joint_vel", "activation", "force")


def check_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """``fields`` in :class:`Trace` order.

    Raises:
        ValueError: a name is not a Trace field.
    """
    unknown = sorted(set(fields) - set(TRACE_FIELDS))
    if unknown:
        raise ValueError(f"fields must be among {TRACE_FIELDS}, got unknown {unknown}")
    return tuple(f for f in TRACE_FIELDS if f in fields)


class LoopCarry(NamedTuple):
    """What the closed loop carries from step to step. Attributes: env: the environment state;
    h: (..., state_dim) the policy's state; obs: (..., obs_dim) the next observation."""

    env: EnvState
    h: torch.Tensor
    obs: torch.Tensor


class UnitPerturbation(NamedTuple):
    """A per-trial change to the policy's state after its update at one step:
    h <- where(clamp > 0, value, h + current). Silencing is a clamp at 0. When the episode is given the
    policy's ``readout``, that step's action is read out of the changed state (so the muscles see the
    change at once); without it, the change reaches the muscles only through the next update.

    Attributes:
        clamp: (state_dim,) 1 where a unit is clamped, else 0.
        value: (state_dim,) the clamped value.
        current: (state_dim,) added to the state (0 where unperturbed).
    """

    clamp: torch.Tensor
    value: torch.Tensor
    current: torch.Tensor


class StepInputs(NamedTuple):
    """Per-step inputs of the closed loop (each with a leading time dim T in ``xs``; None: absent).

    Attributes:
        draws: the environment's standard-normal noise (:class:`~motornet_fn.core.env.StepDraws`).
        policy_noise: (..., noise_dim) standard normals for a policy with internal noise.
        loads: external loads (e.g. force pulses) added at each step.
        feedback: changes to the sensory frames (:class:`~motornet_fn.core.env.FeedbackPerturbation`).
        units: changes to the policy's state after its update (:class:`UnitPerturbation`).
    """

    draws: StepDraws | None = None
    policy_noise: torch.Tensor | None = None
    loads: Loads | None = None
    feedback: Any = None
    units: UnitPerturbation | None = None


def _values(fields, env: EnvState, tip, goal, action=None, hidden=None, obs=None) -> dict:
    """The requested record values of one step (``tip`` a CartesianState, ``goal`` the desired position)."""
    muscle, joint = env.effector.muscle, env.effector.joint
    getters = {"fingertip": lambda: tip.pos, "fingertip_vel": lambda: tip.vel, "goal": lambda: goal,
               "joint_pos": lambda: joint.pos, "joint_vel": lambda: joint.vel,
               "activation": lambda: muscle.activation, "force": lambda: muscle.force,
               "action": lambda: action, "hidden": lambda: hidden, "obs": lambda: obs}
    return {f: getters[f]() for f in fields}


def closed_loop_body(spec: EnvSpec, params: EnvParams, policy: Callable, fields: tuple[str, ...],
                     activity: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     readout: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Callable:
    """The step of (policy, environment): ``(LoopCarry, StepInputs) -> (LoopCarry, record dict)``.

    Args:
        policy: ``(obs, h) -> (action, h)``, or ``(obs, h, noise) -> (action, h)`` when the inputs carry
            ``policy_noise``.
        fields: the :class:`Trace` fields to record.
        activity: ``h -> unit activity`` recorded as ``hidden`` (default: h itself).
        readout: ``h -> action``, the policy's action from its updated state: with unit perturbations
            in the inputs, the action is read out of the perturbed state (see :class:`UnitPerturbation`).
    """
    activity = (lambda h: h) if activity is None else activity

    def body(carry: LoopCarry, x: StepInputs):
        if x.policy_noise is None:
            action, h = policy(carry.obs, carry.h)
        else:
            action, h = policy(carry.obs, carry.h, x.policy_noise)
        if x.units is not None:
            h = torch.where(x.units.clamp > 0, x.units.value, h + x.units.current)
            if readout is not None:
                action = readout(h)
        checks.check_step(spec.effector, params.effector, carry.env, action, finite=False)
        env, obs, info = environment.advance(spec, params, carry.env, action, x.draws, x.loads, x.feedback)
        hidden = activity(h) if "hidden" in fields else None
        record = _values(fields, env, info.fingertip, info.goal.desired, action, hidden, carry.obs)
        return LoopCarry(env, h, obs), record

    return body


def run_episode(spec: EnvSpec, params: EnvParams, policy: Callable, h0: torch.Tensor, state: EnvState,
                obs: torch.Tensor, inputs: StepInputs | None = None, *, fields: tuple[str, ...] = TRACE_FIELDS,
                scan: bool = False, truncate_every: int | None = None,
                activity: Callable[[torch.Tensor], torch.Tensor] | None = None, unroll: int = 1,
                readout: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[Trace, LoopCarry]:
    """Roll a policy through ``spec.n_steps`` steps from a reset ``(state, obs)``.

    Args:
        policy: ``(obs (..., obs_dim), h (..., state_dim)[, noise]) -> (action (..., n_muscles), h)``.
        h0: (..., state_dim) the policy's initial state.
        inputs: per-step inputs with a leading time dim of ``spec.n_steps`` (noise draws, policy noise,
            external loads, feedback and unit perturbations); None: none.
        fields: the :class:`Trace` fields to record (the others are None; recording less saves memory).
        scan: run the loop as a ``scan`` (what :mod:`motornet_fn.core.compiled` compiles).
        truncate_every: cut the gradient through the carry every this many steps (eager only).
        unroll: steps per scan iteration (see :func:`iterate`). Under ``torch.compile`` in torch 2.13, unroll > 1
            fails for the trainer's closed-loop episodes (Dynamo: "Input-to-input aliasing detected" among the
            tensors it lifts into the scan body); open-loop rollouts take it.
        readout: ``h -> action`` of the policy (see :func:`closed_loop_body`); used only with unit
            perturbations in ``inputs``.

    Returns:
        (trace, final carry).

    Raises:
        TypeError, ValueError: ``obs``, ``h0`` and the state disagree on the batch, ``obs`` does not end in
            ``spec.obs_dim``, an input has no leading time dim of ``spec.n_steps``, or (finite checks on,
            :func:`~motornet_fn.core.checks.check_finite`) an input or a recorded value is not finite.
    """
    fields = check_fields(fields)
    inputs = StepInputs() if inputs is None else inputs
    check_episode_inputs(spec, params, h0, state, obs, inputs)
    debug = checks.finite_checks()
    if debug:
        for tree, name in ((state, "state"), (obs, "obs"), (h0, "h0")):
            checks.raise_non_finite(tree, name)
        checks.raise_non_finite(inputs, "inputs", time_axis=0)
    body = closed_loop_body(spec, params, policy, fields, activity, readout)
    tip0 = eff.cartesian(spec.effector, params.effector, state.effector.joint)
    first = _values([f for f in fields if f in STATE_FIELDS], state, tip0, goal_at(state.task, state.t).desired)
    batch_shape = tuple(obs.shape[:-1])
    example = None
    if scan:
        zero_action = obs.new_zeros(*batch_shape, spec.effector.n_muscles)
        hidden = (activity or (lambda h: h))(h0) if "hidden" in fields else None
        example = _values(fields, state, tip0, first.get("goal", tip0.pos), zero_action, hidden, obs)
    carry, records = iterate(body, LoopCarry(state, h0, obs), inputs, spec.n_steps, scan=scan,
                             batch_shape=batch_shape, record_example=example, truncate_every=truncate_every,
                             unroll=unroll)
    trace = assemble_trace(fields, first, records)
    if debug:
        checks.raise_non_finite(trace, "trace", time_axis=-2, where="run_episode: ")
    return trace, carry


def check_episode_inputs(spec: EnvSpec, params: EnvParams, h0: torch.Tensor, state: EnvState, obs: torch.Tensor,
                         inputs: StepInputs) -> None:
    """Raise unless the episode's starting point agrees on one batch and ``inputs`` span ``spec.n_steps``."""
    batch = checks.state_batch(state.effector, "state.effector")
    for name, x, last in (("obs", obs, f"obs_dim={spec.obs_dim}"), ("h0", h0, "state_dim")):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
        if x.ndim < 1 or x.shape[:-1] != batch or (name == "obs" and x.shape[-1] != spec.obs_dim):
            raise ValueError(f"{name} must have shape ({''.join(f'{b}, ' for b in batch)}{last}) (the batch of the "
                             f"state, {tuple(batch)}), got {tuple(x.shape)}")
    checks.check_time_dim(inputs, spec.n_steps, "inputs")


def assemble_trace(fields: tuple[str, ...], first: dict, records: dict) -> Trace:
    """A batch-first :class:`Trace` from the reset record and the (T, ...) step records."""
    out = {}
    for f in fields:
        seq = records[f] if f not in STATE_FIELDS else torch.cat([first[f].unsqueeze(0), records[f]], dim=0)
        out[f] = seq.movedim(0, -2)
    return Trace(**out)


# ------------------------------------------------------------------------------------ open loop
class OpenLoopInputs(NamedTuple):
    """Per-step inputs of a rollout. Attributes: action (..., n_muscles); loads (per-step Loads, or None)."""

    action: torch.Tensor
    loads: Loads | None = None


def open_loop_body(spec: EffectorSpec, params: EffectorParams, loads: Loads | None = None, intervention: Any = None,
                   record: Callable | str | None = "state") -> Callable:
    """The engine's step without a policy: ``(EffectorState, OpenLoopInputs) -> (EffectorState, record)``.

    Args:
        loads: constant loads (used when the inputs carry none).
        intervention: an :class:`~motornet_fn.core.interventions.Intervention` whose fields act at every
            step (its per-step force schedules enter through the inputs' loads).
        record: ``"state"`` (the new state), None (nothing), or ``state -> pytree``.
    """
    step = _open_loop_step(spec, record)
    return lambda state, x: step(state, x, (params, loads, intervention))


def _open_loop_step(spec: EffectorSpec, record: Callable | str | None) -> Callable:
    """:func:`open_loop_body` as ``(state, x, (params, loads, intervention)) -> (state, record)``."""
    from motornet_fn.core.interventions import field_force

    def body(state: EffectorState, x: OpenLoopInputs, constants):
        params, loads, intervention = constants
        step_loads = loads if x.loads is None else x.loads
        if intervention is not None:
            force = field_force(spec, params, state, intervention)
            step_loads = Loads(step_loads.endpoint + force, step_loads.joint)
        new = eff.advance(spec, params, state, x.action, step_loads)
        out = new if record == "state" else (new.joint.pos.new_zeros(()) if record is None else record(new))
        return new, out

    return body


def rollout(spec: EffectorSpec, params: EffectorParams, state: EffectorState, actions: torch.Tensor,
            loads: Loads | None = None, time_varying_loads: bool = False, *, intervention: Any = None,
            record: Callable | str | None = "state", scan: bool = False, unroll: int = 1) -> Any:
    """Step an effector through an action sequence.

    Args:
        actions: (T, ..., n_muscles).
        loads: constant loads, or (with ``time_varying_loads=True``) loads whose fields carry a leading
            time dim T.
        intervention: force fields and per-step force schedules
            (:class:`~motornet_fn.core.interventions.Intervention`) applied at every step.
        record: ``"state"``: every state; None: only the final state; a function ``state -> pytree``:
            that pytree at every state.
        scan: run as a ``scan`` (see :func:`iterate`).
        unroll: steps per scan iteration (see :func:`iterate`).

    Returns:
        With ``record="state"`` or a function: a pytree with a leading time dim of T + 1 (index 0 is
        the initial state); with ``record=None``: the final state.
    """
    batch_shape = check_rollout_inputs(spec, params, state, actions, loads, time_varying_loads)
    n_steps = actions.shape[0]
    if intervention is not None:
        schedule = Loads(intervention.endpoint_force, intervention.joint_force)
        if loads is not None:
            add = (lambda a, b: a + b) if time_varying_loads else (lambda a, b: a + b.unsqueeze(0))
            schedule = Loads(add(schedule.endpoint, loads.endpoint), add(schedule.joint, loads.joint))
        loads, time_varying_loads = schedule, True
    xs = OpenLoopInputs(actions, loads if time_varying_loads else None)
    constants = (params, None if time_varying_loads else loads, intervention)
    example = None
    if scan:
        example = state if record == "state" else (None if record is None else record(state))
        example = actions.new_zeros(batch_shape) if record is None else example
        state = materialise(state, batch_shape)  # a scan carries one packed (*batch, n) tensor
    final, records = iterate(_open_loop_step(spec, record), state, xs, n_steps, scan=scan, batch_shape=batch_shape,
                             record_example=example, unroll=unroll, constants=constants)
    if record is None:
        return check_rollout_output(final, record)
    first = state if record == "state" else record(state)
    out = tree_map(lambda a, b: torch.cat([a.expand(b.shape[1:]).unsqueeze(0), b], dim=0), first, records)
    return check_rollout_output(out, record)


def check_rollout_inputs(spec: EffectorSpec, params: EffectorParams, state: EffectorState, actions: torch.Tensor,
                         loads: Loads | None = None, time_varying_loads: bool = False) -> tuple:
    """The batch shape of a rollout, after checking its inputs: one batch over the state's leaves, (T, ...,
    n_muscles) actions of the params' dtype fitting it; with the finite checks on, finite inputs.

    Raises:
        TypeError, ValueError: naming the offending input.
    """
    batch = checks.state_batch(state)
    checks.check_dtype("state", state.joint.pos, params)
    checks.check_action(spec, params, actions, batch, "actions", time_dim=True)
    if checks.finite_checks():
        checks.raise_non_finite(state, "state")
        checks.raise_non_finite(actions, "actions", time_axis=0)
        checks.raise_non_finite(loads, "loads", time_axis=0 if time_varying_loads else None)
    return tuple(batch)


def check_rollout_output(out: Any, record: Callable | str | None) -> Any:
    """``out``, after (finite checks on) raising at the first non-finite recorded state."""
    if checks.finite_checks():
        checks.raise_non_finite(out, "state" if record in ("state", None) else "record",
                                time_axis=None if record is None else 0, where="rollout: ")
    return out


__all__ = ["iterate", "scan_available", "Trace", "TRACE_FIELDS", "STATE_FIELDS", "check_fields", "LoopCarry",
           "StepInputs", "UnitPerturbation", "closed_loop_body", "run_episode", "assemble_trace", "OpenLoopInputs", "open_loop_body",
           "rollout", "check_rollout_inputs", "check_episode_inputs"]
