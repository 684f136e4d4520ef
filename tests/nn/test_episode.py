"""Closed-loop episodes: observations and states match MotorNet's recorded environment episodes."""
import pytest
import torch

from motornet_fn.core import build
from motornet_fn.core.types import JointState, joint_from_tensor
from motornet_fn.nn.episode import EpisodeInit, TaskConfig, draw_noise, run_episode
from tests.reference import load_case


def replay(actions):
    """A 'policy' that plays back recorded actions, one per call."""
    queue = list(torch.unbind(actions))

    def policy(obs, h):
        return queue.pop(0), h

    return policy


@pytest.mark.parametrize("case", ["env_relu_pointmass24", "env_rigid_arm26"])
@pytest.mark.parametrize("episode", [0, 1])
def test_observations_match_motornet_environment(case, episode):
    config, arrays = load_case(case)
    eff = config["effector"]
    if eff["effector_class"] == "ReluPointMass24":
        spec, params = build.relu_point_mass24()
    else:
        spec, params = build.rigid_tendon_arm26(eff["muscle_class"])
    delays = config["delays_in_steps"]
    n_steps = arrays[f"ep{episode}_actions"].shape[0]
    task = TaskConfig(spec, n_steps, delays["proprioception"], delays["vision"],
                      config["env_kwargs"]["action_frame_stacking"])
    assert task.obs_dim == config["obs_dim"]
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    init = EpisodeInit(joint_from_tensor(f32(arrays[f"ep{episode}_joint_init"])), f32(arrays[f"ep{episode}_goal"][0]))
    actions = f32(arrays[f"ep{episode}_actions"])
    trace = run_episode(task, params, replay(actions), torch.zeros(4, 0), init)
    ref_obs = f32(arrays[f"ep{episode}_obs"]).transpose(0, 1)
    torch.testing.assert_close(trace.obs, ref_obs[:, :-1], rtol=1e-4, atol=1e-5)
    ref_xy = f32(arrays[f"ep{episode}_fingertip"]).transpose(0, 1)
    torch.testing.assert_close(trace.fingertip, ref_xy, rtol=1e-4, atol=1e-5)


def test_noise_is_drawn_from_the_generator_and_keeps_the_goal_clean():
    spec, params = build.relu_point_mass24()
    task = TaskConfig(spec, 5, proprio_noise=0.1, vision_noise=0.1, action_noise=0.1, obs_noise=0.1)
    a = draw_noise(task, 3, torch.Generator().manual_seed(1))
    b = draw_noise(task, 3, torch.Generator().manual_seed(1))
    c = draw_noise(task, 3, torch.Generator().manual_seed(2))
    for x, y, z in zip(a, b, c):
        assert torch.equal(x, y) and not torch.equal(x, z)
    assert torch.all(a.obs[..., :spec.space_dim] == 0) and a.obs[..., spec.space_dim:].std() > 0.05
    assert draw_noise(TaskConfig(spec, 5), 3, None) is None


def test_truncated_bptt_cuts_gradients_to_early_actions():
    spec, params = build.relu_point_mass24()
    task = TaskConfig(spec, 9)  # an action moves the position 3 steps later (activation, force, velocity)
    init = EpisodeInit(JointState(torch.zeros(2, 2), torch.zeros(2, 2)), torch.full((2, 2), 0.3))
    bias = torch.zeros(4, requires_grad=True)
    policy = lambda obs, h: (torch.sigmoid(bias + 0 * obs[..., :4]).expand(2, 4), h)  # noqa: E731
    full = run_episode(task, params, policy, torch.zeros(2, 0), init)
    (g_full,) = torch.autograd.grad(full.fingertip[:, -1].sum(), bias)
    cut = run_episode(task, params, policy, torch.zeros(2, 0), init, truncate_every=3)
    (g_cut,) = torch.autograd.grad(cut.fingertip[:, -1].sum(), bias)
    assert g_full.abs().sum() > 0 and g_cut.abs().sum() > 0
    assert not torch.allclose(g_full, g_cut)  # early actions no longer contribute


def test_task_config_rejects_bad_values():
    spec, _ = build.relu_point_mass24()
    with pytest.raises(ValueError, match="vision_delay must be an int >= 1, got 0"):
        TaskConfig(spec, 10, vision_delay=0)
    with pytest.raises(ValueError, match="action_noise must be >= 0, got -0.1"):
        TaskConfig(spec, 10, action_noise=-0.1)


@pytest.mark.parametrize("runner", ["eager", "scan"])
def test_fields_record_only_what_is_asked_with_the_same_values(runner):
    from motornet_fn.nn.compiled import scan_episode

    run = run_episode if runner == "eager" else scan_episode
    spec, params = build.rigid_tendon_arm26()
    task = TaskConfig(spec, 6, proprio_delay=2, action_frames=1, proprio_noise=0.01, action_noise=0.01)
    init = EpisodeInit(JointState(torch.tensor([[0.8, 1.2], [0.5, 1.0]]), torch.zeros(2, 2)),
                       torch.tensor([[0.0, 0.5], [0.1, 0.4]]))
    noise = draw_noise(task, 2, torch.Generator().manual_seed(0))
    gru = torch.nn.GRUCell(task.obs_dim, 8)
    readout = torch.nn.Linear(8, spec.n_muscles)

    def policy(obs, h):
        h = gru(obs, h)
        return torch.sigmoid(readout(h)), h

    full = run_episode(task, params, policy, torch.zeros(2, 8), init, noise)
    some = run(task, params, policy, torch.zeros(2, 8), init, noise, fields=("hidden", "activation"))
    assert some.joint_pos is None and some.action is None and some.obs is None
    for name in ("fingertip", "goal", "activation", "hidden"):
        torch.testing.assert_close(getattr(some, name), getattr(full, name), rtol=1e-5, atol=1e-6)
    assert full.fingertip.shape == (2, 7, 2) and full.hidden.shape == (2, 6, 8)
    with pytest.raises(ValueError, match="fields must be among .* unknown \\['tip'\\]"):
        run(task, params, policy, torch.zeros(2, 8), init, noise, fields=("tip",))
