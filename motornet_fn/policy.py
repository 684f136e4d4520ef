"""MotorNet's ``PolicyGRU``: a one-layer GRU with a sigmoid linear readout (outputs in (0, 1), one
excitation per muscle)."""
from __future__ import annotations

import torch


class PolicyGRU(torch.nn.Module):
    """One-layer GRU policy with a sigmoid readout.

    Initialization (MotorNet's): Xavier-uniform input weights, orthogonal recurrent weights, zero GRU
    biases, Xavier-uniform readout weights and a readout bias of -5, so that the initial excitations
    are small (sigmoid(-5) ~ 0.007).

    Args:
        input_dim: observation size.
        hidden_dim: number of GRU units.
        output_dim: number of outputs (muscles).
        device: device of the parameters.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, device):
        super().__init__()
        self.device = device
        self.hidden_dim = hidden_dim
        self.n_layers = 1
        self.gru = torch.nn.GRU(input_dim, hidden_dim, 1, batch_first=True)
        self.fc = torch.nn.Linear(hidden_dim, output_dim)
        self.sigmoid = torch.nn.Sigmoid()
        initializers = {
            "gru.weight_ih_l0": torch.nn.init.xavier_uniform_,
            "gru.weight_hh_l0": torch.nn.init.orthogonal_,
            "gru.bias_ih_l0": torch.nn.init.zeros_,
            "gru.bias_hh_l0": torch.nn.init.zeros_,
            "fc.weight": torch.nn.init.xavier_uniform_,
            "fc.bias": lambda p: torch.nn.init.constant_(p, -5.0),
        }
        # parameter order fixes the order of random draws (and so the weights for a given torch seed)
        for name, param in self.named_parameters():
            initializers[name](param)
        self.to(device)

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One GRU step.

        Args:
            x: (batch, input_dim) observation.
            h0: (1, batch, hidden_dim) hidden state.

        Returns:
            (u, h): u (batch, output_dim) in (0, 1); h (1, batch, hidden_dim).
        """
        y, h = self.gru(x[:, None, :], h0)
        return self.sigmoid(self.fc(y)).squeeze(dim=1), h

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        """Zero hidden state (1, batch_size, hidden_dim) with the parameters' dtype and device."""
        weight = next(self.parameters())
        return weight.new_zeros(self.n_layers, batch_size, self.hidden_dim).to(self.device)


__all__ = ["PolicyGRU"]
