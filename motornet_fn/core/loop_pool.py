"""A C++ loop wrapper whose ``while_loop`` iterations reuse their heap buffers instead of allocating them afresh.

Inductor (torch 2.13) lowers a ``scan`` to a ``while_loop`` and, with ``cpp_wrapper``, generates the loop in C++,
where every iteration allocates each buffer of its body (``aoti_torch_empty_strided``: ``posix_memalign``, which
glibc serves from its slow path) and frees it again, and wraps every loop input in a new tensor handle twice (once
for the condition, once for the body). A compiled Arm26 training episode (B = 32, GRU 64) spent about a fifth of
its time in ``malloc`` and ``free`` that way: 77 allocations and 136 handles per step of its backward loop.
:mod:`~motornet_fn.core.stack_loop` removes the allocations of no-grad loops by putting buffers on the stack, but
not where a body calls an extern kernel (the policy's matmuls) or under autograd.

This wrapper (``PooledLoopWrapper``, inductor's own C++ wrapper otherwise unchanged) does two things in the
loops of a top-level graph:

* every buffer of static size that a loop body allocates is allocated once, before the loop, and the body
  refers to it (``auto& buf = buf_pool``) in every iteration; inductor's frees of it are dropped and its in-body
  reuses (memory planning) become references too. Buffers that may outlive an iteration are left alone: what
  the body returns (the next carry, and what a view or reuse of it leads to) and what an extern kernel that
  allocates its own output (a fallback op, which may return a view) reads;
* the condition's inputs that it does not read (all but the step counter) get no tensor handle, and the inputs
  that are the same tensor at every iteration (the parameters, the stacked per-step inputs) get theirs once,
  before the loop (inductor's frees of them are dropped; one carried out of the loop is handed over as a new
  handle). So do the views (inductor's aliases) of pooled buffers.

The kernels, their order and their arithmetic are unchanged, so results are bit for bit those of inductor's
wrapper (``tests/core/test_loop_pool.py``). Chosen by the option :data:`OPTIONS` (in every
:func:`~motornet_fn.core.compiled.compile_function`), whose pass also puts a hash of this file into the cache keys.
"""
from __future__ import annotations

import dataclasses
import functools
import re

from motornet_fn.core.cache_key import FileVersion


class PoolVersion(FileVersion):
    """The cache-key pass of this wrapper; its presence in ``joint_custom_post_pass`` selects the wrapper."""


#: inductor options of a compilation whose C++ loops reuse their buffers (with ``cpp_wrapper``)
OPTIONS = {"joint_custom_post_pass": PoolVersion(__file__)}


def selected() -> bool:
    """Whether the compilation being lowered asked for this wrapper (:data:`OPTIONS`)."""
    from torch._inductor import config

    return isinstance(config.joint_custom_post_pass, PoolVersion)


def wrapper_class(default: type) -> type:
    """``PooledLoopWrapper``: ``default`` (inductor's CPU C++ wrapper class) with loops that reuse their buffers."""
    from torch._inductor import ir
    from torch._inductor.codegen.common import IndentedBuffer
    from torch._inductor.codegen.wrapper import (
        AllocateLine, EnterSubgraphLine, ExitSubgraphLine, ReinterpretLine, ReuseLine, WrapperLine,
    )
    from torch._inductor.utils import has_free_symbols

    @dataclasses.dataclass
    class PoolLine(WrapperLine):
        """Before a loop: allocate the buffers its iterations share (filled in by memory planning)."""

        wrapper: object
        carried: int  # how many of the loop's inputs are carried (the rest are the same at every iteration)
        buffers: list = dataclasses.field(default_factory=list)
        preamble: list = dataclasses.field(default_factory=list)  # handles of the loop-invariant inputs
        views: list = dataclasses.field(default_factory=list)  # ReinterpretLines aliasing pooled buffers

        def codegen(self, code) -> None:
            for line in self.preamble:
                code.writeline(line)
            for buffer in self.buffers:
                code.writeline(self.wrapper.make_allocation(
                    _pool_name(buffer.get_name()), buffer.get_device(), buffer.get_dtype(), buffer.get_size(),
                    buffer.get_stride(), buffer.get_size(), buffer.get_is_pinned()))
            for line in self.views:  # inductor's code for the view, made of the pooled buffer instead
                base, alias = line.node.get_name(), line.reused_as.get_name()
                declarations = IndentedBuffer()
                reference = line.layout.view.codegen_reference(declarations)
                rename = functools.partial(re.sub, rf"\b{re.escape(base)}\b", _pool_name(base))
                for declaration in declarations.getvalue().splitlines():
                    code.writeline(rename(declaration))
                code.writeline(f"auto {_pool_name(alias)} = {rename(reference)};")

        def codegen_fx(self, converter):
            raise NotImplementedError("the pooled loop wrapper has no FX form")

    class PooledLoopWrapper(default):
        """Inductor's C++ wrapper, with loop bodies that reuse their buffers across iterations."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pools: dict[int, PoolLine] = {}  # id(loop cond or body graph) -> the loop's PoolLine
            self._pooled: set[str] = set()  # names of buffers (and their reuses) that live in a pool
            self._hoisted: set[str] = set()  # loop-invariant inputs whose handles are made once, before the loop
            self._hoisted_views: set[str] = set()  # views of pooled buffers made once, before the loop

        @staticmethod
        def create(is_subgraph, subgraph_name, parent_wrapper, partition_signatures=None):
            return PooledLoopWrapper()

        def codegen_while_loop(self, while_loop, stack_output=False):
            if len(self.codegened_graph_stack) != 1:  # a loop inside a loop: a pool there would not pay
                return super().codegen_while_loop(while_loop, stack_output)
            pool = PoolLine(self, carried=len(while_loop.carried_inputs))
            for subgraph in (while_loop.cond_subgraph, while_loop.body_subgraph):
                self._pools[id(subgraph.graph)] = pool
            start = len(self.lines)
            super().codegen_while_loop(while_loop, stack_output)
            # right before the loop, after what inductor declares for it (the carries, the views of its inputs)
            self.lines.insert(self.lines.index("while (1) {", start), pool)

        def codegen_subgraph_prefix(self, subgraph, outer_inputs, outer_outputs):
            if id(subgraph.graph) not in self._pools:
                return super().codegen_subgraph_prefix(subgraph, outer_inputs, outer_outputs)
            pool = self._pools[id(subgraph.graph)]
            placeholders = [n for n in subgraph.graph.module.graph.nodes if n.op == "placeholder"]
            assert len(placeholders) == len(subgraph.graph.graph_inputs) == len(outer_inputs)
            inputs = zip(subgraph.graph.graph_inputs.items(), outer_inputs, placeholders)
            for index, ((inner, value), outer, node) in enumerate(inputs):
                if not (isinstance(value, ir.TensorBox) and node.users):
                    continue
                lines = [f"AtenTensorHandle {inner}_handle;",
                         f"AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_assign_tensors_out({outer}, &{inner}_handle));",
                         f"RAIIAtenTensorHandle {inner}({inner}_handle);"]
                if index >= pool.carried:  # the same tensor at every iteration: one handle, made before the loop
                    pool.preamble.extend(lines)
                    self._hoisted.add(inner)
                else:
                    for line in lines:
                        self.writeline(line)

        def codegen_subgraph_suffix(self, subgraph, outer_inputs, outer_outputs):
            if id(subgraph.graph) not in self._pools:
                return super().codegen_subgraph_suffix(subgraph, outer_inputs, outer_outputs)
            for inner_output, outer_output in zip(subgraph.graph.graph_outputs, outer_outputs):
                src = inner_output.codegen_reference()
                if isinstance(inner_output, ir.ShapeAsConstantBuffer):
                    self.writeline(f"{outer_output} = {src};")
                    continue
                self.writeline(f"{outer_output}.reset();")
                if src in self._hoisted:  # a loop-invariant input carried out: a new handle, the loop keeps its own
                    self.writeline(f"{{ AtenTensorHandle copy; AOTI_TORCH_ERROR_CODE_CHECK("
                                   f"aoti_torch_assign_tensors_out({src}, &copy)); "
                                   f"{outer_output} = RAIIAtenTensorHandle(copy); }}")
                else:
                    self.writeline(f"{outer_output} = std::move({src});")

        def memory_plan_reuse(self):
            super().memory_plan_reuse()
            self._plan_pools()

        def _plan_pools(self) -> None:
            """Choose, per loop, the buffers its iterations share (after inductor's memory planning)."""
            self._pooled, self._hoisted_views = set(), set()
            for pool in self._pools.values():
                pool.buffers, pool.views = [], []
            aliases = []  # (PoolLine, ReinterpretLine)
            parent: dict[str, str] = {}  # buffer -> the buffer whose storage it takes (reuse, alias)
            allocated: dict[str, tuple] = {}  # root buffer -> (its PoolLine, the buffer)
            escaping: set[str] = set()  # buffers whose storage may outlive an iteration
            graphs = []
            for line in self.lines:
                if isinstance(line, EnterSubgraphLine):
                    graphs.append(line.graph)
                    if id(line.graph) in self._pools:
                        escaping.update(_escaping_names(line.graph, ir))
                elif isinstance(line, ExitSubgraphLine):
                    graphs.pop()
                elif graphs and id(graphs[-1]) in self._pools:
                    if isinstance(line, AllocateLine):
                        buffer = line.node
                        if not has_free_symbols((*buffer.get_size(), *buffer.get_stride())):
                            allocated[buffer.get_name()] = (self._pools[id(graphs[-1])], buffer)
                    elif isinstance(line, (ReuseLine, ReinterpretLine)):
                        parent[line.reused_as.get_name()] = line.node.get_name()
                        if isinstance(line, ReinterpretLine):
                            aliases.append((self._pools[id(graphs[-1])], line))

            def root(name: str) -> str:
                while name in parent:
                    name = parent[name]
                return name

            escaping_roots = {root(name) for name in escaping}
            pooled_roots = {name for name in allocated if name not in escaping_roots}
            for name, (pool, buffer) in allocated.items():
                if name in pooled_roots:
                    pool.buffers.append(buffer)
            self._pooled = {name for name in (*allocated, *parent) if root(name) in pooled_roots}
            for pool, line in aliases:  # a view of a pooled buffer (not of a reuse of it) is the same at every step
                if line.node.get_name() in pooled_roots:
                    pool.views.append(line)
                    self._hoisted_views.add(line.reused_as.get_name())

        def codegen_deferred_allocation(self, name, view):
            if name in self._hoisted_views:
                self.writeline(f"auto& {name} = {_pool_name(name)};  // alias (pooled)")
            else:
                super().codegen_deferred_allocation(name, view)

        def make_buffer_allocation(self, buffer):
            name = buffer.get_name()
            if name in self._pooled:
                return f"auto& {name} = {_pool_name(name)};  // pooled"
            return super().make_buffer_allocation(buffer)

        def make_buffer_free(self, buffer):
            name = buffer.get_name()
            return "" if name in self._pooled or name in self._hoisted else super().make_buffer_free(buffer)

        def make_free_by_names(self, names_to_del):
            kept = [n for n in names_to_del if n not in self._pooled and n not in self._hoisted]
            return super().make_free_by_names(kept)

        def make_buffer_reuse(self, old, new, delete_old):
            if old.get_name() not in self._pooled:
                return super().make_buffer_reuse(old, new, delete_old)
            if old.get_size() == new.get_size() and old.get_stride() == new.get_stride():
                return f"auto& {new.get_name()} = {old.get_name()};  // reuse (pooled)"
            view = self.codegen_reinterpret_view(old, new.get_size(), new.get_stride(), 0, self.wrapper_call.writeline)
            return f"auto {new.get_name()} = {view};  // reuse (pooled)"

    return PooledLoopWrapper


def _pool_name(name: str) -> str:
    return f"{name}_pool"


def _escaping_names(graph, ir) -> set[str]:
    """Buffers of a loop's condition or body whose storage may outlive an iteration: its outputs, and the inputs of
    its kernels that allocate their own outputs (a fallback op may return a view of its input)."""
    names = set()
    for output in graph.graph_outputs:
        if not isinstance(output, ir.ShapeAsConstantBuffer):
            names.add(output.get_name())
    for operation in graph.operations:
        if isinstance(operation, (ir.FallbackKernel, ir.ExternKernelAlloc)):
            names.update(operation.get_read_names())
    return names


__all__ = ["OPTIONS", "PoolVersion", "selected", "wrapper_class"]
