"""Shape-only passes over a ``scan`` skip building its backward.

Compiling a function that holds a ``scan`` whose inputs require grad runs the scan three times on fake
tensors: Dynamo runs it to learn its outputs' shapes, AOTAutograd runs it again to collect metadata
(which outputs require grad, which alias), and a third time to trace the joint forward + backward graph.
In torch 2.13 each run enters scan's autograd kernel, which traces and min-cut partitions the body's
joint graph (``HopGraphMinCutPartitioner.create_partitioned_graph``) before running the forward. Only the
third run uses that partition; the first two only read the outputs' shapes, dtypes and ``requires_grad``.
For the trainer's episode those two partitions were 1.5 s of Dynamo's 2.8 s and 0.7 s of the 0.9 s
metadata pass: most of a warm-cache start, where nothing else is recompiled.

:func:`install` wraps scan's autograd kernel: when every tensor input is fake and no proxy tracing mode
is active (Dynamo's pass and the metadata pass; the joint trace always has one), it runs the forward
below autograd and returns its outputs through an autograd function, so they require grad exactly as
the partitioned kernel's outputs do (every output, as for any ``autograd.Function``). Every other call,
real tensors included, goes to torch's own kernel. The graph that is compiled is unchanged.
"""
from __future__ import annotations

import torch

_ORIGINAL = None


class _ShapesOnly(torch.autograd.Function):
    """The scan's forward, with outputs that require grad like the partitioned kernel's (no backward)."""

    @staticmethod
    def forward(ctx, combine_fn, n_init, n_xs, *operands):
        from torch._higher_order_ops.scan import scan_op

        init, xs, additional = operands[:n_init], operands[n_init:n_init + n_xs], operands[n_init + n_xs:]
        with torch._C._AutoDispatchBelowAutograd():
            return tuple(scan_op(combine_fn, list(init), list(xs), list(additional)))

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("motornet_fn.core.scan_shapes: a scan traced for its output shapes only (fake tensors, "
                           "no proxy mode) has no backward; call scan_shapes.uninstall() to trace one")


def shapes_only(tensors) -> bool:
    """Whether a scan call over ``tensors`` is a shape pass: all of them fake, and no proxy tracing mode on."""
    from torch._subclasses.fake_tensor import is_fake
    from torch.fx.experimental.proxy_tensor import get_proxy_mode

    return bool(tensors) and get_proxy_mode() is None and all(is_fake(t) for t in tensors)


def _autograd_kernel(combine_fn, init, xs, additional_inputs):
    tensors = [t for t in (*init, *xs, *additional_inputs) if isinstance(t, torch.Tensor)]
    if shapes_only(tensors):
        return _ShapesOnly.apply(combine_fn, len(init), len(xs), *init, *xs, *additional_inputs)
    return _ORIGINAL(combine_fn, init, xs, additional_inputs)


def installed() -> bool:
    return _ORIGINAL is not None


def install() -> None:
    """Wrap scan's autograd kernel (idempotent; a torch without ``scan`` is left alone)."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        return
    try:
        from torch._higher_order_ops.scan import scan_op
    except ImportError:
        return
    if torch._C.DispatchKey.Autograd not in scan_op.py_kernels:
        return
    _ORIGINAL = _set_kernel(_autograd_kernel)


def uninstall() -> None:
    """Restore torch's own kernel (for comparisons)."""
    global _ORIGINAL
    if _ORIGINAL is None:
        return
    _set_kernel(_ORIGINAL)
    _ORIGINAL = None


def _set_kernel(kernel):
    """Make ``kernel`` scan's autograd kernel (dropping the op's cached dispatch); returns the one it replaced."""
    from torch._higher_order_ops.scan import scan_op

    key = torch._C.DispatchKey.Autograd
    replaced, scan_op.py_kernels[key] = scan_op.py_kernels[key], kernel
    scan_op._dispatch_cache.clear()
    return replaced


__all__ = ["install", "uninstall", "installed", "shapes_only"]
