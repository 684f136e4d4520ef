"""A user's Environment subclass written the MotorNet way (tests/motornet_style.py) runs unchanged on
motornet_fn, eager and compiled, with MotorNet 0.3.0's numbers."""
import numpy as np
import pytest
import torch

import motornet_fn
from tests.motornet_style import make_env


def episode(mn, compile=None, seed=3, steps=25):
    env = make_env(mn, compile=compile)
    obs, info = env.reset(seed=seed, options={"batch_size": 4})
    out = {"obs": [obs], "joint": [info["states"]["joint"]], "desired": [info["desired"]]}
    actions = torch.rand(steps, 4, 6, generator=torch.Generator().manual_seed(seed)) * 0.3
    for a in actions:
        obs, _, terminated, _, info = env.step(a)
        out["obs"].append(obs)
        out["joint"].append(info["states"]["joint"])
        out["desired"].append(info["desired"])
    return {k: torch.stack(v).detach().numpy() for k, v in out.items()}, env


@pytest.mark.parametrize("compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_user_subclass_gives_motornets_numbers(compile):
    mn0 = pytest.importorskip("motornet")
    theirs, _ = episode(mn0)
    ours, env = episode(motornet_fn, compile=compile)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=2e-5, err_msg=key)
    # the cue switched on after 100 ms and the user's hooks ran (the override adds the cue entry)
    assert ours["obs"].shape[-1] == env.observation_space.shape[0] == 2 + 2 + 12 + 6 + 1
    assert ours["obs"][5, :, -1].max() == 0 and ours["obs"][12, :, -1].min() == 1
    np.testing.assert_array_equal(env.np_random.uniform(size=3), episode(mn0)[1].np_random.uniform(size=3))


def test_user_subclass_trains_with_gradients_through_the_compiled_or_eager_effector():
    env = make_env(motornet_fn, compile=False)
    obs, _ = env.reset(seed=0, options={"batch_size": 8})
    weight = torch.zeros(obs.shape[-1], 6, requires_grad=True)
    loss = 0
    for _ in range(10):
        obs, _, _, _, info = env.step(torch.sigmoid(obs @ weight - 3))
        loss = loss + (info["states"]["fingertip"] - info["desired"]).abs().sum()
    loss.backward()
    assert torch.isfinite(weight.grad).all() and weight.grad.abs().sum() > 0
