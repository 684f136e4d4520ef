"""Compiled closed-loop episodes for training: :func:`scan_episode` is :func:`~motornet_fn.nn.episode.run_episode`
with the time loop written as a ``scan`` (``torch._higher_order_ops.scan``), so ``torch.compile`` traces
one step of policy + effector + feedback once, whatever the episode length, and AOTAutograd derives the
backward pass as a reverse scan. :class:`CompiledObjective` wraps it for the :class:`~motornet_fn.nn.train.Trainer`
(``TrainConfig(compile=True)`` / ``motornet-fn train --compile``).

Same inputs, same :class:`~motornet_fn.nn.episode.Trace`, same losses and gradients as the eager
episode to float rounding (``tests/core/test_compiled.py``). Not supported: ``truncate_every``
(cutting the gradient inside the scan).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch
import torch.utils._pytree as _pytree

from motornet_fn.core import compiled as core_compiled
from motornet_fn.core import effector as eff
from motornet_fn.core import sensory
from motornet_fn.core.compiled import FlatLayout
from motornet_fn.core.effector import EffectorParams
from motornet_fn.core.interventions import intervention_loads
from motornet_fn.core.types import Loads
from motornet_fn.nn.episode import TRACE_FIELDS, EpisodeInit, EpisodeNoise, TaskConfig, Trace, recorded_fields

_scan = core_compiled._scan


def scan_episode(task: TaskConfig, params: EffectorParams,
                 policy: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                 hidden: torch.Tensor, init: EpisodeInit, noise: EpisodeNoise | None = None,
                 loads: Loads | None = None, time_axis: int = 0, fields: tuple[str, ...] = TRACE_FIELDS) -> Trace:
    """:func:`~motornet_fn.nn.episode.run_episode` as a ``scan`` over time (meant to run under
    ``torch.compile``; eagerly it is correct but slow). Arguments and result as ``run_episode``.

    Any leading batch dims work (e.g. (members, batch) for an ensemble, with a policy that maps
    (K, B, obs) to (K, B, M)). ``time_axis`` is where the time dim of the per-step inputs (noise,
    schedule, intervention forces) sits: 0 as ``run_episode`` has them, 1 for member-stacked inputs.
    ``fields``: the :class:`~motornet_fn.nn.episode.Trace` fields to record (fingertip and goal always
    are); the others are None, so a loss that reads only the fingertip stores nothing else.

    Every step packs its carry (effector state, hidden state, delay lines, observation) into one
    tensor and its recorded values into another: in the generated loop each tensor costs an
    allocation and a copy per step, which dominate at the batch sizes of training.
    """
    if _scan is None:  # pragma: no cover - depends on the torch version
        raise RuntimeError("scan_episode needs torch._higher_order_ops.scan (torch >= 2.5)")
    recorded = recorded_fields(fields)
    if time_axis != 0:
        first = lambda tree: None if tree is None else _pytree.tree_map(lambda x: x.movedim(time_axis, 0), tree)  # noqa: E731
        noise = first(noise)
        schedule = first(init.schedule)
        intervention = init.intervention
        if intervention is not None:
            intervention = intervention._replace(endpoint_force=intervention.endpoint_force.movedim(time_axis, 0),
                                                 joint_force=intervention.joint_force.movedim(time_axis, 0))
        init = init._replace(schedule=schedule, intervention=intervention)
    spec = task.effector
    batch_shape = tuple(init.goal.shape[:-1])
    state = eff.initial_state(spec, params, init.joint)
    muscles = (spec.muscle, params.muscle)
    schedule, intervention = init.schedule, init.intervention

    def feedback(state, proprio_noise, vision_noise):
        prop = sensory.proprioception(*muscles, state.muscle)
        tip = eff.cartesian(spec, params, state.joint).pos
        if noise is None:
            return prop, tip, tip
        return prop + proprio_noise, tip + vision_noise, tip

    def observe(buffer, shown, cue, obs_noise):
        obs = sensory.observation(init.goal if shown is None else shown, buffer)
        if task.go_cue:
            cue = init.goal.new_ones(init.goal.shape[:-1] + (1,)) if cue is None else cue
            obs = torch.cat([obs, cue], dim=-1)
        return obs if obs_noise is None else obs + obs_noise

    at = lambda x, t: None if x is None else x[t]  # noqa: E731
    n_proprio, n_vision, n_obs = ((None, None, None) if noise is None else (noise.proprio, noise.vision, noise.obs))
    shown_seq = None if schedule is None else schedule.shown
    cue_seq = None if schedule is None else schedule.cue

    prop, vis, tip = feedback(state, at(n_proprio, 0), at(n_vision, 0))
    zero_action = init.goal.new_zeros(init.goal.shape[:-1] + (spec.n_muscles,))
    buffer = sensory.init_buffer(prop, vis, zero_action, task.proprio_delay, task.vision_delay, task.action_frames)
    buffer = sensory.update_buffer(buffer, prop, vis)
    obs = observe(buffer, at(shown_seq, 0), at(cue_seq, 0), at(n_obs, 0))
    has_actions = task.action_frames > 0  # a 0-frame action line stays out of the carry

    def carry_tree(state, h, line, obs):  # delay lines are (frames, *batch, dim): batch dims first to pack
        lines = {"proprio": line.proprioception.movedim(0, -2), "vision": line.vision.movedim(0, -2)}
        if has_actions:
            lines["action"] = line.action.movedim(0, -2)
        return {"state": state, "h": h, "obs": obs, **lines}

    carry0_tree = carry_tree(state, hidden, buffer, obs)
    carry_layout = FlatLayout.of(carry0_tree, len(batch_shape))
    per_step = {"fingertip": tip, "joint_pos": state.joint.pos, "activation": state.muscle.activation,
                "action": zero_action, "hidden": hidden, "obs": obs}
    out_layout = FlatLayout.of({f: per_step[f] for f in recorded}, len(batch_shape))

    # per-step inputs (leading time dim T); None entries are static absences
    xs = {
        "action_noise": None if noise is None else noise.action,
        "proprio_noise": None if noise is None else noise.proprio[1:],
        "vision_noise": None if noise is None else noise.vision[1:],
        "obs_noise": None if noise is None else noise.obs[1:],
        "shown": None if schedule is None else schedule.shown[1:],
        "cue": None if schedule is None else schedule.cue[1:],
        "endpoint_force": None if intervention is None else intervention.endpoint_force,
        "joint_force": None if intervention is None else intervention.joint_force,
    }
    xs = {k: v for k, v in xs.items() if v is not None}
    if not xs:  # scan needs something to iterate over
        xs = {"t": init.goal.new_zeros(task.n_steps)}

    def body(packed, x):
        carry = carry_layout.unpack(packed, batch_shape)
        state, h, obs = carry["state"], carry["h"], carry["obs"]
        line = sensory.SensoryBuffer(carry["proprio"].movedim(-2, 0), carry["vision"].movedim(-2, 0),
                                     carry["action"].movedim(-2, 0) if has_actions else buffer.action)
        action, h = policy(obs, h)
        noisy_action = action + x["action_noise"] if "action_noise" in x else action
        if intervention is None:
            step_loads = loads
        else:
            now = intervention._replace(endpoint_force=x["endpoint_force"].unsqueeze(0),
                                        joint_force=x["joint_force"].unsqueeze(0))
            step_loads = intervention_loads(spec, params, state, now, 0)
        state = eff.step(spec, params, state, noisy_action, step_loads)
        prop, vis, tip = feedback(state, x.get("proprio_noise"), x.get("vision_noise"))
        line = sensory.update_buffer(line, prop, vis, noisy_action)
        new_obs = observe(line, x.get("shown"), x.get("cue"), x.get("obs_noise"))
        values = {"fingertip": tip, "joint_pos": state.joint.pos, "activation": state.muscle.activation,
                  "action": action, "hidden": h, "obs": obs}
        out = out_layout.pack({f: values[f] for f in recorded}, batch_shape)
        return carry_layout.pack(carry_tree(state, h, line, new_obs), batch_shape), out

    _, ys = _scan(body, carry_layout.pack(carry0_tree, batch_shape), xs)
    seqs = out_layout.unpack(ys, (task.n_steps, *batch_shape))

    def with_start(name):  # (B, ...) and (T, B, ...) -> batch first, time on -2; None when not recorded
        if name not in seqs:
            return None
        return torch.cat([per_step[name].unsqueeze(0), seqs[name]], dim=0).movedim(0, -2)

    def steps_only(name):
        return seqs[name].movedim(0, -2) if name in seqs else None

    if schedule is None:
        goal = init.goal.unsqueeze(-2).expand(*init.goal.shape[:-1], task.n_steps + 1, init.goal.shape[-1])
    else:
        goal = schedule.desired.movedim(0, -2)
    return Trace(with_start("fingertip"), goal, with_start("joint_pos"), with_start("activation"),
                 steps_only("action"), steps_only("hidden"), steps_only("obs"))


class CompiledObjective:
    """``losses = objective(weights, buffers, init, noise)`` compiled once per input signature.

    Args:
        loss: ``(weights, buffers, init, noise) -> loss`` running its episode with :func:`scan_episode`:
            a scalar for one policy, or (K,) member losses when ``stacked`` (member-stacked weights
            and inputs; see :func:`compiled_objective`).
        stacked: whether ``loss`` already returns (K,) losses; otherwise the result gets a leading dim of 1.
        options: inductor options (default: ``motornet_fn.core.compiled.DEFAULT_OPTIONS``).
        warm: called once before the first trace, e.g. ``lambda: core.compiled.warm(spec, params,
            state, 1)`` (an eager step fills the static-tensor caches the trace reads).

    ``compile_seconds`` holds the duration of the first call (tracing + code generation + the call).
    """

    def __init__(self, loss: Callable, stacked: bool = False, options: dict | None = None,
                 warm: Callable[[], Any] | None = None):
        self.loss = loss
        self.warm = warm
        fn = loss if stacked else (lambda w, b, init, noise: loss(w, b, init, noise).unsqueeze(0))
        core_compiled.register_view_copy_decompositions()
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        opts = dict(core_compiled.DEFAULT_OPTIONS if options is None else options)
        self.fn = torch.compile(fn, fullgraph=True, dynamic=False, options=opts)
        self.compile_seconds: float | None = None

    def __call__(self, weights, buffers, init, noise) -> torch.Tensor:
        if self.compile_seconds is not None:
            return self.fn(weights, buffers, init, noise)
        start = time.perf_counter()
        if self.warm is not None:  # fill static-tensor caches eagerly, so the trace sees constants
            self.warm()
        out = self.fn(weights, buffers, init, noise)
        self.compile_seconds = time.perf_counter() - start
        return out


def compiled_objective(trainer, options: dict | None = None) -> CompiledObjective:
    """The :class:`CompiledObjective` of a :class:`~motornet_fn.nn.train.Trainer`: its members' losses
    (``trainer.objective`` of a :func:`scan_episode`).

    An ensemble runs as one episode whose batch dims are (members, trials): the effector, feedback and
    loss take any leading batch dims, and only the policy step is vmapped over the stacked weights
    (vmap around the whole scan trips over carry layouts in torch 2.13)."""
    from torch.func import functional_call

    base = trainer.base if trainer.ensemble else trainer.models[0]
    hidden_dim = getattr(trainer.models[0], "hidden_dim", 0)

    def member_loss(weights, buffers, init, noise):
        policy = lambda obs, h: functional_call(base, (weights, buffers), (obs, h))  # noqa: E731
        h0 = init.goal.new_zeros(init.goal.shape[0], hidden_dim)
        return trainer.objective(scan_episode(trainer.task, trainer.params, policy, h0, init, noise,
                                              fields=trainer.trace_fields()))

    def warm():
        init, _ = trainer.sample(torch.Generator().manual_seed(0), 1)
        core_compiled.warm(trainer.spec, trainer.params, eff.initial_state(trainer.spec, trainer.params, init.joint), 1)

    if not trainer.ensemble:
        return CompiledObjective(member_loss, False, options, warm)

    def ensemble_loss(weights, buffers, init, noise):
        member_policy = lambda w, b, obs, h: functional_call(base, (w, b), (obs, h))  # noqa: E731
        policy = lambda obs, h: torch.func.vmap(member_policy)(weights, buffers, obs, h)  # noqa: E731
        h0 = init.goal.new_zeros(*init.goal.shape[:-1], hidden_dim)
        trace = scan_episode(trainer.task, trainer.params, policy, h0, init, noise, time_axis=1,
                             fields=trainer.trace_fields())
        member_dims = Trace(*(None if field is None else 0 for field in trace))  # unrecorded fields are None
        return torch.func.vmap(trainer.objective, in_dims=(member_dims,))(trace)

    return CompiledObjective(ensemble_loss, True, options, warm)


__all__ = ["scan_episode", "CompiledObjective", "compiled_objective"]
