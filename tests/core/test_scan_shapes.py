"""scan_shapes: Dynamo's and AOTAutograd's shape-only passes over a scan skip its backward partition;
everything that computes or differentiates still goes through torch's own scan kernel."""
import pytest
import torch
from torch._higher_order_ops.scan import HopGraphMinCutPartitioner, scan
from torch._subclasses.fake_tensor import FakeTensorMode

from motornet_fn.core import scan_shapes

pytestmark = pytest.mark.skipif(not hasattr(torch._higher_order_ops, "scan"), reason="this torch has no scan")


@pytest.fixture
def restore():
    was = scan_shapes.installed()
    yield
    scan_shapes.install() if was else scan_shapes.uninstall()


def _body(carry, x, w):
    pos, count = carry
    new = torch.tanh(pos * w + x)
    return (new, count + 1.0), (new.sum(), x * 2.0)


def _loop(w, pos, xs):
    """The same recurrence as a Python loop (the reference)."""
    total = 0.0
    for x in xs:
        pos = torch.tanh(pos * w + x)
        total = total + pos.sum()
    return total + pos.sum()


def _scanned(w, pos, xs):
    (final, _), (sums, _) = scan(lambda c, x: _body(c, x, w), (pos, torch.zeros(())), xs)
    return sums.sum() + final.sum()


def _inputs(dtype=torch.float64):
    g = torch.Generator().manual_seed(3)
    w = torch.rand(4, dtype=dtype, generator=g).requires_grad_()
    return w, torch.rand(4, dtype=dtype, generator=g), torch.rand(6, 4, dtype=dtype, generator=g)


def _count_partitions(monkeypatch):
    calls = []
    original = HopGraphMinCutPartitioner.create_partitioned_graph

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(HopGraphMinCutPartitioner, "create_partitioned_graph", staticmethod(counting))
    return calls


@pytest.mark.parametrize("install", [True, False])
def test_compiling_a_scan_with_gradients_partitions_its_body_once(install, monkeypatch, restore):
    scan_shapes.install() if install else scan_shapes.uninstall()
    torch._dynamo.reset()
    calls = _count_partitions(monkeypatch)
    w, pos, xs = _inputs()
    out = torch.compile(_scanned, fullgraph=True, backend="aot_eager")(w, pos, xs)
    # torch's own kernel partitions in Dynamo's pass, the metadata pass and the joint trace
    assert len(calls) == (1 if install else 3)
    grad, = torch.autograd.grad(out, w)
    want = _loop(w, pos, xs)
    want_grad, = torch.autograd.grad(want, w)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=1e-12)


def test_fake_outputs_have_the_shapes_dtypes_and_grad_flags_of_torchs_kernel(restore):
    def outputs():
        with FakeTensorMode():
            w, pos, xs = (torch.empty_like(t).requires_grad_(t.requires_grad) for t in _inputs(torch.float32))
            out = scan(lambda c, x: _body(c, x, w), (pos, torch.zeros(())), xs)
        return [(tuple(t.shape), t.dtype, t.requires_grad) for t in torch.utils._pytree.tree_leaves(out)]

    scan_shapes.uninstall()
    torch._dynamo.reset()
    want = outputs()
    scan_shapes.install()
    torch._dynamo.reset()
    assert outputs() == want
    assert [flag for _, _, flag in want] == [True] * 4


def test_real_tensors_still_differentiate_through_torchs_kernel(restore):
    scan_shapes.install()
    w, pos, xs = _inputs()
    out = _scanned(w, pos, xs)  # eager scan: traced on fakes, then run on these tensors
    grad, = torch.autograd.grad(out, w)
    want_grad, = torch.autograd.grad(_loop(w, pos, xs), w)
    torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=1e-12)
    assert not scan_shapes.shapes_only([w, pos, xs])


def test_a_shape_pass_output_refuses_a_backward(restore):
    from torch._higher_order_ops.scan import scan_op

    scan_shapes.install()
    with FakeTensorMode():
        w = torch.empty(3).requires_grad_()
        init, xs = [torch.empty(3)], [torch.empty(5, 3)]
        assert scan_shapes.shapes_only([w, *init, *xs])
        final, = scan_op(lambda c, x, w: ((c * w + x).clone(),), init, xs, [w])[:1]
        assert final.requires_grad
        with pytest.raises(RuntimeError, match="output shapes only"):
            final.sum().backward()


def test_install_is_idempotent_and_uninstall_restores_torchs_kernel(restore):
    from torch._higher_order_ops.scan import scan_op

    key = torch._C.DispatchKey.Autograd
    scan_shapes.uninstall()
    torchs = scan_op.py_kernels[key]
    scan_shapes.install()
    scan_shapes.install()
    assert scan_op.py_kernels[key] is not torchs
    scan_shapes.uninstall()
    assert scan_op.py_kernels[key] is torchs and not scan_shapes.installed()
