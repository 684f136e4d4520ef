"""The compiled engine: the same pure functions, traced once by ``torch.compile`` (inductor, C++ code
generation on CPU) and reused.

Eager PyTorch pays a fixed dispatch cost per operation (a few microseconds on CPU), and one Arm26
step is ~240 tiny operations, so small-batch simulation is all overhead. Entry points:

* :func:`compiled_step`: one :func:`~motornet_fn.core.effector.step` fused into generated code (the
  Python loop around it remains: use it inside loops you own; the object layer's ``compile=True``).
* :func:`compiled_env_step`: one :func:`~motornet_fn.core.env.step` (the built-in environments' step).
* :func:`rollout`: a whole :func:`~motornet_fn.core.engine.rollout` as a ``scan`` lowered to a loop in
  generated C++ (``cpp_wrapper``), so the step body is compiled once whatever the number of steps.
* :func:`compile_function`: compile any function of pytrees (the trainer compiles its whole
  episode + loss with it), timing and logging the first call of every input signature.
* :func:`step_function`: a function called once per step from the user's Python loop (the object layer's
  ``compile=True``), compiled without per-call guards and with a one-node, recomputing backward
  (:mod:`motornet_fn.core.stepfunction`).

Numbers equal the eager path to float rounding (inductor fuses and reorders arithmetic; it does not
change the math). Compiled callables are cached per static structure; ``torch.compile`` caches one
graph per input shape / dtype (``dynamic=False``). The first call of each is slow (seconds on a
2-core CPU); :data:`COMPILE_SECONDS` records it and the ``motornet_fn.compile`` logger reports it.
Compiled code is cached on disk (:func:`configure_cache`), so later processes start faster.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from motornet_fn.core import checks, engine
from motornet_fn.core import effector as eff
from motornet_fn.core import env as environment
from motornet_fn.core import loop_pool, parallel_build, scan_remat, scan_shapes, stack_loop, stepfunction, toolchain
from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.packing import FlatLayout, materialise
from motornet_fn.core.stepfunction import StepFunction
from motornet_fn.core.tree import tree_leaves, tree_map
from motornet_fn.core.types import EffectorState, Loads

#: seconds spent in the first call of each compiled signature: {(name, signature): seconds}
COMPILE_SECONDS: dict = {}

#: inductor options of the scanned entry points (``cpp_wrapper`` moves the scan loop into C++)
DEFAULT_OPTIONS = {"cpp_wrapper": True}

#: inductor options of a rollout under ``torch.no_grad()``: a C++ loop whose iterations keep their buffers on the
#: stack (:mod:`motornet_fn.core.stack_loop`); same numbers bit for bit. Arm26, 200 steps, final state, called back
#: to back: 1.07 -> 0.19 ms at B = 1, 1.61 -> 0.67 ms at B = 32, 2.90 -> 1.83 ms at B = 128 (beyond its 100 KiB stack
#: budget, B = 1024, it allocates as before). With gradients the evidence is mixed (equal or faster back to back,
#: 15% slower in ``bench_effector.py``'s shuffled rounds), so rollouts that record a graph keep
#: :data:`DEFAULT_OPTIONS`; pass these options to use it there.
NO_GRAD_OPTIONS = {**DEFAULT_OPTIONS, **stack_loop.OPTIONS}

#: inductor options under every :func:`compile_function` (a caller's options override them): no size, stride
#: and scalar checks inside the generated code. Inductor's wrapper checks every tensor entering the scan's
#: loop body at every step (72 tensors per step of the trainer's Arm26 episode); the graph's own inputs stay
#: guarded by Dynamo (static shapes and strides). Measured per training batch with the Python loop wrapper:
#: Arm26 26.3 -> 21.5 ms, tutorial 21.4 -> 18.4 ms; with the C++ one, Arm26 17.5 -> 16.7 ms.
UNCHECKED_OPTIONS = {"size_asserts": False, "scalar_asserts": False}


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (not the one of import time: notebooks and tests replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


log = logging.getLogger("motornet_fn.compile")
if not log.handlers:  # report compile decisions and times; silence with logging.getLogger(...).setLevel
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("motornet_fn: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

#: default location of the on-disk compile cache (used unless TORCHINDUCTOR_CACHE_DIR is set)
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "motornet_fn" / "inductor"


def available() -> bool:
    """Whether whole-rollout compilation (``scan``) is available in this torch."""
    return engine.scan_available()


def configure_cache() -> str:
    """Point inductor's on-disk cache at :data:`CACHE_DIR` (unless ``TORCHINDUCTOR_CACHE_DIR`` is set) and
    turn on its graph and autograd caches. Returns the cache directory."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # importing parts of inductor fills the variable in with torch's default (a temporary directory)
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in (None, os.path.abspath(default_cache_dir())):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(CACHE_DIR)
    torch._inductor.config.fx_graph_cache = True
    torch._functorch.config.enable_autograd_cache = True
    # torch 2.13 refuses to cache graphs holding a ``scan`` (a higher-order op whose body is a subgraph), so
    # every process recompiled the engine from scratch. The body is an FX subgraph of the cached graph module
    # and is hashed with it, so its cache entries are keyed by everything that compiled it; mark it cacheable
    # (keyed by the torch version). tests/core/test_compiled_cache.py checks warm results equal cold ones.
    for op in ("scan", "while_loop"):
        torch._inductor.config.unsafe_marked_cacheable_functions.setdefault(f"torch.ops.higher_order.{op}",
                                                                           torch.__version__)
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


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
    # inductor caches a copy of the table on its first compilation (fast_random_decomps); without this, a
    # compilation before the first call here (a StepFunction, the user's own torch.compile) kept the stale
    # copy, and a later scan lowering failed with "both a fallback and a decomp for same op"
    inductor_decomposition.fast_random_decomps.cache_clear()
    _DECOMPOSED = True


def signature(*trees) -> tuple:
    """Shapes, dtypes, devices and grad flags of every leaf (what ``dynamic=False`` specialises on)."""
    return tuple((tuple(x.shape), x.dtype, x.device.type, x.requires_grad) if isinstance(x, torch.Tensor) else x
                 for t in trees for x in tree_leaves(t))


def _graphs_compiled() -> int:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def timed_first_call(name: str, fn: Callable, key: tuple, *args, describe: str | None = None):
    """Call ``fn``; on the first call of ``key`` record its duration in :data:`COMPILE_SECONDS` and log it."""
    full = (name, key)
    if full in COMPILE_SECONDS:
        return fn(*args)
    start = time.perf_counter()
    out = fn(*args)
    COMPILE_SECONDS[full] = seconds = time.perf_counter() - start
    log.info("compiled %s in %.1f s", describe or name, seconds)
    return out


def _recorder(name: str) -> Callable:
    """``record(what, seconds, loaded=False)``: time the n-th compilation of ``name`` into
    :data:`COMPILE_SECONDS` (under ``(name, n)``) and log it as ``what``."""
    compilations = [0]

    def record(what: str, seconds: float, loaded: bool = False) -> None:
        compilations[0] += 1
        COMPILE_SECONDS[(name, compilations[0])] = seconds
        if loaded:
            log.info("loaded compiled %s from the cache in %.2f s", what, seconds)
        else:
            log.info("compiled %s in %.1f s", what, seconds)

    return record


def warmup_header(options: dict | None) -> str | None:
    """The precompiled header the toolchain warm-up builds for a compilation with these inductor ``options``
    (see :mod:`motornet_fn.core.toolchain`): a Python wrapper's kernels', a C++ loop's built apart from its
    kernels, or a C++ loop's built as one file (with inductor's wrapper, or with :mod:`~motornet_fn.core.stack_loop`'s,
    which includes another header)."""
    options = options or {}
    if not options.get("cpp_wrapper"):
        return "python"
    if options.get("cpp_wrapper_build_separate"):
        return "cpp_loop"
    return "stack_file" if options.get(stack_loop.OPTION) else "cpp_file"


def compile_function(fn: Callable, options: dict | None = None, name: str = "function",
                     describe: Callable[..., str] | None = None) -> Callable:
    """``torch.compile(fn, fullgraph=True, dynamic=False)``; every call that compiles (a first call, or a new
    input signature) is timed into :data:`COMPILE_SECONDS` (under ``(name, n)``, the n-th compilation) and
    logged. ``describe(*args)`` names the call in the log. Calls that do not compile cost two counter reads."""
    configure_cache()
    register_view_copy_decompositions()
    scan_shapes.install()  # Dynamo's and AOTAutograd's shape passes skip the scan's backward partition
    scan_remat.install()  # a scan's backward recomputes each step from its saved carry
    stack_loop.install()  # NO_GRAD_OPTIONS' loop wrapper, chosen by its option
    parallel_build.install()  # a C++ loop built apart from its kernels compiles both at once
    toolchain.start_warmup(header=warmup_header(options), simdlen=(options or {}).get("cpp.simdlen"))
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    options = {**UNCHECKED_OPTIONS, **scan_remat.OPTIONS, **loop_pool.OPTIONS, **(options or {})}
    compiled = torch.compile(fn, fullgraph=True, dynamic=False, options=options)
    record = _recorder(name)

    functorch_config = torch._functorch.config

    def call(*args):
        before = _graphs_compiled()
        start = time.perf_counter()
        # compile the backward with the forward (not lazily at the first backward), so the time logged is all of it;
        # set and restored by hand: config.patch() costs ~10 us a call, a tenth of a no-grad B = 1 rollout
        lazy = functorch_config.force_non_lazy_backward_lowering
        functorch_config.force_non_lazy_backward_lowering = True
        try:
            out = compiled(*args)
        finally:
            functorch_config.force_non_lazy_backward_lowering = lazy
        if _graphs_compiled() != before:
            record(describe(*args) if describe is not None else name, time.perf_counter() - start)
        return out

    call.compiled = compiled
    return call


def step_function(fn: Callable, name: str, describe: Callable[..., str] | None = None,
                  static: Any = None) -> StepFunction:
    """``fn(constants, *args)`` as a :class:`~motornet_fn.core.stepfunction.StepFunction` (a per-step function
    of the object layer, compiled without per-call guards), its graphs saved on disk keyed by ``static``
    (everything ``fn`` closes over that shapes its code; ``None``: not saved). Each graph built is timed
    into :data:`COMPILE_SECONDS` and logged under ``name``."""
    configure_cache()
    register_view_copy_decompositions()
    return StepFunction(fn, name, describe, None if static is None else stepfunction.static_key(static),
                        _recorder(name))


def warm(spec: EffectorSpec, params: EffectorParams, state: EffectorState, batch_ndim: int) -> None:
    """One eager step on the first batch element: fills the static-tensor caches (masks,
    incidence matrices) for this device and dtype, so tracing sees them as constants."""
    one = tree_map(lambda x: x.reshape(-1, *x.shape[batch_ndim:])[:1], state)
    with torch.no_grad():
        eff.step(spec, params, one, one.joint.pos.new_zeros(1, spec.n_muscles))


def _freeze(options: dict | None):
    return None if options is None else tuple(sorted(options.items()))


def _name(spec: EffectorSpec) -> str:
    return f"{spec.skeleton.name}/{spec.muscle.name}/{spec.integrator}"


# ------------------------------------------------------------------------------------ steps
_STEPS: dict = {}


def compiled_step(spec: EffectorSpec, options: dict | None = None) -> Callable:
    """``step(params, state, action, loads=None) -> state``: :func:`~motornet_fn.core.effector.step`
    of ``spec``, compiled (cached per spec and options)."""
    key = ("step", spec, _freeze(options))
    if key not in _STEPS:
        def one_step(params, state, action, loads):
            return eff.step(spec, params, state, action, loads)

        fn = compile_function(one_step, options, "step",
                              lambda p, s, a, l: f"effector step ({_name(spec)}, batch {tuple(a.shape[:-1])})")

        def checked(params, state, action, loads=None):
            checks.check_step(spec, params, state, action)  # eagerly: a bad input fails here, not in tracing
            return fn(params, state, action, loads)

        _STEPS[key] = checked
    return _STEPS[key]


def compiled_env_step(spec: environment.EnvSpec, options: dict | None = None) -> Callable:
    """``step(params, state, action, draws=None, loads=None) -> (state, obs, info)``:
    :func:`~motornet_fn.core.env.step` of ``spec``, compiled (cached per spec and options)."""
    key = ("env_step", spec, _freeze(options))
    if key not in _STEPS:
        def one_step(params, state, action, draws, loads):
            return environment.step(spec, params, state, action, draws, loads)

        fn = compile_function(one_step, options, "env_step", lambda p, s, a, d, l: (
            f"environment step ({spec.task.name}, {_name(spec.effector)}, batch {tuple(a.shape[:-1])})"))

        def checked(params, state, action, draws=None, loads=None):
            checks.check_step(spec.effector, params.effector, state, action)
            return fn(params, state, action, draws, loads)

        _STEPS[key] = checked
    return _STEPS[key]


# ------------------------------------------------------------------------------------ rollout
_ROLLOUTS: dict = {}
#: static keys of dynamic_batch rollouts whose graph with symbolic batch dims has been compiled
_SYMBOLIC: set = set()


def rollout(spec: EffectorSpec, params: EffectorParams, state: EffectorState, actions: torch.Tensor,
            loads: Loads | None = None, time_varying_loads: bool = False, *, intervention: Any = None,
            record: Callable | str | None = "state", options: dict | None = None, unroll: int = 1,
            dynamic_batch: bool = False) -> Any:
    """Compiled :func:`~motornet_fn.core.engine.rollout` (the engine's ``scan``): same arguments, same
    result to float rounding.

    Args:
        record: ``"state"`` (default): the whole trajectory (leading time dim T + 1); None: only the final
            state (the fastest); a function ``state -> pytree`` (pass the same function object every call,
            it keys the cache): that pytree at every state.
        options: inductor options (default: :data:`NO_GRAD_OPTIONS` under ``torch.no_grad()``,
            :data:`DEFAULT_OPTIONS` otherwise).
        unroll: steps per iteration of the compiled loop (see :func:`motornet_fn.core.engine.iterate`).
        dynamic_batch: compile one graph for every batch size with this many batch dims: a new batch size
            does not recompile (a size of 1 still gets its own graph: torch specialises size-1 dims). The state's,
            actions' and loads' batch dims are symbolic; the parameters' and the intervention's shapes stay
            static. Measured on Arm26 (200 steps, final state): the same time per call as static shapes within 1.3%
            in ``benchmarks/bench_effector.py``, up to 7.5% more in a tight loop (B = 32).
    """
    batch_shape = engine.check_rollout_inputs(spec, params, state, actions, loads, time_varying_loads)
    if options is None:
        options = DEFAULT_OPTIONS if torch.is_grad_enabled() else NO_GRAD_OPTIONS
    if not isinstance(dynamic_batch, bool):
        raise TypeError(f"dynamic_batch must be True or False, got {dynamic_batch!r}")
    static = (spec, len(batch_shape) if dynamic_batch else batch_shape, time_varying_loads, loads is None,
              intervention is None, record, _freeze(options), unroll, dynamic_batch)
    fn = _ROLLOUTS.get(static)
    if fn is None:
        warm(spec, params, state, len(batch_shape))

        def run(params, state, actions, loads, intervention):
            return engine.rollout(spec, params, state, actions, loads, time_varying_loads, intervention=intervention,
                                  record=record, scan=True, unroll=unroll)

        def run_dynamic(params, state, actions, loads, intervention):
            return run(params, state, actions, loads, intervention)

        # two code objects: Dynamo keeps its graphs per code object (and equal backends share them), so with one
        # a static call could run a graph with symbolic batch dims that a dynamic call compiled, or the reverse
        fn = _ROLLOUTS[static] = compile_function(
            run_dynamic if dynamic_batch else run, options, "rollout",
            lambda p, s, a, l, i: f"rollout ({_name(spec)}, {a.shape[0]} steps, batch {tuple(a.shape[1:-1])})")
    state = materialise(state, batch_shape)
    # the marks only matter to the call that compiles the symbolic graph (it then serves every size > 1), and
    # marking costs ~0.5 ms a call, so calls after it pass their tensors as they are
    mark = dynamic_batch and static not in _SYMBOLIC and any(size > 1 for size in batch_shape)
    if mark:
        state, actions, loads = _dynamic_batch_dims(batch_shape, state, actions, loads, time_varying_loads)
    out = fn(params, state, actions, loads, intervention)
    if mark:
        _SYMBOLIC.add(static)
    return engine.check_rollout_output(out, record)


def _dynamic_batch_dims(batch_shape: tuple, state: EffectorState, actions: torch.Tensor, loads: Loads | None,
                        time_varying_loads: bool) -> tuple:
    """Aliases of the rollout's inputs whose batch dims Dynamo is asked to keep symbolic (``maybe_mark_dynamic``:
    a dim it must specialise, a size of 1, is specialised without an error). The caller's tensors are left
    unmarked. Loads' leaves without batch dims (broadcast over the batch) stay static."""
    n = len(batch_shape)

    def marked(x: torch.Tensor, offset: int, ndim: int) -> torch.Tensor:
        if x.ndim != ndim:
            return x
        alias = x.view(x.shape)
        for i in range(n):
            torch._dynamo.maybe_mark_dynamic(alias, offset + i)
        return alias

    state = tree_map(lambda x: marked(x, 0, x.ndim), state)
    actions = marked(actions, 1, actions.ndim)
    if loads is not None:
        offset = 1 if time_varying_loads else 0
        loads = tree_map(lambda x: marked(x, offset, offset + n + 1), loads)
    return state, actions, loads


def clear_caches() -> None:
    """Forget compiled callables and compile timings (torch's own caches are untouched)."""
    _STEPS.clear()
    _ROLLOUTS.clear()
    _SYMBOLIC.clear()
    COMPILE_SECONDS.clear()


__all__ = ["rollout", "compiled_step", "compiled_env_step", "compile_function", "step_function", "FlatLayout", "COMPILE_SECONDS",
           "DEFAULT_OPTIONS", "NO_GRAD_OPTIONS", "UNCHECKED_OPTIONS", "available", "warm", "clear_caches", "timed_first_call", "configure_cache", "signature"]
