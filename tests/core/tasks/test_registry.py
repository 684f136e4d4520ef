"""The task registry: names, options and errors, and the contract every registered task meets."""

import pytest
import torch

from motornet_fn.core import env as E
from motornet_fn.core.tasks import TASKS, get_task, goal_at, option_names
from tests.core.tasks.helpers import reset


def test_registry_holds_the_built_in_tasks():
    assert {"random_reach", "centre_out", "delayed_reach", "random_reach_loads", "fixed_goal"} <= set(TASKS)


def test_unknown_task_and_unknown_option_are_named():
    with pytest.raises(ValueError, match=r"unknown task 'reach'; valid tasks: \[.*'random_reach'"):
        get_task("reach")
    with pytest.raises(ValueError, match=r"task 'random_reach' does not take option\(s\) \['n_targets'\]; its options "
                                         r"are none"):
        get_task("random_reach", n_targets=4)
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['radiuss'\]; its options are \['n_targets', "
                                         r"'radius', 'start_posture'\]"):
        get_task("centre_out", radiuss=0.1)
    assert option_names("delayed_reach") == ("target_on", "delay_range", "catch_prob")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_resets_steps_and_is_reproducible(name):
    """Same seed, same trials; goal schedule consistent with the state; the observation ends with the cue
    exactly for tasks with one."""
    spec, params, state, obs = reset(name, seed=3)
    _, _, again, obs_again = reset(name, seed=3)
    torch.testing.assert_close(obs, obs_again, rtol=0, atol=0)
    assert obs.shape == (8, spec.obs_dim) and spec.obs_dim == 2 + 2 + 12 + int(spec.task.go_cue)
    assert all(torch.isfinite(leaf).all() or leaf is state.task.go_step for leaf in state.task)
    view = goal_at(state.task, state.t)
    torch.testing.assert_close(obs[:, :2], view.shown)
    if spec.task.go_cue:
        torch.testing.assert_close(obs[:, -1:], view.cue)
    new, obs, info = E.step(spec, params, state, torch.full((8, 6), 0.1))
    assert torch.isfinite(obs).all() and torch.equal(new.t, state.t + 1)
    torch.testing.assert_close(info.goal.shown, goal_at(state.task, new.t).shown)
    tip = spec.effector.skeleton.forward_kinematics(params.effector.skeleton, state.effector.joint).pos
    torch.testing.assert_close(state.task.start, tip)  # every task records where the trial starts


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_draws_only_what_it_declares(name):
    """A reset reads exactly the declared draws: a missing block fails; every declared one is used."""
    spec, params, _, _ = reset(name)
    declared = E.reset_draws(spec, 4, {"batch_size": 4}, noise=())
    draws = E.sample_draws(declared, torch.Generator().manual_seed(0))
    for block in declared:
        partial = {k: v for k, v in draws.items() if k != block.name}
        with pytest.raises(KeyError):
            E.reset(spec, params, partial, {"batch_size": 4})
