"""Reach metrics against closed-form kinematics: straight and circular-arc reaches, minimum-jerk speed
profiles, trials that never move, any batch dims, vmap, tables and errors."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
import torch
from torch.func import vmap

from motornet_fn.analysis import behaviour as bh
from tests.analysis.reaches import arc, arc_angle, gamma_progress, hold_then, minimum_jerk, rotation, sagitta, straight

START = torch.tensor([0.02, -0.01], dtype=torch.float64)
CHORD = 0.1
RADIUS = 0.08


def target_at(angle: float, start=START, distance=CHORD) -> torch.Tensor:
    return start + distance * torch.tensor([math.cos(angle), math.sin(angle)], dtype=start.dtype)


# ------------------------------------------------------------------------------ straight reaches
@pytest.mark.parametrize("direction", [0.0, 0.7, -2.4])
def test_straight_reach_has_no_deviation_or_angular_error(float64, direction):
    target = target_at(direction)
    n, duration = 501, 0.5
    dt = duration / (n - 1)
    pos = straight(START, target, minimum_jerk(n))
    m = bh.reach_metrics(pos, START, target, dt)
    assert torch.allclose(bh.lateral_deviation(pos, START, target), torch.zeros(n), atol=1e-15)
    assert abs(float(m.angular_error)) < 1e-12
    assert abs(float(m.max_lateral_deviation)) < 1e-15
    assert float(m.endpoint_error) < 1e-15
    assert math.isclose(float(m.path_length), CHORD, rel_tol=1e-12)
    # minimum jerk: peak speed 15/8 distance/duration at mid-movement
    assert math.isclose(float(m.peak_speed), 15 / 8 * CHORD / duration, rel_tol=1e-4)
    assert math.isclose(float(m.peak_time), duration / 2, abs_tol=1e-12)


def test_speed_of_uniform_motion_is_exact(float64):
    dt = 0.01
    v = torch.tensor([0.3, -0.4])
    pos = START + torch.arange(7)[:, None] * dt * v
    assert torch.allclose(bh.velocity(pos, dt), v.expand(7, 2))
    assert torch.allclose(bh.speed(pos, dt), torch.full((7,), 0.5))
    two = bh.speed(pos[:2], dt)  # T = 2: one-sided differences only
    assert torch.allclose(two, torch.full((2,), 0.5))


def test_endpoint_error_is_the_final_distance(float64):
    target = target_at(0.3)
    pos = straight(START, target + torch.tensor([0.003, -0.004]), minimum_jerk(101))
    assert math.isclose(float(bh.endpoint_error(pos, target)), 0.005, rel_tol=1e-12)


# ------------------------------------------------------------------------------ circular arcs
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("direction", [0.0, 2.0])
def test_arc_deviation_is_the_sagitta_with_the_side_as_sign(float64, left, direction):
    target = target_at(direction)
    n = 401  # odd: the arc's midpoint is a sample
    pos = arc(START, target, RADIUS, minimum_jerk(n), left)
    sign = 1 if left else -1
    deviation = bh.lateral_deviation(pos, START, target)
    # every sample: r cos(alpha) - h
    theta = arc_angle(CHORD, RADIUS)
    alpha = -theta / 2 + theta * minimum_jerk(n)
    expected = sign * (RADIUS * torch.cos(alpha) - math.sqrt(RADIUS**2 - (CHORD / 2) ** 2))
    assert torch.allclose(deviation, expected, atol=1e-14)
    assert math.isclose(float(bh.max_lateral_deviation(pos, START, target)), sign * sagitta(CHORD, RADIUS),
                        rel_tol=1e-10)
    # the symmetric speed profile peaks at mid-arc, where the tangent is parallel to the chord
    assert abs(float(bh.angular_error_at_peak_velocity(pos, START, target, 1e-3))) < 1e-9


@pytest.mark.parametrize("left", [True, False])
def test_arc_angular_error_at_an_early_peak_is_closed_form(float64, left):
    duration, tau, n = 1.0, 0.2, 1001
    dt = duration / (n - 1)
    target = target_at(-0.9)
    pos = arc(START, target, RADIUS, gamma_progress(n, duration, tau), left)
    # peak speed at t = tau, where the progress is u*; the tangent is Theta (1/2 - u*) off the chord
    u_star = (1 - 2 / math.e) / (1 - math.exp(-duration / tau) * (1 + duration / tau))
    expected = (1 if left else -1) * arc_angle(CHORD, RADIUS) * (0.5 - u_star)
    got = bh.angular_error_at_peak_velocity(pos, START, target, dt)
    assert abs(float(got) - expected) < 5e-3  # within a sample of the peak (~2.5e-3 rad per sample)
    assert abs(float(bh.peak_velocity_index(pos, dt)) - tau / dt) <= 1
    # at the first sample the velocity is the start tangent, Theta / 2 off the chord (to first order in dt)
    first = bh._signed_angle(target - START, bh.velocity(pos, dt)[0])
    assert abs(float(first) - (1 if left else -1) * arc_angle(CHORD, RADIUS) / 2) < 1e-3


# ------------------------------------------------------------------------------ timing
def minimum_jerk_crossing(fraction_of_peak: float) -> float:
    """tau in (0, 1/2) where the minimum-jerk speed 30 tau^2 (1-tau)^2 equals fraction * its peak 15/8."""
    root = math.sqrt(fraction_of_peak * 15 / 8 / 30)  # tau (1 - tau)
    return (1 - math.sqrt(1 - 4 * root)) / 2


@pytest.mark.parametrize("fraction, min_speed, crossing_fraction", [
    (0.05, 0.0, 0.05),          # relative threshold
    (0.05, 0.15, 0.15 / 0.375),  # the absolute floor (m/s) dominates; peak speed 0.375 m/s
])
def test_reaction_and_movement_time_of_a_minimum_jerk_reach(float64, fraction, min_speed, crossing_fraction):
    duration, n, n_hold, go = 0.4, 401, 150, 100
    dt = duration / (n - 1)
    target = target_at(1.0, distance=0.08)  # peak speed 15/8 * 0.08 / 0.4 = 0.375 m/s
    pos = hold_then(straight(START, target, minimum_jerk(n)), n_hold)
    crossing = minimum_jerk_crossing(crossing_fraction) * duration
    rt, moved = bh.reaction_time(pos, dt, go, fraction=fraction, min_speed=min_speed)
    mt, _ = bh.movement_time(pos, dt, go, fraction=fraction, min_speed=min_speed)
    assert bool(moved)
    assert abs(float(rt) - ((n_hold - go) * dt + crossing)) <= 1.5 * dt
    assert abs(float(mt) - (duration - 2 * crossing)) <= 2.5 * dt
    timing = bh.movement_timing(pos, dt, go, fraction=fraction, min_speed=min_speed)
    assert bool(timing.stopped)
    assert int(timing.onset_index) - go == round(float(rt) / dt)


def test_go_step_per_trial_and_movement_before_the_go_cue(float64):
    dt, n_hold = 1e-3, 100
    target = target_at(0.0)
    reach = hold_then(straight(START, target, minimum_jerk(301)), n_hold)
    pos = torch.stack([reach, reach])
    go = torch.tensor([20, 60])
    rt, moved = bh.reaction_time(pos, dt, go)
    assert moved.all()
    assert torch.allclose(rt[0] - rt[1], torch.tensor(40 * dt))
    # a go cue after the whole movement: nothing moves from there on
    late = bh.movement_timing(pos, dt, go_step=pos.shape[-2] - 1)
    assert not late.moved.any() and (late.reaction_time == 0).all() and (late.onset_index == pos.shape[-2] - 1).all()


def test_a_trial_cut_off_while_moving_did_not_stop(float64):
    n = 201
    target = target_at(0.0)
    pos = straight(START, target, minimum_jerk(n))[: n // 2 + 20]  # cut just after the peak
    timing = bh.movement_timing(pos, 1e-3)
    assert bool(timing.moved) and not bool(timing.stopped)
    assert int(timing.end_index) == pos.shape[-2] - 1


# ------------------------------------------------------------------------------ still trials
def test_a_trial_that_never_moves_is_finite_with_finite_gradients(float64):
    target = torch.tensor([[0.1, 0.0], [0.0, 0.0]])  # the second also has start == target
    pos = START.expand(2, 50, 2).clone()
    pos[0, 10:] += 1e-7  # a jitter far below the speed floor
    pos.requires_grad_(True)
    m = bh.reach_metrics(pos, pos[:, 0].detach(), target, 0.01)
    for name, value in zip(m._fields, m):
        assert torch.isfinite(value.double()).all(), name
    assert not m.moved.any() and not m.stopped.any()
    assert (m.reaction_time == 0).all() and (m.movement_time == 0).all() and (m.angular_error == 0).all()
    total = sum(v.sum() for v in m if v.is_floating_point() and v.requires_grad)
    (grad,) = torch.autograd.grad(total, pos)
    assert torch.isfinite(grad).all()


def test_gradcheck_of_a_moving_trial(float64):
    target = target_at(0.5)
    end = target + torch.tensor([0.004, -0.002])  # off target: |end - target| is smooth there
    progress = (torch.linspace(0, 1, 41) + minimum_jerk(41)) / 2  # no tiny first segment (gradcheck eps 1e-6)
    pos = arc(START, end, RADIUS, progress, left=True).clone().requires_grad_(True)

    def metrics(p):
        m = bh.reach_metrics(p, START, target, 0.01)
        return torch.stack([m.peak_speed, m.angular_error, m.max_lateral_deviation, m.endpoint_error,
                            m.path_length])

    assert torch.autograd.gradcheck(metrics, (pos,))


# ------------------------------------------------------------------------------ batches
def batch_of_reaches() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(2, 3, T, 2) arcs of different sides, radii and directions with holds, plus starts and targets."""
    paths, targets = [], []
    for k in range(6):
        target = target_at(k * 1.1)
        progress = minimum_jerk(121)  # odd: one peak-speed sample
        path = (straight(START, target, progress) if k == 3
                else arc(START, target, RADIUS + 0.02 * k, progress, left=k % 2 == 0))
        paths.append(hold_then(path, 10 + 5 * k))
        targets.append(target)
    T = max(len(p) for p in paths)
    paths = [torch.cat([p, p[-1:].expand(T - len(p), 2)]) for p in paths]
    return torch.stack(paths).reshape(2, 3, T, 2), START.expand(2, 3, 2), torch.stack(targets).reshape(2, 3, 2)


def test_any_batch_dims_equal_a_loop(float64):
    pos, start, target = batch_of_reaches()
    go = torch.tensor([[0, 5, 12], [3, 0, 30]])
    batched = bh.reach_metrics(pos, start, target, 0.01, go_step=go)
    for i in range(2):
        for j in range(3):
            single = bh.reach_metrics(pos[i, j], start[i, j], target[i, j], 0.01, go_step=int(go[i, j]))
            for name, a, b in zip(batched._fields, batched, single):
                assert torch.equal(a[i, j], b), (name, i, j)


def test_vmap_equals_the_batched_call(float64):
    pos, start, target = batch_of_reaches()
    pos, start, target = pos.reshape(6, -1, 2), start.reshape(6, 2), target.reshape(6, 2)
    go = torch.tensor([0, 5, 12, 3, 0, 30])
    mapped = vmap(lambda p, s, g, k: bh.reach_metrics(p, s, g, 0.01, go_step=k))(pos, start, target, go)
    batched = bh.reach_metrics(pos, start, target, 0.01, go_step=go)
    for name, a, b in zip(batched._fields, batched, mapped):
        assert torch.allclose(a.double(), b.double()), name


def test_float32_in_float32_out():
    pos, start, target = (t.float() for t in batch_of_reaches())
    m = bh.reach_metrics(pos, start, target, 0.01)
    assert all(v.dtype == torch.float32 for v in m if v.is_floating_point())
    assert m.moved.dtype == torch.bool and m.onset_index.dtype == torch.long


# ------------------------------------------------------------------------------ traces and tables
class FakeTrace(NamedTuple):
    """The two Trace fields the metrics read (fingertip, goal), batch first."""

    fingertip: torch.Tensor
    goal: torch.Tensor


def test_metrics_from_trace_reads_start_and_final_goal(float64):
    pos, _, target = batch_of_reaches()
    goal = torch.cat([pos[..., :1, :].expand(2, 3, 5, 2), target[..., None, :].expand(2, 3, pos.shape[-2] - 5, 2)], -2)
    m = bh.metrics_from_trace(FakeTrace(pos, goal), 0.01, go_step=5)
    ref = bh.reach_metrics(pos, pos[..., 0, :], target, 0.01, go_step=5)
    assert all(torch.equal(a, b) for a, b in zip(m, ref))
    with pytest.raises(ValueError, match="trace.goal is missing"):
        bh.metrics_from_trace(FakeTrace(pos, None), 0.01)


def test_metrics_table_and_summary_per_target_and_condition(float64):
    target = torch.stack([target_at(0.0), target_at(0.0), target_at(1.0), target_at(1.0)])
    offsets = torch.tensor([[0.01, 0.0], [0.03, 0.0], [0.0, 0.02], [0.0, 0.0]])
    paths = [straight(START, target[k] + offsets[k], minimum_jerk(101)) for k in range(3)]
    paths.append(START.expand(101, 2))  # the last trial never moves
    m = bh.reach_metrics(torch.stack(paths), START, target, 0.01)
    table = bh.metrics_table(m, target=[0, 0, 1, 1], condition="baseline")
    assert len(table) == 4 and table.columns[:3] == ("trial", "target", "condition")
    assert list(table["moved"]) == [True, True, True, False]

    summary = bh.summarise(m, {"target": [0, 0, 1, 1], "condition": "baseline"})
    assert list(summary["target"]) == [0, 1]
    assert list(summary["n_trials"]) == [2, 2] and list(summary["n"]) == [2, 1]
    assert np.allclose(summary["fraction_moved"], [1.0, 0.5])
    assert np.allclose(summary["endpoint_error_mean"], [0.02, 0.02])
    assert np.isclose(summary["endpoint_error_std"][0], math.sqrt(2) * 0.01)  # sample std of {0.01, 0.03}
    everyone = bh.summarise(m, {"target": [0, 0, 1, 1]}, only_moved=False)
    assert np.allclose(everyone["endpoint_error_mean"], [0.02, (0.02 + CHORD) / 2])
    overall = bh.summarise(m)
    assert len(overall) == 1 and list(overall["n_trials"]) == [4]


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, match", [
    (lambda p, s, g: bh.speed(p[0, 0, :, 0], 0.01), r"position must be \(..., T, D\) with T >= 2"),
    (lambda p, s, g: bh.speed(p[..., :1, :], 0.01), "T >= 2"),
    (lambda p, s, g: bh.speed(p.long(), 0.01), "floating-point"),
    (lambda p, s, g: bh.speed(p, 0.0), "dt must be a positive number"),
    (lambda p, s, g: bh.lateral_deviation(torch.cat([p, p[..., :1]], -1), s, g), "planar"),
    (lambda p, s, g: bh.lateral_deviation(p, s[..., :1], g), r"start must be a tensor \(..., 2\)"),
    (lambda p, s, g: bh.endpoint_error(p, g[:1, :2]), "target leading dims"),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, go_step=10_000), r"go_step must lie in \[0, "),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, go_step=torch.tensor([[0, 1, -1]] * 2)), "go_step must lie in"),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, go_step=1.5), "go_step must be an int"),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, go_step=torch.tensor([1.0])), "integer sample indices"),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, go_step=torch.zeros(5, dtype=torch.long)),
     r"go_step dims \(5,\) do not broadcast"),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, fraction=1.5), r"fraction must be a number in \(0, 1\)"),
    (lambda p, s, g: bh.reach_metrics(p, s, g, 0.01, min_speed=-1), "min_speed must be a number >= 0"),
    (lambda p, s, g: bh.metrics_table(bh.reach_metrics(p, s, g, 0.01), moved=1), "clashes"),
    (lambda p, s, g: bh.metrics_table(bh.reach_metrics(p, s, g, 0.01), target=[1, 2]), "does not broadcast"),
])
def test_bad_input_raises_naming_the_argument(call, match):
    pos, start, target = batch_of_reaches()
    with pytest.raises(ValueError, match=match):
        call(pos.float(), start.float(), target.float())


def test_rotating_the_whole_scene_keeps_the_signed_metrics(float64):
    pos, start, target = batch_of_reaches()
    turn = rotation(0.8)
    m = bh.reach_metrics(pos, start, target, 0.01)
    r = bh.reach_metrics(pos @ turn.T, start @ turn.T, target @ turn.T, 0.01)
    for name in ("angular_error", "max_lateral_deviation", "peak_speed", "reaction_time"):
        assert torch.allclose(getattr(m, name), getattr(r, name), atol=1e-12), name
