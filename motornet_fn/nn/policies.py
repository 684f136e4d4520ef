"""Policy networks written with plain tensor ops, so they batch under ``torch.func.vmap``
(``torch.nn.GRU`` has no vmap rule) and ensemble through ``stack_module_state`` / ``functional_call``.

The policy contract (what the episode engine relies on). A policy is a ``torch.nn.Module`` with

* ``forward(obs, h, noise=None) -> (action, h_new)``: obs (..., obs_dim), h (..., state_dim),
  action (..., n_muscles) in (0, 1), any leading batch dims. Pure tensor ops (no in-place on inputs, no
  branching on tensor values), so it runs under ``vmap`` and inside a compiled ``scan``. Everything
  stateful (delay buffers, step counters) is packed into ``h``, never kept in module attributes.
* ``noise``: None (no noise) or (..., noise_dim) standard-normal draws supplied by the caller for this
  step; the policy scales them by its own standard deviations. It never draws random numbers itself.
* ``state_dim``, ``noise_dim`` (ints): the widths of ``h`` and ``noise``.
* ``initial_hidden(batch_shape) -> (*batch_shape, state_dim)``, computed from the module's own
  parameters and buffers (so it works under ``functional_call`` / ``vmap``).
* ``activity(h) -> (..., n_units)``: the unit activity losses and analyses read.
* ``readout(h_new) -> action`` (optional): the action ``forward`` returns, from the updated state alone, so
  the engine reads the action out of a perturbed state (clamped or silenced units). Absent or None where
  the action does not read the updated state (an MLP; a modular network with an output delay).
* ``init_hidden(batch_size)``: MotorNet's name for ``initial_hidden((batch_size,))``.
* ``parameter_groups() -> {"input" | "recurrent" | "readout": parameter names}``, read by
  :func:`motornet_fn.nn.freeze.trainable_names`.

This file holds :class:`GRUPolicy` and :class:`MLPPolicy`; :mod:`motornet_fn.nn.rate_rnn` and
:mod:`motornet_fn.nn.modular` hold the firing-rate and modular networks.
"""
from __future__ import annotations

import torch
from torch import nn


def check_positive_int(**values) -> None:
    """Raise ValueError naming the first value that is not a positive int."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_noise_std(**values) -> None:
    """Raise ValueError naming the first noise standard deviation that is not a finite number >= 0."""
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a standard deviation >= 0, got {value!r}")


def split_noise(noise: torch.Tensor | None, sizes: dict[str, tuple[int, float]]) -> dict[str, torch.Tensor | None]:
    """Scaled noise per named part. ``sizes`` maps part -> (width, std); parts with std 0 take no
    columns of ``noise`` (so ``noise_dim`` is the sum of the widths of noisy parts, in ``sizes``' order).

    Returns:
        part -> (..., width) ``std * draws``, or None for a silent part or when ``noise`` is None.
    """
    out, start = {}, 0
    for name, (width, std) in sizes.items():
        if std > 0 and noise is not None:
            out[name] = std * noise[..., start:start + width]
        else:
            out[name] = None
        start += width if std > 0 else 0
    return out


def noise_width(sizes: dict[str, tuple[int, float]]) -> int:
    """``noise_dim`` of a :func:`split_noise` layout."""
    return sum(width for width, std in sizes.values() if std > 0)


def functional_method(module: nn.Module, tensors: dict | tuple[dict, ...], name: str, *args, **kwargs):
    """``module.<name>(*args)`` with its parameters and buffers replaced by ``tensors`` (as
    ``torch.func.functional_call``, which only calls ``forward``): e.g. ``initial_hidden`` of one
    ensemble member under ``vmap``: ``functional_method(base, (weights, buffers), "initial_hidden", (B,))``.

    The tensors are swapped into ``module`` itself for the call (no wrapper module is built, which
    ``torch.compile`` cannot trace)."""
    from torch.nn.utils.stateless import _reparametrize_module

    if isinstance(tensors, tuple):
        tensors = {k: v for d in tensors for k, v in d.items()}
    with _reparametrize_module(module, tensors):
        return getattr(module, name)(*args, **kwargs)


def rect_tanh(x: torch.Tensor) -> torch.Tensor:
    """max(0, tanh(x)): a rectified tanh rate function."""
    return torch.relu(torch.tanh(x))


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


class Policy(nn.Module):
    """Base of the policies: MotorNet's ``init_hidden`` from the contract's ``initial_hidden``."""

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        """(batch_size, state_dim) initial state."""
        return self.initial_hidden((batch_size,))


class NoisyRecurrentPolicy(Policy):
    """Base of single-population recurrent policies: the state is the hidden vector (state_dim =
    hidden_dim) and noise enters the inputs (input_dim columns of ``noise`` when ``input_noise > 0``)
    and the hidden units (hidden_dim columns when ``hidden_noise > 0``), in that order."""

    def _set_sizes(self, input_dim: int, hidden_dim: int, output_dim: int, input_noise: float,
                   hidden_noise: float) -> None:
        check_positive_int(input_dim=input_dim, hidden_dim=hidden_dim, output_dim=output_dim)
        check_noise_std(input_noise=input_noise, hidden_noise=hidden_noise)
        self.input_dim, self.hidden_dim, self.output_dim = input_dim, hidden_dim, output_dim
        self.input_noise, self.hidden_noise = float(input_noise), float(hidden_noise)

    @property
    def _noise_layout(self) -> dict[str, tuple[int, float]]:
        return {"input": (self.input_dim, self.input_noise), "hidden": (self.hidden_dim, self.hidden_noise)}

    @property
    def state_dim(self) -> int:
        return self.hidden_dim

    @property
    def noise_dim(self) -> int:
        return noise_width(self._noise_layout)

    def split_noise(self, noise: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """{"input", "hidden"}: the scaled noise of each part, None where silent."""
        return split_noise(noise, self._noise_layout)


class GRUPolicy(NoisyRecurrentPolicy):
    """Single-layer GRU with a sigmoid linear readout: MotorNet's PolicyGRU, vmap-able.

    Initialisation as MotorNet: Xavier-uniform input weights, orthogonal recurrent weights, zero
    GRU biases, Xavier-uniform readout and readout bias -5 (actions start near zero).
    Parameter names match ``torch.nn.GRU`` (``gru.weight_ih_l0`` ...) so state dicts interchange
    with :class:`motornet_fn.policy.PolicyGRU`.

    Noise (off by default): ``input_noise`` adds ``input_noise * xi`` to the observation before the
    GRU, ``hidden_noise`` adds ``hidden_noise * xi`` to the new hidden state (before the readout).
    ``noise`` columns: the input part (input_dim wide) if ``input_noise > 0``, then the hidden part
    (hidden_dim wide) if ``hidden_noise > 0``.

    State: ``h`` is the GRU hidden vector (state_dim = hidden_dim); ``activity(h) = h``.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, readout_bias: float = -5.0,
                 input_noise: float = 0.0, hidden_noise: float = 0.0):
        super().__init__()
        self._set_sizes(input_dim, hidden_dim, output_dim, input_noise, hidden_noise)
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

    def initial_hidden(self, batch_shape: tuple = ()) -> torch.Tensor:
        """``(*batch_shape, hidden_dim)`` zeros on the parameters' device and dtype."""
        return self.fc.weight.new_zeros((*batch_shape, self.hidden_dim))

    def activity(self, h: torch.Tensor) -> torch.Tensor:
        """The GRU units: ``h`` itself, (..., hidden_dim)."""
        return h

    def forward(self, obs: torch.Tensor, h: torch.Tensor,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (..., input_dim), h (..., hidden_dim), noise None or (..., noise_dim)
        -> (action (..., output_dim) in (0, 1), new h)."""
        g = self.gru
        noise = self.split_noise(noise)
        if noise["input"] is not None:
            obs = obs + noise["input"]
        h = gru_cell(obs, h, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)
        if noise["hidden"] is not None:
            h = h + noise["hidden"]
        return self.readout(h), h

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """The action (..., output_dim) in (0, 1) of an updated state h (..., hidden_dim)."""
        return torch.sigmoid(self.fc(h))

    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Parameter names by role (see :func:`motornet_fn.nn.freeze.trainable_names`)."""
        return {"input": ("gru.weight_ih_l0",),
                "recurrent": ("gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0"),
                "readout": ("fc.weight", "fc.bias")}


class MLPPolicy(Policy):
    """Feed-forward policy (no memory): obs -> tanh hidden layers -> sigmoid actions. The hidden
    state is passed through unchanged (a (..., 0) tensor, state_dim 0) to share the recurrent
    interface; ``activity(h)`` is that empty tensor. No noise (noise_dim 0)."""

    state_dim = 0
    noise_dim = 0

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...] = (64, 64), output_dim: int = 4,
                 readout_bias: float = -5.0):
        super().__init__()
        dims = (input_dim, *hidden_dims)
        self.hidden_dim = 0
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.fc = nn.Linear(dims[-1], output_dim)
        nn.init.constant_(self.fc.bias, readout_bias)

    def initial_hidden(self, batch_shape: tuple = ()) -> torch.Tensor:
        """``(*batch_shape, 0)``: the MLP keeps no state."""
        return self.fc.weight.new_zeros((*batch_shape, 0))

    def activity(self, h: torch.Tensor) -> torch.Tensor:
        """The (empty) state: an MLP's layer activations are not part of ``h``."""
        return h

    def forward(self, obs: torch.Tensor, h: torch.Tensor,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (..., input_dim), h (..., 0) passed through, noise ignored -> (action (..., output_dim) in
        (0, 1), h)."""
        x = obs
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return torch.sigmoid(self.fc(x)), h

    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """First layer = input, later hidden layers = recurrent (hidden-to-hidden), fc = readout."""
        names = [n for n, _ in self.named_parameters()]
        return {"input": tuple(n for n in names if n.startswith("layers.0.")),
                "recurrent": tuple(n for n in names if n.startswith("layers.") and not n.startswith("layers.0.")),
                "readout": ("fc.weight", "fc.bias")}


POLICIES = {"gru": GRUPolicy, "mlp": MLPPolicy}
