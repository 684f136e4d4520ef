"""Leaky firing-rate RNN policy (the "vanilla" continuous-time RNN of systems neuroscience), following
the policy contract of :mod:`motornet_fn.nn.policies`.

Continuous time, for the state x (hidden,), rates r = f(x), inputs u (input,)::

    tau dx/dt = -x + W_rec r + W_in u + b + sqrt(2 tau) sigma_rec eta(t)

Euler-discretised with ``alpha = dt / tau`` (Song, Yang & Wang, PLoS Comput Biol 2016)::

    x_{t+1} = (1 - alpha) x_t + alpha (W_rec f(x_t) + W_in (u_t + sigma_in xi_u) + b) + sqrt(2 alpha) sigma_rec xi_x
    action_t = sigmoid(W_out f(x_{t+1}) + b_out)

with xi standard-normal draws supplied by the caller (``noise``). Without input and with W_rec = 0, b = 0,
x decays as ``(1 - alpha)^t x_0``, the Euler solution of ``x_0 exp(-t dt / tau)``.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from motornet_fn.nn.policies import NoisyRecurrentPolicy, rect_tanh

NONLINEARITIES = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softplus": F.softplus,
    "sigmoid": torch.sigmoid,
    "rect_tanh": rect_tanh,
    "linear": lambda x: x,
}


class RateRNNPolicy(NoisyRecurrentPolicy):
    """Leaky firing-rate RNN with a sigmoid readout (equations in the module docstring).

    Args:
        input_dim: observation width. hidden_dim: units. output_dim: muscles.
        tau: membrane time constant (s). dt: step (s); ``dt / tau`` must be in (0, 1].
        nonlinearity: rate function f, one of ``NONLINEARITIES``.
        input_noise: sigma_in, sd of the noise added to the inputs (input units).
        hidden_noise: sigma_rec, sd of the recurrent noise of the continuous-time equation.
        recurrent_gain: recurrent weights start normal(0, recurrent_gain / sqrt(hidden_dim)).
        readout_bias: initial readout bias (-5: actions start near sigmoid(-5), like GRUPolicy).

    Parameters: ``input.weight`` (hidden, input; Xavier-uniform), ``recurrent.weight`` (hidden, hidden),
    ``recurrent.bias`` (hidden; zero), ``fc.weight`` / ``fc.bias`` (readout), ``x0`` (hidden; learnable
    initial state, zero). State ``h`` = x (state_dim = hidden_dim); ``activity(h) = f(h)``, the rates.
    ``noise`` columns: input part (input_dim) if ``input_noise > 0``, then hidden part (hidden_dim) if
    ``hidden_noise > 0``.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, tau: float = 0.05, dt: float = 0.01,
                 nonlinearity: str = "tanh", input_noise: float = 0.0, hidden_noise: float = 0.0,
                 recurrent_gain: float = 1.0, readout_bias: float = -5.0):
        super().__init__()
        self._set_sizes(input_dim, hidden_dim, output_dim, input_noise, hidden_noise)
        for name, value in (("tau", tau), ("dt", dt)):
            if not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a duration > 0 s, got {value!r}")
        if dt > tau:
            raise ValueError(f"dt / tau must be at most 1 for a stable Euler step, got dt={dt!r}, tau={tau!r}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        self.tau, self.dt, self.alpha = float(tau), float(dt), float(dt) / float(tau)
        self.nonlinearity = nonlinearity
        self.input = nn.Linear(input_dim, hidden_dim, bias=False)
        self.recurrent = nn.Linear(hidden_dim, hidden_dim)
        self.fc = nn.Linear(hidden_dim, output_dim)
        self.x0 = nn.Parameter(torch.zeros(hidden_dim))
        nn.init.xavier_uniform_(self.input.weight)
        nn.init.normal_(self.recurrent.weight, 0.0, recurrent_gain / math.sqrt(hidden_dim))
        nn.init.zeros_(self.recurrent.bias)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.constant_(self.fc.bias, readout_bias)

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        """f(x)."""
        return NONLINEARITIES[self.nonlinearity](x)

    def initial_hidden(self, batch_shape: tuple = ()) -> torch.Tensor:
        """``(*batch_shape, hidden_dim)``: the learnable x0."""
        return self.x0.expand(*batch_shape, self.hidden_dim).contiguous()

    def activity(self, h: torch.Tensor) -> torch.Tensor:
        """The rates f(x), (..., hidden_dim)."""
        return self.rate(h)

    def forward(self, obs: torch.Tensor, h: torch.Tensor,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (..., input_dim), h = x (..., hidden_dim), noise None or (..., noise_dim)
        -> (action (..., output_dim) in (0, 1), new x)."""
        noise = self.split_noise(noise)
        u = obs if noise["input"] is None else obs + noise["input"]
        drive = self.recurrent(self.rate(h)) + self.input(u)
        x = (1 - self.alpha) * h + self.alpha * drive
        if noise["hidden"] is not None:
            x = x + math.sqrt(2 * self.alpha) * noise["hidden"]
        return self.readout(x), x

    def readout(self, x: torch.Tensor) -> torch.Tensor:
        """The action (..., output_dim) in (0, 1) of an updated state x (..., hidden_dim): sigmoid(W_out f(x) + b)."""
        return torch.sigmoid(self.fc(self.rate(x)))

    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Input weights; recurrent weights, bias and x0; readout."""
        return {"input": ("input.weight",), "recurrent": ("recurrent.weight", "recurrent.bias", "x0"),
                "readout": ("fc.weight", "fc.bias")}


__all__ = ["RateRNNPolicy", "NONLINEARITIES"]
