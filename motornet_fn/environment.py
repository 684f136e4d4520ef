"""MotorNet's environment classes (``Environment``, ``RandomTargetReach``): gymnasium environments
around an effector, with delayed and noisy sensory feedback.

Observation layout (last dim): [goal (space_dim), delayed vision = fingertip (space_dim), delayed
proprioception = [muscle length / l0_ce, muscle velocity / vmax] (2 * n_muscles), the last
``action_frame_stacking`` actions (oldest first)].

A delay of d steps (delay / dt) keeps d frames per signal; each observation pushes the current frame
and reads the oldest, so the value seen is d - 1 steps old (a delay of one dt, the default, means no
lag). All noise comes from the effector's numpy Generator (``np_random``), drawn in MotorNet's order
(zero-std draws included), so seeded runs reproduce MotorNet's numbers.
"""
from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from motornet_fn._module import RecordedModule
from motornet_fn.effector import Effector, build_from_recipe_entry, check_action_shape, recipe_entry


class Environment(gym.Env, RecordedModule):
    """Base class of environments (MotorNet's ``Environment``).

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
        **kwargs: passed to ``torch.nn.Module``.

    Raises:
        ValueError: a delay is negative or not an integer multiple of dt; a noise list has the
            wrong length.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.get_obs is not Environment.get_obs and cls._get_obs_size is Environment._get_obs_size:
            warnings.warn(f"{cls.__name__} overrides get_obs() but not _get_obs_size(); if the observation size "
                          "changes, override _get_obs_size() too, or observation_space will have the wrong shape.",
                          UserWarning, stacklevel=2)

    def __init__(self, effector: Effector, q_init=None, name: str = "Env", differentiable: bool = True,
                 max_ep_duration: float = 1.0, action_noise: float = 0.0, obs_noise: float | list = 0.0,
                 action_frame_stacking: int = 0, proprioception_delay: float = None, vision_delay: float = None,
                 proprioception_noise: float = 0.0, vision_noise: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self._device = torch.device("cpu")
        self.__name__ = name
        self.effector = effector.to(self.device)
        self.dt = self.effector.dt
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
        self.obs_buffer = {"proprioception": [None] * self.proprioception_delay,
                           "vision": [None] * self.vision_delay,
                           "action": [None] * self.action_frame_stacking}
        self.seed = None
        self._build_spaces()

    def detach(self, x: Any) -> Any:
        """Tensors to CPU numpy arrays; anything else unchanged."""
        return x.cpu().detach().numpy() if torch.is_tensor(x) else x

    def _get_obs_size(self) -> int:
        """Number of observation entries (override together with :meth:`get_obs`)."""
        goal = self.skeleton.space_dim
        vision = self.skeleton.space_dim
        proprioception = 2 * self.effector.n_muscles
        action = self.effector.n_muscles * self.action_frame_stacking
        return goal + vision + proprioception + action

    def _build_spaces(self) -> None:
        self.action_space = gym.spaces.Box(low=0.0, high=1.0, shape=(self.effector.n_muscles,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(low=-np.inf, high=np.inf, shape=(self._get_obs_size(),),
                                                dtype=np.float32)
        self.action_noise = _per_channel("action_noise", self._action_noise, self.action_space.shape[0])
        self.obs_noise = _per_channel("obs_noise", self._obs_noise, self.observation_space.shape[0])

    # ================================================================== usually overridden by tasks
    def get_proprioception(self) -> torch.Tensor:
        """(batch, 2 * n_muscles) undelayed proprioception, [muscle length / l0_ce, muscle velocity /
        vmax], plus noise of std :attr:`proprioception_noise`."""
        muscle = self.states["muscle"]
        length = muscle[:, 1:2, :] / self.muscle.l0_ce
        velocity = muscle[:, 2:3, :] / self.muscle.vmax
        prop = torch.cat([length, velocity], dim=-1).squeeze(dim=1)
        return self.apply_noise(prop, self.proprioception_noise)

    def get_vision(self) -> torch.Tensor:
        """(batch, space_dim) undelayed vision (the fingertip position) plus noise of std
        :attr:`vision_noise`."""
        return self.apply_noise(self.states["fingertip"], self.vision_noise)

    def get_obs(self, action: torch.Tensor | None = None, deterministic: bool = False) -> torch.Tensor | np.ndarray:
        """Push the current sensory frames (and ``action``) into the delay buffers and assemble the
        (batch, obs_dim) observation; observation noise is added unless ``deterministic``.

        Args:
            action: (batch, n_muscles) action of this step, for action frame stacking.
            deterministic: skip the observation noise.
        """
        self.update_obs_buffer(action=action)
        parts = [self.goal, self.obs_buffer["vision"][0], self.obs_buffer["proprioception"][0]]
        obs = torch.cat(parts + self.obs_buffer["action"][: self.action_frame_stacking], dim=-1)
        if deterministic is False:
            obs = self.apply_noise(obs, noise=self.obs_noise)
        return obs if self.differentiable else self.detach(obs)

    def step(self, action: torch.Tensor | np.ndarray, deterministic: bool = False, **kwargs):
        """Advance one timestep.

        Args:
            action: (batch, n_muscles) excitation.
            deterministic: skip the action noise. As in MotorNet, the observation returned by
                ``step`` still gets observation noise (drawn from :attr:`np_random` either way).
            **kwargs: passed to the effector's ``step`` (``endpoint_load``, ``joint_load``).

        Returns:
            (obs, reward, terminated, truncated, info): obs (batch, obs_dim); reward None if
            differentiable, else a (batch, 1) numpy zero array; terminated once ``elapsed >=
            max_ep_duration``; truncated False; info with "states", "action", "noisy action", "goal".

        Raises:
            ShapeError: ``action`` does not have shape (batch, n_muscles).
        """
        action = action if torch.is_tensor(action) else torch.tensor(action, dtype=torch.float32).to(self.device)
        if action.ndim == 1:  # one unbatched action, as gymnasium's action_space.sample() gives
            action = action.unsqueeze(0)
        if self.states["joint"] is not None:
            check_action_shape(action, self.effector.n_muscles, self.states["joint"].shape[0])
        self.elapsed += self.dt
        noisy_action = action
        if deterministic is False:
            noisy_action = self.apply_noise(noisy_action, noise=self.action_noise)
        self.effector.step(noisy_action, **kwargs)
        obs = self.get_obs(action=noisy_action)
        reward = None if self.differentiable else np.zeros((self.detach(action.shape[0]), 1))
        truncated = False
        terminated = bool(self.elapsed >= self.max_ep_duration) or truncated
        self.goal = self.goal.clone()
        info = {"states": self._maybe_detach_states(), "action": action, "noisy action": noisy_action,
                "goal": self.goal if self.differentiable else self.detach(self.goal)}
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a batch of episodes: goal at the origin, effector states from ``options`` (or
        :attr:`q_init`, or random), delay buffers filled with the current frames.

        Args:
            seed: reseeds :attr:`np_random` (gymnasium semantics).
            options: ``batch_size`` (default 1), ``joint_state`` (see the effector's ``reset``) and
                ``deterministic`` (skip observation noise on the returned observation).

        Returns:
            (obs, info): obs (batch, obs_dim); info with "states", "action", "noisy action", "goal".
        """
        self._set_generator(seed=seed)
        batch_size, joint_state, deterministic = self._parse_options(options)
        self.goal = torch.zeros((batch_size, self.skeleton.space_dim)).to(self.device)
        self.elapsed = 0.0
        self.effector.reset(options={"batch_size": batch_size, "joint_state": joint_state})
        return self._start_episode(batch_size, deterministic)

    def _parse_options(self, options: dict | None) -> tuple[int, Any, bool]:
        options = {} if options is None else options
        batch_size: int = options.get("batch_size", 1)
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
        action = torch.zeros((batch_size, self.action_space.shape[0])).to(self.device)
        self.obs_buffer["proprioception"] = [self.get_proprioception()] * len(self.obs_buffer["proprioception"])
        self.obs_buffer["vision"] = [self.get_vision()] * len(self.obs_buffer["vision"])
        self.obs_buffer["action"] = [action] * self.action_frame_stacking
        action = action if self.differentiable else self.detach(action)
        obs = self.get_obs(deterministic=deterministic)
        info = {"states": self._maybe_detach_states(), "action": action, "noisy action": action,
                "goal": self.goal if self.differentiable else self.detach(self.goal)}
        return obs, info

    # ================================================================== less often overridden
    def update_obs_buffer(self, action: torch.Tensor | None = None) -> None:
        """Shift every delay buffer by one frame, appending the current proprioception and vision (and
        ``action``, reshaped to (batch, n_muscles), if given)."""
        self.obs_buffer["proprioception"] = self.obs_buffer["proprioception"][1:] + [self.get_proprioception()]
        self.obs_buffer["vision"] = self.obs_buffer["vision"][1:] + [self.get_vision()]
        if action is not None:
            frame = action.reshape(-1, self.action_space.shape[0])
            self.obs_buffer["action"] = self.obs_buffer["action"][1:] + [frame]

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
        muscle, skeleton, RNG, states, goal and buffers."""
        blacklist = ["effector", "muscle", "skeleton", "np_random", "states", "goal", "obs_buffer", "unwrapped"]
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
        self.obs_buffer = {k: [move(v) for v in frames] for k, frames in self.obs_buffer.items()}



class RandomTargetReach(Environment):
    """Reach from a random start to a random target, both drawn uniformly in joint space; the goal
    (first ``space_dim`` observation entries) is noiseless.

    Args:
        *args, **kwargs: passed to :class:`Environment`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.obs_noise[: self.skeleton.space_dim] = [0.0] * self.skeleton.space_dim

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start episodes with random start states (unless given) and random fingertip targets.

        Draws, in order: the start joint states (if not given), then (batch, dof) target joint states.
        Same arguments and returns as :meth:`Environment.reset`.
        """
        self._set_generator(seed=seed)
        batch_size, joint_state, deterministic = self._parse_options(options)
        self.effector.reset(options={"batch_size": batch_size, "joint_state": joint_state})
        targets = self.effector.draw_random_uniform_states(batch_size)
        self.goal = self.joint2cartesian(targets).chunk(2, dim=-1)[0]
        self.elapsed = 0.0
        return self._start_episode(batch_size, deterministic)


# ====================================================================== helpers
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
    """A noise std as MotorNet stores it, with numbers (int included) as floats."""
    if isinstance(noise, (int, float, np.integer, np.floating)) and not isinstance(noise, bool):
        return float(noise)
    arr = np.asarray(_numpy(noise), dtype=np.float64)
    return arr.tolist()


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


__all__ = ["Environment", "RandomTargetReach"]


def __getattr__(name: str):
    # Environments beyond MotorNet live in motornet_fn.reaching (which imports this module); expose them
    # here too so that ``mn.environment.CentreOutReach`` works like MotorNet's own classes.
    if name in ("CentreOutReach", "DelayedReach", "RandomTargetReachWithLoads", "ForceFieldEnvironment"):
        from motornet_fn import reaching

        return getattr(reaching, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
