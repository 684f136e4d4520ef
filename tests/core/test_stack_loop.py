"""core.stack_loop: no-grad rollouts whose C++ loop keeps each iteration's buffers on the stack give inductor's own
wrapper's numbers bit for bit, write nothing the caller passed, and fall back to heap buffers where they must."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import torch
from torch._higher_order_ops.scan import scan

from motornet_fn import core
from motornet_fn.core import compiled, stack_loop
from motornet_fn.core.tree import tree_leaves, tree_map

needs_scan = pytest.mark.skipif(not compiled.available(), reason="torch._higher_order_ops.scan unavailable")



def arm26_state(spec, params, batch, dtype=torch.float32):
    generator = torch.Generator().manual_seed(batch)
    position = torch.stack([torch.rand(batch, generator=generator) * 0.5 + 0.5,
                            torch.rand(batch, generator=generator) * 0.5 + 0.8], -1).to(dtype)
    return core.initial_state(spec, params, core.JointState(position, torch.zeros_like(position)))


def assert_same(a, b):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        assert torch.equal(x, y), (x - y).abs().max()


def generated_loops(monkeypatch) -> list[str]:
    """Collect the generated source of every graph compiled or loaded from inductor's cache from now on."""
    from torch._inductor.output_code import CompiledFxGraph

    sources = []
    original = CompiledFxGraph.post_compile

    def post_compile(self, *args, **kwargs):
        sources.append(self.source_code)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompiledFxGraph, "post_compile", post_compile)
    return sources


def loop_bodies(source: str) -> list[str]:
    """The text of each ``while (1) { ... }`` block (brace-matched)."""
    bodies = []
    for match in re.finditer(r"while \(1\) \{", source):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        bodies.append(source[match.end():i])
    return bodies


def stub_chooser():
    """The wrapper chooser over three stand-in wrapper classes whose ``create`` returns their name."""
    def made(name):
        return type(name, (), {"create": staticmethod(lambda *args, **kwargs: name)})

    return stack_loop._chooser(made("inductor"), made("stack loop"), made("pooled"))


def to_dtype(tree, dtype):
    return tree_map(lambda x: x.to(dtype) if torch.is_tensor(x) and x.is_floating_point() else x, tree)


# ------------------------------------------------------------------------------ toy loops (fast)
def _views_body(value, x):
    both = torch.cat([torch.sin(value) * x, value * 0.5 + x], -1)  # what follows reads two views into one buffer
    value = both[..., :4] + both[..., 4:]
    square = value.reshape(2, 2).t().reshape(1, 4)  # a permuted copy
    return value + 0.01 * square, value * 2


def _toy(c0, xs):
    """Integer, boolean and float carries."""
    def body(carry, x):
        counter, value, flag = carry
        value, y = _views_body(value, x)
        return (counter + 1, value, flag ^ (value.sum() > 0)), y

    return scan(body, c0, xs)


def _toy_with_gradients(c0, xs):
    """Two float carries read from one body buffer."""
    def body(carry, x):
        value, other = carry
        value, y = _views_body(value, x)
        both = torch.cat([other * 0.9 + y, value], 0)  # (2, 4)
        return (both[1:], both[:1] - 1), y  # the first: a view at an offset

    return scan(body, c0, xs)


def _toy_inputs(requires_grad=False):
    value = torch.linspace(0.1, 1, 4).reshape(1, 4).requires_grad_(requires_grad)
    xs = torch.linspace(-1, 1, 40).reshape(10, 1, 4).requires_grad_(requires_grad)
    if requires_grad:
        return (value, torch.zeros(1, 4)), xs
    return (torch.zeros((), dtype=torch.int64), value, torch.zeros((), dtype=torch.bool)), xs


@needs_scan
@pytest.mark.parametrize("requires_grad", [False, True])
def test_toy_loop_equals_inductors_wrapper_and_eager(requires_grad, monkeypatch):
    """Integer, boolean and float carries and carries that are views at an offset into one body buffer: bit for bit
    inductor's own wrapper. With gradients the options change nothing: the graphs keep inductor's wrapper."""
    compiled.configure_cache()  # before inductor first reads its cache directory, as compile_function does
    stack_loop.install()
    sources = generated_loops(monkeypatch)
    toy = _toy_with_gradients if requires_grad else _toy
    results = []
    for options in (compiled.DEFAULT_OPTIONS, compiled.NO_GRAD_OPTIONS):
        torch._dynamo.reset()
        fn = torch.compile(toy, fullgraph=True, dynamic=False, options=options)
        c0, xs = _toy_inputs(requires_grad)
        carry, ys = fn(c0, xs)
        got = [leaf.detach() for leaf in carry] + [ys.detach()]
        if requires_grad:
            (carry[1].sum() + (ys ** 2).sum()).backward()
            got += [c0[0].grad, xs.grad]
        results.append(got)
    assert_same(results[0], results[1])
    with torch.no_grad():
        carry, ys = toy(*_toy_inputs(requires_grad))
    for got, expected in zip(results[1], list(carry) + [ys]):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    ours = [source for source in sources if "motornet_fn::carry(" in source]
    if requires_grad:  # an autograd compilation's forward and backward keep inductor's wrapper
        assert sources and not ours
    else:
        assert ours and len(ours) < len(sources)  # inductor's wrapper for DEFAULT_OPTIONS, ours for NO_GRAD_OPTIONS


def test_the_wrapper_is_chosen_by_the_option_and_aot_mode_keeps_inductors_arrayref_wrapper(monkeypatch):
    from torch._inductor import config
    from torch._inductor.codegen import common
    from torch._inductor.codegen.cpp_wrapper_cpu import CppWrapperCpu
    from torch._inductor.codegen.cpp_wrapper_cpu_array_ref import CppWrapperCpuArrayRef
    from torch._inductor.virtualized import V

    stack_loop.install()
    stack_loop.install()  # idempotent: one chooser, inductor's own wrapper under it
    chooser = common.device_codegens["cpu"].cpp_wrapper_codegen
    assert chooser.__bases__ == (CppWrapperCpu,)

    monkeypatch.setattr(CppWrapperCpuArrayRef, "create", staticmethod(lambda *args, **kwargs: "arrayref"))
    choose = stub_chooser()

    class Graph:
        aot_mode = False
        is_inference = True
        graph_inputs = {}

    with V.set_graph_handler(Graph()):
        assert choose.create(False, None, None) == "inductor"
        with config.patch({stack_loop.OPTION: True}):
            assert choose.create(False, None, None) == "stack loop"
            Graph.is_inference = False  # an autograd compilation's forward or backward
            assert choose.create(False, None, None) == "inductor"
            Graph.is_inference, Graph.aot_mode = True, True
            assert choose.create(False, None, None) == "arrayref"


def test_a_graph_with_a_symbolic_input_size_keeps_inductors_wrapper(monkeypatch):
    """g++ -O3 did not finish building the stack loop of a dynamic-batch Arm26 rollout: symbolic sizes keep
    inductor's wrapper."""
    import sympy
    from torch._inductor import config
    from torch._inductor.virtualized import V

    choose = stub_chooser()
    batch = sympy.Symbol("s0", positive=True, integer=True)

    class Tensor:
        def __init__(self, *sizes):
            self.sizes = list(sizes)

        def get_size(self):
            return self.sizes

    class Graph:
        aot_mode = False
        graph_inputs = {"arg0_1": Tensor(sympy.Integer(3), sympy.Integer(70)), "n": sympy.Integer(4)}

    with V.set_graph_handler(Graph()), config.patch({stack_loop.OPTION: True}):
        assert choose.create(False, None, None) == "stack loop"
        Graph.graph_inputs = {"arg0_1": Tensor(batch, sympy.Integer(70))}
        assert choose.create(False, None, None) == "inductor"
        Graph.graph_inputs = {"s0": batch}
        assert choose.create(False, None, None) == "inductor"


def test_the_cache_key_changes_with_this_wrapper():
    """Inductor keys its cache by the custom pass's uuid: code from another version of the wrapper is not replayed."""
    version = compiled.NO_GRAD_OPTIONS["post_grad_custom_post_pass"]
    assert version.uuid() == hashlib.sha256(Path(stack_loop.__file__).read_bytes()).hexdigest()
    assert compiled.NO_GRAD_OPTIONS[stack_loop.OPTION] is True and compiled.NO_GRAD_OPTIONS["cpp_wrapper"] is True


# ------------------------------------------------------------------------------ rollouts
@needs_scan
@pytest.mark.slow
def test_a_no_grad_rollouts_loop_allocates_nothing_and_writes_nothing_it_was_passed(monkeypatch):
    """Arm26 at B = 1: inductor's wrapper allocates in every iteration; this one allocates nowhere in the loop,
    copies its carries, and leaves the caller's state as it was."""
    spec, params = core.rigid_tendon_arm26()
    state = arm26_state(spec, params, 1)
    before = tree_map(lambda x: x.clone(), state)
    actions = torch.rand(50, 1, spec.n_muscles, generator=torch.Generator().manual_seed(0))
    sources = generated_loops(monkeypatch)
    with torch.no_grad():
        ref = compiled.rollout(spec, params, state, actions, record=None,
                               options=compiled.DEFAULT_OPTIONS)
        got = compiled.rollout(spec, params, state, actions, record=None,
                               options=compiled.NO_GRAD_OPTIONS)
        again = compiled.rollout(spec, params, state, actions, record=None,
                                 options=compiled.NO_GRAD_OPTIONS)
    assert_same(ref, got)
    assert_same(got, again)
    assert_same(before, state)
    (inductors,), (ours,) = (loop_bodies(s) for s in sources)
    assert "aoti_torch_empty_strided" in inductors
    assert "aoti_torch_empty_strided" not in ours and "_storage[" in ours and "motornet_fn::carry(" in ours


@needs_scan
@pytest.mark.slow
@pytest.mark.parametrize("batch, record, dtype", [(3, "state", torch.float32), (2, "joint", torch.float64)])
def test_no_grad_rollouts_equal_inductors_wrapper_bit_for_bit(batch, record, dtype):
    spec, params = core.rigid_tendon_arm26()
    params = to_dtype(params, dtype)
    state = arm26_state(spec, params, batch, dtype)
    actions = torch.rand(40, batch, spec.n_muscles, generator=torch.Generator().manual_seed(1), dtype=dtype)
    recorder = "state" if record == "state" else _joint
    with torch.no_grad():
        ref = compiled.rollout(spec, params, state, actions, record=recorder, options=compiled.DEFAULT_OPTIONS)
        got = compiled.rollout(spec, params, state, actions, record=recorder)  # the no-grad default
        eager = core.rollout(spec, params, state, actions, record=recorder)
    assert_same(ref, got)
    for x, y in zip(tree_leaves(got), tree_leaves(eager)):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


def _joint(state):
    return state.joint


@needs_scan
@pytest.mark.slow
def test_loads_and_a_symbolic_batch_and_an_over_budget_loop_equal_inductors_wrapper(monkeypatch):
    """Time-varying loads; a symbolic batch (inductor's wrapper); and a batch whose loop buffers exceed the 100 KiB
    stack budget (heap buffers, as inductor's wrapper): all bit for bit."""
    spec, params = core.rigid_tendon_arm26()
    generator = torch.Generator().manual_seed(2)
    sources = generated_loops(monkeypatch)
    for batch, kwargs in ((2, {}), (3, {"dynamic_batch": True}), (5, {"dynamic_batch": True}), (1024, {})):
        state = arm26_state(spec, params, batch)
        actions = torch.rand(20, batch, spec.n_muscles, generator=generator)
        loads = core.Loads(endpoint=torch.randn(20, batch, 2, generator=generator),
                           joint=torch.randn(20, batch, 2, generator=generator) * 0.1)
        with torch.no_grad():
            ref = compiled.rollout(spec, params, state, actions, loads, time_varying_loads=True, record=None,
                                   options=compiled.DEFAULT_OPTIONS, **kwargs)
            got = compiled.rollout(spec, params, state, actions, loads, time_varying_loads=True, record=None, **kwargs)
        assert_same(ref, got)
    # the symbolic batch compiled with inductor's wrapper (see test_a_graph_with_a_symbolic_input_size_...)
    symbolic = [source for source in sources if re.search(r"int_array_\d+\[\] = \{s\d+", source)]
    assert symbolic and not any("motornet_fn::carry(" in source for source in symbolic)
    assert any("motornet_fn::carry(" in source for source in sources)
    with torch.no_grad():
        compiled.rollout(spec, params, arm26_state(spec, params, 1024), torch.rand(7, 1024, spec.n_muscles),
                         record=None, options=compiled.NO_GRAD_OPTIONS)
    (body,) = loop_bodies(sources[-1])
    assert "aoti_torch_empty_strided" in body and "_storage[" not in body


@needs_scan
@pytest.mark.slow
def test_rollouts_with_gradients_keep_inductors_wrapper(monkeypatch):
    """With gradients the stack loop measured slower, so a rollout under grad mode compiles with DEFAULT_OPTIONS."""
    spec, params = core.rigid_tendon_arm26()
    state = arm26_state(spec, params, 2)
    actions = torch.rand(10, 2, spec.n_muscles, requires_grad=True)
    calls = []

    class Stop(Exception):
        pass

    def compile_function(fn, options, *args, **kwargs):
        calls.append(options)
        raise Stop

    monkeypatch.setattr(compiled, "compile_function", compile_function)
    compiled.clear_caches()
    with pytest.raises(Stop):
        compiled.rollout(spec, params, state, actions, record=None)
    with torch.no_grad(), pytest.raises(Stop):
        compiled.rollout(spec, params, state, actions.detach(), record=None)
    assert calls == [compiled.DEFAULT_OPTIONS, compiled.NO_GRAD_OPTIONS]


@needs_scan
@pytest.mark.slow
def test_a_rollout_with_gradients_under_the_stack_loop_equals_inductors_wrapper():
    """Passed explicitly under grad mode, NO_GRAD_OPTIONS compiles (with inductor's wrapper: the graphs are an
    autograd compilation's) outputs and gradients bit for bit those of DEFAULT_OPTIONS."""
    spec, params = core.rigid_tendon_arm26()
    state = arm26_state(spec, params, 2)
    base = torch.rand(30, 2, spec.n_muscles, generator=torch.Generator().manual_seed(3))
    results = []
    for options in (compiled.DEFAULT_OPTIONS, compiled.NO_GRAD_OPTIONS):
        actions = base.clone().requires_grad_(True)
        out = compiled.rollout(spec, params, state, actions, record="state", options=options)
        sum((leaf ** 2).sum() for leaf in tree_leaves(out)).backward()
        results.append([leaf.detach() for leaf in tree_leaves(out)] + [actions.grad])
    assert_same(results[0], results[1])
