"""The pure environment (core.env) and the engine's closed loop: MotorNet's recorded observations,
explicit noise, delays, loads and fields, bad specs."""
import pytest
import torch

from motornet_fn.core import build, engine
from motornet_fn.core import effector as eff
from motornet_fn.core import env as E
from motornet_fn.core.tasks import TaskState, get_task
from motornet_fn.core.tree import tree_leaves
from motornet_fn.core.types import Loads, joint_from_tensor
from tests.reference import load_case


def replay(actions):
    """A 'policy' that plays back recorded actions, one per call."""
    queue = list(torch.unbind(actions))

    def policy(obs, h):
        return queue.pop(0), h

    return policy


def fixed_target_state(spec, params, joint, goal):
    """An EnvState of trials starting at ``joint`` with the (already drawn) target ``goal``."""
    effector = eff.initial_state(spec.effector, params.effector, joint)
    tip = eff.cartesian(spec.effector, params.effector, joint).pos
    zero = tip.new_zeros(tip.shape[:-1])
    task = TaskState(tip, goal, zero, zero, torch.zeros_like(tip))
    return E.start(spec, params, effector, task, E.make_fields(spec, task, {}), {})


@pytest.mark.parametrize("case", ["env_relu_pointmass24", "env_rigid_arm26"])
@pytest.mark.parametrize("episode", [0, 1])
def test_observations_match_motornet_environment(case, episode):
    config, arrays = load_case(case)
    eff_cfg = config["effector"]
    if eff_cfg["effector_class"] == "ReluPointMass24":
        spec_e, params_e = build.relu_point_mass24()
    else:
        spec_e, params_e = build.rigid_tendon_arm26(eff_cfg["muscle_class"])
    delays = config["delays_in_steps"]
    n_steps = arrays[f"ep{episode}_actions"].shape[0]
    spec = E.EnvSpec(spec_e, get_task("random_reach"), n_steps, delays["proprioception"], delays["vision"],
                     config["env_kwargs"]["action_frame_stacking"])
    assert spec.obs_dim == config["obs_dim"]
    params = E.make_params(spec, params_e)
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    state, obs = fixed_target_state(spec, params, joint_from_tensor(f32(arrays[f"ep{episode}_joint_init"])),
                                    f32(arrays[f"ep{episode}_goal"][0]))
    actions = f32(arrays[f"ep{episode}_actions"])
    trace, _ = engine.run_episode(spec, params, replay(actions), torch.zeros(4, 0), state, obs)
    ref_obs = f32(arrays[f"ep{episode}_obs"]).transpose(0, 1)
    torch.testing.assert_close(trace.obs, ref_obs[:, :-1], rtol=1e-4, atol=1e-5)
    ref_xy = f32(arrays[f"ep{episode}_fingertip"]).transpose(0, 1)
    torch.testing.assert_close(trace.fingertip, ref_xy, rtol=1e-4, atol=1e-5)


def _spec(**kw):
    spec_e, params_e = build.relu_point_mass24()
    spec = E.EnvSpec(spec_e, get_task("random_reach"), **kw)
    return spec, E.make_params(spec, params_e, action_noise=0.1, proprio_noise=0.2, vision_noise=0.3, obs_noise=0.4)


def test_noise_enters_as_scaled_standard_normals_and_the_goal_stays_clean():
    spec, params = _spec(n_steps=5)
    assert torch.all(params.noise.obs[:2] == 0) and torch.all(params.noise.obs[2:] == 0.4)
    options = {"batch_size": 3}
    draws = E.sample_draws(E.reset_draws(spec, 3, options), torch.Generator().manual_seed(1))
    assert [d.name for d in E.reset_draws(spec, 3, options)] == ["start", "target", "proprio_fill", "vision_fill",
                                                                  "proprio", "vision", "obs"]
    clean_draws = {k: v for k, v in draws.items() if k in ("start", "target")}
    noisy, obs = E.reset(spec, params, draws, options)
    clean, obs0 = E.reset(spec, params, clean_draws, options)
    torch.testing.assert_close(obs[:, :2], obs0[:, :2], rtol=0, atol=0)  # the goal part is noiseless
    torch.testing.assert_close(obs - obs0, params.noise.obs * draws["obs"]
                               + torch.cat([torch.zeros(3, 2), 0.3 * draws["vision"], 0.2 * draws["proprio"]], -1))
    step = E.StepDraws(*(torch.randn(3, n) for n in (4, 8, 2, 12)))
    action = torch.full((3, 4), 0.3)
    _, _, info = E.step(spec, params, clean, action, step)
    torch.testing.assert_close(info.noisy_action, action + 0.1 * step.action)


def test_delays_show_old_frames_and_actions_are_stacked_oldest_first():
    spec_e, params_e = build.relu_point_mass24()
    spec = E.EnvSpec(spec_e, get_task("fixed_goal"), 10, proprio_delay=3, vision_delay=2, action_frames=2)
    params = E.make_params(spec, params_e)
    state, obs = E.reset(spec, params, {"start": torch.full((1, 2), 0.5)}, {"batch_size": 1})
    tips, props, acts = [], [], []
    for k in range(6):
        a = torch.full((1, 4), 0.1 * (k + 1))
        state, obs, info = E.step(spec, params, state, a)
        tips.append(info.fingertip.pos)
        props.append(E.feedback(spec, params, state.effector)[0])
        acts.append(a)
        if k >= 2:
            torch.testing.assert_close(obs[:, 2:4], tips[k - 1])  # vision 1 step old (delay 2)
            torch.testing.assert_close(obs[:, 4:12], props[k - 2])  # proprioception 2 steps old (delay 3)
            torch.testing.assert_close(obs[:, 12:], torch.cat([acts[k - 1], acts[k]], -1))


def test_env_step_applies_task_loads_fields_and_external_loads_like_the_effector_step():
    spec_e, params_e = build.relu_point_mass24(dtype=torch.float64)
    spec = E.EnvSpec(spec_e, get_task("random_reach_loads"), 10, curl=True)
    params = E.make_params(spec, params_e)
    draws = E.sample_draws(E.reset_draws(spec, 2, {"batch_size": 2}, noise=()), torch.Generator().manual_seed(0),
                           torch.float64)
    state, _ = E.reset(spec, params, draws, {"batch_size": 2, "curl_gain": torch.tensor([0.0, 20.0])})
    state = state._replace(effector=state.effector._replace(joint=state.effector.joint._replace(
        vel=torch.tensor([[0.3, -0.2], [0.5, 0.1]], dtype=torch.float64))))
    action = torch.full((2, 4), 0.05, dtype=torch.float64)
    extra = Loads(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    new, _, _ = E.step(spec, params, state, action, loads=extra)
    tip = eff.cartesian(spec_e, params_e, state.effector.joint)
    curl = torch.stack([tip.vel[:, 1], -tip.vel[:, 0]], -1) * torch.tensor([[0.0], [20.0]], dtype=torch.float64)
    want = eff.step(spec_e, params_e, state.effector, action, Loads(state.task.load + curl + extra.endpoint, extra.joint))
    for a, b in zip(tree_leaves(new.effector), tree_leaves(want)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_env_spec_rejects_bad_values():
    spec_e, _ = build.relu_point_mass24()
    with pytest.raises(ValueError, match="vision_delay must be an int >= 1, got 0"):
        E.EnvSpec(spec_e, get_task("random_reach"), 10, vision_delay=0)
    with pytest.raises(ValueError, match="n_steps must be an int >= 1, got 0"):
        E.EnvSpec(spec_e, get_task("random_reach"), 0)
    with pytest.raises(TypeError, match="task must be a Task"):
        E.EnvSpec(spec_e, "random_reach", 10)
    spec = E.EnvSpec(spec_e, get_task("random_reach"), 10)
    with pytest.raises(ValueError, match=r"action_noise must be finite and >= 0, got \[-0.1\]"):
        E.make_params(spec, build.relu_point_mass24()[1], action_noise=-0.1)
    with pytest.raises(ValueError, match=r"obs_noise must be a scalar or have 12 values \(one per entry\), got 3"):
        E.make_params(spec, build.relu_point_mass24()[1], obs_noise=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"episode duration must be at least one timestep \(0.01 s\), got 0.001 s"):
        E.steps_of(0.001, 0.01)
