"""StepFunction: a per-step function compiled once per signature, with a one-node recomputing backward;
results and gradients equal the eager function's, and traced graphs are reloaded by a later process."""
from typing import NamedTuple

import pytest
import torch

from motornet_fn.core import stepfunction
from motornet_fn.core.stepfunction import StepFunction, flatten, unflatten

pytestmark = pytest.mark.slow  # each new signature compiles a C++ graph (seconds)


class Pair(NamedTuple):
    scale: torch.Tensor
    offset: torch.Tensor | None


def fn(constants, x, pair, gain):
    w, b = constants
    y = torch.tanh(x @ w + b) * gain
    shifted = pair.scale * y if pair.offset is None else pair.scale * y + pair.offset
    both = torch.cat([y, shifted], dim=-1)
    return both, (both[..., :2], (y > 0).sum(-1)), Pair(shifted, None), x[..., 1:]  # the last a view of x


def make(events, key=None):
    return StepFunction(fn, "test step", cache_key=key, on_compile=lambda what, s, loaded: events.append(
        (what.split(", ")[-1], loaded)))


def f64(*shape, grad=False):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=grad)


def test_flatten_round_trips_and_holds_non_tensor_leaves():
    x = torch.zeros(2)
    tree = (x, [x, None, 1.5], Pair(x, None), {"a": x, "b": 2})
    tensors = []
    structure = flatten(tree, tensors)
    assert len(tensors) == 4 and hash(structure) is not None
    assert flatten((x, [x, None, 2.5], Pair(x, None), {"a": x, "b": 2}), []) != structure  # values are part of it
    back = unflatten(structure, iter(tensors))
    assert type(back[2]) is Pair and back[1][1:] == [None, 1.5] and back[0] is x
    assert back[3]["a"] is x and back[3]["b"] == 2


def test_values_and_float64_gradients_equal_the_eager_function():
    events = []
    step = make(events)
    w, b = f64(3, 3, grad=True), f64(3)
    x, scale = f64(4, 3, grad=True), f64(4, 3, grad=True)
    out = step((w, b), x, Pair(scale, None), 0.7)
    ref = fn((w, b), x, Pair(scale, None), 0.7)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[2].scale, ref[2].scale, rtol=1e-12, atol=1e-12)
    assert type(out[2]) is Pair and out[2].offset is None
    assert out[1][1].dtype == torch.int64 and not out[1][1].requires_grad
    torch.testing.assert_close(out[1][1], ref[1][1])
    # sum().backward() hands expanded (stride 0) cotangents to the backward graph
    assert torch.autograd.gradcheck(lambda w, x, s: step((w, b), x, Pair(s, None), 0.7)[0], (w, x, scale))
    gw, = torch.autograd.grad(step((w, b), x, Pair(scale, None), 0.7)[1][0].sum(), w)
    torch.testing.assert_close(gw, torch.autograd.grad(ref[1][0].sum(), w)[0])
    assert ("forward", False) in events and ("backward", False) in events


def test_only_inputs_that_need_gradients_get_them_one_backward_per_mask():
    events = []
    step = make(events)
    w, b, x, scale = f64(3, 3, grad=True), f64(3), f64(4, 3), f64(4, 3)
    step((w, b), x, Pair(scale, None), 1.0)[0].sum().backward()
    assert w.grad is not None and x.grad is None
    x.requires_grad_()
    step((w, b), x, Pair(scale, None), 1.0)[0].sum().backward()
    assert x.grad is not None
    assert [e for e in events if e[0] == "backward"] == [("backward", False)] * 2
    with torch.no_grad():
        assert step((w, b), x, Pair(scale, None), 1.0)[0].grad_fn is None


def test_non_tensor_leaves_strides_and_dtypes_are_part_of_the_signature():
    events = []
    step = make(events)
    w, b = torch.randn(3, 3), torch.randn(3)
    x, scale = torch.randn(4, 3), torch.randn(4, 3)
    a = step((w, b), x, Pair(scale, None), 1.0)[0]
    torch.testing.assert_close(step((w, b), x, Pair(scale, None), 2.0)[0], fn((w, b), x, Pair(scale, None), 2.0)[0])
    xt = torch.randn(3, 4).T  # same shape, other strides
    torch.testing.assert_close(step((w, b), xt, Pair(scale, None), 1.0)[0], fn((w, b), xt, Pair(scale, None), 1.0)[0])
    offset = torch.randn(4, 3)  # None -> a tensor: another structure
    torch.testing.assert_close(step((w, b), x, Pair(scale, offset), 1.0)[2].scale,
                               fn((w, b), x, Pair(scale, offset), 1.0)[2].scale)
    assert len(step.programs) == 4 and a.shape == (4, 6)
    w2 = torch.randn(3, 3)  # new constants object: flattened again, same signature, no new program
    torch.testing.assert_close(step((w2, b), x, Pair(scale, None), 1.0)[0], fn((w2, b), x, Pair(scale, None), 1.0)[0])
    assert len(step.programs) == 4


def test_outputs_can_be_edited_in_place_in_grad_mode():
    """MotorNet users perturb states in place between steps; outputs the graph aliases must allow it."""
    step = make([])
    w, b = torch.randn(3, 3, requires_grad=True), torch.randn(3)
    x, scale = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3)

    def run(call):
        both, (head, _), _, tail = call((w, b), x, Pair(scale, None), 1.0)
        head[:, 0] += 1.0
        tail[:, 0] *= 3.0
        return torch.autograd.grad((both.sum() + (head ** 2).sum() + (tail ** 2).sum()), (w, x))

    for got, want in zip(run(step), run(lambda *a: tuple(o.clone() if torch.is_tensor(o) else o for o in fn(*a)))):
        torch.testing.assert_close(got, want)


def test_graphs_are_saved_reloaded_by_a_new_instance_and_a_damaged_file_is_traced_again(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    w, b = torch.randn(3, 3, requires_grad=True), torch.randn(3)
    x, scale = torch.randn(4, 3), torch.randn(4, 3)
    cold = []
    first = make(cold, key="k")(((w, b)), x, Pair(scale, None), 1.0)[0]
    first.sum().backward()
    saved = sorted(stepfunction.graph_dir().glob("*.pt"))
    assert len(saved) == 2 and not list(stepfunction.graph_dir().glob("*.tmp"))
    warm = []
    again = make(warm, key="k")((w, b), x, Pair(scale, None), 1.0)[0]
    again.sum().backward()
    assert cold == [("forward", False), ("backward", False)] and warm == [("forward", True), ("backward", True)]
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    other = []
    make(other, key="another")((w, b), x, Pair(scale, None), 1.0)
    assert other == [("forward", False)]  # another key never loads these graphs
    for path in saved:
        path.write_bytes(b"not a graph")
    damaged = []
    torch.testing.assert_close(make(damaged, key="k")((w, b), x, Pair(scale, None), 1.0)[0], first.detach())
    assert damaged == [("forward", False)]
