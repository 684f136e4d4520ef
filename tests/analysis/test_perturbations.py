"""Perturbation experiments through the engine: each perturbation acts only inside its per-trial window,
where it does exactly what it says, and gradients flow through its size."""
from __future__ import annotations

import pytest
import torch

from motornet_fn.analysis import behaviour
from motornet_fn.analysis import perturbations as P
from motornet_fn.core import compiled
from motornet_fn.nn import TrainConfig, Trainer

T = 20


def setup(batch_size=3, dtype="float32", **config):
    """An (untrained) GRU on centre-out reaches of the point mass, and one evaluation batch."""
    options = dict(task="centre_out", episode_duration=T * 0.01, hidden_size=8, batch_size=batch_size, dtype=dtype)
    trainer = Trainer(TrainConfig(**{**options, **config}))
    batch = trainer.sample(torch.Generator().manual_seed(3), batch_size, evaluation=True)
    return trainer, trainer.policy(0), batch


def episode(trainer, policy, batch, **kw):
    return P.run(trainer.env_spec, trainer.env_params, policy, batch, **kw)


class OpenLoop(torch.nn.Module):
    """Constant actions whatever it observes: the plant's path cannot react to feedback perturbations."""

    state_dim = 0

    def __init__(self, n_muscles):
        super().__init__()
        self.action = torch.nn.Parameter(torch.linspace(0.1, 0.4, n_muscles))

    def forward(self, obs, h):
        return self.action.expand(*obs.shape[:-1], -1), h


ONSET, DURATION = torch.tensor([2, 5, 9]), torch.tensor([3, 4, 2])
WINDOWS = list(zip(ONSET.tolist(), (ONSET + DURATION).tolist()))  # [onset, end) per trial


def test_window_marks_each_trials_steps():
    on = P.window(T, ONSET, DURATION)
    assert on.shape == (T, 3)
    for b, (a, e) in enumerate(WINDOWS):
        assert on[:, b].nonzero().flatten().tolist() == list(range(a, e))
    assert P.window(4, 1, 2, batch_size=2).tolist() == [[0, 0], [1, 1], [1, 1], [0, 0]]
    with pytest.raises(ValueError, match="needs batch_size"):
        P.window(4, 1, 2)
    with pytest.raises(ValueError, match="onset must be an int >= 0"):
        P.window(4, torch.tensor([-1, 2]), 2)


def test_a_silenced_unit_is_zero_only_inside_its_window_and_the_muscles_see_it():
    trainer, policy, batch = setup()
    units = [1, 4]
    base = episode(trainer, policy, batch)
    cut = episode(trainer, policy, batch, units=P.silence(P.window(T, ONSET, DURATION), units, policy.state_dim))
    for b, (a, e) in enumerate(WINDOWS):
        torch.testing.assert_close(cut.hidden[b, :a], base.hidden[b, :a], rtol=0, atol=0)  # untouched before
        torch.testing.assert_close(cut.action[b, :a], base.action[b, :a], rtol=0, atol=0)
        assert torch.all(cut.hidden[b, a:e][:, units] == 0)
        assert torch.all(base.hidden[b, a:e][:, units] != 0)
        assert torch.all(cut.hidden[b, e:][:, units] != 0)  # the units come back after the window
        assert torch.all(cut.hidden[b, a:e][:, [0, 2, 3]] != 0)  # the other units keep firing
    # every action, inside the windows too, is the readout of the (silenced) state, not of the state before
    torch.testing.assert_close(cut.action, policy.readout(cut.hidden))
    a, e = WINDOWS[0]
    assert not torch.allclose(cut.action[0, a], base.action[0, a])


def test_per_trial_units_and_clamped_values():
    trainer, policy, batch = setup()
    mask = torch.zeros(3, 8, dtype=torch.bool)
    mask[0, 0] = mask[1, 2] = mask[2, 7] = True
    value = torch.tensor([[0.5], [-0.3], [0.9]])
    held = episode(trainer, policy, batch, units=P.clamp(P.window(T, ONSET, DURATION), mask, value, policy.state_dim))
    base = episode(trainer, policy, batch)
    for b, (a, e) in enumerate(WINDOWS):
        unit = int(mask[b].nonzero())
        assert torch.all(held.hidden[b, a:e, unit] == value[b, 0])
        torch.testing.assert_close(held.hidden[b, :a], base.hidden[b, :a], rtol=0, atol=0)
        assert not torch.any(held.hidden[b, e:, unit] == value[b, 0])  # released after the window
    with pytest.raises(ValueError, match=r"units must be indices in 0\.\.7"):
        P.clamp(P.window(T, ONSET, DURATION), [8], 0.0, policy.state_dim)


def test_an_added_current_changes_the_state_by_exactly_the_current_at_onset_and_nothing_before():
    trainer, policy, batch = setup()
    current = torch.tensor([[0.2], [-0.4], [0.1]])
    base = episode(trainer, policy, batch)
    fed = episode(trainer, policy, batch, units=P.add_current(P.window(T, ONSET, DURATION), [3], current,
                                                              policy.state_dim))
    for b, (a, e) in enumerate(WINDOWS):
        torch.testing.assert_close(fed.hidden[b, :a], base.hidden[b, :a], rtol=0, atol=0)
        expected = torch.zeros(8)
        expected[3] = current[b, 0]
        torch.testing.assert_close(fed.hidden[b, a] - base.hidden[b, a], expected)  # same update, plus the current
        assert (fed.hidden[b, a + 1] - base.hidden[b, a + 1]).abs()[[0, 1, 2, 4, 5, 6, 7]].max() > 0  # then spreads


@pytest.mark.parametrize("vision_delay,proprio_delay", [(1, 1), (3, 2)])
def test_feedback_shift_and_blank_show_in_the_observation_only_inside_the_delayed_window(vision_delay, proprio_delay):
    trainer, _, batch = setup(vision_delay=vision_delay, proprio_delay=proprio_delay, vision_noise=0.01,
                              proprio_noise=0.01)
    spec, policy = trainer.env_spec, OpenLoop(trainer.spec.n_muscles)
    on = P.window(T, ONSET, DURATION)
    shift = torch.tensor([[0.1, -0.05], [0.0, 0.2], [-0.3, 0.0]])
    base = episode(trainer, policy, batch)
    shifted = episode(trainer, policy, batch, feedback=P.shift_feedback(spec, on, vision=shift))
    blanked = episode(trainer, policy, batch, feedback=P.blank_feedback(spec, on, proprio=True))
    torch.testing.assert_close(shifted.fingertip, base.fingertip, rtol=0, atol=0)  # open loop: same path
    vision, proprio = slice(2, 4), slice(4, 12)  # obs = [goal, vision, proprioception] of the point mass
    for b, (a, e) in enumerate(WINDOWS):
        # a frame of step t enters its delay line and is first seen by the action of step t + delay
        seen_v = torch.zeros(T, dtype=torch.bool)
        seen_v[a + vision_delay:e + vision_delay] = True
        seen_p = torch.zeros(T, dtype=torch.bool)
        seen_p[a + proprio_delay:e + proprio_delay] = True
        diff = shifted.obs[b] - base.obs[b]
        torch.testing.assert_close(diff[seen_v, vision], shift[b].expand(int(seen_v.sum()), 2))
        assert torch.all(diff[~seen_v] == 0) and torch.all(diff[:, proprio] == 0)
        assert torch.all(blanked.obs[b, seen_p, proprio] == 0)
        assert torch.all(blanked.obs[b, ~seen_p] == base.obs[b, ~seen_p])
        assert torch.all(blanked.obs[b, :, vision] == base.obs[b, :, vision])


def test_a_force_pulse_deflects_the_hand_along_the_force_only_after_its_onset():
    trainer, policy, batch = setup()
    force = P.lateral_force(batch.state, 20.0)  # (3, 2) N, to the left of each reach
    torch.testing.assert_close(torch.linalg.vector_norm(force, dim=-1), torch.full((3,), 20.0))
    base = episode(trainer, policy, batch)
    pushed = episode(trainer, policy, batch, loads=P.force_pulse(trainer.env_spec, P.window(T, ONSET, DURATION), force))
    for b, (a, e) in enumerate(WINDOWS):
        moved = torch.linalg.vector_norm(pushed.fingertip[b] - base.fingertip[b], dim=-1)
        first = int((moved > 0).nonzero()[0])
        assert a < first <= a + 2  # trace index t + 1 is the state after step t: the pulse acts from step a
        # along the force: the hand's lateral deviation grows to the left by the end of the pulse
        along = torch.dot(pushed.fingertip[b, e] - base.fingertip[b, e], force[b] / 20.0)
        assert along > 1e-3
        lateral = behaviour.lateral_deviation(pushed.fingertip[b], batch.state.task.start[b], batch.state.task.target[b])
        assert lateral[e] > behaviour.lateral_deviation(base.fingertip[b], batch.state.task.start[b],
                                                        batch.state.task.target[b])[e] + 1e-3


def test_curl_field_and_force_channel_act_per_trial():
    trainer, policy, batch = setup()
    # the curl field on an open-loop push: clockwise of the motion for k > 0, counter-clockwise for k < 0
    push = OpenLoop(trainer.spec.n_muscles)
    base = episode(trainer, push, batch)
    spec, state = P.curl_field(trainer.env_spec, batch.state, torch.tensor([0.0, 50.0, -50.0]))
    curled = P.run(spec, trainer.env_params, push, batch._replace(state=state))
    torch.testing.assert_close(curled.fingertip[0], base.fingertip[0])  # gain 0: field off for trial 0
    motion = base.fingertip[:, -1] - base.fingertip[:, 0]
    off = curled.fingertip[:, -1] - base.fingertip[:, -1]
    turn = motion[:, 0] * off[:, 1] - motion[:, 1] * off[:, 0]  # > 0: deflected counter-clockwise of the motion
    assert turn[1] < 0 < turn[2] and off[1:].norm(dim=-1).min() > 1e-3
    # a stiff channel (K = 10^4 N/m) along each reach holds the hand within a few F / K of the line under a
    # lateral pulse of F = 20 N, where the free (untrained) network's hand strays by centimetres
    start, target = batch.state.task.start, batch.state.task.target
    dev = lambda tr: behaviour.lateral_deviation(tr.fingertip, start, target).abs().amax(-1)  # noqa: E731
    loads = P.force_pulse(trainer.env_spec, P.window(T, ONSET, DURATION), P.lateral_force(batch.state, 20.0))
    spec, state = P.force_channel(trainer.env_spec, batch.state, torch.full((3,), 1e4), 150.0)
    channelled = P.run(spec, trainer.env_params, policy, batch._replace(state=state), loads=loads)
    assert torch.all(dev(channelled) < 2 * 20.0 / 1e4) and torch.all(dev(episode(trainer, policy, batch)) > 0.02)


def test_gradients_through_perturbations_match_finite_differences(float64):
    trainer, policy, batch = setup(batch_size=2, dtype="float64")
    spec = trainer.env_spec
    on = P.window(T, torch.tensor([3, 6]), 4)

    def final_hand(current, shift, force):
        trace = episode(trainer, policy, batch, units=P.add_current(on, [0, 5], current, policy.state_dim),
                        feedback=P.shift_feedback(spec, on, vision=shift), loads=P.force_pulse(spec, on, force),
                        fields=("fingertip",))
        return trace.fingertip[:, -1]

    args = (torch.tensor([[0.3], [-0.2]]), torch.tensor([0.05, -0.02]), torch.tensor([[5.0, -2.0], [1.0, 3.0]]))
    assert torch.autograd.gradcheck(final_hand, tuple(a.requires_grad_(True) for a in args), eps=1e-6, atol=1e-6)

    # and through a silenced network to its weights: finite and not all zero
    trace = episode(trainer, policy, batch, units=P.silence(on, [1, 2, 3], policy.state_dim))
    loss = (trace.fingertip[:, -1] - trace.goal[:, -1]).pow(2).sum()
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="torch._higher_order_ops.scan unavailable")
def test_a_compiled_perturbed_episode_equals_the_eager_one():
    """Silenced units, shifted vision and a force pulse, with gradients (one compile: 1-2 min on 2 shared cores)."""
    trainer, policy, batch = setup(proprio_noise=0.01)
    spec, on = trainer.env_spec, P.window(T, ONSET, DURATION)
    force = torch.tensor([[10.0, 0.0], [0.0, -10.0], [5.0, 5.0]], requires_grad=True)
    traces, grads = [], []
    for fast in (False, True):
        trace = P.run(spec, trainer.env_params, policy, batch, units=P.silence(on, [1, 4], policy.state_dim),
                      feedback=P.shift_feedback(spec, on, vision=torch.tensor([0.05, 0.0])),
                      loads=P.force_pulse(spec, on, force), compiled=fast)
        grads.append(torch.autograd.grad(trace.fingertip[:, -1].pow(2).sum(), [force, *policy.parameters()]))
        traces.append(trace)
    for name in ("fingertip", "hidden", "action", "obs"):
        torch.testing.assert_close(getattr(traces[1], name), getattr(traces[0], name), rtol=1e-5, atol=1e-6)
    for fast, eager in zip(grads[1], grads[0]):
        torch.testing.assert_close(fast, eager, rtol=1e-4, atol=1e-6)
    assert torch.all(traces[1].hidden[0, 2:5, [1, 4]] == 0)


@pytest.mark.parametrize("mass", [1.0, 2.5])
def test_the_effective_endpoint_mass_of_a_point_mass_is_its_mass(mass):
    from motornet_fn.analysis.analyze import endpoint_mass
    from motornet_fn.core import build

    trainer, _, batch = setup()
    spec, params = build.relu_point_mass24(mass=mass)
    env_params = trainer.env_params._replace(effector=params)
    direction = P.lateral_force(batch.state, 1.0)
    got = endpoint_mass(trainer.env_spec, env_params, batch.state, direction)
    torch.testing.assert_close(got, torch.full((3,), mass), rtol=1e-4, atol=0)
