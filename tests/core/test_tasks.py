"""Task samplers and schedules: centre-out geometry, go cues, catch trials, random loads."""
import math

import pytest
import torch

from motornet_fn.core import build, tasks


def test_uniform_joint_states_stay_in_bounds_and_follow_the_generator():
    spec, params = build.rigid_tendon_arm26()
    a = tasks.uniform_joint_states(spec, params, 500, torch.Generator().manual_seed(0))
    b = tasks.uniform_joint_states(spec, params, 500, torch.Generator().manual_seed(0))
    assert torch.equal(a.pos, b.pos) and torch.all(a.vel == 0)
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    assert torch.all(a.pos >= lo) and torch.all(a.pos <= hi)
    assert torch.all(a.pos.min(0).values < lo + 0.05) and torch.all(a.pos.max(0).values > hi - 0.05)


def test_random_reach_goal_is_a_reachable_fingertip_position():
    spec, params = build.rigid_tendon_arm26()
    start, goal = tasks.random_reach(spec, params, 64, torch.Generator().manual_seed(1))
    reach = torch.linalg.vector_norm(goal, dim=-1)
    l1, l2 = params.skeleton.l1, params.skeleton.l2
    assert torch.all(reach <= l1 + l2 + 1e-6) and torch.all(reach >= (l1 - l2).abs() - 1e-6)


def test_centre_out_targets_lie_on_a_circle_around_the_start():
    spec, params = build.rigid_tendon_arm26()
    start = torch.tensor([math.pi / 4, math.pi / 2])
    joint, goal = tasks.centre_out(spec, params, start, 0.1, n_targets=8)
    centre = spec.skeleton.forward_kinematics(params.skeleton, joint).pos
    torch.testing.assert_close(torch.linalg.vector_norm(goal - centre, dim=-1), torch.full((8,), 0.1))
    angles = torch.atan2(*(goal - centre).flip(-1).unbind(-1))
    torch.testing.assert_close(torch.remainder(angles, 2 * math.pi), torch.arange(8) * (math.pi / 4), atol=1e-5, rtol=0)
    _, picked = tasks.centre_out(spec, params, start, 0.1, 8, torch.tensor([2, 2, 5]))
    torch.testing.assert_close(picked, goal[[2, 2, 5]])


def test_delayed_schedule_go_cue_and_catch_trials():
    start_xy = torch.zeros(3, 2)
    goal = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    sched = tasks.delayed_schedule(start_xy, goal, 10, torch.tensor([2, 2, 2]), torch.tensor([4, 6, 4]),
                                   torch.tensor([False, False, True]))
    assert sched.shown.shape == (11, 3, 2) and sched.cue.shape == (11, 3, 1)
    # target hidden before step 2, shown after (also in the catch trial)
    assert torch.all(sched.shown[:2] == 0) and torch.equal(sched.shown[2:], goal.expand(9, 3, 2))
    assert sched.cue[:, 0, 0].tolist() == [0] * 4 + [1] * 7
    assert sched.cue[:, 1, 0].tolist() == [0] * 6 + [1] * 5
    assert torch.all(sched.cue[:, 2] == 0)  # catch: never a go cue
    assert torch.all(sched.desired[:4, 0] == 0) and torch.equal(sched.desired[4:, 0], goal[0].expand(7, 2))
    assert torch.all(sched.desired[:, 2] == 0)  # catch: hold at the start


def test_sample_delays_respects_the_range_and_catch_probability():
    target, go, catch = tasks.sample_delays(4000, 100, 10, (20, 30), 0.25, torch.Generator().manual_seed(3))
    delay = go - target
    assert torch.all(target == 10) and delay.min() == 20 and delay.max() == 30
    assert abs(catch.float().mean().item() - 0.25) < 0.03
    with pytest.raises(ValueError, match="delay_range must satisfy .* got delay_range=\\(20, 95\\)"):
        tasks.sample_delays(4, 100, 10, (20, 95), 0.2)
    with pytest.raises(ValueError, match="catch_prob must lie in \\[0, 1\\], got 1.5"):
        tasks.sample_delays(4, 100, 10, (20, 30), 1.5)


def test_random_endpoint_loads_are_bounded_and_isotropic():
    loads = tasks.random_endpoint_loads(20000, 5.0, torch.Generator().manual_seed(4))
    norm = torch.linalg.vector_norm(loads, dim=-1)
    assert norm.max() <= 5.0 and norm.max() > 4.9
    assert loads.mean(0).abs().max() < 0.1
