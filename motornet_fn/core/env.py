"""The pure environment: a task, an effector and delayed, noisy sensory feedback, in the shape of
brax / gymnax environments.

* :class:`EnvSpec` (static, hashable): the effector spec, the task, delays in steps, action frame
  stacking, episode length and which force fields are on.
* :class:`EnvParams` (tensors): effector parameters and noise scales.
* :class:`EnvState` (tensors): effector state, delay lines, task state, per-trial force fields, time.
* :func:`reset` ``(spec, params, draws, options) -> (state, obs)`` and
  :func:`step` ``(spec, params, state, action, draws, loads) -> (state, obs, info)``.

Randomness enters as explicit tensors (``draws``): :func:`reset_draws` and :func:`step_draws` list the
blocks a call needs in drawing order; the object layer samples them from numpy in MotorNet's order
(zero-std channels included, as MotorNet draws them), the trainer from a seeded torch generator
(:func:`sample_draws`). Noise draws are standard normals, scaled here by :class:`NoiseParams`.

Observation (last dim): [goal shown (space_dim), delayed vision = fingertip (space_dim), delayed
proprioception = [muscle length / l0_ce, muscle velocity / vmax] (2 n_muscles), the last
``action_frames`` noisy actions (oldest first), go cue (1, tasks with a cue)] + observation noise.
A step: noisy action = action + noise; loads = task load + force fields (evaluated at the state entering
the step) + external loads; effector step; new feedback pushed into the delay lines; observation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import torch

from motornet_fn.core import checks, sensory
from motornet_fn.core import effector as eff
from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.interventions import channel_force, curl_force
from motornet_fn.core.sensory import SensoryBuffer
from motornet_fn.core.tasks import Draw, GoalView, Task, TaskState, goal_at, uniform_joint_positions
from motornet_fn.core.types import CartesianState, EffectorState, JointState, Loads


@dataclass(frozen=True)
class EnvSpec:
    """Static structure of an environment.

    Attributes:
        effector: the effector spec.
        task: the task (a registered :class:`~motornet_fn.core.tasks.Task`).
        n_steps: steps per episode (episode duration / dt).
        proprio_delay, vision_delay: feedback delays in steps (>= 1; 1 means no lag, as MotorNet).
        action_frames: number of past actions appended to the observation.
        curl: a curl force field acts (per-trial gains in the state; 0 switches a trial's off).
        channel: a force channel acts (per-trial stiffness and damping in the state).
    """

    effector: EffectorSpec
    task: Task
    n_steps: int = 100
    proprio_delay: int = 1
    vision_delay: int = 1
    action_frames: int = 0
    curl: bool = False
    channel: bool = False

    def __post_init__(self):
        if not isinstance(self.task, Task):
            raise TypeError(f"task must be a Task (see motornet_fn.core.tasks.get_task), got {self.task!r}")
        for name in ("n_steps", "proprio_delay", "vision_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(self.action_frames, bool) or not isinstance(self.action_frames, int) or self.action_frames < 0:
            raise ValueError(f"action_frames must be an int >= 0, got {self.action_frames!r}")
        self.task.check(self.n_steps, self.effector.dt)

    @property
    def obs_dim(self) -> int:
        e = self.effector
        return 2 * e.space_dim + 2 * e.n_muscles + e.n_muscles * self.action_frames + int(self.task.go_cue)


class NoiseParams(NamedTuple):
    """Standard deviations of the Gaussian noise of every channel.

    Attributes:
        action: (n_muscles,) added to the action.
        proprio: (2 n_muscles,) added to proprioception before it enters its delay line.
        vision: (space_dim,) added to vision (the fingertip, m) before it enters its delay line.
        obs: (obs_dim,) added to the observation.
    """

    action: torch.Tensor
    proprio: torch.Tensor
    vision: torch.Tensor
    obs: torch.Tensor


class EnvParams(NamedTuple):
    """Attributes: effector: effector parameters; noise: :class:`NoiseParams`."""

    effector: EffectorParams
    noise: NoiseParams


class Fields(NamedTuple):
    """Per-trial force fields (see :mod:`motornet_fn.core.interventions`).

    Attributes:
        curl_gain: () curl-field gain k (N s/m), clockwise for k > 0.
        channel_stiffness: () force-channel stiffness (N/m).
        channel_damping: () force-channel damping (N s/m).
        channel_origin: (space_dim,) a point of the channel line: the trial's start (m).
        channel_direction: (space_dim,) unit direction of the channel: start to target.
    """

    curl_gain: torch.Tensor
    channel_stiffness: torch.Tensor
    channel_damping: torch.Tensor
    channel_origin: torch.Tensor
    channel_direction: torch.Tensor


class EnvState(NamedTuple):
    """Attributes: effector: effector state; buffer: delay lines; task: per-trial task state;
    fields: per-trial force fields; t: () steps since the reset (a float, so states pack)."""

    effector: EffectorState
    buffer: SensoryBuffer
    task: TaskState
    fields: Fields
    t: torch.Tensor


class StepDraws(NamedTuple):
    """Standard-normal noise of one step (None: that channel is noiseless). Attributes: action
    (n_muscles,), proprio (2 n_muscles,), vision (space_dim,), obs (obs_dim,)."""

    action: torch.Tensor | None = None
    proprio: torch.Tensor | None = None
    vision: torch.Tensor | None = None
    obs: torch.Tensor | None = None


class FeedbackPerturbation(NamedTuple):
    """Per-trial changes to the sensory frames before they enter their delay lines (so they are seen
    with the feedback delay): frame -> gain * frame + shift. Blanking is gain 0.

    Attributes:
        vision_gain: (space_dim,) or (1,) gain on vision. vision_shift: (space_dim,) added (m).
        proprio_gain: (2 n_muscles,) or (1,) gain on proprioception. proprio_shift: (2 n_muscles,) added.
    """

    vision_gain: torch.Tensor
    vision_shift: torch.Tensor
    proprio_gain: torch.Tensor
    proprio_shift: torch.Tensor


class StepInfo(NamedTuple):
    """What a step reports. Attributes: noisy_action (n_muscles,) the action the effector received;
    fingertip: endpoint position and velocity after the step; goal: the :class:`GoalView` of the new step."""

    noisy_action: torch.Tensor
    fingertip: CartesianState
    goal: GoalView


#: the noise channels, in MotorNet's drawing order within a step
NOISE_CHANNELS = ("action", "proprio", "vision", "obs")


# ------------------------------------------------------------------------------------ parameters
def make_params(spec: EnvSpec, effector_params: EffectorParams, action_noise: Any = 0.0, proprio_noise: Any = 0.0,
                vision_noise: Any = 0.0, obs_noise: Any = 0.0, clean_goal: bool = True) -> EnvParams:
    """EnvParams with noise std's given as scalars or one value per channel entry.

    Args:
        clean_goal: the goal entries of the observation get no observation noise (MotorNet's
            RandomTargetReach).

    Raises:
        ValueError: a std is negative, not finite, or has the wrong number of values.
    """
    like = effector_params.damping
    e = spec.effector
    sizes = {"action": e.n_muscles, "proprio": 2 * e.n_muscles, "vision": e.space_dim, "obs": spec.obs_dim}
    given = {"action": action_noise, "proprio": proprio_noise, "vision": vision_noise, "obs": obs_noise}
    stds = {}
    for name, n in sizes.items():
        try:
            value = torch.as_tensor(given[name], dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name}_noise must be a number or {n} numbers, got {given[name]!r}") from err
        if value.numel() not in (1, n):
            raise ValueError(f"{name}_noise must be a scalar or have {n} values (one per entry), got {value.numel()}")
        check_noise_std(f"{name}_noise", value)
        stds[name] = value.expand(n).to(dtype=like.dtype, device=like.device).clone()
    if clean_goal:
        stds["obs"][: e.space_dim] = 0.0
    return EnvParams(effector_params, NoiseParams(**stds))


def check_noise_std(name: str, value: torch.Tensor) -> None:
    """Raise ValueError unless the noise std ``value`` is finite and >= 0 everywhere."""
    if not (torch.isfinite(value).all() and (value >= 0).all()):
        raise ValueError(f"{name} must be finite and >= 0, got {value.reshape(-1).tolist()}")


def noisy_channels(params: EnvParams) -> tuple[str, ...]:
    """The noise channels with a non-zero std (eager: reads values)."""
    return tuple(c for c in NOISE_CHANNELS if bool((getattr(params.noise, c) != 0).any()))


# ------------------------------------------------------------------------------------ draws
def reset_draws(spec: EnvSpec, batch_size: int, options: Mapping[str, Any] | None = None,
                noise: tuple[str, ...] = ("proprio", "vision", "obs")) -> tuple[Draw, ...]:
    """The random blocks :func:`reset` needs, in MotorNet's drawing order: the start posture (when
    neither given nor fixed by the task), the task's draws, then the noise of the delay lines at
    rest (``proprio_fill``, ``vision_fill``), of the first pushed frames (``proprio``, ``vision``) and of
    the observation (``obs``), for the channels in ``noise``."""
    options = options or {}
    e = spec.effector
    out = []
    if options.get("joint") is None and spec.task.random_start:
        out.append(Draw("start", "uniform", (batch_size, e.dof)))
    out.extend(spec.task.draws(e, batch_size, options))
    return tuple(out) + start_draws(spec, batch_size, noise)


def start_draws(spec: EnvSpec, batch_size: int, noise: tuple[str, ...] = ("proprio", "vision", "obs")) -> tuple[Draw, ...]:
    """The noise blocks of :func:`start` in MotorNet's order: the delay lines at rest (``proprio_fill``,
    ``vision_fill``), the first pushed frames (``proprio``, ``vision``), the observation (``obs``)."""
    e = spec.effector
    widths = {"proprio": 2 * e.n_muscles, "vision": e.space_dim}
    out = [Draw(f"{c}_fill", "normal", (batch_size, widths[c])) for c in ("proprio", "vision") if c in noise]
    out += [Draw(c, "normal", (batch_size, widths[c])) for c in ("proprio", "vision") if c in noise]
    if "obs" in noise:
        out.append(Draw("obs", "normal", (batch_size, spec.obs_dim)))
    return tuple(out)


def step_draws(spec: EnvSpec, batch_shape: tuple, noise: tuple[str, ...] = NOISE_CHANNELS) -> tuple[Draw, ...]:
    """The standard-normal blocks of one :func:`step`, in MotorNet's order (action, proprio, vision, obs)."""
    e = spec.effector
    widths = {"action": e.n_muscles, "proprio": 2 * e.n_muscles, "vision": e.space_dim, "obs": spec.obs_dim}
    return tuple(Draw(c, "normal", (*batch_shape, widths[c])) for c in NOISE_CHANNELS if c in noise)


def sample_draws(draws: tuple[Draw, ...], generator: torch.Generator | None, dtype=torch.float32, device=None,
                 leading: tuple = ()) -> dict[str, torch.Tensor]:
    """Sample draw blocks from a torch generator, in order (each with extra ``leading`` dims, e.g. (T,))."""
    out = {}
    for d in draws:
        shape = (*leading, *d.shape)
        if d.kind == "uniform":
            x = torch.rand(shape, generator=generator, dtype=dtype)
        elif d.kind == "normal":
            x = torch.randn(shape, generator=generator, dtype=dtype)
        elif d.kind == "integers":
            x = torch.randint(d.low, d.high, shape, generator=generator).to(dtype)
        else:
            raise ValueError(f"unknown draw kind {d.kind!r} of {d.name!r}")
        out[d.name] = x.to(device)
    return out


# ------------------------------------------------------------------------------------ pieces
def feedback(spec: EnvSpec, params: EnvParams, state: EffectorState) -> tuple[torch.Tensor, CartesianState]:
    """Undelayed, noiseless proprioception (..., 2 n_muscles) and the fingertip state."""
    e = spec.effector
    prop = sensory.proprioception(e.muscle, params.effector.muscle, state.muscle)
    return prop, eff.cartesian(e, params.effector, state.joint)


def _noisy(x: torch.Tensor, std: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
    return x if z is None else x + std * z


def observe(spec: EnvSpec, params: EnvParams, buffer: SensoryBuffer, goal: GoalView,
            obs_draw: torch.Tensor | None) -> torch.Tensor:
    """The observation (..., obs_dim) read from the delay lines."""
    obs = sensory.observation(goal.shown, buffer, goal.cue if spec.task.go_cue else None)
    return _noisy(obs, params.noise.obs, obs_draw)


def make_fields(spec: EnvSpec, task: TaskState, options: Mapping[str, Any]) -> Fields:
    """Per-trial force fields from the reset options (scalars or (B,) values; default 0 = off)."""
    like = task.target_step

    def gain(name):
        value = torch.as_tensor(options.get(name, 0.0), dtype=like.dtype, device=like.device)
        if value.numel() not in (1, like.numel()):
            raise ValueError(f"options[{name!r}] must be a scalar or have batch_size={like.numel()} values, "
                             f"got {value.numel()}")
        return value.reshape(-1).expand(like.numel()).reshape(like.shape).clone()

    direction = task.target - task.start
    norm = torch.linalg.vector_norm(direction, dim=-1, keepdim=True)
    default = torch.zeros_like(direction)
    default[..., -1] = 1.0
    direction = torch.where(norm > 0, direction / torch.where(norm > 0, norm, 1.0), default)
    return Fields(gain("curl_gain"), gain("channel_stiffness"), gain("channel_damping"), task.start.clone(), direction)


def field_loads(spec: EnvSpec, fields: Fields, tip: CartesianState) -> torch.Tensor:
    """Endpoint force (..., space_dim) of the active force fields at endpoint state ``tip``."""
    force = torch.zeros_like(tip.pos)
    if spec.curl:
        force = force + curl_force(tip.vel, fields.curl_gain)
    if spec.channel:
        force = force + channel_force(tip.pos, tip.vel, fields.channel_origin, fields.channel_direction,
                                      fields.channel_stiffness, fields.channel_damping)
    return force


# ------------------------------------------------------------------------------------ reset / step
def start_joint(spec: EnvSpec, params: EnvParams, draws: Mapping[str, torch.Tensor], batch_size: int) -> JointState:
    """The start joint state of a reset without a given one: the task's fixed posture, else uniform."""
    e, sp = spec.effector, params.effector.skeleton
    if spec.task.random_start:
        pos = uniform_joint_positions(sp, draws["start"])
    else:
        pos = spec.task.fixed_start(e, params.effector).expand(batch_size, e.dof).clone()
    return JointState(pos, torch.zeros_like(pos))


def reset(spec: EnvSpec, params: EnvParams, draws: Mapping[str, torch.Tensor],
          options: Mapping[str, Any]) -> tuple[EnvState, torch.Tensor]:
    """Start a batch of trials.

    Args:
        draws: the blocks of :func:`reset_draws` (noise blocks may be absent: no noise).
        options: ``batch_size`` (int, required), ``joint`` (a JointState (B, dof) start state; default:
            the task's), the task's reset options, and per-trial force-field gains ``curl_gain``,
            ``channel_stiffness``, ``channel_damping`` (scalars or (B,)).

    Returns:
        (state, obs (B, obs_dim)).
    """
    e, ep = spec.effector, params.effector
    joint = options.get("joint")
    if joint is None:
        joint = start_joint(spec, params, draws, int(options["batch_size"]))
    effector = eff.initial_state(e, ep, joint)
    task = spec.task.init(e, ep, joint, draws, options)
    return start(spec, params, effector, task, make_fields(spec, task, options), draws)


def start(spec: EnvSpec, params: EnvParams, effector: EffectorState, task: TaskState, fields: Fields,
          draws: Mapping[str, torch.Tensor]) -> tuple[EnvState, torch.Tensor]:
    """The state and first observation of trials whose effector and task states are set: delay lines
    filled with the current frames (MotorNet's reset), then the first frames pushed and observed.

    Args:
        draws: the noise blocks ``proprio_fill``, ``vision_fill``, ``proprio``, ``vision``, ``obs`` (each
            optional) of :func:`reset_draws`.
    """
    e, noise = spec.effector, params.noise
    prop, tip = feedback(spec, params, effector)
    zero_action = tip.pos.new_zeros(*tip.pos.shape[:-1], e.n_muscles)
    buffer = sensory.init_buffer(_noisy(prop, noise.proprio, draws.get("proprio_fill")),
                                 _noisy(tip.pos, noise.vision, draws.get("vision_fill")), zero_action,
                                 spec.proprio_delay, spec.vision_delay, spec.action_frames)
    buffer = sensory.update_buffer(buffer, _noisy(prop, noise.proprio, draws.get("proprio")),
                                   _noisy(tip.pos, noise.vision, draws.get("vision")))
    t = tip.pos.new_zeros(tip.pos.shape[:-1])
    obs = observe(spec, params, buffer, goal_at(task, t), draws.get("obs"))
    return EnvState(effector, buffer, task, fields, t), obs


def step(spec: EnvSpec, params: EnvParams, state: EnvState, action: torch.Tensor, draws: StepDraws | None = None,
         loads: Loads | None = None,
         feedback_change: FeedbackPerturbation | None = None) -> tuple[EnvState, torch.Tensor, StepInfo]:
    """Advance every trial by one timestep.

    Args:
        action: (..., n_muscles) excitation (clipped to [min_activation, 1] by the effector).
        draws: this step's standard-normal noise (None: noiseless).
        loads: external endpoint (..., space_dim) and joint (..., dof) loads added for this step.
        feedback_change: a change to this step's sensory frames (feedback perturbations).

    Returns:
        (state, obs (..., obs_dim), info).

    Raises:
        TypeError, ValueError: ``action`` does not fit the state (shape, dtype); with the finite checks on
            (:func:`~motornet_fn.core.checks.check_finite`), the action or the state is not finite.
    """
    checks.check_step(spec.effector, params.effector, state, action)
    return advance(spec, params, state, action, draws, loads, feedback_change)


def advance(spec: EnvSpec, params: EnvParams, state: EnvState, action: torch.Tensor, draws: StepDraws | None = None,
            loads: Loads | None = None,
            feedback_change: FeedbackPerturbation | None = None) -> tuple[EnvState, torch.Tensor, StepInfo]:
    """:func:`step` without its input checks (for loops whose entry point checked them)."""
    draws = StepDraws() if draws is None else draws
    e, ep, noise = spec.effector, params.effector, params.noise
    noisy_action = _noisy(action, noise.action, draws.action)
    endpoint = state.task.load if spec.task.has_load else None
    if spec.curl or spec.channel:
        force = field_loads(spec, state.fields, eff.cartesian(e, ep, state.effector.joint))
        endpoint = force if endpoint is None else endpoint + force
    if loads is not None:
        endpoint = loads.endpoint if endpoint is None else endpoint + loads.endpoint
    step_loads = None
    if endpoint is not None or loads is not None:
        zero = eff.default_loads(e, action)
        step_loads = Loads(zero.endpoint if endpoint is None else endpoint, zero.joint if loads is None else loads.joint)
    effector = eff.advance(e, ep, state.effector, noisy_action, step_loads)
    prop, tip = feedback(spec, params, effector)
    prop, vision = _noisy(prop, noise.proprio, draws.proprio), _noisy(tip.pos, noise.vision, draws.vision)
    if feedback_change is not None:
        prop = feedback_change.proprio_gain * prop + feedback_change.proprio_shift
        vision = feedback_change.vision_gain * vision + feedback_change.vision_shift
    buffer = sensory.update_buffer(state.buffer, prop, vision, noisy_action)
    t = state.t + 1
    goal = goal_at(state.task, t)
    obs = observe(spec, params, buffer, goal, draws.obs)
    return EnvState(effector, buffer, state.task, state.fields, t), obs, StepInfo(noisy_action, tip, goal)


def done(spec: EnvSpec, state: EnvState) -> torch.Tensor:
    """(...,) bool: the episode has reached ``spec.n_steps``."""
    return state.t >= spec.n_steps


def episode_seconds(spec: EnvSpec) -> float:
    """Episode duration (s)."""
    return spec.n_steps * spec.effector.dt


def steps_of(duration: float, dt: float) -> int:
    """Steps of an episode of ``duration`` s (at least one step is required).

    Raises:
        ValueError: the duration is shorter than one step.
    """
    n = int(round(duration / dt))
    if not math.isfinite(duration) or n < 1:
        raise ValueError(f"episode duration must be at least one timestep ({dt:g} s), got {duration!r} s")
    return n


__all__ = ["EnvSpec", "EnvParams", "EnvState", "NoiseParams", "Fields", "StepDraws", "StepInfo", "FeedbackPerturbation", "NOISE_CHANNELS",
           "make_params", "check_noise_std", "noisy_channels", "reset_draws", "start_draws", "step_draws", "sample_draws",
           "feedback", "observe", "make_fields", "field_loads", "start_joint", "reset", "start", "step", "advance", "done",
           "episode_seconds", "steps_of"]
