"""Force fields, channels and pulses: directions, per-trial switching, vmap and gradients."""
import torch
from torch.func import vmap

from motornet_fn.core import build
from motornet_fn.core import effector as eff
from motornet_fn.core.interventions import (
    channel_force, curl_force, field_force, no_intervention, pulse, rollout_with_intervention,
)
from motornet_fn.core.types import JointState


def straight_up_reach(curl_gain, n_steps=40):
    """Point mass pushed straight up (+y) by its two lower muscles, in a curl field per trial."""
    spec, params = build.relu_point_mass24(dtype=torch.float64)
    batch = curl_gain.shape[0]
    start = JointState(torch.zeros(batch, 2, dtype=torch.float64), torch.zeros(batch, 2, dtype=torch.float64))
    state = eff.initial_state(spec, params, start)
    actions = torch.zeros(n_steps, batch, 4, dtype=torch.float64)
    actions[..., :2] = 0.005  # UpperRight + UpperLeft: net pull straight up, gentle enough to stay off the bounds
    iv = no_intervention(spec, n_steps, (batch,), dtype=torch.float64)._replace(curl_gain=curl_gain)
    return spec, params, rollout_with_intervention(spec, params, state, actions, iv)


def test_curl_field_deviates_a_straight_reach_to_the_expected_side():
    _, _, out = straight_up_reach(torch.tensor([0.0, 5.0, -5.0], dtype=torch.float64))
    x, y = out.joint.pos[-1, :, 0], out.joint.pos[-1, :, 1]
    assert torch.all(y > 0.05) and out.joint.pos.abs().max() < 0.9  # moved up, never touched a bound
    assert abs(x[0]) < 1e-12  # no field: straight
    assert x[1] > 0.005 and x[2] < -0.005  # clockwise field pushes an upward reach to the right
    torch.testing.assert_close(x[1], -x[2])  # symmetric


def test_curl_and_channel_forces_point_where_defined():
    v = torch.tensor([0.0, 1.0])
    torch.testing.assert_close(curl_force(v, torch.tensor(2.0)), torch.tensor([2.0, 0.0]))
    # channel along +y through the origin; endpoint 1 cm to the right, moving right: pushed left
    f = channel_force(torch.tensor([0.01, 0.3]), torch.tensor([0.1, 0.5]), torch.zeros(2), torch.tensor([0.0, 2.0]),
                      torch.tensor(1000.0), torch.tensor(10.0))
    torch.testing.assert_close(f, torch.tensor([-(1000 * 0.01 + 10 * 0.1), 0.0]))


def test_force_channel_keeps_the_reach_on_its_line():
    spec, params = build.relu_point_mass24(dtype=torch.float64)
    n = 40
    start = JointState(torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    actions = torch.tensor([0.005, 0.001, 0.003, 0.0], dtype=torch.float64).expand(n, 2, 4)  # drifts sideways
    iv = no_intervention(spec, n, (2,), dtype=torch.float64)
    iv = iv._replace(channel_stiffness=torch.tensor([0.0, 2000.0], dtype=torch.float64),
                     channel_damping=torch.tensor([0.0, 50.0], dtype=torch.float64),
                     channel_direction=torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64))
    out = rollout_with_intervention(spec, params, eff.initial_state(spec, params, start), actions, iv)
    free_x, channel_x = out.joint.pos[:, 0, 0].abs().max(), out.joint.pos[:, 1, 0].abs().max()
    assert free_x > 0.02 and channel_x < 0.1 * free_x and out.joint.pos.abs().max() < 0.9


def test_pulse_schedule_and_loads():
    start = torch.tensor([2, 5])
    force = torch.tensor([[1.0, 0.0], [0.0, -3.0]])
    sched = pulse(8, start, 3, force)
    assert sched.shape == (8, 2, 2)
    assert sched[:, 0, 0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert sched[:, 1, 1].tolist() == [0, 0, 0, 0, 0, -3, -3, -3]
    spec, params = build.relu_point_mass24(dtype=torch.float64)
    iv = no_intervention(spec, 8, (2,), dtype=torch.float64)._replace(endpoint_force=sched.double())
    state = eff.initial_state(spec, params, JointState(torch.zeros(2, 2, dtype=torch.float64),
                                                       torch.zeros(2, 2, dtype=torch.float64)))
    assert torch.all(field_force(spec, params, state, iv) == 0)  # no fields: only the schedule acts
    # a passive unit mass under the schedule: its velocity integrates the force step by step (Euler)
    out = rollout_with_intervention(spec, params, state, torch.zeros(8, 2, 4, dtype=torch.float64), iv)
    torch.testing.assert_close(out.joint.vel[1:], torch.cumsum(sched.double(), 0) * spec.dt)


def test_a_pulse_moves_the_unactuated_arm_in_its_direction():
    spec, params = build.rigid_tendon_arm26(dtype=torch.float64)
    n = 30
    start = JointState(torch.tensor([[0.8, 1.4]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64))
    state = eff.initial_state(spec, params, start)
    actions = torch.zeros(n, 1, 6, dtype=torch.float64)
    iv = no_intervention(spec, n, (1,), dtype=torch.float64)
    push = iv._replace(endpoint_force=pulse(n, torch.tensor([5]), 5, torch.tensor([[20.0, 0.0]], dtype=torch.float64)))
    rest = rollout_with_intervention(spec, params, state, actions, iv)
    moved = rollout_with_intervention(spec, params, state, actions, push)
    xy = lambda s: spec.skeleton.forward_kinematics(params.skeleton, s.joint).pos  # noqa: E731
    dx = xy(moved)[-1, 0] - xy(rest)[-1, 0]
    assert dx[0] > 0.01 and abs(dx[1]) < dx[0]
    torch.testing.assert_close(xy(moved)[:6], xy(rest)[:6])  # nothing happens before the pulse acts


def test_interventions_vmap_and_differentiate():
    gains = torch.linspace(-5, 5, 5, dtype=torch.float64)
    _, _, batched = straight_up_reach(gains, n_steps=20)
    looped = torch.stack([straight_up_reach(g.reshape(1), n_steps=20)[2].joint.pos[-1, 0] for g in gains])
    torch.testing.assert_close(batched.joint.pos[-1], looped)
    vmapped = vmap(lambda g: straight_up_reach(g.reshape(1), n_steps=20)[2].joint.pos[-1, 0])(gains)
    torch.testing.assert_close(vmapped, looped)
    gain = torch.tensor([10.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(straight_up_reach(gain, n_steps=20)[2].joint.pos[-1, 0, 0], gain)
    assert torch.isfinite(grad).all() and grad > 0
