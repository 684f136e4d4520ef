"""delayed_reach: target onset, go cue after a random delay, catch trials without a cue."""
import math

import pytest
import torch

from motornet_fn.core import env as E
from motornet_fn.core.tasks import goal_at
from tests.core.tasks.helpers import reset


def test_schedule_shows_the_target_then_cues_the_go_and_catch_trials_hold():
    spec, params, state, _ = reset("delayed_reach", batch_size=2000, seed=3, n_steps=100, target_on=0.1,
                                   delay_range=(0.2, 0.3), catch_prob=0.25)
    task = state.task
    assert torch.all(task.target_step == 10)
    catch = torch.isinf(task.go_step)
    delay = task.go_step[~catch] - task.target_step[~catch]
    assert delay.min() == 20 and delay.max() == 30 and torch.equal(delay, delay.round())
    assert abs(catch.float().mean().item() - 0.25) < 0.03
    t = torch.arange(101.0).unsqueeze(-1)  # (101, 1) against (B,)
    view = goal_at(task, t)
    shown_target = torch.isclose(view.shown, task.target).all(-1)
    assert torch.equal(shown_target, (t >= 10).expand(101, 2000) | torch.isclose(task.start, task.target).all(-1))
    cue = view.cue[..., 0]
    assert torch.all(cue[:, catch] == 0)  # catch trials: never a cue, hold at the start
    torch.testing.assert_close(view.desired[:, catch], task.start[catch].expand(101, -1, -1))
    go = task.go_step[~catch]
    assert torch.equal(cue[:, ~catch], (t >= go).to(cue.dtype))


def test_the_go_cue_is_the_last_observation_entry_through_steps():
    spec, params, state, obs = reset("delayed_reach", batch_size=16, seed=0, n_steps=60, target_on=0.05,
                                     delay_range=(0.1, 0.2), catch_prob=0.0)
    cues = [obs[:, -1]]
    for _ in range(40):
        state, obs, info = E.step(spec, params, state, torch.zeros(16, 6))
        cues.append(obs[:, -1])
        torch.testing.assert_close(obs[:, -1:], info.goal.cue)
    first = torch.stack(cues).argmax(0)  # step of the first cue
    torch.testing.assert_close(first.double(), state.task.go_step.double())


def test_an_episode_too_short_for_the_delays_is_refused():
    with pytest.raises(ValueError, match=r"target_on \+ delay_range\[1\] = 0.5 s exceeds the episode duration of 0.3 s"):
        reset("delayed_reach", n_steps=30, target_on=0.1, delay_range=(0.2, 0.4))
    with pytest.raises(ValueError, match=r"catch_prob must be a probability in \[0, 1\], got 1.5"):
        reset("delayed_reach", catch_prob=1.5)
    with pytest.raises(ValueError, match=r"delay_range must be \[min, max\] seconds with 0 <= min <= max"):
        reset("delayed_reach", delay_range=(0.3, 0.2))
