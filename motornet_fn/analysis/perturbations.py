"""Perturbation experiments run through the episode engine (:mod:`motornet_fn.core.engine`).

Every perturbation is per step and per trial: a window ``on`` (T, B) from :func:`window` (each trial its
own onset and duration, in steps) times a per-trial size. Builders return the engine's own inputs, so a
perturbed episode is the same engine run (eager or compiled) with extra :class:`StepInputs`:

* network: :func:`silence`, :func:`clamp`, :func:`add_current` -> a
  :class:`~motornet_fn.core.engine.UnitPerturbation` of the policy's state after each update (the
  action of that step is read out of the changed state where the policy has a ``readout``);
* sensory: :func:`shift_feedback`, :func:`blank_feedback` -> a
  :class:`~motornet_fn.core.env.FeedbackPerturbation` of the frames entering the delay lines (so the
  policy sees it ``delay - 1`` steps later: a delay of 1 step means no lag);
* plant: :func:`force_pulse` (endpoint force during the window) -> :class:`~motornet_fn.core.types.Loads`;
  :func:`curl_field` and :func:`force_channel` (a whole trial, per-trial gains) -> the environment spec
  and state with the field on (:mod:`motornet_fn.core.interventions`).

:func:`run` rolls a policy module through a batch with any of them. Sizes (values, currents, shifts,
forces, gains) are tensors, so gradients flow through them and through the network's weights.

Units are entries of the policy's state ``h``: for the GRU, rate and modular policies the first
``hidden_size`` entries are the units (a rate network's state is its input current x, so silencing sets
x = 0 and the rate to f(0), which is 0 for tanh, relu and rect_tanh).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch

from motornet_fn.core import engine
from motornet_fn.core.compiled import compile_function, warm
from motornet_fn.core.engine import TRACE_FIELDS, StepInputs, Trace, UnitPerturbation
from motornet_fn.core.env import EnvParams, EnvSpec, EnvState, FeedbackPerturbation
from motornet_fn.core.interventions import window as _window
from motornet_fn.core.types import Loads
from motornet_fn.nn.objective import Batch, policy_functions, policy_readout


def window(n_steps: int, onset: Any, duration: Any, batch_size: int | None = None,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(T, B) 1.0 during steps [onset, onset + duration) of each trial, else 0.0.

    Args:
        n_steps: T, the episode's steps.
        onset, duration: ints, or (B,) integer tensors (one window per trial), in steps. The perturbation
            of step t acts in the step from state t to state t + 1 (``Trace`` index t + 1).
        batch_size: B, when both onset and duration are ints (the window is then shared by every trial).

    Raises:
        ValueError: a negative onset or duration, or no batch size to give the window.
    """
    onset, duration = torch.as_tensor(onset), torch.as_tensor(duration)
    for name, value in (("onset", onset), ("duration", duration)):
        if value.dtype.is_floating_point or value.dtype == torch.bool or value.ndim > 1 or bool((value < 0).any()):
            raise ValueError(f"{name} must be an int >= 0 or a (B,) integer tensor of steps, got {value.tolist()!r}")
    lead = torch.broadcast_shapes(onset.shape, duration.shape)
    if not lead and batch_size is None:
        raise ValueError("window needs batch_size when onset and duration are both ints")
    size = lead[0] if lead else batch_size
    return _window(n_steps, onset.expand(size), duration.expand(size), dtype)


def _check_window(on: Any) -> None:
    if not isinstance(on, torch.Tensor) or on.ndim != 2 or not on.is_floating_point():
        raise ValueError(f"on must be a (T, B) float window from perturbations.window, got "
                         f"{tuple(on.shape) if isinstance(on, torch.Tensor) else type(on).__name__}")


def unit_mask(units: Any, state_dim: int, on: torch.Tensor) -> torch.Tensor:
    """(B, state_dim) 1.0 at the perturbed state entries of each trial.

    Args:
        units: unit indices (a sequence of ints, every trial), or a boolean mask (n,) or (B, n) with
            n <= state_dim (per-trial units; entries past n are never perturbed).
        on: the (T, B) window (gives B, dtype and device).
    """
    _check_window(on)
    batch = on.shape[1]
    if isinstance(units, torch.Tensor) and units.dtype == torch.bool:
        if units.ndim not in (1, 2) or units.shape[-1] > state_dim or (units.ndim == 2 and units.shape[0] != batch):
            raise ValueError(f"a unit mask must be (n,) or (B={batch}, n) with n <= state_dim={state_dim}, "
                             f"got {tuple(units.shape)}")
        mask = torch.nn.functional.pad(units.to(on.dtype), (0, state_dim - units.shape[-1]))
        return mask.to(on.device).expand(batch, state_dim)
    index = torch.as_tensor(list(units) if not isinstance(units, torch.Tensor) else units, dtype=torch.long)
    if index.ndim != 1 or bool(((index < 0) | (index >= state_dim)).any()):
        raise ValueError(f"units must be indices in 0..{state_dim - 1} (the policy's state), got {index.tolist()}")
    mask = on.new_zeros(state_dim)
    mask[index.to(on.device)] = 1.0
    return mask.expand(batch, state_dim)


def _per_trial(value: Any, on: torch.Tensor, width: int, name: str) -> torch.Tensor:
    """``value`` (a number or a tensor broadcasting to (B, width)) as a (B, width) tensor."""
    value = torch.as_tensor(value, dtype=on.dtype, device=on.device) if not isinstance(value, torch.Tensor) else value
    try:
        return torch.broadcast_to(value, (on.shape[1], width))
    except RuntimeError:
        raise ValueError(f"{name} must be a number or broadcast to (B={on.shape[1]}, {width}) (e.g. (B, 1) per "
                         f"trial), got shape {tuple(value.shape)}") from None


def _units(on: torch.Tensor, mask: torch.Tensor, clamp: bool, value: torch.Tensor,
           current: torch.Tensor) -> UnitPerturbation:
    """The (T, B, state_dim) UnitPerturbation acting at ``mask`` during ``on``."""
    where = on[..., None] * mask  # (T, B, state_dim)
    zero = torch.zeros_like(where)
    return UnitPerturbation(where if clamp else zero, value.expand_as(where) if clamp else zero,
                            where * current if not clamp else zero)


def silence(on: torch.Tensor, units: Any, state_dim: int) -> UnitPerturbation:
    """Hold ``units`` at 0 during the window (see :func:`unit_mask` for ``units``; ``state_dim`` the policy's)."""
    return clamp(on, units, 0.0, state_dim)


def clamp(on: torch.Tensor, units: Any, value: Any, state_dim: int) -> UnitPerturbation:
    """Hold ``units`` at ``value`` during the window.

    Args:
        on: (T, B) window. units: see :func:`unit_mask`. state_dim: the policy's ``state_dim``.
        value: a number or a tensor broadcasting to (B, state_dim) (differentiable).
    """
    mask = unit_mask(units, state_dim, on)
    return _units(on, mask, True, _per_trial(value, on, state_dim, "value"), on.new_zeros(()))


def add_current(on: torch.Tensor, units: Any, current: Any, state_dim: int) -> UnitPerturbation:
    """Add ``current`` to ``units`` after every update during the window.

    Args:
        on: (T, B) window. units: see :func:`unit_mask`. state_dim: the policy's ``state_dim``.
        current: a number or a tensor broadcasting to (B, state_dim) (state units per step; differentiable).
    """
    mask = unit_mask(units, state_dim, on)
    return _units(on, mask, False, on.new_zeros(()), _per_trial(current, on, state_dim, "current"))


def _feedback(spec: EnvSpec, on: torch.Tensor, vision_gain, vision_shift, proprio_gain,
              proprio_shift) -> FeedbackPerturbation:
    """FeedbackPerturbation (T, B, width) with gain 1 + on (gain - 1) and shift on * shift."""
    _check_window(on)
    widths = {"vision": spec.effector.space_dim, "proprio": 2 * spec.effector.n_muscles}
    w = on[..., None]
    out = {}
    for channel, gain, shift in (("vision", vision_gain, vision_shift), ("proprio", proprio_gain, proprio_shift)):
        gain = _per_trial(gain, on, widths[channel], f"{channel} gain")
        shift = _per_trial(shift, on, widths[channel], f"{channel} shift")
        out[f"{channel}_gain"] = 1 + w * (gain - 1)
        out[f"{channel}_shift"] = w * shift
    return FeedbackPerturbation(**out)


def shift_feedback(spec: EnvSpec, on: torch.Tensor, vision: Any = 0.0, proprio: Any = 0.0) -> FeedbackPerturbation:
    """Add ``vision`` (m; (space_dim,) or (B, space_dim)) to the seen hand position and ``proprio`` ((2 M,)
    or (B, 2 M): normalised muscle lengths, then velocities) to proprioception during the window."""
    return _feedback(spec, on, 1.0, vision, 1.0, proprio)


def blank_feedback(spec: EnvSpec, on: torch.Tensor, vision: bool = False, proprio: bool = False) -> FeedbackPerturbation:
    """Zero the visual and/or proprioceptive frames (noise included) during the window."""
    return _feedback(spec, on, 0.0 if vision else 1.0, 0.0, 0.0 if proprio else 1.0, 0.0)


def force_pulse(spec: EnvSpec, on: torch.Tensor, force: Any) -> Loads:
    """Endpoint force ``force`` (N; (space_dim,) or (B, space_dim), differentiable) during the window."""
    _check_window(on)
    endpoint = on[..., None] * _per_trial(force, on, spec.effector.space_dim, "force")
    return Loads(endpoint, on.new_zeros(*on.shape, spec.effector.dof))


def lateral_force(state: EnvState, magnitude: Any) -> torch.Tensor:
    """(B, 2) force of ``magnitude`` N ((B,) or a number) perpendicular to each trial's start -> target line,
    pointing to its left (counter-clockwise); planar effectors. Trials whose target is their start get 0."""
    direction = state.task.target - state.task.start
    norm = torch.linalg.vector_norm(direction, dim=-1, keepdim=True)
    unit = torch.where(norm > 0, direction / torch.where(norm > 0, norm, 1.0), 0.0)
    magnitude = torch.as_tensor(magnitude, dtype=unit.dtype, device=unit.device)
    return torch.stack([-unit[..., 1], unit[..., 0]], dim=-1) * magnitude.reshape(-1, 1)


def curl_field(spec: EnvSpec, state: EnvState, gain: Any) -> tuple[EnvSpec, EnvState]:
    """A curl field f = k (v_y, -v_x) for the whole trial (clockwise for k > 0): the spec with the field
    on and the state with per-trial gains ``gain`` (N s/m; a number or (B,), 0 = off for a trial)."""
    fields = state.fields
    k = torch.as_tensor(gain, dtype=fields.curl_gain.dtype, device=fields.curl_gain.device)
    return dataclasses.replace(spec, curl=True), state._replace(
        fields=fields._replace(curl_gain=k.expand_as(fields.curl_gain)))


def force_channel(spec: EnvSpec, state: EnvState, stiffness: Any, damping: Any = 0.0) -> tuple[EnvSpec, EnvState]:
    """A force channel along each trial's start -> target line for the whole trial: the spec with the
    channel on and per-trial ``stiffness`` (N/m) and ``damping`` (N s/m) (numbers or (B,); 0 = off)."""
    fields = state.fields
    like = fields.channel_stiffness
    as_trials = lambda v: torch.as_tensor(v, dtype=like.dtype, device=like.device).expand_as(like)  # noqa: E731
    return dataclasses.replace(spec, channel=True), state._replace(
        fields=fields._replace(channel_stiffness=as_trials(stiffness), channel_damping=as_trials(damping)))


def with_perturbations(inputs: StepInputs | None, units: UnitPerturbation | None = None,
                       feedback: FeedbackPerturbation | None = None, loads: Loads | None = None) -> StepInputs:
    """``inputs`` (noise draws, ...) with the perturbations added; loads add to the inputs' own.

    Raises:
        ValueError: the inputs already carry unit or feedback perturbations.
    """
    inputs = StepInputs() if inputs is None else inputs
    for name, new in (("units", units), ("feedback", feedback)):
        if new is not None and getattr(inputs, name) is not None:
            raise ValueError(f"the inputs already carry {name} perturbations; build one perturbation of each kind")
    if loads is not None and inputs.loads is not None:
        loads = Loads(inputs.loads.endpoint + loads.endpoint, inputs.loads.joint + loads.joint)
    return inputs._replace(units=units if units is not None else inputs.units,
                           feedback=feedback if feedback is not None else inputs.feedback,
                           loads=loads if loads is not None else inputs.loads)


_COMPILED: dict = {}


def _episode(spec: EnvSpec, base: torch.nn.Module, fields: tuple[str, ...], hidden: str, scan: bool):
    """``(params, weights, buffers, state, obs, inputs) -> Trace`` of ``base`` in ``spec``."""
    def episode(params, weights, buffers, state, obs, inputs):
        step, initial, activity = policy_functions(base, weights, buffers)
        trace, _ = engine.run_episode(spec, params, step, initial(obs.shape[:-1]), state, obs, inputs, fields=fields,
                                      scan=scan, activity=activity if hidden == "activity" else None,
                                      readout=policy_readout(base, weights, buffers))
        return trace
    return episode


def run(spec: EnvSpec, params: EnvParams, policy: torch.nn.Module, batch: Batch, units: UnitPerturbation | None = None,
        feedback: FeedbackPerturbation | None = None, loads: Loads | None = None, *,
        fields: Sequence[str] = TRACE_FIELDS, hidden: str = "activity", compiled: bool = False) -> Trace:
    """Roll ``policy`` through ``batch`` with perturbations (none: the unperturbed episode).

    Args:
        spec, params: the environment (e.g. a trainer's ``env_spec``, ``env_params``; or the spec
            :func:`curl_field` / :func:`force_channel` return, with their state in ``batch``).
        policy: a policy module of the :mod:`motornet_fn.nn.policies` contract (e.g. ``trainer.policy(k)``).
        batch: reset state, first observation and per-step inputs (e.g. ``trainer.sample(...)``), batch (B,).
        units, feedback, loads: the perturbations, (T, B, ...) (see the builders above).
        fields: the :class:`~motornet_fn.core.engine.Trace` fields to record.
        hidden: record ``trace.hidden`` as the policy's ``"activity"`` (B, T, n_units) or its ``"state"`` h
            (B, T, state_dim) (what fixed-point searches start from).
        compiled: run the episode as a compiled scan (same numbers to float rounding; a one-off compilation
            per spec, policy and batch shape).

    Returns:
        The batch-first :class:`~motornet_fn.core.engine.Trace`; differentiable with respect to the
        policy's weights and the perturbations' sizes.
    """
    if hidden not in ("activity", "state"):
        raise ValueError(f"hidden must be 'activity' or 'state', got {hidden!r}")
    inputs = with_perturbations(batch.inputs, units, feedback, loads)
    fields = engine.check_fields(tuple(fields))
    weights, buffers = dict(policy.named_parameters()), dict(policy.named_buffers())
    if not compiled:
        return _episode(spec, policy, fields, hidden, False)(params, weights, buffers, batch.state, batch.obs, inputs)
    key = (spec, id(policy), fields, hidden)
    if key not in _COMPILED or _COMPILED[key][0] is not policy:
        _COMPILED[key] = (policy, compile_function(_episode(spec, policy, fields, hidden, True), None,
                                                   "perturbed episode"))
        warm(spec.effector, params.effector, batch.state.effector, batch.obs.ndim - 1)
    return _COMPILED[key][1](params, weights, buffers, batch.state, batch.obs, inputs)


__all__ = ["window", "unit_mask", "silence", "clamp", "add_current", "shift_feedback", "blank_feedback",
           "force_pulse", "lateral_force", "curl_field", "force_channel", "with_perturbations", "run"]
