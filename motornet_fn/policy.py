"""MotorNet's policies: ``PolicyGRU`` (0.3.0), a one-layer GRU with a sigmoid linear readout (outputs in
(0, 1), one excitation per muscle), and ``ModularPolicyGRU`` (MotorNet's development branch), a stateful
wrapper of :class:`motornet_fn.nn.modular.ModularGRUPolicy`."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from motornet_fn.nn.modular import ACTIVATIONS, ModularGRUPolicy
from motornet_fn.nn.policies import gru_cell


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
        compile: run each step compiled (one autograd node per step, same numbers to float rounding);
            ``None`` reads ``MOTORNET_FN_COMPILE``, like the environments and effectors.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, device, *, compile: bool | None = None):
        from motornet_fn.environment import compile_default

        super().__init__()
        self._compile = compile_default(compile)
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
        if self._compile and self._plain_layers():
            g = self.gru
            return compiled_gru_step()((g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0, self.fc.weight,
                                        self.fc.bias), x, h0)
        y, h = self.gru(x[:, None, :], h0)
        return self.sigmoid(self.fc(y)).squeeze(dim=1), h

    def _plain_layers(self) -> bool:
        """Whether the layers are still the constructor's (a user may swap them): only then is the compiled
        step the same computation."""
        g = self.gru
        return (type(g) is torch.nn.GRU and g.num_layers == 1 and g.bias and not g.bidirectional
                and g.batch_first and type(self.fc) is torch.nn.Linear and self.fc.bias is not None
                and type(self.sigmoid) is torch.nn.Sigmoid and not (g._forward_hooks or g._forward_pre_hooks
                                                                    or self.fc._forward_hooks))

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        """Zero hidden state (1, batch_size, hidden_dim) with the parameters' dtype and device."""
        weight = next(self.parameters())
        return weight.new_zeros(self.n_layers, batch_size, self.hidden_dim).to(self.device)

    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Parameter names by role (see :func:`motornet_fn.nn.freeze.trainable_names`)."""
        return {"input": ("gru.weight_ih_l0",),
                "recurrent": ("gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0"),
                "readout": ("fc.weight", "fc.bias")}


def _gru_readout_step(weights: tuple, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PolicyGRU's step as one pure function: ``(sigmoid(W_fc h + b_fc), h[None])`` with ``h`` the GRU update
    of ``h0[0]`` by ``x`` (see :func:`motornet_fn.nn.policies.gru_cell`)."""
    w_ih, w_hh, b_ih, b_hh, w_fc, b_fc = weights
    h = gru_cell(x, h0[0], w_ih, w_hh, b_ih, b_hh)
    return torch.sigmoid(h @ w_fc.T + b_fc), h[None]


@lru_cache(maxsize=1)
def compiled_gru_step():
    """The compiled :func:`_gru_readout_step` (one per process)."""
    from motornet_fn.core.compiled import step_function

    return step_function(_gru_readout_step, "PolicyGRU step", lambda w, x, h0: (
        f"PolicyGRU step (input {x.shape[-1]}, hidden {h0.shape[-1]}, batch {x.shape[0]})"), "PolicyGRU")


class ModularPolicyGRU(ModularGRUPolicy):
    """MotorNet's development-branch modular GRU, with its constructor and stateful API.

    Like that class, the object keeps its own step counter and buffer of past hidden states: ``forward(x,
    h)`` takes and returns the (batch, hidden) state only; :meth:`init_hidden` (re)starts the buffer;
    the cancelation matrix acts at the steps given to :meth:`set_cancel_times` (counted from construction
    or :meth:`reset_counter`; ``init_hidden`` does not reset the count, as in MotorNet). Each step adds
    Gaussian noise (sd 1e-3) to the candidate pre-activation, one draw per unit from torch's global
    generator shared by the batch, as MotorNet does.

    The maths is :class:`~motornet_fn.nn.modular.ModularGRUPolicy`'s (see it for the arguments; for the
    engine and ensembles use that functional form, or this object's ``step`` with a packed state).
    Differences from MotorNet, on purpose: masks and Dale's signs are applied in the step (MotorNet
    masks gradients with hooks), so they hold through any optimiser; the weights are stored per kind
    (``W_in`` (3, hidden, input), ``W_rec`` (3, hidden, hidden), ``b`` (3, hidden)) with ``Wz``, ``Wr``,
    ``Wh``, ``bz``, ``br``, ``bh``, ``mask_W*`` and ``unittype_W`` as read-only views in MotorNet's
    layout; ``enforce_dale`` flips wrongly signed weights (MotorNet restores the previous magnitude);
    ``random_seed=0`` is a seed; nothing is printed.
    """

    def __init__(self, input_size: int, module_size: list, output_size: int, vision_mask: list, proprio_mask: list,
                 task_mask: list, connectivity_mask: np.ndarray, output_mask: list, vision_dim: list,
                 proprio_dim: list, task_dim: list, connectivity_delay: np.ndarray, spectral_scaling=None,
                 proportion_excitatory=None, input_gain: float = 1.0, device=torch.device("cpu"),
                 random_seed=None, activation: str = "tanh", output_delay: int = 0, cancelation_matrix=None,
                 last_task_proprio_only: bool = False):
        super().__init__(input_size, module_size, output_size, vision_mask, proprio_mask, task_mask,
                         connectivity_mask, output_mask, vision_dim, proprio_dim, task_dim, connectivity_delay,
                         spectral_scaling=spectral_scaling, proportion_excitatory=proportion_excitatory,
                         input_gain=input_gain, random_seed=random_seed, activation=activation,
                         output_delay=output_delay, cancelation_matrix=cancelation_matrix,
                         last_task_proprio_only=last_task_proprio_only)
        layout = self.layout
        self.device = device
        self.num_modules = layout.n_modules
        self.input_size, self.output_size = layout.input_size, layout.output_size
        self.module_size = list(layout.module_size)
        self.connectivity_delay = np.asarray(layout.connectivity_delay)
        self.output_delay = layout.output_delay
        self.max_connectivity_delay = layout.max_connectivity_delay
        self.max_delay = max(self.max_connectivity_delay, self.output_delay)
        self.spectral_scaling = spectral_scaling
        self.activation = ACTIVATIONS[activation]
        self.module_dims = [np.arange(s.start, s.stop) for s in layout.slices]
        self.counter = 0
        self.cancel_times = None
        self._past = None  # (batch, n_past * hidden) past hidden states, most recent first
        self.to(device)

    # ------------------------------------------------------------------------------------ MotorNet API
    def set_cancelation_matrix(self, cancelation_matrix) -> None:
        """C (hidden, hidden), applied as h <- h + h @ C at the cancel times."""
        self.set_lesion((0, None), cancelation_matrix=cancelation_matrix)

    @property
    def cancelation_matrix(self) -> torch.Tensor | None:
        """(hidden, hidden) C, or None; assigning it is ``set_cancelation_matrix`` (None removes it)."""
        return self.cancel_matrix if "matrix" in self.lesions else None

    @cancelation_matrix.setter
    def cancelation_matrix(self, value) -> None:
        if value is None:
            self.set_lesion((0, 0))
        else:
            self.set_cancelation_matrix(value)

    def set_cancel_times(self, times) -> None:
        """Steps (counter values) at which the cancelation matrix acts."""
        self.cancel_times = times

    def reset_counter(self) -> None:
        self.counter = 0

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        """(batch_size, hidden) activation(h0) tiled; every slot of the delay buffer starts there too."""
        h0 = self.act(self.h0).expand(batch_size, -1)
        self._past = h0.repeat(1, self.layout.n_past)
        return h0

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (batch, input_size), h_prev (batch, hidden) -> (y (batch, output) in (0, 1), h (batch, hidden))."""
        H, P = self.layout.hidden_size, self.layout.n_past
        if P and (self._past is None or self._past.shape[:-1] != h_prev.shape[:-1]):
            raise RuntimeError(f"call init_hidden(batch_size) before the first step: this network keeps "
                               f"{P} past hidden states for its delays (got a state of shape {tuple(h_prev.shape)})")
        past = self._past if P else h_prev[..., :0]
        packed = torch.cat([h_prev, past, h_prev.new_zeros(*h_prev.shape[:-1], 1)], dim=-1)
        noise = torch.randn(H, dtype=h_prev.dtype, device=h_prev.device) if self.noise_std > 0 else None
        cancel = self.cancelation_matrix is not None and self.cancel_times is not None and self.counter in self.cancel_times
        y, state = self.step(x, packed, noise, 1.0 if cancel else None)
        self._past = state[..., H:(P + 1) * H]
        self.counter += 1
        return y, state[..., :H]

    def freeze(self, input_freeze: bool, output_freeze: bool) -> None:
        """Stop training the input weights and / or the readout weights (MotorNet's ``freeze``)."""
        if input_freeze:
            self.W_in.requires_grad_(False)
        if output_freeze:
            self.Y.requires_grad_(False)

    # ------------------------------------------------------------------------------------ MotorNet's layout
    def _joined(self, gate: int) -> torch.Tensor:
        return torch.cat([self.W_in[gate], self.W_rec[gate]], dim=1).detach()

    Wz = property(lambda self: self._joined(0), doc="(hidden, input + hidden) update-gate weights (read-only copy).")
    Wr = property(lambda self: self._joined(1), doc="(hidden, input + hidden) reset-gate weights (read-only copy).")
    Wh = property(lambda self: self._joined(2), doc="(hidden, input + hidden) candidate weights (read-only copy).")
    bz = property(lambda self: self.b[0], doc="(hidden,) update-gate bias (a view of b).")
    br = property(lambda self: self.b[1], doc="(hidden,) reset-gate bias (a view of b).")
    bh = property(lambda self: self.b[2], doc="(hidden,) candidate bias (a view of b).")

    @property
    def mask_Wz(self) -> torch.Tensor:
        """(hidden, input + hidden) mask shared by the three gates."""
        return torch.cat([self.mask_in, self.mask_rec], dim=1)

    mask_Wr = mask_Wh = mask_Wz

    @property
    def unittype_W(self) -> torch.Tensor:
        """(hidden, hidden): column j holds unit j's type (+1 excitatory, -1 inhibitory)."""
        return self.unit_sign.expand(self.layout.hidden_size, -1)

    @property
    def h_buffer(self) -> torch.Tensor | None:
        """(batch, hidden, n_past) past hidden states, most recent first (None before init_hidden)."""
        if self._past is None:
            return None
        return self._past.reshape(*self._past.shape[:-1], self.layout.n_past, self.layout.hidden_size).transpose(-1, -2)


__all__ = ["PolicyGRU", "ModularPolicyGRU"]
