"""Modular GRU policy (functional form): MotorNet's development-branch ``ModularPolicyGRU`` as a
policy of the :mod:`motornet_fn.nn.policies` contract (vmap-, ensemble- and compile-friendly).

The hidden vector is split into contiguous modules. Connection probabilities per module pair are sampled
once into fixed binary masks (:mod:`motornet_fn.nn.connectivity`), masked weights are exactly zero
through training (the masks multiply the weights in every step, so their gradients are zero too), and
with Dale's law the recurrent weights are used as ``|W| * sign(presynaptic unit)``, so their signs
cannot change during training (:meth:`ModularGRUPolicy.enforce_dale` writes those signs back into the
stored parameters, or zeroes wrongly signed ones).

One step, for the rows of module i (gates z, r and candidate share the masks; ``v_i`` is the hidden
state as module i sees it, module j's part delayed by ``connectivity_delay[i, j]`` steps)::

    z_i = sigmoid(Wz_in x + Wz_rec[rows_i] v_i + bz)      r_i = sigmoid(Wr_in x + Wr_rec v_i + br)  (all units)
    c_i = act(Wh_in x + Wh_rec[rows_i] (r_i * v_i) + bh + noise_std * xi)
    h_i = (1 - z_i) * v_i[rows_i] + z_i * c_i
    action = sigmoid(Y h_{t - output_delay} + bY)

State layout, ``h`` of width ``state_dim = (n_past + 1) * hidden + 1``::

    [ h_t (hidden) | h_{t-1} (hidden) | ... | h_{t-n_past} (hidden) | step ]

``n_past = max(max connectivity delay, output_delay - 1)``; ``step`` counts the steps taken since
:meth:`ModularGRUPolicy.initial_hidden` (a float; exact up to 2**24 in float32) and times the lesions.
``activity(h) = h[..., :hidden]``.

Lesions (all inactive by default), active while ``t0 <= step < t1`` (:meth:`ModularGRUPolicy.set_lesion`):
a cancelation matrix C (MotorNet's: ``h <- h + h @ C`` after the update), silenced units or modules
(``h <- h * (1 - silenced)``), and cut module pairs (the recurrent connections from module j to module i
are removed from all three gates).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from motornet_fn.nn import connectivity as C
from motornet_fn.nn.policies import Policy, check_noise_std, rect_tanh

ACTIVATIONS = {"tanh": torch.tanh, "rect_tanh": rect_tanh}

GATES = ("z", "r", "h")  # MotorNet's order: update, reset, candidate
ZR, CANDIDATE = slice(0, 2), slice(2, 3)  # the gates computed from the state, and from the reset state


def enforce_dale_(w_rec: torch.Tensor, unit_sign: torch.Tensor, zero_out: bool = False) -> torch.Tensor:
    """In place: give every recurrent weight the sign of its presynaptic unit (flip a wrongly signed
    weight, or zero it with ``zero_out``). Works on stacked ensemble weights too.

    Args:
        w_rec: (..., 3, hidden, hidden) recurrent weights (columns presynaptic).
        unit_sign: (..., hidden) +1 / -1 per unit.
    """
    with torch.no_grad():
        sign = unit_sign.unsqueeze(-2).unsqueeze(-3)
        wrong = w_rec * sign < 0
        w_rec.copy_(torch.where(wrong, torch.zeros_like(w_rec) if zero_out else -w_rec, w_rec))
    return w_rec


def _lesions_after_load(module: "ModularGRUPolicy", incompatible_keys) -> None:
    """load_state_dict post-hook (a module-level function, so the module pickles)."""
    module._lesions_from_buffers()


class ModularGRUPolicy(Policy):
    """Modular GRU with masks, Dale's law, inter-module delays, delayed readout and timed lesions.

    Arguments are those of MotorNet's development-branch ``ModularPolicyGRU`` (see
    :class:`motornet_fn.policy.ModularPolicyGRU` for the stateful object-layer class), plus:

    Args:
        input_size: observation width.
        module_size: units per module.
        output_size: muscles.
        vision_mask, proprio_mask, task_mask, connectivity_mask, output_mask: connection probabilities
            (:func:`~motornet_fn.nn.connectivity.sample_connectivity`).
        vision_dim, proprio_dim, task_dim: the input columns of vision, proprioception and the task.
        connectivity_delay: (n_modules, n_modules) steps from module j to module i (None: no delays).
        spectral_scaling: if set, the recurrent candidate weights are rescaled to this spectral radius at init.
        proportion_excitatory: (n_modules,) fraction of excitatory units, or None (no Dale's law).
        input_gain: gain of the Xavier-uniform input weights.
        random_seed: seed of the numpy generator drawing masks and unit types (None: fresh entropy;
            unlike MotorNet, 0 is a seed too).
        activation: 'tanh' or 'rect_tanh' (max(0, tanh)); also applied to h0.
        output_delay: steps by which the readout lags the hidden state.
        cancelation_matrix: (hidden, hidden) C applied as h <- h + h @ C inside the lesion window.
        cancel_window: (t0, t1) steps of the lesion window, t1 None for open-ended (default: never).
        noise_std: sd of the Gaussian noise on the candidate pre-activation (MotorNet: 1e-3);
            0 gives noise_dim 0.
        last_task_proprio_only: the last task input follows proprio_mask (one MotorNet version's option).

    Parameters (initialised as MotorNet: input columns Xavier-uniform with ``input_gain``, recurrent
    columns normal(0, 1/sqrt(hidden)), zero biases, Xavier-uniform readout, readout bias -3, h0 zero):
    ``W_in`` (3, hidden, input), ``W_rec`` (3, hidden, hidden), ``b`` (3, hidden) for the gates (z, r, h);
    ``Y`` (output, hidden), ``bY`` (output,); ``h0`` (1, hidden). Buffers: ``mask_in``, ``mask_rec``,
    ``mask_Y``, ``unit_sign`` (all +1 without Dale's law), index tables of the delayed views, and the
    lesion settings (``lesion_window``, ``cancel_matrix``, ``lesion_units``, ``lesion_pairs``). The members
    of an ensemble must share the layout and the kinds of lesion set (they are static).
    """

    def __init__(self, input_size: int, module_size, output_size: int, vision_mask, proprio_mask, task_mask,
                 connectivity_mask, output_mask, vision_dim, proprio_dim, task_dim, connectivity_delay=None, *,
                 spectral_scaling: float | None = None, proportion_excitatory=None, input_gain: float = 1.0,
                 random_seed: int | None = None, activation: str = "tanh", output_delay: int = 0,
                 cancelation_matrix=None, cancel_window=None, noise_std: float = 1e-3,
                 last_task_proprio_only: bool = False):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        check_noise_std(noise_std=noise_std)
        if spectral_scaling is not None and not (isinstance(spectral_scaling, (int, float)) and spectral_scaling > 0):
            raise ValueError(f"spectral_scaling must be None or a spectral radius > 0, got {spectral_scaling!r}")
        if isinstance(input_gain, bool) or not isinstance(input_gain, (int, float)) or not 0 < input_gain < math.inf:
            raise ValueError(f"input_gain must be a gain > 0, got {input_gain!r}")
        layout = C.make_layout(input_size, module_size, output_size, connectivity_delay, output_delay)
        self.layout = layout
        self.activation_name = activation
        self.noise_std = float(noise_std)
        self.random_seed = random_seed
        self.rng = np.random.default_rng(random_seed)
        conn = C.sample_connectivity(layout, vision_mask, proprio_mask, task_mask, connectivity_mask, output_mask,
                                     vision_dim, proprio_dim, task_dim, proportion_excitatory, self.rng,
                                     last_task_proprio_only)
        self.dale = conn.unit_sign is not None
        H, I = layout.hidden_size, input_size
        self._init_parameters(H, I, output_size, input_gain)
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.register_buffer("mask_in", as_tensor(conn.input))
        self.register_buffer("mask_rec", as_tensor(conn.recurrent))
        self.register_buffer("mask_Y", as_tensor(conn.output))
        self.register_buffer("unit_sign", as_tensor(np.ones(H) if conn.unit_sign is None else conn.unit_sign))
        with torch.no_grad():
            if self.dale:
                enforce_dale_(self.W_rec, self.unit_sign)
            self.W_in.mul_(self.mask_in)
            self.W_rec.mul_(self.mask_rec)
            self.Y.mul_(self.mask_Y)
            if self.dale:
                self._balance_excitation_inhibition()
            if spectral_scaling:
                self._scale_spectral_radius(float(spectral_scaling))
        # gather index of the delayed views: view[i, l] = slot delay[i, module(l)] of unit l
        module = layout.unit_module()
        delays = np.asarray(layout.connectivity_delay)
        index = delays[:, module] * H + np.arange(H)[None, :]
        # every buffer is persistent: trainers rebuild members from stacked parameters and buffers through
        # load_state_dict, and a checkpoint keeps its lesion settings (self.lesions follows them on load)
        self.register_buffer("view_index", torch.as_tensor(index, dtype=torch.long))
        member = module[None, :] == np.arange(layout.n_modules)[:, None]  # (n_modules, H) one-hot
        self.register_buffer("module_member", torch.as_tensor(member, dtype=torch.float32))
        self.register_buffer("lesion_window", torch.zeros(2))
        self.register_buffer("cancel_matrix", torch.zeros(H, H))
        self.register_buffer("lesion_units", torch.zeros(H))
        self.register_buffer("lesion_pairs", torch.zeros(H, H))
        self.lesions: frozenset = frozenset()
        self.register_load_state_dict_post_hook(_lesions_after_load)
        if cancelation_matrix is not None:
            self.set_lesion(cancel_window if cancel_window is not None else (0, 0), cancelation_matrix=cancelation_matrix)
        elif cancel_window is not None:
            self.set_lesion(cancel_window)

    # ------------------------------------------------------------------------------------ building
    def _init_parameters(self, H: int, I: int, O: int, input_gain: float) -> None:
        """MotorNet's initialisation, drawn in its order (z, r, h: input then recurrent columns; readout)."""
        w_in, w_rec = torch.empty(3, H, I), torch.empty(3, H, H)
        for g in range(3):
            nn.init.xavier_uniform_(w_in[g], gain=input_gain)
            nn.init.normal_(w_rec[g], 0.0, 1.0 / math.sqrt(H))
        self.W_in, self.W_rec = nn.Parameter(w_in), nn.Parameter(w_rec)
        self.b = nn.Parameter(torch.zeros(3, H))
        self.Y = nn.Parameter(nn.init.xavier_uniform_(torch.empty(O, H)))
        self.bY = nn.Parameter(torch.full((O,), -3.0))
        self.h0 = nn.Parameter(torch.zeros(1, H))

    def _balance_excitation_inhibition(self) -> None:
        """MotorNet's E/I normalisation of the recurrent candidate weights: inhibitory weights divided by
        the magnitude of their sum, excitatory weights by theirs (skipped when a sum is below 1e-6)."""
        w = self.W_rec[2]
        inhibitory = (self.unit_sign < 0).expand_as(w)
        for part in (inhibitory, ~inhibitory):
            total = w[part].sum().abs()
            if total > 1e-6:
                w[part] = w[part] / total

    def _scale_spectral_radius(self, radius: float) -> None:
        w = self.W_rec[2]
        if torch.any(w != 0):
            current = torch.linalg.eigvals(w.double()).abs().max().to(w.dtype)
            if current > 1e-6:
                w.mul_(radius / current)

    def set_lesion(self, window=(0, None), *, cancelation_matrix=None, units=None, modules=None, pairs=None) -> None:
        """Configure the lesions of later steps (replacing earlier ones).

        Args:
            window: (t0, t1): active while ``t0 <= step < t1`` (t1 None: until the end).
            cancelation_matrix: (hidden, hidden) C; h <- h + h @ C after the update.
            units: unit indices to silence (their activity is zeroed after the update).
            modules: module indices whose units are all silenced.
            pairs: (target i, source j) module pairs whose recurrent connections j -> i are cut.
        """
        H, layout = self.layout.hidden_size, self.layout
        try:
            t0, t1 = window
            t1 = math.inf if t1 is None else t1
            ok = 0 <= t0 <= t1 and float(t0).is_integer() and (t1 == math.inf or float(t1).is_integer())
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"window must be (t0, t1) integer steps with 0 <= t0 <= t1 (t1 None: open), got {window!r}")
        kinds = set()
        dev = self.lesion_window.device
        with torch.no_grad():
            self.lesion_window.copy_(torch.tensor([float(t0), float(t1)], device=dev))
            self.cancel_matrix.zero_()
            if cancelation_matrix is not None:
                matrix = torch.as_tensor(np.asarray(cancelation_matrix, dtype=np.float64))
                if matrix.shape != (H, H):
                    raise ValueError(f"cancelation_matrix must be ({H}, {H}), got shape {tuple(matrix.shape)}")
                self.cancel_matrix.copy_(matrix)
                kinds.add("matrix")
            silenced = C.unit_lesion(layout, units, modules)
            self.lesion_units.copy_(torch.as_tensor(silenced))
            if silenced.any():
                kinds.add("units")
            cut = C.pair_lesion(layout, [] if pairs is None else pairs)
            self.lesion_pairs.copy_(torch.as_tensor(cut))
            if cut.any():
                kinds.add("pairs")
        self.lesions = frozenset(kinds)

    def _lesions_from_buffers(self) -> None:
        """Set the (static) lesion kinds from the lesion buffers, e.g. after load_state_dict."""
        kinds = {"matrix": self.cancel_matrix, "units": self.lesion_units, "pairs": self.lesion_pairs}
        self.lesions = frozenset(k for k, buffer in kinds.items() if bool(buffer.any()))

    # ------------------------------------------------------------------------------------ contract
    @property
    def hidden_size(self) -> int:
        return self.layout.hidden_size

    @property
    def state_dim(self) -> int:
        return (self.layout.n_past + 1) * self.layout.hidden_size + 1

    @property
    def noise_dim(self) -> int:
        return self.layout.hidden_size if self.noise_std > 0 else 0

    def act(self, x: torch.Tensor) -> torch.Tensor:
        """The unit nonlinearity."""
        return ACTIVATIONS[self.activation_name](x)

    def initial_hidden(self, batch_shape: tuple = ()) -> torch.Tensor:
        """``(*batch_shape, state_dim)``: act(h0) in every slot of the delay line, step 0."""
        h0 = self.act(self.h0[0])
        state = torch.cat([h0.repeat(self.layout.n_past + 1), h0.new_zeros(1)])
        return state.expand(*batch_shape, state.shape[-1]).contiguous()

    def activity(self, h: torch.Tensor) -> torch.Tensor:
        """The current hidden units (..., hidden)."""
        return h[..., :self.layout.hidden_size]

    def forward(self, obs: torch.Tensor, h: torch.Tensor,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (..., input_size), h (..., state_dim), noise None or (..., hidden) -> (action (..., output) in
        (0, 1), new h). The lesions act while the step counter in ``h`` is inside the lesion window."""
        gain = None
        if self.lesions:
            step = h[..., -1:]
            gain = ((step >= self.lesion_window[0]) & (step < self.lesion_window[1])).to(h.dtype)
        return self.step(obs, h, noise, gain)

    def step(self, obs: torch.Tensor, h: torch.Tensor, noise: torch.Tensor | None,
             gain: torch.Tensor | float | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step with an explicit lesion gain (None or 0: no lesion; 1: the configured lesions act;
        a (..., 1) tensor per sample). ``noise`` may also be (hidden,), shared by the batch."""
        layout = self.layout
        H, I, P = layout.hidden_size, layout.input_size, layout.n_past
        w_in = self.W_in * self.mask_in
        w_rec = self._recurrent_weights()  # (3, H, H)
        w_cut = w_rec * self.lesion_pairs if "pairs" in self.lesions and gain is not None else None

        def recurrent(v, gates: slice, g=gain):  # v @ W^T of the gates, minus the cut connections when lesioned
            out = v @ w_rec[gates].reshape(-1, H).T
            return out if w_cut is None else out - g * (v @ w_cut[gates].reshape(-1, H).T)

        drive = obs @ w_in.reshape(3 * H, I).T + self.b.reshape(3 * H)
        x_z, x_r, x_h = drive[..., :H], drive[..., H:2 * H], drive[..., 2 * H:]
        eps = None if noise is None or self.noise_std == 0 else self.noise_std * noise
        if layout.max_connectivity_delay == 0:  # every module sees the same state: one pass
            own = h[..., :H]
            zr = recurrent(own, ZR)
            z, r = torch.sigmoid(x_z + zr[..., :H]), torch.sigmoid(x_r + zr[..., H:])
            pre = x_h + recurrent(r * own, CANDIDATE)
        else:
            # views (..., n_modules, H): the state as module i sees it (module j's part delay[i, j] steps
            # old). Each gate is computed from every view, and unit k keeps the value from its own
            # module's view (``member`` one-hot): fewer, larger ops than a loop over modules.
            member = self.module_member
            views = h.index_select(-1, self.view_index.reshape(-1)).unflatten(-1, (layout.n_modules, H))
            per_view = gain.unsqueeze(-2) if torch.is_tensor(gain) else gain
            zr = recurrent(views, ZR, per_view)
            z = torch.sigmoid(x_z + (zr[..., :H] * member).sum(-2))
            r = torch.sigmoid(x_r.unsqueeze(-2) + zr[..., H:])  # the reset gates as each module sees them
            own = (views * member).sum(-2)
            pre = x_h + (recurrent(r * views, CANDIDATE, per_view) * member).sum(-2)
        h_new = (1 - z) * own + z * self.act(pre if eps is None else pre + eps)
        if gain is not None:
            if "matrix" in self.lesions:
                h_new = h_new + gain * (h_new @ self.cancel_matrix)
            if "units" in self.lesions:
                h_new = h_new * (1 - gain * self.lesion_units)
        d = layout.output_delay
        action = self._read(h_new if d == 0 else h[..., (d - 1) * H:d * H])
        return action, torch.cat([h_new, h[..., :P * H], h[..., -1:] + 1], dim=-1)

    def _read(self, units: torch.Tensor) -> torch.Tensor:
        """sigmoid(Y units + bY): the action (..., output) of hidden units (..., hidden)."""
        return torch.sigmoid(units @ (self.Y * self.mask_Y).T + self.bY)

    @property
    def readout(self):
        """``h_new (..., state_dim) -> action``, the action of an updated state, for ``output_delay`` 0; None
        otherwise (the action then reads units ``output_delay`` steps old: a change to the updated state
        reaches the muscles through the delay line, as it should)."""
        return (lambda h: self._read(self.activity(h))) if self.layout.output_delay == 0 else None

    # ------------------------------------------------------------------------------------ training
    def enforce_dale(self, zero_out: bool = False) -> None:
        """Write Dale's signs into the stored recurrent weights after an optimiser step (flip wrongly
        signed weights, or zero them with ``zero_out``). The step already uses ``|W| * sign``, so
        without ``zero_out`` this changes no output. No-op without Dale's law."""
        if self.dale:
            enforce_dale_(self.W_rec, self.unit_sign, zero_out)

    def _recurrent_weights(self) -> torch.Tensor:
        """(3, H, H) recurrent weights as the step uses them: masked, and ``|W| * sign`` with Dale's law."""
        if self.dale:
            # |W| whose gradient at W = 0 is 1, not abs's 0: a weight zeroed by enforce_dale(zero_out=True)
            # can grow again (and backward keeps a bool mask, not W)
            magnitude = torch.where(self.W_rec >= 0, self.W_rec, -self.W_rec)
            return magnitude * (self.unit_sign * self.mask_rec)
        return self.W_rec * self.mask_rec

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """The weights one step uses (masked, Dale-signed): W_in (3, H, I), W_rec (3, H, H), Y (O, H)."""
        return {"W_in": self.W_in * self.mask_in, "W_rec": self._recurrent_weights(), "Y": self.Y * self.mask_Y}

    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Input weights; recurrent weights, gate biases and h0; readout."""
        return {"input": ("W_in",), "recurrent": ("W_rec", "b", "h0"), "readout": ("Y", "bY")}


__all__ = ["ModularGRUPolicy", "ACTIVATIONS", "enforce_dale_", "rect_tanh"]
