"""MotorNet's tutorial training loop, unchanged but for the import: its loss must fall.

ReluPointMass24 + RandomTargetReach (1 s episodes) + PolicyGRU, L1 fingertip-to-goal loss, Adam 1e-3,
batch 32, gradient-norm clipping; 60 batches here (the tutorial runs thousands).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch as th

import motornet_fn as mn  # the tutorial's `import motornet as mn`


def l1(x, y):
    """L1 loss"""
    return th.mean(th.sum(th.abs(x - y), dim=-1))


@pytest.fixture
def one_thread():
    """Tiny tensors: intra-op threads only add synchronization (and stall badly on a loaded machine)."""
    previous = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(previous)


def test_tutorial_training_loop_loss_falls(one_thread):
    th.manual_seed(0)
    device = th.device("cpu")
    effector = mn.effector.ReluPointMass24()
    env = mn.environment.RandomTargetReach(effector=effector, max_ep_duration=1.)
    env.reset(seed=0)
    policy = mn.policy.PolicyGRU(env.observation_space.shape[0], 32, env.n_muscles, device=device)
    optimizer = th.optim.Adam(policy.parameters(), lr=10**-3)

    batch_size = 32
    n_batch = 60
    losses = []
    for batch in range(n_batch):
        h = policy.init_hidden(batch_size=batch_size)
        obs, info = env.reset(options={"batch_size": batch_size})
        terminated = False

        xy = [info["states"]["fingertip"][:, None, :]]
        tg = [info["goal"][:, None, :]]
        while not terminated:
            action, h = policy(obs, h)
            obs, reward, terminated, truncated, info = env.step(action=action)
            xy.append(info["states"]["fingertip"][:, None, :])
            tg.append(info["goal"][:, None, :])

        xy = th.cat(xy, axis=1)
        tg = th.cat(tg, axis=1)
        loss = l1(xy, tg)

        optimizer.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(policy.parameters(), max_norm=1.)
        optimizer.step()
        losses.append(loss.item())

    assert xy.shape == (batch_size, 101, 2) and np.isfinite(losses).all()
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    print(f"tutorial loss: first 10 batches {first:.3f}, last 10 batches {last:.3f}")
    assert last < 0.75 * first
