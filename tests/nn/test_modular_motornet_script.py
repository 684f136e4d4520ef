"""A MotorNet development-branch style script runs unchanged but for the import: a modular network
(three modules, masks, Dale's law, inter-module delays, output delay, cancelation) trained for a few
batches on RigidTendonArm26 with the tutorial's loop."""
from __future__ import annotations

import numpy as np
import torch as th

import motornet_fn as mn  # the script's `import motornet as mn`


def test_development_branch_script_trains_and_keeps_its_structure():
    th.manual_seed(0)
    effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle())
    env = mn.environment.RandomTargetReach(effector=effector, max_ep_duration=0.2)
    env.reset(seed=0)
    n_obs = env.observation_space.shape[0]  # goal (2), vision (2), proprioception (12)
    module_size = [16, 16, 8]  # e.g. PMd, M1, spinal
    connectivity_mask = np.array([[1.0, 0.2, 0.0], [0.2, 1.0, 0.0], [0.0, 0.5, 1.0]])
    connectivity_delay = np.array([[0, 2, 0], [2, 0, 0], [0, 1, 0]])
    hidden = sum(module_size)
    cancelation = np.zeros((hidden, hidden))
    cancelation[np.arange(16), np.arange(16)] = -1.0  # silence the first module at the cancel times
    policy = mn.policy.ModularPolicyGRU(
        n_obs, module_size, env.n_muscles,
        vision_mask=[1, 0, 0], proprio_mask=[0, 1, 1], task_mask=[1, 0, 0],
        connectivity_mask=connectivity_mask, output_mask=[0, 0, 1],
        vision_dim=[2, 3], proprio_dim=list(range(4, n_obs)), task_dim=[0, 1],
        connectivity_delay=connectivity_delay, spectral_scaling=1.1, proportion_excitatory=[0.8, 0.8, 0.8],
        input_gain=1.0, device=th.device("cpu"), random_seed=1, activation="rect_tanh", output_delay=1,
        cancelation_matrix=cancelation)
    policy.set_cancel_times([5, 6, 7])
    optimizer = th.optim.Adam(policy.parameters(), lr=3e-3)
    masks = {"W_in": policy.mask_in, "W_rec": policy.mask_rec, "Y": policy.mask_Y}

    losses = []
    for batch in range(6):
        policy.reset_counter()
        h = policy.init_hidden(batch_size=8)
        obs, info = env.reset(options={"batch_size": 8})
        terminated = False
        xy, tg, first = [info["states"]["fingertip"]], [info["goal"]], None
        while not terminated:
            action, h = policy(obs, h)
            if policy.counter == 6:
                first = h[:, :16].detach()
            obs, reward, terminated, truncated, info = env.step(action=action)
            xy.append(info["states"]["fingertip"])
            tg.append(info["goal"])
        loss = th.mean(th.sum(th.abs(th.stack(xy, 1) - th.stack(tg, 1)), dim=-1))
        optimizer.zero_grad()
        loss.backward()
        assert all(th.isfinite(p.grad).all() for p in policy.parameters() if p.grad is not None)
        th.nn.utils.clip_grad_norm_(policy.parameters(), max_norm=1.0)
        optimizer.step()
        policy.enforce_dale()
        losses.append(loss.item())
        assert th.all(first == 0)  # the cancelation wiped module 0 at step 5

    assert policy.counter == 20 and np.isfinite(losses).all()
    for name, mask in masks.items():
        assert th.all(getattr(policy, name)[..., mask == 0] == 0), name
    assert th.all(policy.W_rec * policy.unit_sign >= 0)
    inhibitory_in_module_0 = (policy.unit_sign < 0) & (th.arange(hidden) < 16)
    assert inhibitory_in_module_0.any() and th.all(policy.W_rec[:, 16:, inhibitory_in_module_0] == 0)
    print("losses", np.round(losses, 4))
