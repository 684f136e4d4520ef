"""Connectivity of a modular network, built once with numpy: module layout, input / recurrent /
readout masks sampled from per-module probabilities, Dale's unit types, and lesion matrices.

The sampling follows MotorNet's development-branch ``ModularPolicyGRU`` step by step (same draws from
the same ``numpy.random.Generator``, in the same order), so one ``random_seed`` gives the same masks:

1. for the rows of module i: the input columns listed in ``vision_dim`` / ``proprio_dim`` /
   ``task_dim`` get probability ``vision_mask[i]`` / ``proprio_mask[i]`` / ``task_mask[i]``; for each
   source module j with ``p = connectivity_mask[i, j] > 0``, ``ceil(p * size_j)`` units of module j,
   drawn without replacement, get probability 1 (all rows of module i see the same subset);
2. the binary (hidden, input + hidden) mask is one Bernoulli draw per entry of these probabilities;
3. the (output, hidden) readout mask: Bernoulli with probability ``output_mask[j]`` on module j's
   columns;
4. with Dale's law, each unit of module m is excitatory with probability ``proportion_excitatory[m]``,
   else inhibitory, and inhibitory units lose every projection outside their own module.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from motornet_fn.nn.policies import check_positive_int


@dataclass(frozen=True)
class ModuleLayout:
    """Static structure of a modular network (hashable; never vmapped).

    Attributes:
        module_size: units per module; modules are contiguous blocks of the hidden vector, in order.
        input_size: observation width.
        output_size: number of outputs (muscles).
        connectivity_delay: (n_modules, n_modules) ints, ``[i][j]`` = delay in steps from module j to i.
        output_delay: steps by which the readout lags the hidden state.
    """

    module_size: tuple[int, ...]
    input_size: int
    output_size: int
    connectivity_delay: tuple[tuple[int, ...], ...]
    output_delay: int

    @property
    def n_modules(self) -> int:
        return len(self.module_size)

    @property
    def hidden_size(self) -> int:
        return sum(self.module_size)

    @property
    def slices(self) -> tuple[slice, ...]:
        """Each module's slice of the hidden vector (pure Python: it is read inside traced steps)."""
        edges = (0, *itertools.accumulate(self.module_size))
        return tuple(slice(a, b) for a, b in zip(edges[:-1], edges[1:]))

    @property
    def max_connectivity_delay(self) -> int:
        return max(max(row) for row in self.connectivity_delay)

    @property
    def n_past(self) -> int:
        """Past hidden states the step needs besides the current one: the longest inter-module
        delay, and ``output_delay - 1`` (the readout at delay d reads the state d steps before the new one)."""
        return max(self.max_connectivity_delay, self.output_delay - 1, 0)

    def unit_module(self) -> np.ndarray:
        """(hidden,) index of each unit's module."""
        return np.repeat(np.arange(self.n_modules), self.module_size)


class Connectivity(NamedTuple):
    """Sampled binary masks and unit types (numpy, float32).

    Attributes:
        input: (hidden, input_size) mask of the input weights (shared by the three GRU gates).
        recurrent: (hidden, hidden) mask of the recurrent weights (rows postsynaptic, columns presynaptic).
        output: (output_size, hidden) mask of the readout.
        unit_sign: (hidden,) +1 excitatory / -1 inhibitory, or None without Dale's law.
    """

    input: np.ndarray
    recurrent: np.ndarray
    output: np.ndarray
    unit_sign: np.ndarray | None


# ------------------------------------------------------------------------------------ validation
def _probabilities(name: str, values, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must hold one probability per module ({n} modules), got shape {arr.shape}")
    if not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {arr.tolist()}")
    return arr


def _indices(name: str, values, input_size: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    if arr.size and (np.any(arr < 0) or np.any(arr >= input_size) or not np.array_equal(arr, np.asarray(values).reshape(-1))):
        raise ValueError(f"{name} must list integer input columns in [0, {input_size}), got {list(values)}")
    return arr


def _delay(name: str, value) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or value < 0:
        raise ValueError(f"{name} must be a non-negative integer number of steps, got {value!r}")
    return int(value)


def make_layout(input_size: int, module_size: Sequence[int], output_size: int, connectivity_delay=None,
                output_delay: int = 0) -> ModuleLayout:
    """Validate sizes and delays; ``connectivity_delay`` None means no delays."""
    check_positive_int(input_size=input_size, output_size=output_size)
    sizes = tuple(module_size) if isinstance(module_size, (list, tuple, np.ndarray)) else None
    if not sizes or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"module_size must be a non-empty list of positive ints, got {module_size!r}")
    n = len(sizes)
    delays = np.zeros((n, n)) if connectivity_delay is None else np.asarray(connectivity_delay)
    if delays.shape != (n, n):
        raise ValueError(f"connectivity_delay must be ({n}, {n}) for {n} modules, got shape {delays.shape}")
    try:
        rows = tuple(tuple(_delay("connectivity_delay", v) for v in row) for row in delays.tolist())
    except (TypeError, ValueError) as err:
        raise ValueError(f"connectivity_delay must hold non-negative integer numbers of steps, got {delays.tolist()}") from err
    return ModuleLayout(tuple(int(s) for s in sizes), input_size, output_size, rows,
                        _delay("output_delay", output_delay))


# ------------------------------------------------------------------------------------ sampling
def sample_connectivity(layout: ModuleLayout, vision_mask, proprio_mask, task_mask, connectivity_mask, output_mask,
                        vision_dim, proprio_dim, task_dim, proportion_excitatory=None,
                        rng: np.random.Generator | None = None, last_task_proprio_only: bool = False) -> Connectivity:
    """Sample the masks (and Dale's unit types) of a modular network; see the module docstring.

    Args:
        layout: sizes and delays (:func:`make_layout`).
        vision_mask, proprio_mask, task_mask: (n_modules,) probability that a unit of module i receives
            each vision / proprioceptive / task input.
        connectivity_mask: (n_modules, n_modules) fraction ``[i, j]`` of module j's units projecting to module i.
        output_mask: (n_modules,) probability that each readout weight from module j exists.
        vision_dim, proprio_dim, task_dim: input columns of each kind (together ``input_size`` of them).
        proportion_excitatory: (n_modules,) probability that a unit is excitatory, or None (no Dale's law).
        rng: the generator drawing everything (default: fresh entropy).
        last_task_proprio_only: the last task column follows ``proprio_mask`` instead of ``task_mask``
            (an option of one version of MotorNet's class).
    """
    n, H, I = layout.n_modules, layout.hidden_size, layout.input_size
    rng = np.random.default_rng() if rng is None else rng
    masks = {name: _probabilities(name, v, n) for name, v in
             (("vision_mask", vision_mask), ("proprio_mask", proprio_mask), ("task_mask", task_mask),
              ("output_mask", output_mask))}
    conn = np.asarray(connectivity_mask, dtype=np.float64)
    if conn.shape != (n, n):
        raise ValueError(f"connectivity_mask must be ({n}, {n}) for {n} modules, got shape {conn.shape}")
    if not np.all((conn >= 0) & (conn <= 1)):
        raise ValueError(f"connectivity_mask must hold fractions in [0, 1], got {conn.tolist()}")
    dims = {name: _indices(name, v, I) for name, v in
            (("vision_dim", vision_dim), ("proprio_dim", proprio_dim), ("task_dim", task_dim))}
    listed = np.concatenate(list(dims.values()))
    if listed.size != I or np.unique(listed).size != I:
        raise ValueError(f"vision_dim, proprio_dim and task_dim must list each of the {I} input columns once, "
                         f"got {sorted(listed.tolist())}")
    if proportion_excitatory is not None:
        proportion_excitatory = _probabilities("proportion_excitatory", proportion_excitatory, n)

    slices = layout.slices
    prob = np.zeros((H, I + H))
    task_cols, last_task = dims["task_dim"], None
    if last_task_proprio_only and task_cols.size:
        task_cols, last_task = task_cols[:-1], task_cols[-1:]
    for i, rows in enumerate(slices):
        prob[rows, dims["vision_dim"]] = masks["vision_mask"][i]
        prob[rows, dims["proprio_dim"]] = masks["proprio_mask"][i]
        prob[rows, task_cols] = masks["task_mask"][i]
        if last_task is not None:
            prob[rows, last_task] = masks["proprio_mask"][i]
        for j, src in enumerate(slices):
            p = conn[i, j]
            if p > 0:
                size = src.stop - src.start
                chosen = rng.choice(size, size=int(math.ceil(p * size)), replace=False) + src.start
                prob[rows, I + chosen] = 1.0
    out_prob = np.zeros((layout.output_size, H))
    for j, cols in enumerate(slices):
        out_prob[:, cols] = masks["output_mask"][j]
    mask = rng.binomial(1, prob).astype(np.float32)
    mask_out = rng.binomial(1, out_prob).astype(np.float32)

    sign = None
    if proportion_excitatory is not None:
        sign = np.concatenate([np.where(rng.binomial(1, np.full(s, proportion_excitatory[m])) == 1, 1.0, -1.0)
                               for m, s in enumerate(layout.module_size)]).astype(np.float32)
        module = layout.unit_module()
        inhibitory_elsewhere = (sign[None, :] < 0) & (module[:, None] != module[None, :])
        mask[:, I:][inhibitory_elsewhere] = 0.0
    return Connectivity(mask[:, :I], mask[:, I:], mask_out, sign)


# ------------------------------------------------------------------------------------ lesions
def unit_lesion(layout: ModuleLayout, units=None, modules=None) -> np.ndarray:
    """(hidden,) 0/1 vector of the units to silence: the listed unit indices and every unit of the
    listed modules."""
    silenced = np.zeros(layout.hidden_size, dtype=np.float32)
    for u in [] if units is None else units:
        if not 0 <= int(u) < layout.hidden_size:
            raise ValueError(f"units must be unit indices in [0, {layout.hidden_size}), got {u!r}")
        silenced[int(u)] = 1.0
    for m in [] if modules is None else modules:
        if not 0 <= int(m) < layout.n_modules:
            raise ValueError(f"modules must be module indices in [0, {layout.n_modules}), got {m!r}")
        silenced[layout.slices[int(m)]] = 1.0
    return silenced


def pair_lesion(layout: ModuleLayout, pairs) -> np.ndarray:
    """(hidden, hidden) 0/1 matrix of the recurrent connections to cut: all connections from module j
    to module i for each ``(i, j)`` in ``pairs`` (rows postsynaptic, as the weights)."""
    cut = np.zeros((layout.hidden_size, layout.hidden_size), dtype=np.float32)
    for pair in pairs:
        if len(pair) != 2 or not all(0 <= int(m) < layout.n_modules for m in pair):
            raise ValueError(f"pairs must be (target, source) module indices in [0, {layout.n_modules}), got {pair!r}")
        i, j = (int(m) for m in pair)
        cut[layout.slices[i], layout.slices[j]] = 1.0
    return cut


__all__ = ["ModuleLayout", "Connectivity", "make_layout", "sample_connectivity", "unit_lesion", "pair_lesion"]
