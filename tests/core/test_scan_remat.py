"""scan_remat: a scan's forward saves only its steps' inputs (the carry), and its backward recomputes the step;
gradients equal the Python loop's, and random draws are never recomputed."""
import pytest
import torch
from torch._higher_order_ops import partitioner
from torch._higher_order_ops.scan import scan
from torch.utils.checkpoint import CheckpointPolicy

from motornet_fn.core import scan_remat

pytestmark = pytest.mark.skipif(not hasattr(torch._higher_order_ops, "scan"), reason="this torch has no scan")


@pytest.fixture
def restore():  # (before monkeypatch in a signature: undone after it)
    was = scan_remat.installed()
    yield
    scan_remat.install() if was else scan_remat.uninstall()


def _step(pos, x, w):
    """A step whose min-cut partition saves intermediates (tanh's and sin's outputs) when allowed to."""
    hidden = torch.tanh(pos * w + x)
    new = torch.sin(hidden) * hidden + pos
    return new, (new * new).sum()


def _scanned(w, pos, xs):
    final, costs = scan(lambda c, x: _step(c, x, w), pos, xs)
    # (final ** 2), not final.sum(): with final.sum() the final carry's cotangent is an expanded tensor, and
    # torch 2.13's compiled scan backward then keeps its carry expanded (wrong gradients with this module; an
    # aliasing error without it). The engine's carries are packed, so their cotangents never are expanded.
    return costs.sum() + (final ** 2).sum()


def _looped(w, pos, xs):
    total = 0.0
    for x in xs:
        pos, cost = _step(pos, x, w)
        total = total + cost
    return total + (pos ** 2).sum()


def _inputs():
    g = torch.Generator().manual_seed(5)
    w = torch.rand(4, dtype=torch.float64, generator=g).requires_grad_()
    pos = torch.rand(3, 4, dtype=torch.float64, generator=g).requires_grad_()
    return w, pos, torch.rand(7, 3, 4, dtype=torch.float64, generator=g).requires_grad_()


def _saved_nodes(monkeypatch):
    """Spy on the scan partitions: for each, the ops of the step's forward whose outputs it saves for the backward."""
    saved = []
    original = partitioner.HopJointGraph.partition  # scan_remat's, when installed

    def spying(self, partition_fn, always_recompute_complex_exprs):
        out = original(self, partition_fn, always_recompute_complex_exprs)
        outputs = out.fw_gm.graph.find_nodes(op="output")[0].args[0]
        saved.append([node.op for node in outputs[out.n_fw_outputs:]])
        return out

    monkeypatch.setattr(partitioner.HopJointGraph, "partition", spying)
    return saved


@pytest.mark.parametrize("install", [True, False])
def test_the_forward_saves_only_the_step_inputs_and_gradients_equal_the_loop(install, restore, monkeypatch):
    scan_remat.install() if install else scan_remat.uninstall()
    saved = _saved_nodes(monkeypatch)
    args = _inputs()
    grads = torch.autograd.grad(_scanned(*args), args)
    expected = torch.autograd.grad(_looped(*args), args)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert saved, "the scan was not partitioned"
    ops = set(op for partition in saved for op in partition)
    if install:
        assert ops == {"placeholder"}  # the carry, the step's x and w: nothing computed
    else:
        assert "call_function" in ops  # torch's own partition saves intermediates (what the install changes)


def test_compiled_gradients_with_the_install_equal_the_loop(restore):
    scan_remat.install()
    args = _inputs()
    compiled = torch.compile(_scanned, fullgraph=True, dynamic=False, options=dict(scan_remat.OPTIONS))
    grads = torch.autograd.grad(compiled(*args), args)
    expected = torch.autograd.grad(_looped(*args), args)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_random_draws_are_left_to_the_partitioner():
    from torch.fx.experimental.proxy_tensor import make_fx

    graph = make_fx(lambda x: torch.tanh(x) + torch.rand_like(x))(torch.zeros(3)).graph
    assert scan_remat.mark_recompute(graph) == 2  # tanh and add; the draw is not marked
    for node in graph.nodes:
        if node.op == "call_function":
            random = torch.Tag.nondeterministic_seeded in node.target.tags
            assert (node.meta.get("recompute") == CheckpointPolicy.MUST_RECOMPUTE) != random


def test_the_options_key_the_caches_by_this_file():
    import hashlib
    from pathlib import Path

    pass_ = scan_remat.OPTIONS["post_grad_custom_pre_pass"]
    assert pass_.uuid() == hashlib.sha256(Path(scan_remat.__file__).read_bytes()).hexdigest()
    assert pass_(None) is None
