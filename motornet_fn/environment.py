"""MotorNet's environment classes (``Environment``, ``RandomTargetReach``): gymnasium environments
around an effector, running the pure environment of :mod:`motornet_fn.core.env`.

Each class is one registered task (:mod:`motornet_fn.core.tasks`) plus MotorNet's API: the ``states``
dict, ``goal``, ``obs_buffer``, ``elapsed``, the numpy RNG and every subclassing hook. The observation
is the core's: [goal, delayed vision = fingertip, delayed proprioception = [muscle length / l0_ce, muscle
velocity / vmax], the last ``action_frame_stacking`` actions (oldest first), go cue (tasks with one)].

All randomness comes from the effector's numpy Generator (``np_random``), drawn in MotorNet's order (zero-std
draws included), and enters the core as explicit tensors, so seeded runs reproduce MotorNet's numbers.

Two ways through a step, with the same numbers:

* the stock classes (none of ``step``, ``get_obs``, ``get_proprioception``, ``get_vision``,
  ``update_obs_buffer``, ``apply_noise`` overridden, on a core-backed effector) call :func:`core.env.step`
  once per step, compiled with ``compile=True`` or ``MOTORNET_FN_COMPILE=1``;
* a subclass that overrides one of those hooks runs MotorNet's protocol: ``effector.step``, then
  ``get_obs`` -> ``update_obs_buffer`` -> ``get_proprioception`` / ``get_vision`` -> ``apply_noise``,
  each stock hook computing with the core's functions, so user hooks run exactly where MotorNet calls them.

Delay lines are held once, as the core's :class:`~motornet_fn.core.sensory.SensoryBuffer`; ``obs_buffer``
is MotorNet's dict-of-lists view of it (reading gives the frames, assigning a list of frames writes them).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from motornet_fn._module import CACHE_PREFIX, RecordedModule
from motornet_fn.core import env as core_env
from motornet_fn.core import sensory
from motornet_fn.core.tasks import GoalView, TaskState, get_task, goal_at
from motornet_fn.core.types import JointState, Loads, joint_from_tensor
from motornet_fn.core.checks import finite_checks, raise_non_finite
from motornet_fn.effector import (
    Effector, build_from_recipe_entry, check_action_shape, check_batch_size, recipe_entry,
)

#: hooks whose override makes a step or reset follow MotorNet's call protocol instead of one core call
ENV_HOOKS = ("step", "get_obs", "get_proprioception", "get_vision", "update_obs_buffer", "apply_noise")
_LINES = {"proprioception": "proprioception", "vision": "vision", "action": "action"}


def compile_default(value: bool | None) -> bool:
    """``compile=None`` means the environment variable ``MOTORNET_FN_COMPILE`` (1/true/yes: on).

    Raises:
        ValueError: ``value`` is neither None nor a bool.
    """
    if value is None:
        return os.environ.get("MOTORNET_FN_COMPILE", "").strip().lower() in ("1", "true", "yes", "on")
    if not isinstance(value, bool):
        raise ValueError(f"compile must be True, False or None (read MOTORNET_FN_COMPILE), got {value!r}")
    return value


class ObsBuffer(dict):
    """MotorNet's ``obs_buffer``: {"proprioception", "vision", "action"} -> list of (batch, dim) frames,
    oldest first, read from and written to the environment's core delay lines."""

    def __init__(self, env: "Environment"):
        super().__init__()
        self._env = env

    def __getitem__(self, key: str) -> list:
        env = self._env
        buffer = env.__dict__.get("_buffer")
        if key not in _LINES:
            raise KeyError(key)
        if buffer is None:
            return [None] * env._n_frames(key)
        return list(getattr(buffer, _LINES[key]).unbind(-2))

    def __setitem__(self, key: str, frames: list) -> None:
        if key not in _LINES:
            raise KeyError(f"obs_buffer has the keys {list(_LINES)}, got {key!r}")
        env = self._env
        frames = list(frames)
        if any(f is None for f in frames):
            return  # MotorNet's placeholder lists before the first reset
        buffer = env.__dict__.get("_buffer")
        like = env.states["fingertip"]
        line = torch.stack(frames, dim=-2) if frames else like.new_zeros(like.shape[0], 0, env._line_width(key))
        if buffer is None:  # lines not assigned yet keep their configured length (MotorNet's [None] * delay)
            rest = {k: like.new_zeros(like.shape[0], env._n_frames(k), env._line_width(k)) for k in _LINES}
            buffer = sensory.SensoryBuffer(rest["proprioception"], rest["vision"], rest["action"])
        env.__dict__["_buffer"] = buffer._replace(**{_LINES[key]: line})

    def keys(self):
        """The three buffer names."""
        return list(_LINES)

    def values(self):
        """The three buffers, each a list of frames."""
        return [self[k] for k in _LINES]

    def items(self):
        """(name, buffer) pairs."""
        return [(k, self[k]) for k in _LINES]

    def __iter__(self):
        return iter(_LINES)

    def __len__(self):
        return len(_LINES)

    def __contains__(self, key):
        return key in _LINES

    def __repr__(self):
        return repr(dict(self.items()))


class Environment(gym.Env, RecordedModule):
    """Base class of environments (MotorNet's ``Environment``): random start postures, goal at the origin.

    Args:
        effector: the :class:`motornet_fn.effector.Effector` to simulate.
        q_init: initial joint state(s), (n, 2 * dof) or (n, dof) or 1-D; None draws random states
            at each reset. Ignored when ``reset`` gets a ``joint_state`` option.
        name: name of the instance.
        differentiable: if False, observations, states and goals are returned as numpy arrays and
            ``step`` returns a (batch, 1) zero reward.
        max_ep_duration: episode duration (s); ``step`` reports ``terminated`` once reached.
        action_noise: std of the Gaussian noise added to actions: scalar or one per muscle.
        obs_noise: std of the noise added to observations: scalar or one per observation entry.
        action_frame_stacking: number of past actions appended to the observation.
        proprioception_delay: delay (s), a multiple of dt; None means dt (no lag).
        vision_delay: delay (s), a multiple of dt; None means dt (no lag).
        proprioception_noise: std of the noise on proprioception: scalar or one per entry.
        vision_noise: std of the noise on vision: scalar or one per entry.
        compile: run the step compiled (same numbers to float rounding, a one-off compilation of a few
            seconds); None reads ``MOTORNET_FN_COMPILE``. Beyond MotorNet.
        **kwargs: passed to ``torch.nn.Module``.

    Raises:
        ValueError: a delay is negative or not an integer multiple of dt; a noise list has the
            wrong length.
    """

    #: the registered task (``motornet_fn.core.tasks``) this class runs
    task_name: ClassVar[str] = "fixed_goal"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.get_obs is not Environment.get_obs and cls._get_obs_size is Environment._get_obs_size:
            warnings.warn(f"{cls.__name__} overrides get_obs() but not _get_obs_size(); if the observation size "
                          "changes, override _get_obs_size() too, or observation_space will have the wrong shape.",
                          UserWarning, stacklevel=2)

    def __init__(self, effector: Effector, q_init=None, name: str = "Env", differentiable: bool = True,
                 max_ep_duration: float = 1.0, action_noise: float = 0.0, obs_noise: float | list = 0.0,
                 action_frame_stacking: int = 0, proprioception_delay: float = None, vision_delay: float = None,
                 proprioception_noise: float = 0.0, vision_noise: float = 0.0, *, compile: bool | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self._device = torch.device("cpu")
        self._compile = compile_default(compile)
        self.__name__ = name
        self.effector = effector.to(self.device)
        self.differentiable = differentiable
        self.max_ep_duration = max_ep_duration
        self.elapsed = None
        self.delay_range = [0, 0]
        if q_init is not None:
            q_init = np.array(_numpy(q_init))
            if len(q_init.shape) == 1:
                q_init = q_init.reshape(1, -1)
            self.nq_init = q_init.shape[0]
        else:
            self.nq_init = None
        self.q_init = q_init
        self.goal = None
        self._action_noise = action_noise
        self._obs_noise = obs_noise
        self.action_noise = 0.0
        self.obs_noise = 0.0
        self.proprioception_noise = [_noise_value("proprioception_noise", proprioception_noise)]
        self.vision_noise = [_noise_value("vision_noise", vision_noise)]
        self.action_frame_stacking = action_frame_stacking
        self.proprioception_delay = _delay_steps("proprioception_delay", proprioception_delay, self.dt)
        self.vision_delay = _delay_steps("vision_delay", vision_delay, self.dt)
        self.__dict__["_buffer"] = None
        self.__dict__["_task_state"] = None
        self.__dict__["_fields"] = None
        self.seed = None
        self._build_spaces()

    # ================================================================== the task and the core view
    @property
    def dt(self) -> float:
        """Timestep (s): the effector's (held there once)."""
        return self.effector.dt

    @property
    def obs_buffer(self) -> ObsBuffer:
        """MotorNet's delay buffers: {"proprioception", "vision", "action"} -> list of (batch, dim) frames,
        oldest first (a view of the core delay lines: assigning a key's list writes them)."""
        return ObsBuffer(self)

    @obs_buffer.setter
    def obs_buffer(self, value: dict) -> None:
        view = ObsBuffer(self)
        for key, frames in dict(value).items():
            view[key] = frames

    def task_options(self) -> dict:
        """The options of this class's task (its constructor's task arguments)."""
        return {}

    @property
    def task(self):
        """The core task this environment runs (:mod:`motornet_fn.core.tasks`)."""
        options = self.task_options()
        key = (self.task_name, tuple(sorted((k, _hashable(v)) for k, v in options.items())))
        cached = self.__dict__.get(CACHE_PREFIX + "task")
        if cached is None or cached[0] != key:
            cached = self.__dict__[CACHE_PREFIX + "task"] = (key, get_task(self.task_name, **options))
        return cached[1]

    def env_spec(self, curl: bool = False, channel: bool = False) -> core_env.EnvSpec:
        """The core :class:`~motornet_fn.core.env.EnvSpec` of this environment (None-free effector needed)."""
        return self.memo(f"env_spec_{curl}_{channel}", lambda: self._build_env_spec(curl, channel), self.effector,
                         self.effector.muscle, self.effector.skeleton)

    def _build_env_spec(self, curl: bool, channel: bool) -> core_env.EnvSpec:
        spec = self.effector.spec
        if spec is None:
            raise TypeError(f"{type(self.effector).__name__} overrides MotorNet hooks: it has no core spec")
        n_steps = max(1, int(round(self.max_ep_duration / self.dt)))
        # MotorNet's 0-step delay line starts empty and holds one frame once pushed: a 1-step line
        return core_env.EnvSpec(spec, self.task, n_steps, max(1, self.proprioception_delay), max(1, self.vision_delay),
                                self.action_frame_stacking, curl, channel)

    def env_params(self) -> core_env.EnvParams:
        """The core :class:`~motornet_fn.core.env.EnvParams`: the effector's parameters and this
        environment's noise std's (rebuilt when they change)."""
        d = self.__dict__
        key = (_flat(d["action_noise"]), _flat(d["proprioception_noise"]), _flat(d["vision_noise"]),
               _flat(d["obs_noise"]))
        cached = d.get(CACHE_PREFIX + "env_params")
        params = self.effector.params()
        if cached is None or cached[0] != key or cached[1].effector is not params:
            built = core_env.make_params(self.env_spec(), params, *key, clean_goal=False)
            cached = d[CACHE_PREFIX + "env_params"] = (key, built)
        return cached[1]

    def _stock(self) -> bool:
        """Whether this environment and its effector use the stock hooks (so one core call is one step)."""
        cls = type(self)
        if cls not in _STOCK_CLASSES:
            stock = next(c for c in cls.__mro__ if c.__module__ in (__name__, "motornet_fn.reaching"))
            _STOCK_CLASSES[cls] = all(getattr(cls, h) is getattr(stock, h) for h in ENV_HOOKS)
        d = self.__dict__
        return _STOCK_CLASSES[cls] and not any(h in d for h in ENV_HOOKS) and self.effector.spec is not None

    def _n_frames(self, key: str) -> int:
        return {"proprioception": self.proprioception_delay, "vision": self.vision_delay,
                "action": self.action_frame_stacking}[key]

    def _line_width(self, key: str) -> int:
        return {"proprioception": 2 * self.effector.n_muscles, "vision": self.skeleton.space_dim,
                "action": self.effector.n_muscles}[key]

    def detach(self, x: Any) -> Any:
        """Tensors to CPU numpy arrays; anything else unchanged."""
        return x.cpu().detach().numpy() if torch.is_tensor(x) else x

    def _get_obs_size(self) -> int:
        """Number of observation entries (override together with :meth:`get_obs`)."""
        goal = self.skeleton.space_dim
        vision = self.skeleton.space_dim
        proprioception = 2 * self.effector.n_muscles
        action = self.effector.n_muscles * self.action_frame_stacking
        return goal + vision + proprioception + action + int(self.task.go_cue)

    def _build_spaces(self) -> None:
        self.action_space = gym.spaces.Box(low=0.0, high=1.0, shape=(self.effector.n_muscles,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(low=-np.inf, high=np.inf, shape=(self._get_obs_size(),),
                                                dtype=np.float32)
        self.action_noise = _per_channel("action_noise", self._action_noise, self.action_space.shape[0])
        self.obs_noise = _per_channel("obs_noise", self._obs_noise, self.observation_space.shape[0])

    # ================================================================== usually overridden by tasks
    def get_proprioception(self) -> torch.Tensor:
        """(batch, 2 * n_muscles) undelayed proprioception, [muscle length / l0_ce, muscle velocity /
        vmax], plus noise of std ``proprioception_noise``."""
        muscle = self.states["muscle"]  # rows 1 and 2: fibre length and velocity
        prop = sensory.scaled_proprioception(muscle[:, 1, :], muscle[:, 2, :], self.muscle.l0_ce.reshape(1, -1),
                                             self.muscle.vmax.reshape(1, -1))
        return self.apply_noise(prop, self.proprioception_noise)

    def get_vision(self) -> torch.Tensor:
        """(batch, space_dim) undelayed vision (the fingertip position) plus noise of std
        ``vision_noise``."""
        return self.apply_noise(self.states["fingertip"], self.vision_noise)

    def get_obs(self, action: torch.Tensor | None = None, deterministic: bool = False) -> torch.Tensor | np.ndarray:
        """Push the current sensory frames (and ``action``) into the delay buffers and assemble the
        (batch, obs_dim) observation; observation noise is added unless ``deterministic``.

        Args:
            action: (batch, n_muscles) action of this step, for action frame stacking.
            deterministic: skip the observation noise.
        """
        self.update_obs_buffer(action=action)
        cue = self._goal_view().cue if self.task.go_cue else None
        obs = sensory.observation(self.goal, self.__dict__["_buffer"], cue)
        if deterministic is False:
            obs = self.apply_noise(obs, noise=self.obs_noise)
        return obs if self.differentiable else self.detach(obs)

    def step(self, action: torch.Tensor | np.ndarray, deterministic: bool = False, **kwargs):
        """Advance one timestep.

        Args:
            action: (batch, n_muscles) excitation (or one unbatched (n_muscles,) action).
            deterministic: skip the action noise. As in MotorNet, the observation returned by
                ``step`` still gets observation noise (drawn from :attr:`np_random` either way).
            **kwargs: passed to the effector's ``step`` (``endpoint_load``, ``joint_load``).

        Returns:
            (obs, reward, terminated, truncated, info): obs (batch, obs_dim); reward None if
            differentiable, else a (batch, 1) numpy zero array; terminated once ``elapsed >=
            max_ep_duration``; truncated False; info with "states", "action", "noisy action", "goal" (and
            "desired", "go_cue" for tasks with a go cue, "endpoint_load" for tasks with loads).

        Raises:
            ShapeError: ``action`` does not have shape (batch, n_muscles).
            RuntimeError: :meth:`reset` was never called.
        """
        action = self._as_action(action)
        if self._stock():
            obs, noisy_action = self._core_step(action, deterministic, kwargs)
        else:
            obs, noisy_action = self._protocol_step(action, deterministic, kwargs)
        reward = None if self.differentiable else np.zeros((self.detach(action.shape[0]), 1))
        truncated = False
        terminated = bool(self.elapsed >= self.max_ep_duration) or truncated
        return obs, reward, terminated, truncated, self._info(action, noisy_action)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a batch of episodes: effector states from ``options`` (or ``q_init``, or the task's
        start), the task's goal, delay buffers filled with the current frames.

        Draws from :attr:`np_random`, in order: the start joint states (if not given), the task's draws
        (e.g. the target postures), then the sensory noise.

        Args:
            seed: reseeds :attr:`np_random` (gymnasium semantics).
            options: ``batch_size`` (default 1), ``joint_state`` (see the effector's ``reset``),
                ``deterministic`` (skip observation noise on the returned observation), and the task's
                options (e.g. per-trial ``curl_gain`` of the force-field environments).

        Returns:
            (obs, info): obs (batch, obs_dim); info with "states", "action", "noisy action", "goal".
        """
        self._set_generator(seed=seed)
        batch_size, joint_state, deterministic = self._parse_options(options)
        if joint_state is None and not self.task.random_start:
            joint_state = self._fixed_start()
        self.effector.reset(options={"batch_size": batch_size, "joint_state": joint_state})
        self.elapsed = 0.0
        self._begin_task(batch_size, dict(options or {}))
        return self._start_episode(batch_size, deterministic)

    # ================================================================== the two ways through a step
    def _as_action(self, action) -> torch.Tensor:
        if not torch.is_tensor(action):
            action = torch.tensor(np.asarray(action), dtype=torch.float32).to(self.device)
        if action.ndim == 1:  # one unbatched action, as gymnasium's action_space.sample() gives
            action = action.unsqueeze(0)
        if self.states["joint"] is None or self.elapsed is None:
            raise RuntimeError(f"{type(self).__name__}.reset() must be called before step()")
        action = check_action_shape(action, self.effector.n_muscles, self.states["joint"].shape[0])
        if finite_checks():
            raise_non_finite(action, "action")
            raise_non_finite(self.states, "states")
        return action

    def _core_step(self, action: torch.Tensor, deterministic: bool, kwargs: dict):
        """One call of the core environment step (compiled with ``compile=True``), with this step's noise
        drawn from :attr:`np_random` in one block, in MotorNet's order (action, proprioception, vision, obs)."""
        spec = self.env_spec(*self._fields_on())
        params = self.env_params()
        states = self.states
        batch = states["joint"].shape[0]
        widths = _noise_widths(spec, deterministic)
        z = torch.from_numpy(self.np_random.standard_normal(batch * sum(w for _, w in widths))).to(
            device=self.device, dtype=action.dtype)
        loads = self._extra_loads(kwargs)
        if action.shape[0] != batch:
            action = action.expand(batch, -1)
        task, fields, t, buffer = self._task_for_goal(), self._fields, self._time(), self.__dict__["_buffer"]
        if self._compile:
            *layouts, buffer, obs, noisy_action, shown = compiled_env_layout_step(spec, widths)(
                (params, task, fields), states["joint"], states["muscle"], states["geometry"], buffer, t, action, z,
                loads)
            self.effector.set_layout_states(None, *layouts)
        else:
            state = core_env.EnvState(self.effector.core_state(), buffer, task, fields, t)
            new, obs, info = core_env.step(spec, params, state, action, split_draws(z, widths, batch), loads)
            self.effector._set_core_state(new.effector)
            buffer, noisy_action, shown = new.buffer, info.noisy_action, info.goal.shown
        d = self.__dict__  # per-step attributes: no module version bump (it would rebuild the cached core view)
        d["elapsed"] = self.elapsed + self.dt
        d["_buffer"] = buffer
        d["goal"] = shown
        d["_goal_ref"] = shown
        return (obs if self.differentiable else self.detach(obs)), noisy_action

    def _protocol_step(self, action: torch.Tensor, deterministic: bool, kwargs: dict):
        """MotorNet's step protocol through the (possibly overridden) hooks."""
        self.elapsed += self.dt
        noisy_action = action
        if deterministic is False:
            noisy_action = self.apply_noise(noisy_action, noise=self.action_noise)
        core_backed = self.effector.spec is not None
        load = self._task_loads() if core_backed else None
        if load is not None:
            extra = kwargs.get("endpoint_load")
            kwargs = {**kwargs, "endpoint_load": load if extra is None else load + torch.as_tensor(extra).to(load)}
        self.effector.step(noisy_action, **kwargs)
        if core_backed and self.__dict__.get("_goal_ref") is self.goal:  # the task drives the goal, unless set
            self.goal = self._goal_view().shown
            self.__dict__["_goal_ref"] = self.goal
        else:
            self.goal = self.goal.clone()
        return self.get_obs(action=noisy_action), noisy_action

    def _core_state(self, spec: core_env.EnvSpec) -> core_env.EnvState:
        """This environment's state as a core EnvState (built from the object attributes)."""
        effector = None if self._compile else self.effector.core_state()
        return core_env.EnvState(effector, self.__dict__["_buffer"], self._task_for_goal(), self._fields,
                                 self._time())

    def _time(self) -> torch.Tensor:
        """(batch,) steps since the reset, from :attr:`elapsed` (MotorNet's clock, which subclasses set)."""
        batch = self.states["joint"].shape[0]
        steps = float(round((self.elapsed or 0.0) / self.dt))
        cached = self.__dict__.get(CACHE_PREFIX + "time")
        if cached is None or cached[0] != (steps, batch):
            cached = self.__dict__[CACHE_PREFIX + "time"] = ((steps, batch), torch.full((batch,), steps, device=self.device))
        return cached[1]

    def _task_for_goal(self) -> TaskState:
        """The task state; a goal set by a subclass's own reset becomes a fixed goal (MotorNet's semantics)."""
        task = self.__dict__["_task_state"]
        if task is None or self.__dict__.get("_goal_ref") is not self.goal:
            tip = self.states["fingertip"]
            zero = tip.new_zeros(tip.shape[0])
            goal = self.goal.to(tip).expand_as(tip)
            task = TaskState(tip.detach(), goal, zero, zero, torch.zeros_like(tip))
            self.__dict__["_task_state"] = task
            self.__dict__["_goal_ref"] = self.goal
            self.__dict__["_fields"] = core_env.make_fields(self.env_spec(), task, {})
        return task

    def _goal_view(self) -> GoalView:
        return goal_at(self._task_for_goal(), self._time())

    def _fields_on(self) -> tuple[bool, bool]:
        return self.__dict__.get("_fields_flags", (False, False))

    def _task_loads(self) -> torch.Tensor | None:
        """(batch, space_dim) endpoint force of the task's load and the force fields at the current state,
        or None when there is none."""
        spec = self.env_spec(*self._fields_on())
        task = self._task_for_goal()
        force = task.load if spec.task.has_load else None
        if spec.curl or spec.channel:
            pos, vel = self.states["cartesian"].chunk(2, dim=-1)
            field = core_env.field_loads(spec, self._fields, core_cartesian(pos, vel))
            force = field if force is None else force + field
        return force

    def _extra_loads(self, kwargs: dict) -> Loads | None:
        endpoint, joint = kwargs.get("endpoint_load"), kwargs.get("joint_load")
        if endpoint is None and joint is None:
            return None
        batch = self.states["joint"].shape[0]
        like = self.states["fingertip"]
        as_load = lambda x, n: (like.new_zeros(batch, n) if x is None else  # noqa: E731
                                torch.as_tensor(x, dtype=like.dtype, device=like.device).expand(batch, n))
        return Loads(as_load(endpoint, self.skeleton.space_dim), as_load(joint, self.skeleton.dof))

    def _info(self, action, noisy_action) -> dict:
        info = {"states": self._maybe_detach_states(), "action": action, "noisy action": noisy_action,
                "goal": self.goal if self.differentiable else self.detach(self.goal)}
        if self.task.go_cue:
            view = self._goal_view()
            info.update(desired=view.desired, go_cue=view.cue)
        if self.task.has_load:
            info["endpoint_load"] = self._task_for_goal().load
        return info

    # ================================================================== reset pieces
    def _fixed_start(self) -> torch.Tensor:
        spec, params = self.effector.spec, self.effector.params()
        if spec is None:
            raise TypeError(f"{type(self).__name__} needs a core-backed effector for the start posture of its task")
        start = self.task.fixed_start(spec, params)
        return torch.cat([start, torch.zeros_like(start)]).reshape(1, -1)

    def _begin_task(self, batch_size: int, options: dict) -> None:
        """Draw the task's random numbers from :attr:`np_random` and set the goal, task state and fields."""
        spec, params = self.effector.spec, self.effector.params()
        batch_size = self.states["joint"].shape[0]
        if spec is None:  # a hook-overriding effector: MotorNet's fixed goal at the origin
            self.goal = torch.zeros((batch_size, self.skeleton.space_dim)).to(self.device)
            self.__dict__["_task_state"] = None
            return
        options = self._task_reset_options(batch_size, options)
        draws = numpy_draws(self.task.draws(spec, batch_size, options), self.np_random, self.device)
        joint = joint_from_tensor(self.states["joint"])
        task = self.task.init(spec, params, joint, draws, options)
        self.__dict__["_task_state"] = task
        gains = {k: options[k] for k in ("curl_gain", "channel_stiffness", "channel_damping") if k in options}
        gains = {**self._field_defaults(), **gains}
        self.__dict__["_fields_flags"] = (_nonzero(gains.get("curl_gain", 0.0)),
                                          _nonzero(gains.get("channel_stiffness", 0.0)) or
                                          _nonzero(gains.get("channel_damping", 0.0)))
        self.__dict__["_fields"] = core_env.make_fields(self.env_spec(*self._fields_on()), task, gains)
        self.goal = goal_at(task, self._time()).shown
        self.__dict__["_goal_ref"] = self.goal

    def _task_reset_options(self, batch_size: int, options: dict) -> dict:
        """Reset options passed to the task (subclasses add theirs)."""
        return options

    def _field_defaults(self) -> dict:
        """Default per-trial force-field gains (the force-field environments' constructor values)."""
        return {}

    def _parse_options(self, options: dict | None) -> tuple[int, Any, bool]:
        options = {} if options is None else options
        batch_size = check_batch_size(options.get("batch_size", 1))
        joint_state = options.get("joint_state", None)
        deterministic: bool = options.get("deterministic", False)
        if joint_state is not None:
            shape = np.shape(self.detach(joint_state))
            if len(shape) > 1 and shape[0] > 1:
                batch_size = shape[0]
        else:
            joint_state = self.q_init
        return batch_size, joint_state, deterministic

    def _start_episode(self, batch_size: int, deterministic: bool):
        """Fill the delay buffers, then return the first (obs, info)."""
        batch_size = self.states["joint"].shape[0]
        action = torch.zeros((batch_size, self.action_space.shape[0])).to(self.device)
        if self._stock():
            obs = self._core_start(deterministic)
        else:
            self.__dict__["_buffer"] = None
            self.obs_buffer["proprioception"] = [self.get_proprioception()] * self.proprioception_delay
            self.obs_buffer["vision"] = [self.get_vision()] * self.vision_delay
            self.obs_buffer["action"] = [action] * self.action_frame_stacking
            obs = self.get_obs(deterministic=deterministic)
        action = action if self.differentiable else self.detach(action)
        return obs, self._info(action, action)

    def _core_start(self, deterministic: bool):
        """The core's buffer fill and first observation, with MotorNet's noise draws."""
        spec, params = self.env_spec(*self._fields_on()), self.env_params()
        noise = ("proprio", "vision") + (() if deterministic else ("obs",))
        draws = numpy_draws(core_env.start_draws(spec, self.states["joint"].shape[0], noise), self.np_random,
                            self.device)
        state, obs = core_env.start(spec, params, self.effector.core_state(), self._task_for_goal(), self._fields,
                                    draws)
        self.__dict__["_buffer"] = state.buffer
        return obs if self.differentiable else self.detach(obs)

    # ================================================================== less often overridden
    def update_obs_buffer(self, action: torch.Tensor | None = None) -> None:
        """Shift every delay buffer by one frame, appending the current proprioception and vision (and
        ``action``, reshaped to (batch, n_muscles), if given)."""
        frame = None if action is None else action.reshape(-1, self.action_space.shape[0])
        self.__dict__["_buffer"] = sensory.update_buffer(self.__dict__["_buffer"], self.get_proprioception(),
                                                         self.get_vision(), frame)

    @property
    def muscle(self) -> Any:
        """The effector's muscle."""
        return self.effector.muscle

    @property
    def n_muscles(self) -> int:
        """Number of muscles."""
        return self.effector.muscle.n_muscles

    @property
    def skeleton(self) -> Any:
        """The effector's skeleton."""
        return self.effector.skeleton

    @property
    def space_dim(self) -> int:
        """Dimension of the world space."""
        return self.effector.skeleton.space_dim

    @property
    def states(self) -> dict[str, torch.Tensor | None]:
        """The effector's states dict."""
        return self.effector.states

    def _maybe_detach_states(self):
        return self.states if self.differentiable else {key: self.detach(val) for key, val in self.states.items()}

    def joint2cartesian(self, joint_states: torch.Tensor) -> torch.Tensor:
        """The effector's :meth:`~motornet_fn.effector.Effector.joint2cartesian`."""
        return self.effector.joint2cartesian(joint_states)

    def _set_generator(self, seed: int | None) -> None:
        # as MotorNet: seeding resets the effector, which draws one (1, dof) random joint state
        if seed is not None:
            self.effector.reset(seed=seed)

    @property
    def np_random(self) -> np.random.Generator:
        """The effector's numpy Generator, the single source of randomness."""
        return self.effector.np_random

    @np_random.setter
    def np_random(self, rng: np.random.Generator) -> None:
        self.effector.np_random = rng

    def apply_noise(self, loc: torch.Tensor, noise: float | list) -> torch.Tensor:
        """``loc`` (batch, n) plus Gaussian noise drawn from :attr:`np_random`.

        Args:
            loc: (batch, n) mean.
            noise: std: a scalar, a one-element list, or one value per column (a list of n, or a
                nested [[...n]]); zero std still draws (keeping the RNG stream aligned).

        Raises:
            ValueError: ``noise`` does not broadcast to (batch, n), or is negative.
        """
        shape = (loc.shape[0], loc.shape[1])
        scale = np.asarray(noise, dtype=np.float64)
        while scale.ndim > 2 and scale.shape[0] == 1:  # e.g. [[[...]]] from a nested per-channel list
            scale = scale[0]
        try:
            np.broadcast_to(scale, shape)
        except ValueError as err:
            raise ValueError(f"noise std of shape {scale.shape} does not match the (batch, {shape[1]}) signal; "
                             f"pass a scalar or {shape[1]} values") from err
        white_noise = self.np_random.normal(size=shape, scale=scale)
        return loc + torch.tensor(white_noise, dtype=torch.float32).to(loc.device)

    def get_attributes(self) -> tuple[list[str], list]:
        """Names and values of the public non-callable attributes, without spaces, the effector,
        muscle, skeleton, RNG, states, goal, buffers and the core task."""
        blacklist = ["effector", "muscle", "skeleton", "np_random", "states", "goal", "obs_buffer", "unwrapped",
                     "task", "task_name"]
        attributes = [a for a in dir(self) if not a.startswith("_") and not callable(getattr(self, a))
                      and a not in blacklist and not isinstance(getattr(self, a), gym.spaces.Space)]
        return attributes, [getattr(self, a) for a in attributes]

    def print_attributes(self) -> None:
        """Print every public non-callable attribute."""
        for a in dir(self):
            if not a.startswith("_") and not callable(getattr(self, a)):
                print(a + ": ", getattr(self, a))

    def get_save_config(self) -> dict:
        """MotorNet's configuration dict (name, attributes from :meth:`get_attributes`, the effector's
        configuration), plus a ``"motornet_fn"`` entry holding the recipe :meth:`from_config` uses."""
        cfg = {"name": self.__name__}
        for attribute, value in zip(*self.get_attributes()):
            value = self.detach(value)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            if attribute in ("T_destination", "device"):
                value = str(value)
            cfg[attribute] = value
        cfg["effector"] = self.effector.get_save_config()
        cfg["motornet_fn"] = recipe_entry(self)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Environment":
        """Rebuild an environment (of the saved class) from :meth:`get_save_config` output, also after a
        JSON round trip. With the same ``reset(seed=...)`` and actions it reproduces the original's
        trajectories."""
        return build_from_recipe_entry(config)

    def _move_tensors(self, move):
        self.goal = move(self.goal)
        self.__dict__.pop(CACHE_PREFIX + "time", None)
        for key in ("_buffer", "_task_state"):
            value = self.__dict__.get(key)
            if value is not None:
                self.__dict__[key] = move(value) if torch.is_tensor(value) else type(value)(*map(move, value))
        if self.__dict__.get("_fields") is not None:
            self.__dict__["_fields"] = type(self._fields)(*map(move, self._fields))
        self.__dict__["_goal_ref"] = self.goal


class RandomTargetReach(Environment):
    """Reach from a random start to a random target, both drawn uniformly in joint space; the goal
    (first ``space_dim`` observation entries) is noiseless.

    Draws, at each reset: the start joint states (if not given), then (batch, dof) target joint states.

    Args:
        *args: passed to :class:`Environment`.
        **kwargs: passed to :class:`Environment`.
    """

    task_name = "random_reach"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.obs_noise[: self.skeleton.space_dim] = [0.0] * self.skeleton.space_dim


# ====================================================================== helpers
def numpy_draws(draws, rng: np.random.Generator, device=None) -> dict[str, torch.Tensor]:
    """Sample core draw blocks (:class:`~motornet_fn.core.tasks.Draw`) from a numpy Generator, in order, as
    MotorNet draws them (``uniform``, ``integers``, ``normal``)."""
    out = {}
    for d in draws:
        if d.kind == "uniform":
            x = rng.uniform(size=d.shape)
        elif d.kind == "integers":
            x = rng.integers(d.low, d.high, size=d.shape)
        else:
            x = rng.standard_normal(size=d.shape)
        out[d.name] = torch.tensor(x, dtype=torch.float32, device=device)
    return out


def core_cartesian(pos: torch.Tensor, vel: torch.Tensor):
    from motornet_fn.core.types import CartesianState

    return CartesianState(pos, vel)


#: class -> whether it inherits every ENV_HOOKS method from its nearest built-in environment class
_STOCK_CLASSES: dict = {}


def _noise_widths(spec: core_env.EnvSpec, deterministic: bool) -> tuple:
    """((channel, width), ...) of one step's noise draws in MotorNet's order (no action noise when
    ``deterministic``)."""
    e = spec.effector
    widths = (("proprio", 2 * e.n_muscles), ("vision", e.space_dim), ("obs", spec.obs_dim))
    return widths if deterministic else (("action", e.n_muscles),) + widths


def split_draws(z: torch.Tensor, widths: tuple, batch: int) -> core_env.StepDraws:
    """The blocks of one flat standard-normal draw ``z`` (drawn block after block, each (batch, width) in
    C order) as StepDraws."""
    blocks = z.split([batch * w for _, w in widths])
    return core_env.StepDraws(**{name: b.reshape(batch, w) for (name, w), b in zip(widths, blocks)})


_LAYOUT_STEPS: dict = {}


def compiled_env_layout_step(spec: core_env.EnvSpec, widths: tuple):
    """The core environment step of ``spec`` on MotorNet's effector-state layouts, compiled
    (:class:`~motornet_fn.core.stepfunction.StepFunction`): ``((params, task, fields), joint, muscle, geometry,
    buffer, t, action, z, loads) -> (joint, cartesian, muscle, geometry, buffer, obs, noisy action, shown
    goal)`` (z: the step's flat noise draw). Only what changes comes out."""
    key = (spec, widths)
    if key not in _LAYOUT_STEPS:
        from motornet_fn.core.compiled import step_function
        from motornet_fn.effector import from_layouts, to_layouts

        e = spec.effector

        def step(constants, joint, muscle, geometry, buffer, t, action, z, loads):
            params, task, fields = constants
            state = core_env.EnvState(from_layouts(e, joint, muscle, geometry), buffer, task, fields, t)
            draws = split_draws(z, widths, joint.shape[0])
            new, obs, info = core_env.step(spec, params, state, action, draws, loads)
            return (*to_layouts(e, params.effector, new.effector), new.buffer, obs, info.noisy_action,
                    info.goal.shown)

        _LAYOUT_STEPS[key] = step_function(step, "environment step", lambda c, joint, *a: (
            f"environment step ({spec.task.name}, {e.skeleton.name}/{e.muscle.name}, batch {joint.shape[0]})"),
            (spec, widths))
    return _LAYOUT_STEPS[key]


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple, np.ndarray)) else value


def _nonzero(value: Any) -> bool:
    return bool(np.any(np.asarray(_numpy(value), dtype=np.float64) != 0))


def _flat(value: Any) -> tuple:
    """A noise setting as a flat tuple of floats (fast for MotorNet's usual lists of numbers)."""
    if isinstance(value, float):
        return (value,)
    if isinstance(value, list) and all(type(v) is float for v in value):
        return tuple(value)
    return tuple(np.asarray(_numpy(value), dtype=np.float64).reshape(-1).tolist())


def _numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else x


def _delay_steps(name: str, delay: float | None, dt: float) -> int:
    """A delay in seconds as a number of steps (None means one step: no lag)."""
    if delay is None:
        return 1
    ratio = float(delay) / dt
    steps = round(ratio)
    if ratio < 0 or abs(ratio - steps) > 1e-9 * max(1.0, abs(ratio)):
        raise ValueError(f"{name}={delay!r} s is not an integer multiple of dt={dt!r} s (expected a non-negative "
                         f"multiple such as {max(steps, 1) * dt:g} s)")
    return int(steps)


def _noise_value(name: str, noise: Any) -> Any:
    """A noise std as MotorNet stores it, with numbers (int included) as floats.

    Raises:
        ValueError: a std is negative or not finite.
    """
    if isinstance(noise, (int, float, np.integer, np.floating)) and not isinstance(noise, bool):
        value = float(noise)
    else:
        value = np.asarray(_numpy(noise), dtype=np.float64).tolist()
    core_env.check_noise_std(name, torch.as_tensor(value, dtype=torch.float64))
    return value


def _per_channel(name: str, noise: Any, n: int) -> list:
    """A noise std as a list of ``n`` floats: a scalar repeated, or a list of ``n`` values."""
    value = _noise_value(name, noise)
    if isinstance(value, float):
        return [value] * n
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.size == 1:
        return [float(flat[0])] * n
    if flat.size != n:
        raise ValueError(f"{name} must be a scalar or have {n} values (one per channel), got {flat.size}: {value}")
    return flat.tolist()


__all__ = ["Environment", "RandomTargetReach", "ObsBuffer", "numpy_draws", "compile_default"]


def __getattr__(name: str):
    # Environments beyond MotorNet live in motornet_fn.reaching (which imports this module); expose them
    # here too so that ``mn.environment.CentreOutReach`` works like MotorNet's own classes.
    if name in ("CentreOutReach", "DelayedReach", "RandomTargetReachWithLoads", "ForceFieldEnvironment"):
        from motornet_fn import reaching

        return getattr(reaching, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
