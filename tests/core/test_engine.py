"""The engine: one step body run by an eager loop or a scan; open-loop rollouts; recorded fields;
truncated backpropagation."""
import pytest
import torch

from motornet_fn.core import build, engine
from motornet_fn.core import effector as eff
from motornet_fn.core import env as E
from motornet_fn.core.tasks import get_task
from motornet_fn.core.tree import tree_leaves
from motornet_fn.core.types import JointState, Loads


def _arm_env(n_steps=6, **kw):
    spec_e, params_e = build.rigid_tendon_arm26()
    spec = E.EnvSpec(spec_e, get_task("random_reach"), n_steps, proprio_delay=2, action_frames=1, **kw)
    params = E.make_params(spec, params_e, proprio_noise=0.01, action_noise=0.01)
    g = torch.Generator().manual_seed(0)
    draws = E.sample_draws(E.reset_draws(spec, 2, {"batch_size": 2}), g)
    state, obs = E.reset(spec, params, draws, {"batch_size": 2})
    noise = E.sample_draws(E.step_draws(spec, (2,), ("action", "proprio")), g, leading=(n_steps,))
    return spec, params, state, obs, engine.StepInputs(E.StepDraws(**noise))


def _gru_policy(obs_dim, n_muscles, hidden=8):
    torch.manual_seed(0)
    gru, readout = torch.nn.GRUCell(obs_dim, hidden), torch.nn.Linear(hidden, n_muscles)

    def policy(obs, h):
        h = gru(obs, h)
        return torch.sigmoid(readout(h)), h

    return policy


@pytest.mark.parametrize("runner", ["eager", "scan"])
def test_fields_record_only_what_is_asked_with_the_same_values(runner):
    spec, params, state, obs, inputs = _arm_env()
    policy = _gru_policy(spec.obs_dim, 6)
    full, _ = engine.run_episode(spec, params, policy, torch.zeros(2, 8), state, obs, inputs)
    some, carry = engine.run_episode(spec, params, policy, torch.zeros(2, 8), state, obs, inputs,
                                     fields=("hidden", "activation", "force"), scan=runner == "scan")
    assert some.joint_pos is None and some.action is None and some.obs is None and some.fingertip is None
    for name in ("activation", "hidden", "force"):
        torch.testing.assert_close(getattr(some, name), getattr(full, name), rtol=1e-5, atol=1e-6)
    assert full.fingertip.shape == (2, 7, 2) and full.hidden.shape == (2, 6, 8) and full.obs.shape == (2, 6, spec.obs_dim)
    torch.testing.assert_close(carry.env.t, torch.full((2,), 6.0))
    with pytest.raises(ValueError, match=r"fields must be among .* unknown \['tip'\]"):
        engine.run_episode(spec, params, policy, torch.zeros(2, 8), state, obs, inputs, fields=("tip",))


def test_trace_index_zero_is_the_reset_state_and_obs_are_what_each_action_answered():
    spec, params, state, obs, inputs = _arm_env()
    seen = []

    def policy(o, h):
        seen.append(o)
        return torch.full((2, 6), 0.2), h

    trace, _ = engine.run_episode(spec, params, policy, torch.zeros(2, 0), state, obs, inputs)
    torch.testing.assert_close(trace.fingertip[:, 0], eff.cartesian(spec.effector, params.effector,
                                                                    state.effector.joint).pos)
    torch.testing.assert_close(trace.obs, torch.stack(seen, 1))
    torch.testing.assert_close(trace.obs[:, 0], obs)
    torch.testing.assert_close(trace.goal, state.task.target.unsqueeze(1).expand(2, 7, 2))


def test_truncated_bptt_cuts_gradients_to_early_actions():
    spec_e, params_e = build.relu_point_mass24()
    spec = E.EnvSpec(spec_e, get_task("fixed_goal", goal=(0.3, 0.3)), 9)  # an action moves the mass 3 steps later
    params = E.make_params(spec, params_e)
    state, obs = E.reset(spec, params, {"start": torch.full((2, 2), 0.5)}, {"batch_size": 2})
    bias = torch.zeros(4, requires_grad=True)
    policy = lambda o, h: (torch.sigmoid(bias + 0 * o[..., :4]).expand(2, 4), h)  # noqa: E731
    full, _ = engine.run_episode(spec, params, policy, torch.zeros(2, 0), state, obs)
    (g_full,) = torch.autograd.grad(full.fingertip[:, -1].sum(), bias)
    cut, _ = engine.run_episode(spec, params, policy, torch.zeros(2, 0), state, obs, truncate_every=3)
    (g_cut,) = torch.autograd.grad(cut.fingertip[:, -1].sum(), bias)
    assert g_full.abs().sum() > 0 and g_cut.abs().sum() > 0
    assert not torch.allclose(g_full, g_cut)  # early actions no longer contribute
    with pytest.raises(ValueError, match="needs the eager loop"):
        engine.run_episode(spec, params, policy, torch.zeros(2, 0), state, obs, scan=True, truncate_every=3)


@pytest.mark.parametrize("scan", [False, True])
def test_rollout_is_the_engine_without_a_policy(scan):
    """The open-loop rollout equals a hand loop of effector steps, for every record option."""
    spec, params = build.rigid_tendon_arm26()
    state = eff.initial_state(spec, params, JointState(torch.tensor([[0.8, 1.2], [1.0, 1.4]]), torch.zeros(2, 2)))
    actions = torch.rand(5, 2, 6, generator=torch.Generator().manual_seed(0))
    loads = Loads(torch.tensor([[1.0, -2.0]]).expand(2, 2), torch.zeros(2, 2))
    states, s = [state], state
    for a in actions:
        s = eff.step(spec, params, s, a, loads)
        states.append(s)
    traj = engine.rollout(spec, params, state, actions, loads, scan=scan)
    for got, *want in zip(tree_leaves(traj), *(tree_leaves(x) for x in states)):
        torch.testing.assert_close(got, torch.stack([w.expand_as(got[0]) for w in want]), rtol=1e-6, atol=1e-6)
    final = engine.rollout(spec, params, state, actions, loads, record=None, scan=scan)
    for got, want in zip(tree_leaves(final), tree_leaves(s)):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    tips = engine.rollout(spec, params, state, actions, loads, record=lambda x: x.joint.pos, scan=scan)
    torch.testing.assert_close(tips, traj.joint.pos)
