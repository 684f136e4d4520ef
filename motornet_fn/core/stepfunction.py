"""Compiled per-step functions with no per-call guard or wrapper cost (the object layer's fast path).

The object layer runs one small pure function per simulation step, called from the user's Python loop:
the built-in environments' step, the effector step under a user's ``Environment`` subclass, the
``PolicyGRU`` step. Through ``torch.compile`` each call evaluates Dynamo's guards and AOTAutograd's
runtime wrappers (~100 us), and the forward keeps every intermediate for the backward pass, while the
generated code itself runs in ~10 us. Here instead, once per input signature:

* the function is traced with ``make_fx`` into an FX graph and compiled by inductor directly (C++
  wrapper): the **forward**, run without autograd, keeps nothing;
* its vector-Jacobian product, which recomputes the forward inside, is traced and compiled the same way,
  once per set of inputs that need gradients: the **backward**;
* a ``torch.autograd.Function`` ties the two together, so the step is one autograd node.

The caller's signature is the whole guard: the shapes, strides, dtypes and devices of the tensor
leaves, the structure and non-tensor leaves of the arguments. Arguments that stay the same object from
call to call (parameters, per-episode task state) are passed as ``constants`` and flattened once. Traced
graphs are saved under the inductor cache (keyed by the caller's ``cache_key``, the signature, the torch
version and a hash of this package's source), so a later process skips tracing and inductor's own graph
cache skips compiling. Numbers equal the eager function's to float rounding.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

log = logging.getLogger("motornet_fn.compile")

#: inductor options of the per-step graphs (a C++ wrapper: ~30 us less per call than the Python one)
OPTIONS = {"cpp_wrapper": True}


@lru_cache(maxsize=1)
def source_hash() -> str:
    """Hash of the torch version and every ``.py`` file of the installed ``motornet_fn`` (an edit
    invalidates saved graphs)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(torch.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def graph_dir() -> Path:
    """Where traced graphs are saved: ``<inductor cache>/motornet_fn_graphs``."""
    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR", tempfile.gettempdir())) / "motornet_fn_graphs"


def static_key(*objects: Any) -> str:
    """A stable string for the static objects a function closes over (specs, layouts): the hash of their
    pickle, which holds every attribute (``repr`` where they cannot be pickled)."""
    try:
        data = pickle.dumps(objects, protocol=4)
    except Exception:  # noqa: BLE001 - unpicklable: fall back on the repr
        data = repr(objects).encode()
    return hashlib.sha256(data).hexdigest()


def _meta(t: torch.Tensor) -> tuple:
    return (t.shape, t.stride(), t.dtype, t.device)


_TENSOR = "tensor"


def flatten(tree: Any, tensors: list) -> Any:
    """Append the tensor leaves of ``tree`` (tensors, tuples, lists, NamedTuples, dicts, other leaves) to
    ``tensors``; return its structure: a hashable nested tuple holding the container types and the
    non-tensor leaves (so their values are part of the signature). Several times faster than
    ``torch.utils._pytree`` for the few leaves of a step's arguments."""
    if isinstance(tree, torch.Tensor):
        tensors.append(tree)
        return _TENSOR
    if isinstance(tree, (tuple, list)):
        return (type(tree), tuple([flatten(x, tensors) for x in tree]))
    if isinstance(tree, dict):
        return (dict, (tuple(tree), tuple([flatten(x, tensors) for x in tree.values()])))
    return ("leaf", tree)


def unflatten(structure: Any, tensors) -> Any:
    """Inverse of :func:`flatten`: ``tensors`` is an iterator over the tensor leaves."""
    if structure is _TENSOR:
        return next(tensors)
    kind, content = structure
    if kind == "leaf":
        return content
    if kind is dict:
        keys, values = content
        return {k: unflatten(s, tensors) for k, s in zip(keys, values)}
    children = [unflatten(s, tensors) for s in content]
    if kind is tuple or kind is list:
        return kind(children)
    return kind(*children)  # a NamedTuple


class _Constants:
    """A flattened constants pytree, kept while the caller passes that very object."""

    def __init__(self, tree: Any):
        self.tree = tree
        self.tensors: list = []
        self.structure = flatten(tree, self.tensors)
        # the repr (hashed once, as a string) holds the containers and non-tensor values, arrays included
        self.key = (repr(self.structure), tuple(_meta(t) for t in self.tensors))

    def holds(self, tree: Any) -> bool:
        """Whether ``tree`` is the flattened object, or a plain tuple of the very same objects."""
        mine = self.tree
        if tree is mine:
            return True
        return (type(tree) is tuple and type(mine) is tuple and len(tree) == len(mine)
                and all(a is b for a, b in zip(tree, mine)))


class _Program:
    """The compiled forward of one signature and its backwards (one per gradient mask)."""

    def __init__(self, owner: "StepFunction", key: tuple, constants: _Constants, arg_tensors: list,
                 arg_structure: Any, what: str):
        self.owner, self.key, self.what = owner, key, what
        self.backwards: dict[tuple, Callable] = {}
        self.inputs = [*constants.tensors, *arg_tensors]
        self.n_inputs = len(self.inputs)
        n_const, fn = len(constants.tensors), owner.fn
        structure: list = []

        def flat(*tensors):
            const = unflatten(constants.structure, iter(tensors[:n_const]))
            args = unflatten(arg_structure, iter(tensors[n_const:]))
            leaves: list = []
            structure[:] = [flatten(fn(const, *args), leaves)]
            return tuple(leaves)

        self.flat = flat
        with torch.no_grad():  # one eager call: fills the models' static-tensor caches before tracing
            example = [t.detach() for t in self.inputs]
            outputs = flat(*example)
        self.structure = structure[0]
        self.differentiable = tuple(o.is_floating_point() or o.is_complex() for o in outputs)
        self.out_meta = [(o.shape, o.dtype, o.device, torch.empty(o.shape).stride()) for o in outputs]
        self.forward = owner._compile(flat, example, "forward", key, what)
        # outputs that share storage with others (inductor aliases) must not be views, or an in-place edit
        # of one (MotorNet users perturb states in place) would fail in grad mode
        with torch.no_grad():
            probe = self.forward(*example)
        self.view_outputs = tuple(i for i, o in enumerate(probe) if o._is_view())

    def run(self, tensors: list) -> tuple:
        out = self.forward(*tensors)
        if self.view_outputs:
            out = list(out)
            for i in self.view_outputs:
                out[i] = out[i].clone()
        return tuple(out)

    def backward(self, mask: tuple) -> Callable:
        """The compiled VJP for the inputs flagged in ``mask``: ``(*inputs, *cotangents) -> grads``."""
        fn = self.backwards.get(mask)
        if fn is None:
            fn = self.backwards[mask] = self._compile_backward(mask)
        return fn

    def _compile_backward(self, mask: tuple) -> Callable:
        wanted = [i for i, m in enumerate(mask) if m]
        differentiable = [i for i, d in enumerate(self.differentiable) if d]
        flat, n = self.flat, self.n_inputs

        def vjp(*tensors):
            inputs, cotangents = list(tensors[:n]), tensors[n:]

            def outputs_of(*diff):
                full = list(inputs)
                for i, d in zip(wanted, diff):
                    full[i] = d
                out = flat(*full)
                return tuple(out[i] for i in differentiable)

            _, pull = torch.func.vjp(outputs_of, *[inputs[i] for i in wanted])
            return tuple(pull(tuple(cotangents)))

        example = [t.detach() for t in self.inputs]
        example += [torch.zeros(self.out_meta[i][0], dtype=self.out_meta[i][1], device=self.out_meta[i][2])
                    for i in differentiable]  # contiguous cotangents
        return self.owner._compile(vjp, example, "backward", (self.key, mask), self.what)


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, program: _Program, *tensors):
        ctx.program = program
        ctx.save_for_backward(*tensors)
        out = program.run(list(tensors))
        ctx.mark_non_differentiable(*[o for o, d in zip(out, program.differentiable) if not d])
        return out

    @staticmethod
    def backward(ctx, *cotangents):
        program = ctx.program
        tensors = ctx.saved_tensors
        mask = tuple(ctx.needs_input_grad[1:])
        cts = []
        for i, (g, d) in enumerate(zip(cotangents, program.differentiable)):
            if d:
                shape, dtype, device, stride = program.out_meta[i]
                if g is None:
                    g = torch.zeros(shape, dtype=dtype, device=device)
                elif g.stride() != stride:  # e.g. the expanded ones of sum().backward(): the graph wants these
                    g = torch.empty_strided(shape, stride, dtype=dtype, device=device).copy_(g)
                cts.append(g)
        grads = iter(program.backward(mask)(*tensors, *cts))
        return (None, *(next(grads) if m else None for m in mask))


class StepFunction:
    """``step(constants, *args)``: ``fn(constants, *args)`` compiled as described in the module docstring.

    Args:
        fn: a pure function of pytrees of tensors returning a pytree of tensors; it must not branch on tensor
            values (it is traced once per signature).
        name: what the log calls it ("environment step").
        describe: ``describe(constants, *args)`` names one call in the log (e.g. with its batch size).
        cache_key: a string naming everything ``fn`` closes over that shapes its code (see :func:`static_key`);
            it keys the saved graphs. ``None``: graphs are not saved.
        on_compile: ``on_compile(name, seconds, loaded)`` after each graph is built.
    """

    def __init__(self, fn: Callable, name: str, describe: Callable[..., str] | None = None,
                 cache_key: str | None = None, on_compile: Callable[[str, float, bool], None] | None = None):
        self.fn, self.name, self.describe, self.cache_key = fn, name, describe, cache_key
        self.on_compile = on_compile
        self.programs: dict[tuple, _Program] = {}
        self._constants: _Constants | None = None

    def __call__(self, constants: Any, *args: Any) -> Any:
        c = self._constants
        if c is None or not c.holds(constants):
            c = self._constants = _Constants(constants)
        arg_tensors: list = []
        arg_structure = flatten(args, arg_tensors)
        key = (c.key, arg_structure, tuple([_meta(t) for t in arg_tensors]))
        program = self.programs.get(key)
        if program is None:
            what = self.describe(constants, *args) if self.describe is not None else self.name
            program = self.programs[key] = _Program(self, key, c, arg_tensors, arg_structure, what)
        tensors = [*c.tensors, *arg_tensors]
        out = _Step.apply(program, *tensors) if torch.is_grad_enabled() else program.run(tensors)
        return unflatten(program.structure, iter(out))

    def _compile(self, fn: Callable, example: list, part: str, key: Any, what: str) -> Callable:
        """Trace ``fn`` (or replay its saved graph, which is faster) and compile it with inductor."""
        start = time.perf_counter()
        path = None
        if self.cache_key is not None:
            digest = hashlib.sha256(f"{self.name}\n{part}\n{self.cache_key}\n{key!r}\n{source_hash()}".encode())
            path = graph_dir() / f"{digest.hexdigest()[:32]}.pt"
        graph = None
        if path is not None and path.exists():
            try:
                with open(path, "rb") as f:
                    graph = trace(pickle.load(f), example)
            except Exception as error:  # noqa: BLE001 - a damaged or incompatible file: trace again
                log.debug("could not load %s (%s); tracing again", path, error)
        loaded = graph is not None
        if graph is None:
            # compile the replay of the saved form, as a later process will: both then hit one cache entry
            data = pickle.dumps(trace(fn, example), protocol=4)
            graph = trace(pickle.loads(data), example)
            if path is not None:
                _save(data, path)
        compiled = torch._inductor.compile(graph, list(example), options=dict(OPTIONS))
        if self.on_compile is not None:
            self.on_compile(f"{what}, {part}", time.perf_counter() - start, loaded)
        return compiled


def trace(fn: Callable, example: list) -> torch.fx.GraphModule:
    """The FX graph of ``fn(*example)`` (static shapes), traced with fake tensors under a shape environment,
    which inductor's on-disk graph cache needs. Tensors ``fn`` closes over become graph constants."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True, static_shapes=True)
    fakes = [mode.from_tensor(t, static_shapes=True) for t in example]
    with mode, torch.no_grad():
        return make_fx(fn, tracing_mode="real")(*fakes)


def _save(data: bytes, path: Path) -> None:
    """Write a pickled graph atomically (a failure only costs the later process a trace)."""
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        log.debug("could not save the traced graph (%s)", error)


__all__ = ["StepFunction", "static_key", "source_hash", "graph_dir", "OPTIONS"]
