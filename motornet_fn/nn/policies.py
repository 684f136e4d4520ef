"""Policy networks written with plain tensor ops, so they batch under ``torch.func.vmap``
(``torch.nn.GRU`` has no vmap rule) and ensemble through ``stack_module_state`` / ``functional_call``.

Each policy is a one-step map ``(obs, hidden) -> (action, hidden)``.
"""
from __future__ import annotations

import torch
from torch import nn


def gru_cell(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> torch.Tensor:
    """One GRU update, with torch.nn.GRU's equations and gate order (reset, update, new).

    Args:
        x: (..., input_dim); h: (..., hidden_dim); weight_ih: (3 H, input_dim); weight_hh: (3 H, H).

    Returns:
        (..., hidden_dim) new hidden state.
    """
    gi = x @ weight_ih.T + bias_ih
    gh = h @ weight_hh.T + bias_hh
    # plain slices rather than chunk(): inside a compiled scan, chunk becomes split_copy, which inductor
    # runs through a Python fallback at every step
    n = h.shape[-1]
    i_r, i_z, i_n = gi[..., :n], gi[..., n:2 * n], gi[..., 2 * n:]
    h_r, h_z, h_n = gh[..., :n], gh[..., n:2 * n], gh[..., 2 * n:]
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


class GRUPolicy(nn.Module):
    """Single-layer GRU with a sigmoid linear readout: MotorNet's PolicyGRU, vmap-able.

    Initialisation as MotorNet: Xavier-uniform input weights, orthogonal recurrent weights, zero
    GRU biases, Xavier-uniform readout and readout bias -5 (actions start near zero).
    Parameter names match ``torch.nn.GRU`` (``gru.weight_ih_l0`` ...) so state dicts interchange
    with :class:`motornet_fn.policy.PolicyGRU`.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, readout_bias: float = -5.0):
        super().__init__()
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.input_dim, self.hidden_dim, self.output_dim = input_dim, hidden_dim, output_dim
        self.gru = nn.Module()
        self.gru.weight_ih_l0 = nn.Parameter(torch.empty(3 * hidden_dim, input_dim))
        self.gru.weight_hh_l0 = nn.Parameter(torch.empty(3 * hidden_dim, hidden_dim))
        self.gru.bias_ih_l0 = nn.Parameter(torch.zeros(3 * hidden_dim))
        self.gru.bias_hh_l0 = nn.Parameter(torch.zeros(3 * hidden_dim))
        self.fc = nn.Linear(hidden_dim, output_dim)
        nn.init.xavier_uniform_(self.gru.weight_ih_l0)
        nn.init.orthogonal_(self.gru.weight_hh_l0)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.constant_(self.fc.bias, readout_bias)

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        """(batch_size, hidden_dim) zeros on the parameters' device and dtype."""
        w = self.fc.weight
        return w.new_zeros(batch_size, self.hidden_dim)

    def forward(self, obs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (..., input_dim), h (..., hidden_dim) -> (action (..., output_dim) in (0, 1), new h)."""
        g = self.gru
        h = gru_cell(obs, h, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)
        return torch.sigmoid(self.fc(h)), h


class MLPPolicy(nn.Module):
    """Feed-forward policy (no memory): obs -> tanh hidden layers -> sigmoid actions. The hidden
    state is passed through unchanged (a (..., 0) tensor) to share the recurrent interface."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...] = (64, 64), output_dim: int = 4,
                 readout_bias: float = -5.0):
        super().__init__()
        dims = (input_dim, *hidden_dims)
        self.hidden_dim = 0
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.fc = nn.Linear(dims[-1], output_dim)
        nn.init.constant_(self.fc.bias, readout_bias)

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return self.fc.weight.new_zeros(batch_size, 0)

    def forward(self, obs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = obs
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return torch.sigmoid(self.fc(x)), h


POLICIES = {"gru": GRUPolicy, "mlp": MLPPolicy}
