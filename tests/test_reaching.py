"""Issue-6 environments: centre-out, delayed reach with go cue and catch trials, random loads, force fields."""
import math
import pickle

import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn.reaching import CentreOutReach, DelayedReach, RandomTargetReachWithLoads


def test_centre_out_targets_and_observation():
    env = CentreOutReach(mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle()), n_targets=8, radius=0.1)
    obs, info = env.reset(options={"batch_size": 16})
    start = env.states["fingertip"]
    assert torch.allclose(start, start[:1].expand(16, 2))  # all trials start at the same posture
    offset = info["goal"] - start
    torch.testing.assert_close(offset.norm(dim=-1), torch.full((16,), 0.1), rtol=1e-5, atol=1e-6)
    angles = torch.remainder(torch.atan2(offset[:, 1], offset[:, 0]), 2 * math.pi)
    expected = torch.arange(16) % 8 * (math.pi / 4)
    torch.testing.assert_close(angles, expected.float(), atol=1e-4, rtol=0)
    torch.testing.assert_close(obs[:, :2], info["goal"])
    assert obs.shape == (16, env.observation_space.shape[0])
    _, info = env.reset(options={"target_index": [3, 3, 7]})
    torch.testing.assert_close(info["goal"], env.goal)
    assert env.goal.shape == (3, 2)
    with pytest.raises(ValueError, match=r"target_index must lie in 0..7, got \[8\]"):
        env.reset(options={"target_index": [8]})


def upward_reach(env, gains, n=30):
    """Point mass at the origin, target straight up, gentle constant upward pull."""
    env.reset(options={"target_index": [2] * len(gains), "curl_gain": gains})
    action = torch.tensor([0.005, 0.005, 0.0, 0.0]).expand(len(gains), 4)
    for _ in range(n):
        env.step(action)
    return env.states["fingertip"]


def test_curl_field_in_the_environment_deviates_upward_reaches_right_for_positive_gain():
    env = CentreOutReach(mn.effector.ReluPointMass24(), n_targets=4, radius=0.5)
    tip = upward_reach(env, [0.0, 5.0, -5.0])
    assert tip[:, 1].min() > 0.05
    assert abs(tip[0, 0]) < 1e-6 and tip[1, 0] > 0.005 and tip[2, 0] < -0.005


def test_force_channel_in_the_environment_holds_the_straight_line():
    env = CentreOutReach(mn.effector.ReluPointMass24(), n_targets=4, radius=0.5, channel_stiffness=2000.0,
                         channel_damping=50.0)
    tip = upward_reach(env, [5.0, 5.0])  # curl field on, but the channel cancels the lateral push
    free = upward_reach(CentreOutReach(mn.effector.ReluPointMass24(), n_targets=4, radius=0.5), [5.0, 5.0])
    assert tip[:, 0].abs().max() < 0.1 * free[:, 0].abs().max()


def test_delayed_reach_go_cue_catch_trials_and_desired_position():
    env = DelayedReach(mn.effector.ReluPointMass24(), max_ep_duration=0.8, target_on=0.1, go_delay_range=(0.2, 0.4),
                       catch_prob=0.5)
    assert env.observation_space.shape[0] == 2 + 2 + 8 + 1
    obs, info = env.reset(seed=3, options={"batch_size": 32})
    start, target = env.states["fingertip"].clone(), env.target
    cues, shown, desired = [obs[:, -1]], [obs[:, :2]], [info["desired"]]
    for _ in range(80):
        obs, _, terminated, _, info = env.step(torch.zeros(32, 4))
        cues.append(obs[:, -1]); shown.append(obs[:, :2]); desired.append(info["desired"])
    cues, shown, desired = torch.stack(cues), torch.stack(shown), torch.stack(desired)
    assert terminated
    catch = torch.as_tensor(env.catch)
    assert 4 <= catch.sum() <= 28
    assert torch.all(cues[:, catch] == 0)
    go = (cues > 0).float().argmax(0)[~catch]
    assert go.min() >= 10 + 20 and go.max() <= 10 + 40  # target_on + delay, in steps
    assert torch.all(cues[:, ~catch].diff(dim=0) >= 0)  # the cue stays on once given
    torch.testing.assert_close(shown[:10], start.expand(10, 32, 2))  # no target before target_on
    torch.testing.assert_close(shown[10:], target.expand(71, 32, 2))
    torch.testing.assert_close(desired[:, catch], start[catch].expand(81, -1, 2))
    torch.testing.assert_close(desired[-1, ~catch], target[~catch])
    # seeded: the same draws again
    env.reset(seed=3, options={"batch_size": 32})
    assert np.array_equal(env.catch, catch.numpy())


def test_random_loads_push_a_passive_point_mass():
    env = RandomTargetReachWithLoads(mn.effector.ReluPointMass24(), max_load=5.0)
    _, info = env.reset(seed=1, options={"batch_size": 200, "joint_state": torch.zeros(200, 4)})
    load = info["endpoint_load"]
    assert load.norm(dim=-1).max() <= 5.0 and load.norm(dim=-1).max() > 4.5
    env.step(torch.zeros(200, 4))
    vel = env.states["joint"][:, 2:]
    torch.testing.assert_close(vel, load * env.dt)  # m = 1 kg, muscles at rest produce no force


def test_environments_pickle_and_rebuild_from_config():
    env = CentreOutReach(mn.effector.ReluPointMass24(), n_targets=6, radius=0.3, curl_gain=2.0, max_ep_duration=0.2)
    clone = pickle.loads(pickle.dumps(env))
    rebuilt = type(env).from_config(env.get_save_config())
    action = torch.full((6, 4), 0.1)
    for e in (env, clone, rebuilt):
        e.reset(options={"batch_size": 6})
        for _ in range(10):
            e.step(action)
    torch.testing.assert_close(clone.states["joint"], env.states["joint"])
    torch.testing.assert_close(rebuilt.states["joint"], env.states["joint"])


def test_bad_arguments_are_named():
    eff = mn.effector.ReluPointMass24()
    with pytest.raises(ValueError, match="radius must be > 0 m, got -1"):
        CentreOutReach(eff, radius=-1)
    with pytest.raises(ValueError, match=r"exceeds the episode duration of 0.3 s"):
        DelayedReach(mn.effector.ReluPointMass24(), max_ep_duration=0.3, go_delay_range=(0.2, 0.4))
    with pytest.raises(ValueError, match="max_load must be >= 0 N, got -2"):
        RandomTargetReachWithLoads(mn.effector.ReluPointMass24(), max_load=-2)
