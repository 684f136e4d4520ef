"""A user's own task written the MotorNet way, for any package with MotorNet's API (``motornet`` or
``motornet_fn``): it overrides ``reset``, ``step``, ``get_obs``, ``get_proprioception`` and ``_get_obs_size``,
and reaches into ``obs_buffer``, ``update_obs_buffer``, ``apply_noise``, ``_set_generator``,
``effector.draw_random_uniform_states``, ``joint2cartesian``, ``detach``, the ``states`` dict,
``muscle.l0_ce`` / ``muscle.vmax`` and ``endpoint_load=`` on ``effector.step``.

The task: from a random posture, reach one of eight targets on a 5 cm circle around the start after a go
cue (the last observation entry), in a clockwise curl field applied as an endpoint load.
"""
from __future__ import annotations

import numpy as np
import torch


def centre_out_go_curl(mn):
    """The environment class, built on package ``mn``'s ``Environment``."""

    class CentreOutGoCurl(mn.environment.Environment):
        def __init__(self, *args, curl_gain: float = 10.0, go_time: float = 0.1, **kwargs):
            super().__init__(*args, **kwargs)
            self.curl_gain = curl_gain
            self.go_time = go_time
            self.start = None

        def _get_obs_size(self):
            return super()._get_obs_size() + 1  # the go cue

        def get_proprioception(self):
            muscle = self.states["muscle"]
            length = muscle[:, 1:2, :] / self.muscle.l0_ce
            velocity = muscle[:, 2:3, :] / self.muscle.vmax
            prop = torch.cat([length, velocity], dim=-1).squeeze(dim=1)
            return self.apply_noise(prop, self.proprioception_noise)

        def cue(self):
            on = float(self.elapsed >= self.go_time - 1e-9)
            return torch.full((self.goal.shape[0], 1), on)

        def get_obs(self, action=None, deterministic=False):
            self.update_obs_buffer(action=action)
            parts = [self.goal, self.obs_buffer["vision"][0], self.obs_buffer["proprioception"][0]]
            obs = torch.cat(parts + self.obs_buffer["action"][: self.action_frame_stacking] + [self.cue()], dim=-1)
            if deterministic is False:
                obs = self.apply_noise(obs, noise=self.obs_noise)
            return obs if self.differentiable else self.detach(obs)

        def reset(self, *, seed=None, options=None):
            self._set_generator(seed=seed)
            options = {} if options is None else options
            batch_size = options.get("batch_size", 1)
            joint = self.effector.draw_random_uniform_states(batch_size)
            self.effector.reset(options={"batch_size": batch_size, "joint_state": joint})
            self.start = self.joint2cartesian(joint)[:, :2]
            angle = torch.tensor(self.np_random.integers(8, size=batch_size) * (np.pi / 4), dtype=torch.float32)
            self.goal = self.start + 0.05 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
            self.elapsed = 0.0
            action = torch.zeros((batch_size, self.action_space.shape[0]))
            self.obs_buffer["proprioception"] = [self.get_proprioception()] * len(self.obs_buffer["proprioception"])
            self.obs_buffer["vision"] = [self.get_vision()] * len(self.obs_buffer["vision"])
            self.obs_buffer["action"] = [action] * self.action_frame_stacking
            obs = self.get_obs(deterministic=options.get("deterministic", False))
            return obs, {"states": self.states, "goal": self.goal, "desired": self.start}

        def step(self, action, deterministic=False, **kwargs):
            self.elapsed += self.dt
            noisy = action if deterministic else self.apply_noise(action, noise=self.action_noise)
            velocity = self.states["cartesian"][:, 2:]
            curl = self.curl_gain * torch.stack([velocity[:, 1], -velocity[:, 0]], dim=-1)
            self.effector.step(noisy, endpoint_load=curl)
            obs = self.get_obs(action=noisy)
            desired = self.goal if self.cue()[0, 0] > 0 else self.start
            terminated = bool(self.elapsed >= self.max_ep_duration)
            return obs, None, terminated, False, {"states": self.states, "goal": self.goal, "desired": desired}

    return CentreOutGoCurl


def make_env(mn, compile: bool | None = None, **kwargs):
    """A CentreOutGoCurl on Arm26 (rigid-tendon Hill muscles), with delays, noise and frame stacking."""
    effector_kwargs = {} if compile is None else {"compile": compile}
    env_kwargs = {} if compile is None else {"compile": compile}
    effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle(), **effector_kwargs)
    return centre_out_go_curl(mn)(effector, max_ep_duration=0.3, proprioception_delay=0.02, vision_delay=0.05,
                                  action_frame_stacking=1, proprioception_noise=0.001, action_noise=0.001,
                                  **{**env_kwargs, **kwargs})
