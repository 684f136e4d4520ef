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
from motornet_fn.nn.episode import EpisodeInit, EpisodeNoise, TaskConfig, Trace

_scan = core_compiled._scan


def _fresh(tree: Any) -> Any:
    """Clone every leaf: scan forbids outputs that alias its inputs or each other."""
    return _pytree.tree_map(torch.clone, tree)


def scan_episode(task: TaskConfig, params: EffectorParams,
                 policy: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                 hidden: torch.Tensor, init: EpisodeInit, noise: EpisodeNoise | None = None,
                 loads: Loads | None = None, time_axis: int = 0) -> Trace:
    """:func:`~motornet_fn.nn.episode.run_episode` as a ``scan`` over time (meant to run under
    ``torch.compile``; eagerly it is correct but slow). Arguments and result as ``run_episode``.

    Any leading batch dims work (e.g. (members, batch) for an ensemble, with a policy that maps
    (K, B, obs) to (K, B, M)). ``time_axis`` is where the time dim of the per-step inputs (noise,
    schedule, intervention forces) sits: 0 as ``run_episode`` has them, 1 for member-stacked inputs.
    """
    if _scan is None:  # pragma: no cover - depends on the torch version
        raise RuntimeError("scan_episode needs torch._higher_order_ops.scan (torch >= 2.5)")
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
    layout = FlatLayout.of(state, len(batch_shape))
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
    has_actions = task.action_frames > 0  # a 0-frame action line would be an empty carry

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

    def body(carry, x):
        flat, h, proprio_line, vision_line, action_line, obs = carry
        state = layout.unpack(flat, batch_shape)
        line = sensory.SensoryBuffer(proprio_line, vision_line, action_line if has_actions else buffer.action)
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
        new_carry = (layout.pack(state, batch_shape), h, line.proprioception, line.vision,
                     line.action if has_actions else flat.new_zeros(()), new_obs)
        out = (tip, state.joint.pos, state.muscle.activation, action, h, obs)
        return _fresh(new_carry), _fresh(out)

    carry0 = (layout.pack(state, batch_shape), hidden, buffer.proprioception, buffer.vision,
              buffer.action if has_actions else hidden.new_zeros(()), obs)
    _, (tips, joint_pos, activation, actions, hiddens, observations) = _scan(body, _fresh(carry0), xs)

    def with_start(first, seq):  # (B, ...) and (T, B, ...) -> batch first, time on -2
        return torch.cat([first.unsqueeze(0), seq], dim=0).movedim(0, -2)

    if schedule is None:
        goal = init.goal.unsqueeze(-2).expand(*init.goal.shape[:-1], task.n_steps + 1, init.goal.shape[-1])
    else:
        goal = schedule.desired.movedim(0, -2)
    return Trace(with_start(tip, tips), goal, with_start(state.joint.pos, joint_pos),
                 with_start(state.muscle.activation, activation), actions.movedim(0, -2), hiddens.movedim(0, -2),
                 observations.movedim(0, -2))


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
        return trainer.objective(scan_episode(trainer.task, trainer.params, policy, h0, init, noise))

    def warm():
        init, _ = trainer.sample(torch.Generator().manual_seed(0), 1)
        core_compiled.warm(trainer.spec, trainer.params, eff.initial_state(trainer.spec, trainer.params, init.joint), 1)

    if not trainer.ensemble:
        return CompiledObjective(member_loss, False, options, warm)

    def ensemble_loss(weights, buffers, init, noise):
        member_policy = lambda w, b, obs, h: functional_call(base, (w, b), (obs, h))  # noqa: E731
        policy = lambda obs, h: torch.func.vmap(member_policy)(weights, buffers, obs, h)  # noqa: E731
        h0 = init.goal.new_zeros(*init.goal.shape[:-1], hidden_dim)
        trace = scan_episode(trainer.task, trainer.params, policy, h0, init, noise, time_axis=1)
        return torch.func.vmap(trainer.objective)(trace)

    return CompiledObjective(ensemble_loss, True, options, warm)


__all__ = ["scan_episode", "CompiledObjective", "compiled_objective"]
