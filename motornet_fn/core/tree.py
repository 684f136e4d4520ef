"""Pytree helpers. The only module of the package that imports ``torch.utils._pytree``."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.utils._pytree as pytree


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leaf-wise over one or more pytrees of identical structure."""
    return pytree.tree_map(fn, tree, *rest)


def tree_flatten(tree: Any) -> tuple[list, Any]:
    """(leaves, structure) of a pytree."""
    return pytree.tree_flatten(tree)


def tree_unflatten(leaves: list, spec: Any) -> Any:
    """Inverse of :func:`tree_flatten`."""
    return pytree.tree_unflatten(leaves, spec)


def tree_leaves(tree: Any) -> list:
    """Leaves of a pytree, in flattening order."""
    return pytree.tree_leaves(tree)


def named_leaves(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, leaf) of every leaf, NamedTuple fields by name (``state.joint.pos``), other sequences by index."""
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        items = [(f"{prefix}.{k}", v) for k, v in zip(tree._fields, tree)]
    elif isinstance(tree, (tuple, list)):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(tree)]
    elif isinstance(tree, dict):
        items = [(f"{prefix}[{k!r}]", v) for k, v in tree.items()]
    else:
        return [(prefix, tree)]
    return [pair for path, value in items for pair in named_leaves(value, path)]


def tree_axpy(alpha: float | torch.Tensor, x: Any, y: Any) -> Any:
    """``y + alpha * x`` leaf-wise."""
    return tree_map(lambda xi, yi: yi + alpha * xi, x, y)


def tree_stack(trees: Sequence[Any], dim: int = 0) -> Any:
    """Stack a list of same-structure pytrees into one pytree of stacked leaves (None stays None)."""
    return tree_map(lambda *leaves: None if leaves[0] is None else torch.stack(leaves, dim=dim), *trees)


def tree_unstack(tree: Any, dim: int = 0) -> list:
    """Inverse of :func:`tree_stack`."""
    leaves, spec = pytree.tree_flatten(tree)
    n = leaves[0].shape[dim]
    return [pytree.tree_unflatten([leaf.select(dim, i) for leaf in leaves], spec) for i in range(n)]


def tree_where(condition: torch.Tensor, x: Any, y: Any) -> Any:
    """Leaf-wise ``torch.where``; ``condition`` is broadcast against every leaf from the left
    (it should have the shape of the leading batch dims)."""

    def pick(a, b):
        c = condition.reshape(condition.shape + (1,) * (a.ndim - condition.ndim))
        return torch.where(c, a, b)

    return tree_map(pick, x, y)


def tree_detach(tree: Any) -> Any:
    """Detach every leaf (cuts the gradient, e.g. for truncated backpropagation through time)."""
    return tree_map(torch.Tensor.detach, tree)


def tree_cast(tree: Any, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Any:
    """Move / cast every floating leaf."""
    return tree_map(lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype), tree)
