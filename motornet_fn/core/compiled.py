"""Opt-in compiled fast path: the same pure functions, traced once by ``torch.compile`` (inductor, C++
code generation on CPU) and reused.

Eager PyTorch pays a fixed dispatch cost per operation (a few microseconds on CPU), and one Arm26
step is ~240 tiny operations, so small-batch simulation is all overhead. Two compiled entry points:

* :func:`compiled_step` compiles one :func:`~motornet_fn.core.effector.step` (every sub-step fused
  into one C++ kernel). The Python loop around it remains, so each call still costs a guard check and
  a launch (~0.1 ms): use it inside loops you own.
* :func:`rollout` compiles a whole :func:`~motornet_fn.core.effector.rollout`. The time loop becomes a
  ``scan`` higher-order op (``torch._higher_order_ops.scan``) lowered to a loop in generated C++
  (``cpp_wrapper``), so the step body is compiled once (compile time does not grow with the number of
  steps) and the per-step cost is one fused kernel plus a few buffer allocations. The state travels
  through the loop as one flat tensor; with ``batch_last=True`` (default) its batch dim is innermost,
  so the kernel vectorises over the batch rather than over the 2-6 muscles.

Numbers equal the eager path to float rounding (inductor fuses and reorders arithmetic; it does not
change the math); ``tests/core/test_compiled.py`` checks both against the MotorNet reference data.

Compiled callables are cached per static structure (the frozen ``EffectorSpec`` and options);
``torch.compile`` itself caches one graph per input shape / dtype (``dynamic=False``: a new batch
size or episode length compiles again). The first call of each is slow (10-60 s on a 2-core CPU);
:data:`COMPILE_SECONDS` records it per call signature, and inductor's on-disk cache makes later
processes faster.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, NamedTuple

import torch

from motornet_fn.core import effector as eff
from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.tree import tree_map, tree_stack
from motornet_fn.core.types import EffectorState, Loads

try:  # prototype API in torch >= 2.5; without it rollouts fall back to a loop over compiled steps
    from torch._higher_order_ops.scan import scan as _scan
except ImportError:  # pragma: no cover - depends on the torch version
    _scan = None

import torch.utils._pytree as _pytree

#: seconds spent in the first call of each compiled signature: {(name, signature): seconds}
COMPILE_SECONDS: dict = {}

#: inductor options of the compiled entry points (``cpp_wrapper`` moves the scan loop into C++)
DEFAULT_OPTIONS = {"cpp_wrapper": True}


def available() -> bool:
    """Whether whole-rollout compilation (``scan``) is available in this torch."""
    return _scan is not None


# ------------------------------------------------------------------------------------ flat layout
class FlatLayout(NamedTuple):
    """How a pytree of ``(*batch, *trailing)`` leaves packs into one ``(*batch, n)`` tensor.

    Attributes:
        treespec: the pytree structure.
        trailing: per leaf, its shape after the batch dims.
        sizes: per leaf, the number of elements after the batch dims.
    """

    treespec: Any
    trailing: tuple
    sizes: tuple

    @property
    def width(self) -> int:
        return sum(self.sizes)

    @classmethod
    def of(cls, tree: Any, batch_ndim: int) -> "FlatLayout":
        """Layout of ``tree`` whose leaves share ``batch_ndim`` leading batch dims."""
        leaves, treespec = _pytree.tree_flatten(tree)
        trailing = tuple(tuple(leaf.shape[batch_ndim:]) for leaf in leaves)
        return cls(treespec, trailing, tuple(math.prod(t) for t in trailing))

    def pack(self, tree: Any, batch_shape: tuple) -> torch.Tensor:
        """(*batch, n): the leaves concatenated on the last dim (always a copy)."""
        leaves = _pytree.tree_leaves(tree)
        return torch.cat([leaf.expand(*batch_shape, *t).reshape(*batch_shape, s)
                          for leaf, t, s in zip(leaves, self.trailing, self.sizes)], dim=-1)

    def unpack(self, flat: torch.Tensor, batch_shape: tuple) -> Any:
        """Inverse of :meth:`pack` for ``flat`` (*batch, n) (views where possible)."""
        parts = torch.split(flat, self.sizes, dim=-1)
        leaves = [p.reshape(*batch_shape, *t) for p, t in zip(parts, self.trailing)]
        return _pytree.tree_unflatten(leaves, self.treespec)


# ------------------------------------------------------------------------------------ utilities
def warm(spec: EffectorSpec, params: EffectorParams, state: EffectorState, batch_ndim: int) -> None:
    """One eager step on the first batch element: fills the static-tensor caches (masks,
    incidence matrices) for this device and dtype, so tracing sees them as constants."""
    one = tree_map(lambda x: x.reshape(-1, *x.shape[batch_ndim:])[:1], state)
    with torch.no_grad():
        eff.step(spec, params, one, one.joint.pos.new_zeros(1, spec.n_muscles))


def _signature(*trees) -> tuple:
    """Shapes, dtypes and devices of every leaf (what ``dynamic=False`` specialises on)."""
    leaves = [x for t in trees for x in _pytree.tree_leaves(t)]
    return tuple((tuple(x.shape), x.dtype, x.device.type, x.requires_grad) if isinstance(x, torch.Tensor) else x
                 for x in leaves)


def timed_first_call(name: str, fn: Callable, signature: tuple, *args):
    """Call ``fn``; on the first call of ``signature`` record its duration in :data:`COMPILE_SECONDS`."""
    key = (name, signature)
    if key in COMPILE_SECONDS:
        return fn(*args)
    start = time.perf_counter()
    out = fn(*args)
    COMPILE_SECONDS[key] = time.perf_counter() - start
    return out


_DECOMPOSED = False


def register_view_copy_decompositions() -> None:
    """Teach inductor to lower ``slice_copy`` / ``select_copy`` / ``split_copy`` as a view plus a
    (fused) copy.

    Inside a ``scan`` body every view op is functionalised into its ``*_copy`` form, and inductor
    (torch 2.13) has no lowering for these three: it calls back into ATen (``split_copy`` even into
    Python) at every step of the loop, which cost ~25% of a compiled training step. The decomposition
    is exact. Idempotent; touches only ops inductor would otherwise fall back on.
    """
    global _DECOMPOSED
    if _DECOMPOSED:
        return
    from torch._inductor import decomposition as inductor_decomposition

    aten = torch.ops.aten

    def slice_copy(x, dim=0, start=None, end=None, step=1):
        return aten.slice.Tensor(x, dim, start, end, step).clone()

    def select_copy(x, dim, index):
        return aten.select.int(x, dim, index).clone()

    def split_copy(x, split_size, dim=0):
        return [t.clone() for t in aten.split.Tensor(x, split_size, dim)]

    def split_with_sizes_copy(x, split_sizes, dim=0):
        return [t.clone() for t in aten.split_with_sizes.default(x, split_sizes, dim)]

    table = inductor_decomposition.decompositions
    for op, fn in ((aten.slice_copy.Tensor, slice_copy), (aten.select_copy.int, select_copy),
                   (aten.split_copy.Tensor, split_copy), (aten.split_with_sizes_copy.default, split_with_sizes_copy)):
        if op not in table:
            torch._decomp.register_decomposition(op, table)(fn)
    _DECOMPOSED = True


def _compile(fn: Callable, options: dict | None) -> Callable:
    register_view_copy_decompositions()
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    return torch.compile(fn, fullgraph=True, dynamic=False, options=dict(DEFAULT_OPTIONS if options is None else options))


# ------------------------------------------------------------------------------------ step
_STEPS: dict = {}


def compiled_step(spec: EffectorSpec, options: dict | None = None) -> Callable:
    """``step(params, state, action, loads=None) -> state``: :func:`~motornet_fn.core.effector.step`
    of ``spec``, compiled (cached per spec and options).

    Leaves of ``state`` keep their layout; a state whose leaves are expanded views (the muscle state
    from :func:`~motornet_fn.core.effector.initial_state`) compiles once more than a materialised one.
    """
    key = (spec, _freeze(options))
    if key not in _STEPS:
        def one_step(params, state, action, loads):
            return eff.step(spec, params, state, action, loads)

        compiled = _compile(one_step, options)

        def step(params, state, action, loads=None):
            return timed_first_call("step", compiled, (spec, _signature(params, state, action, loads)),
                                    params, state, action, loads)

        _STEPS[key] = step
    return _STEPS[key]


def _freeze(options: dict | None):
    return None if options is None else tuple(sorted(options.items()))


# ------------------------------------------------------------------------------------ rollout
def _rollout_body(spec: EffectorSpec, layout: FlatLayout, batch_shape: tuple, batch_last: bool, time_loads: bool,
                  record: Callable | str | None, params: EffectorParams, x0: torch.Tensor, actions: torch.Tensor,
                  loads: Loads | None):
    """Traced body of :func:`rollout`: ``scan`` over time of one packed effector state."""
    if batch_last:  # carry (n, B): unpack through the transposed view, pack back transposed
        unpack = lambda x: layout.unpack(x.T.reshape(*batch_shape, layout.width), batch_shape)  # noqa: E731
        pack = lambda s: layout.pack(s, batch_shape).reshape(-1, layout.width).T.contiguous()  # noqa: E731
    else:
        unpack = lambda x: layout.unpack(x, batch_shape)  # noqa: E731
        pack = lambda s: layout.pack(s, batch_shape)  # noqa: E731

    def body(x, inputs):
        action, step_loads = inputs if time_loads else (inputs, loads)
        state = eff.step(spec, params, unpack(x), action, step_loads)
        new = pack(state)
        if record == "state":
            out = new.clone()
        elif record is None:
            out = new.new_zeros(())  # scan needs an output; a scalar per step is free
        else:
            out = tuple(leaf.clone() for leaf in _pytree.tree_leaves(record(state)))
        return new, out

    xs = (actions, loads) if time_loads else actions
    final, ys = _scan(body, x0, xs)
    if record is None:
        return unpack(final)
    if record != "state":
        recorded = _pytree.tree_flatten(record(unpack(x0)))
        first = [leaf.unsqueeze(0) for leaf in recorded[0]]
        return _pytree.tree_unflatten([torch.cat([a, b], dim=0) for a, b in zip(first, ys)], recorded[1])
    trajectory = torch.cat([x0.unsqueeze(0), ys], dim=0)  # (T + 1, n, B) or (T + 1, *batch, n)
    n_time = trajectory.shape[0]
    if batch_last:
        trajectory = trajectory.transpose(1, 2)
    leaves = torch.split(trajectory.reshape(n_time, *batch_shape, layout.width), layout.sizes, dim=-1)
    return _pytree.tree_unflatten([p.reshape(n_time, *batch_shape, *t) for p, t in zip(leaves, layout.trailing)],
                                  layout.treespec)


_ROLLOUTS: dict = {}


def rollout(spec: EffectorSpec, params: EffectorParams, state: EffectorState, actions: torch.Tensor,
            loads: Loads | None = None, time_varying_loads: bool = False, *, record: Callable | str | None = "state",
            batch_last: bool = False, options: dict | None = None) -> Any:
    """Compiled :func:`~motornet_fn.core.effector.rollout`: same arguments, same result (to float
    rounding).

    Args:
        record: what to return. ``"state"`` (default): the whole trajectory, every leaf of the
            EffectorState with a leading time dim of T + 1, as the eager rollout. ``None``: only the
            final state (no trajectory is stored: the fastest). A function ``state -> pytree`` (e.g.
            ``lambda s: s.joint``; pass the same function object every call, it keys the cache):
            that pytree at every step, with a leading time dim of T + 1.
        batch_last: carry the state through the loop as (n_state, batch) so the generated kernel
            vectorises over the batch rather than the muscles; it pays transposes at every step and
            measured slower on CPU with ``record="state"``, so it is off by default.
        options: inductor options (default :data:`DEFAULT_OPTIONS`).

    Without ``torch._higher_order_ops.scan`` (torch < 2.5) this loops over :func:`compiled_step`.
    """
    if _scan is None:  # pragma: no cover - depends on the torch version
        return _rollout_by_steps(spec, params, state, actions, loads, time_varying_loads, record, options)
    batch_shape = tuple(actions.shape[1:-1])
    if loads is not None and not time_varying_loads:
        loads = tree_map(lambda x: x.expand(*batch_shape, *x.shape[x.ndim - 1:]).contiguous(), loads)
    time_loads = bool(time_varying_loads and loads is not None)
    static = (spec, batch_shape, batch_last, time_loads, record, _freeze(options))
    entry = _ROLLOUTS.get(static)
    if entry is None:
        layout = FlatLayout.of(state, len(batch_shape))
        warm(spec, params, state, len(batch_shape))
        bound = (spec, layout, batch_shape, batch_last, time_loads, record)

        def run(params, x0, actions, loads):
            return _rollout_body(*bound, params, x0, actions, loads)

        entry = _ROLLOUTS[static] = (layout, _compile(run, options))
    layout, fn = entry
    x0 = layout.pack(state, batch_shape)
    if batch_last:
        x0 = x0.reshape(-1, layout.width).T.contiguous()
    signature = (static, tuple(actions.shape), actions.dtype, actions.device.type, torch.is_grad_enabled())
    return timed_first_call("rollout", fn, signature, params, x0, actions, loads)


def _rollout_by_steps(spec, params, state, actions, loads, time_varying_loads, record, options):  # pragma: no cover
    step = compiled_step(spec, options)
    keep = (lambda s: s) if record == "state" else record
    states = [keep(state)] if keep is not None else []
    for t in range(actions.shape[0]):
        step_loads = tree_map(lambda x: x[t], loads) if (loads is not None and time_varying_loads) else loads
        state = step(params, state, actions[t], step_loads)
        if keep is not None:
            states.append(keep(state))
    return tree_stack(states) if keep is not None else state


def clear_caches() -> None:
    """Forget compiled callables and compile timings (torch's own caches are untouched)."""
    _STEPS.clear()
    _ROLLOUTS.clear()
    COMPILE_SECONDS.clear()


__all__ = ["rollout", "compiled_step", "FlatLayout", "COMPILE_SECONDS", "DEFAULT_OPTIONS", "available", "warm",
           "clear_caches", "timed_first_call"]
