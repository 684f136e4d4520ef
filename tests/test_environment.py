"""The object layer's environments (``motornet_fn.environment``): the recorded MotorNet episodes (RNG draw
order included), observation layout with delays and frame stacking, noise, subclassing, configs, pickling."""
from __future__ import annotations

import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn.effector import ShapeError
from tests.object_builders import build_env, tolerance_units
from tests.reference import ENV_CASES, load_case

STATE_KEYS = ("joint", "cartesian", "muscle", "geometry", "fingertip")


def rng_like(seed: int) -> np.random.Generator:
    """The Generator gymnasium's seeding makes for ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


# ----------------------------------------------------------------------------- reference recordings
@pytest.mark.parametrize("name", ENV_CASES)
def test_recorded_episodes_are_reproduced(name):
    """Two deterministic episodes (the second unseeded, so it only matches if every RNG draw of the first,
    zero-std noise included, happened in MotorNet's order), then the RNG probe drawn after them."""
    config, arrays = load_case(name)
    env = build_env(mn, config)
    assert env.observation_space.shape == (config["obs_dim"],)
    for ep in (0, 1):
        prefix = f"ep{ep}_"
        seed = {"seed": config["seed"]} if ep == 0 else {}
        obs, info = env.reset(options={"batch_size": 4, "deterministic": True}, **seed)
        got = {"obs": [obs], "goal": [info["goal"]], **{k: [info["states"][k].clone()] for k in STATE_KEYS}}
        elapsed, terminated = [], []
        for action in torch.tensor(arrays[prefix + "actions"], dtype=torch.float32):
            obs, reward, term, trunc, info = env.step(action, deterministic=True)
            assert reward is None and trunc is False
            elapsed.append(env.elapsed)
            terminated.append(term)
            got["obs"].append(obs)
            got["goal"].append(info["goal"])
            for k in STATE_KEYS:
                got[k].append(info["states"][k].clone())
        for key, values in got.items():
            units = tolerance_units(torch.stack(values).numpy(), arrays[prefix + key])
            assert units <= 1.0, f"{name} episode {ep}: {key} off by {units:.3g} tolerance units"
        np.testing.assert_array_equal(terminated, arrays[prefix + "terminated"])
        np.testing.assert_allclose(elapsed, arrays[prefix + "elapsed"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(env.np_random.uniform(size=8), arrays["rng_probe_end"])


# ----------------------------------------------------------------------------- observation layout
def test_observation_is_goal_delayed_vision_delayed_proprioception_and_stacked_actions():
    """Rebuild each observation from the state history: vision (delay 3 steps) shows the fingertip of 2
    steps ago, proprioception (delay 2) the normalized muscle length/velocity of 1 step ago, then the
    last 3 actions, oldest first (zeros before the first step)."""
    effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle())
    env = mn.environment.RandomTargetReach(effector, proprioception_delay=0.02, vision_delay=0.03,
                                           action_frame_stacking=3)
    obs, info = env.reset(seed=0, options={"batch_size": 2, "deterministic": True})
    l0_ce, vmax = effector.muscle.l0_ce, effector.muscle.vmax
    history = [{k: v.clone() for k, v in env.states.items()}]
    actions = [torch.zeros(2, 6)] * 3
    gen = torch.Generator().manual_seed(1)
    for t in range(6):
        if t:
            action = torch.rand(2, 6, generator=gen)
            obs, *_ = env.step(action, deterministic=True)
            history.append({k: v.clone() for k, v in env.states.items()})
            actions.append(action)
        seen_v, seen_p = history[max(len(history) - 3, 0)], history[max(len(history) - 2, 0)]
        proprio = torch.cat([seen_p["muscle"][:, 1] / l0_ce[0], seen_p["muscle"][:, 2] / vmax[0]], dim=-1)
        expected = torch.cat([env.goal, seen_v["fingertip"], proprio, *actions[-3:]], dim=-1)
        torch.testing.assert_close(obs, expected)
    assert obs.shape == (2, env.observation_space.shape[0]) == (2, 2 + 2 + 12 + 18)


def test_noise_channels_follow_np_random_in_motornets_order():
    """Per-channel action/observation noise and scalar sensory noise are drawn from np_random in
    MotorNet's order: reset(seed) (one random effector state), proprioception and vision to fill the
    buffers, again in get_obs, then the observation; each step then starts with the action noise."""
    effector = mn.effector.ReluPointMass24()
    obs_noise = list(np.linspace(0.0, 0.3, 12))
    action_noise = [0.1, 0.0, 0.2, 0.05]
    env = mn.environment.Environment(effector, action_noise=action_noise, obs_noise=obs_noise,
                                     proprioception_noise=1, vision_noise=0.5)  # an int std works too
    obs, _ = env.reset(seed=5, options={"joint_state": torch.zeros(1, 4)})
    rng = rng_like(5)
    rng.uniform(size=(1, 2))
    rng.normal(size=(1, 8)), rng.normal(size=(1, 2))  # buffer fill, superseded by the get_obs frames
    proprio_noise, vision_noise = rng.normal(size=(1, 8), scale=1.0), rng.normal(size=(1, 2), scale=0.5)
    obs_draw = rng.normal(size=(1, 12), scale=obs_noise)
    muscle = effector.states["muscle"]
    clean = torch.cat([torch.zeros(1, 2), effector.states["fingertip"], muscle[:, 1], muscle[:, 2]], dim=-1)
    noise = np.concatenate([np.zeros((1, 2)), vision_noise, proprio_noise], axis=-1)
    expected = clean + torch.tensor(noise, dtype=torch.float32) + torch.tensor(obs_draw, dtype=torch.float32)
    torch.testing.assert_close(obs, expected)
    assert env.action_noise == action_noise and env.proprioception_noise == [1.0]
    action = torch.full((1, 4), 0.5)
    _, _, _, _, info = env.step(action)
    expected = action + torch.tensor(rng.normal(size=(1, 4), scale=action_noise), dtype=torch.float32)
    torch.testing.assert_close(info["noisy action"], expected)


def test_deterministic_reset_skips_only_the_observation_noise():
    env = mn.environment.RandomTargetReach(mn.effector.ReluPointMass24(), obs_noise=0.3)
    obs_det, _ = env.reset(seed=2, options={"batch_size": 3, "deterministic": True})
    obs_rand, _ = env.reset(seed=2, options={"batch_size": 3})
    assert torch.equal(obs_det[:, :2], obs_rand[:, :2])  # the goal is noiseless in RandomTargetReach
    assert not torch.allclose(obs_det[:, 2:], obs_rand[:, 2:])
    assert env.obs_noise[:2] == [0.0, 0.0] and env.obs_noise[2:] == [0.3] * 10


def test_non_differentiable_mode_returns_numpy_and_rewards():
    env = mn.environment.RandomTargetReach(mn.effector.ReluPointMass24(), differentiable=False, max_ep_duration=0.02)
    obs, info = env.reset(seed=0, options={"batch_size": 3})
    assert isinstance(obs, np.ndarray) and isinstance(info["goal"], np.ndarray)
    assert all(isinstance(v, np.ndarray) for v in info["states"].values())
    obs, reward, terminated, truncated, info = env.step(np.full((3, 4), 0.2, dtype=np.float32))
    assert isinstance(obs, np.ndarray) and obs.shape == (3, 12)
    assert reward.shape == (3, 1) and not reward.any() and not terminated
    _, _, terminated, _, _ = env.step(np.full((3, 4), 0.2, dtype=np.float32))
    assert terminated


def test_gymnasium_spaces():
    env = mn.environment.RandomTargetReach(mn.effector.RigidTendonArm26(mn.muscle.MujocoHillMuscle()),
                                           action_frame_stacking=1)
    assert env.action_space == gym.spaces.Box(0.0, 1.0, (6,), np.float32)
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (2 + 2 + 12 + 6,), np.float32)
    obs, _ = env.reset(options={"batch_size": 2})
    assert env.observation_space.contains(obs[0].numpy())


def test_q_init_given_as_list_or_array():
    """MotorNet crashes on a numpy q_init; here it sets the initial states."""
    env = mn.environment.Environment(mn.effector.ReluPointMass24(), q_init=[0.3, -0.2, 0.0, 0.0])
    _, info = env.reset(options={"batch_size": 2})
    torch.testing.assert_close(info["states"]["joint"], torch.tensor([[0.3, -0.2, 0.0, 0.0]] * 2))
    assert env.nq_init == 1 and isinstance(env.q_init, np.ndarray)


# ----------------------------------------------------------------------------- subclassing
def test_custom_environment_subclass():
    """MotorNet's extension points: custom reset, get_obs and _get_obs_size."""

    class HoldStill(mn.environment.Environment):
        def _get_obs_size(self):
            return self.skeleton.space_dim + 2 * self.effector.n_muscles

        def get_obs(self, action=None, deterministic=False):
            self.update_obs_buffer(action=action)
            return torch.cat([self.obs_buffer["vision"][0], self.obs_buffer["proprioception"][0]], dim=-1)

        def reset(self, *, seed=None, options=None):
            self._set_generator(seed)
            self.effector.reset(options={"joint_state": torch.tensor([[0.1, 0.2, 0.0, 0.0]])})
            self.goal = self.states["fingertip"].clone()
            self.elapsed = 0.0
            for key, frame in (("vision", self.get_vision()), ("proprioception", self.get_proprioception())):
                self.obs_buffer[key] = [frame] * len(self.obs_buffer[key])
            return self.get_obs(), {}

    env = HoldStill(mn.effector.ReluPointMass24(), vision_delay=0.02)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (10,) and obs.shape == (1, 10)
    obs, *_ = env.step(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), deterministic=True)
    assert obs.shape == (1, 10)


def test_overriding_get_obs_alone_warns():
    with pytest.warns(UserWarning, match="overrides get_obs\\(\\) but not _get_obs_size\\(\\)"):
        class Partial(mn.environment.Environment):
            def get_obs(self, action=None, deterministic=False):
                return super().get_obs(action, deterministic)


# ----------------------------------------------------------------------------- bad input
def test_delay_not_a_multiple_of_dt():
    effector = mn.effector.ReluPointMass24()
    with pytest.raises(ValueError, match=r"vision_delay=0\.015 s is not an integer multiple of dt=0\.01 s"):
        mn.environment.RandomTargetReach(effector, vision_delay=0.015)
    with pytest.raises(ValueError, match=r"proprioception_delay=-0\.01 s is not .* non-negative multiple"):
        mn.environment.RandomTargetReach(effector, proprioception_delay=-0.01)
    env = mn.environment.RandomTargetReach(effector, vision_delay=0.07, proprioception_delay=0.0)
    assert (env.vision_delay, env.proprioception_delay) == (7, 0)


def test_wrong_action_shape_in_step():
    env = mn.environment.RandomTargetReach(mn.effector.ReluPointMass24())
    env.reset(options={"batch_size": 4})
    elapsed = env.elapsed
    for deterministic in (False, True):  # MotorNet raised ValueError / RuntimeError for these
        with pytest.raises(ShapeError, match=r"must have shape \(batch_size=4, n_muscles=4\) or \(4,\), got \(4, 5\)"):
            env.step(torch.zeros(4, 5), deterministic=deterministic)
    assert env.elapsed == elapsed


def test_noise_list_of_wrong_length():
    with pytest.raises(ValueError, match=r"obs_noise must be a scalar or have 12 values \(one per channel\), got 3"):
        mn.environment.Environment(mn.effector.ReluPointMass24(), obs_noise=[0.1, 0.2, 0.3])


# ----------------------------------------------------------------------------- configs, pickling, devices
def _make_env():
    effector = mn.effector.Effector(mn.skeleton.PointMass(space_dim=2, mass=2.0), mn.muscle.RigidTendonHillMuscle())
    for corner in ([1.5, 1.5], [-1.5, 1.5], [1.5, -1.5], [-1.5, -1.5]):
        effector.add_muscle([0, 1], [corner, [0, 0]], max_isometric_force=300., tendon_length=0.3,
                            optimal_muscle_length=1.8)
    return mn.environment.RandomTargetReach(effector, max_ep_duration=0.1, action_noise=0.05, obs_noise=0.01,
                                            proprioception_delay=0.02, vision_delay=0.04, action_frame_stacking=1,
                                            proprioception_noise=0.02, vision_noise=[0.01, 0.03])


def _episode(env, seed=11):
    obs, _ = env.reset(seed=seed, options={"batch_size": 3})
    out, gen = [obs], torch.Generator().manual_seed(seed)
    for _ in range(8):
        obs, *_ = env.step(torch.rand(3, 4, generator=gen))
        out.append(obs)
    return torch.stack(out)


def test_from_config_rebuilds_an_environment_with_the_same_trajectory():
    env = _make_env()
    config = json.loads(json.dumps(env.get_save_config()))
    rebuilt = mn.environment.Environment.from_config(config)
    assert type(rebuilt) is mn.environment.RandomTargetReach
    torch.testing.assert_close(_episode(rebuilt), _episode(env), rtol=0, atol=0)
    assert config["effector"]["muscle_wrapping_cfg"].keys() == {"muscle_1", "muscle_2", "muscle_3", "muscle_4"}
    assert config["proprioception_delay"] == 2 and config["vision_noise"] == [[0.01, 0.03]]


def test_from_config_explains_what_cannot_be_rebuilt():
    with pytest.raises(ValueError, match="no 'motornet_fn' entry"):
        mn.environment.Environment.from_config({"name": "Env"})

    class Local(mn.environment.RandomTargetReach):
        pass

    config = Local(mn.effector.ReluPointMass24()).get_save_config()
    with pytest.raises(TypeError, match="defined inside a function"):
        mn.environment.Environment.from_config(config)


def test_pickled_environment_continues_identically():
    env = _make_env()
    env.reset(seed=4, options={"batch_size": 2})
    env.step(torch.full((2, 4), 0.3))
    twin = pickle.loads(pickle.dumps(env))
    for _ in range(3):
        a, b = env.step(torch.full((2, 4), 0.6)), twin.step(torch.full((2, 4), 0.6))
        torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)


def test_to_moves_goal_buffers_and_states():
    env = _make_env()
    env.reset(options={"batch_size": 2})
    env.to("meta")
    assert env.device.type == "meta" and env.effector.device.type == "meta"
    tensors = [env.goal, *env.states.values(), *(t for frames in env.obs_buffer.values() for t in frames)]
    assert all(t.device.type == "meta" for t in tensors)
    assert all(t.device.type == "meta" for t in env.buffers())


def test_get_attributes_and_print_attributes(capsys):
    env = mn.environment.RandomTargetReach(mn.effector.ReluPointMass24(), name="reach")
    names, values = env.get_attributes()
    attributes = dict(zip(names, values))
    assert attributes["n_muscles"] == 4 and attributes["vision_delay"] == 1 and "effector" not in attributes
    env.print_attributes()
    assert "max_ep_duration:  1.0" in capsys.readouterr().out
    assert env.get_save_config()["name"] == "reach"


def test_muscle_and_skeleton_shortcuts():
    effector = mn.effector.ReluPointMass24()
    env = mn.environment.Environment(effector)
    assert env.muscle is effector.muscle and env.skeleton is effector.skeleton and env.space_dim == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(options={"batch_size": 1})
    assert env.states is effector.states


def test_an_unbatched_gymnasium_action_steps_a_batch_of_one():
    import motornet_fn as mn

    env = mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24())
    env.reset(seed=0)
    obs, _, _, _, info = env.step(env.action_space.sample())
    assert obs.shape == (1, env.observation_space.shape[0])
    assert info["action"].shape == (1, env.n_muscles)
