"""Small modular networks shared by the modular-policy tests."""
from __future__ import annotations

import numpy as np
import torch

from motornet_fn.nn.modular import ModularGRUPolicy


def three_modules(**overrides) -> dict:
    """Constructor arguments of a 3-module net (sizes 4, 5, 3; 6 inputs; 2 outputs) with delays,
    sparse inter-module connections and Dale's law."""
    kwargs = dict(
        input_size=6, module_size=[4, 5, 3], output_size=2,
        vision_mask=[1.0, 0.0, 0.0], proprio_mask=[0.0, 1.0, 0.0], task_mask=[1.0, 0.5, 0.0],
        connectivity_mask=np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.7, 1.0]]), output_mask=[0.0, 0.0, 1.0],
        vision_dim=[0, 1], proprio_dim=[2, 3], task_dim=[4, 5],
        connectivity_delay=np.array([[0, 2, 0], [1, 0, 3], [0, 1, 0]]),
        proportion_excitatory=[0.8, 0.7, 0.8], random_seed=1, output_delay=2,
    )
    kwargs.update(overrides)
    return kwargs


def chain(delay: int = 0, **overrides) -> ModularGRUPolicy:
    """Module 0 (3 units) -> module 1 (4 units) only, module 1 seeing module 0 ``delay`` steps late;
    only module 0 gets the 2 inputs. Zero biases and h0, so without input every state stays exactly 0."""
    kwargs = dict(
        input_size=2, module_size=[3, 4], output_size=2, vision_mask=[1.0, 0.0], proprio_mask=[0.0, 0.0],
        task_mask=[0.0, 0.0], connectivity_mask=np.array([[1.0, 0.0], [1.0, 1.0]]), output_mask=[1.0, 1.0],
        vision_dim=[0, 1], proprio_dim=[], task_dim=[], connectivity_delay=np.array([[0, 0], [delay, 0]]),
        random_seed=0,
    )
    kwargs.update(overrides)
    return ModularGRUPolicy(**kwargs)


def rollout(policy, obs: torch.Tensor, noise: torch.Tensor | None = None, h: torch.Tensor | None = None):
    """Eager loop over obs (T, B, input): returns actions (T, B, out), states (T, B, state_dim)."""
    h = policy.initial_hidden(obs.shape[1:-1]) if h is None else h
    actions, states = [], []
    for t in range(obs.shape[0]):
        a, h = policy(obs[t], h, None if noise is None else noise[t])
        actions.append(a)
        states.append(h)
    return torch.stack(actions), torch.stack(states)


def impulse(T: int, batch: int = 1, width: int = 2) -> torch.Tensor:
    """(T, batch, width) observations: 1 at step 0, 0 after."""
    obs = torch.zeros(T, batch, width)
    obs[0] = 1.0
    return obs
