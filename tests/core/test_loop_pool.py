"""core.loop_pool: C++ loops whose iterations share their heap buffers give inductor's own wrapper's numbers and
gradients bit for bit, leave out exactly the buffers that may outlive an iteration, and are chosen by their option."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch._higher_order_ops.scan import scan

from motornet_fn import core
from motornet_fn.core import compiled, loop_pool, stack_loop
from motornet_fn.core.tree import tree_leaves

from tests.core.test_stack_loop import (
    arm26_state, assert_same, generated_loops, loop_bodies, needs_scan, stub_chooser,
)

#: the options of a compilation with inductor's own wrapper, everything else as compile_function's
WITHOUT_POOL = {"joint_custom_post_pass": None}


def _policy_like(c0, xs, weight):
    """A GRU-like body: a matmul (an extern kernel writing a body buffer), a cumulative sum (a fallback op that
    allocates its own output), a carry that is a view at an offset into a body buffer."""
    def body(carry, x):
        hidden, other = carry
        gates = torch.sigmoid(torch.cat([hidden, x], -1) @ weight)  # (2, 8)
        hidden = torch.tanh(gates[:, :4] * hidden + gates[:, 4:])
        both = torch.cat([other * 0.9 + torch.cumsum(hidden, -1), hidden], 0)  # (4, 4)
        return (both[2:], both[:2] - 1), hidden.sum(-1)

    return scan(body, c0, xs)


def _inputs(seed):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.rand(2, 4, generator=generator).requires_grad_(True)
    xs = torch.randn(12, 2, 3, generator=generator).requires_grad_(True)
    weight = (torch.randn(7, 8, generator=generator) * 0.5).requires_grad_(True)
    return (hidden, torch.zeros(2, 4)), xs, weight


def _run(fn, seed):
    c0, xs, weight = _inputs(seed)
    (hidden, other), ys = fn(c0, xs, weight)
    (hidden.sum() + (other ** 2).sum() + (ys ** 2).sum()).backward()
    return [hidden.detach(), other.detach(), ys.detach(), c0[0].grad, xs.grad, weight.grad]


@needs_scan
def test_a_loop_with_a_matmul_and_a_fallback_equals_inductors_wrapper_and_eager(monkeypatch):
    """Outputs and gradients bit for bit those of inductor's wrapper, over two calls (a pool per call); the forward
    and backward loops take their buffers from pools, the fallback's input is allocated in the loop, the loop
    condition wraps only the step counter in a handle, and the body's loop-invariant inputs are wrapped once."""
    sources = generated_loops(monkeypatch)
    results = {}
    for name, options in (("inductor", WITHOUT_POOL), ("pooled", {})):
        torch._dynamo.reset()
        fn = compiled.compile_function(_policy_like, options={**compiled.DEFAULT_OPTIONS, **options})
        results[name] = [_run(fn, seed) for seed in (0, 1)]
    for ref, got in zip(results["inductor"], results["pooled"]):
        assert_same(ref, got)
    for seed, got in zip((0, 1), results["pooled"]):
        for x, y in zip(got, _run(_policy_like, seed)):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)  # float32 rounding
    pooled = [source for source in sources if "// pooled" in source]
    assert len(pooled) == 2 and len(sources) == 4  # the forward and backward of the pooled compilation
    for source in pooled:
        (body,) = loop_bodies(source)
        assert "_pool_handle" not in body and "_pool_handle" in source  # allocated once, before the loop
        condition = body.split("if (!")[0]
        assert condition.count("aoti_torch_assign_tensors_out") == 1  # the counter; inductor's: every input
        assert "aoti_torch_cpu_cumsum" in body and "aoti_torch_empty_strided" in body  # the fallback's input
    inductors = [source for source in sources if "// pooled" not in source]
    assert all(loop_bodies(s)[0].split("if (!")[0].count("aoti_torch_assign_tensors_out") > 3 for s in inductors)
    # the loop-invariant inputs (the weight, the stacked xs) get their body handles once, before the loop
    body_handles = sorted(loop_bodies(s)[0].split("if (!")[1].count("aoti_torch_assign_tensors_out") for s in pooled)
    inductor_handles = sorted(loop_bodies(s)[0].split("if (!")[1].count("aoti_torch_assign_tensors_out")
                              for s in inductors)
    assert all(ours < theirs for ours, theirs in zip(body_handles, inductor_handles))


@needs_scan
def test_buffers_that_outlive_an_iteration_are_not_pooled():
    """A loop body's outputs and the inputs of kernels that allocate their own outputs escape; so does everything
    whose storage reaches them through a reuse or an alias."""
    from torch._inductor.codegen.cpp_wrapper_cpu import CppWrapperCpu
    from torch._inductor.codegen.wrapper import AllocateLine, EnterSubgraphLine, ExitSubgraphLine, ReuseLine

    class Buffer:
        def __init__(self, name):
            self.name = name

        def get_name(self):
            return self.name

        def get_size(self):
            return [2, 3]

        get_stride = get_size

    class Output(Buffer):
        pass

    class Graph:
        graph_outputs = [Output("out")]
        operations = []

    wrapper = object.__new__(loop_pool.wrapper_class(CppWrapperCpu))
    graph = Graph()
    wrapper._pools, wrapper._hoisted = {id(graph): type("Pool", (), {"buffers": []})()}, set()
    pool = wrapper._pools[id(graph)]
    a, b, out, kept, reused = (Buffer(n) for n in ("a", "b", "out", "kept", "reused"))
    lines = [EnterSubgraphLine.__new__(EnterSubgraphLine), AllocateLine.__new__(AllocateLine),
             AllocateLine.__new__(AllocateLine), AllocateLine.__new__(AllocateLine), ReuseLine.__new__(ReuseLine),
             ReuseLine.__new__(ReuseLine), ExitSubgraphLine.__new__(ExitSubgraphLine)]
    lines[0].graph = graph
    lines[1].node, lines[2].node, lines[3].node = a, b, kept
    lines[4].node, lines[4].reused_as = b, out  # b's storage becomes the output: b escapes
    lines[5].node, lines[5].reused_as = kept, reused  # kept's storage reused in the body: both pooled
    wrapper.lines = lines
    wrapper._plan_pools()
    assert [buffer.get_name() for buffer in pool.buffers] == ["a", "kept"]
    assert wrapper._pooled == {"a", "kept", "reused"}
    assert wrapper.make_buffer_free(kept) == "" and wrapper.make_buffer_allocation(a) == "auto& a = a_pool;  // pooled"
    assert wrapper.make_buffer_reuse(kept, reused, True) == "auto& reused = kept;  // reuse (pooled)"


def test_the_wrapper_is_chosen_by_its_option_and_the_stack_loop_takes_precedence(monkeypatch):
    from torch._inductor import config
    from torch._inductor.virtualized import V

    choose = stub_chooser()

    class Graph:
        aot_mode = False
        is_inference = False
        graph_inputs = {}

    with V.set_graph_handler(Graph()):
        assert choose.create(False, None, None) == "inductor"
        with config.patch(loop_pool.OPTIONS):
            assert choose.create(False, None, None) == "pooled"
            with config.patch({stack_loop.OPTION: True}):
                assert choose.create(False, None, None) == "pooled"  # under autograd: not the stack loop
                Graph.is_inference = True
                assert choose.create(False, None, None) == "stack loop"


def test_every_compile_function_asks_for_it_and_the_cache_key_changes_with_this_file(monkeypatch):
    version = loop_pool.OPTIONS["joint_custom_post_pass"]
    assert version.uuid() == hashlib.sha256(Path(loop_pool.__file__).read_bytes()).hexdigest()
    seen = {}
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: seen.update(kwargs["options"]) or fn)
    compiled.compile_function(lambda x: x)
    assert seen["joint_custom_post_pass"] is version
    compiled.compile_function(lambda x: x, options=WITHOUT_POOL)
    assert seen["joint_custom_post_pass"] is None


@needs_scan
@pytest.mark.slow
@pytest.mark.parametrize("dynamic_batch", [False, True])
def test_an_arm26_rollout_with_gradients_equals_inductors_wrapper(dynamic_batch, monkeypatch):
    """Outputs and gradients of a 30-step Arm26 rollout (the whole state recorded) bit for bit; with a symbolic
    batch the buffers of symbolic size stay in the loop. With a static batch, views of pooled buffers are made
    once, before the loop."""
    sources = generated_loops(monkeypatch)
    spec, params = core.rigid_tendon_arm26()
    state = arm26_state(spec, params, 3)
    base = torch.rand(30, 3, spec.n_muscles, generator=torch.Generator().manual_seed(4))
    results = []
    for options in (compiled.DEFAULT_OPTIONS, {**compiled.DEFAULT_OPTIONS, **WITHOUT_POOL}):
        actions = base.clone().requires_grad_(True)
        out = compiled.rollout(spec, params, state, actions, record="state", options=options,
                               dynamic_batch=dynamic_batch)
        sum((leaf ** 2).sum() for leaf in tree_leaves(out)).backward()
        results.append([leaf.detach() for leaf in tree_leaves(out)] + [actions.grad])
    assert_same(results[0], results[1])
    pooled = [source for source in sources if "// pooled" in source]
    if dynamic_batch:  # every body buffer has the symbolic batch in its size
        assert not pooled and sources
    else:
        assert pooled and len(pooled) < len(sources)
        assert any("// alias (pooled)" in loop_bodies(source)[0] for source in pooled)
