"""Packing a pytree of tensors into one flat tensor and back.

Inside a compiled ``scan`` every carried or recorded tensor costs an allocation and a copy per step;
carrying one packed tensor instead of dozens of small ones is what makes the compiled loop fast.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from motornet_fn.core.tree import tree_flatten, tree_leaves, tree_unflatten


class FlatLayout(NamedTuple):
    """How a pytree of ``(*batch, *trailing)`` leaves packs into one ``(*batch, n)`` tensor.

    Attributes:
        treespec: the pytree structure.
        trailing: per leaf, its shape after the batch dims.
        sizes: per leaf, the number of elements after the batch dims.
    """

    treespec: Any
    trailing: tuple
    sizes: tuple

    @property
    def width(self) -> int:
        return sum(self.sizes)

    @classmethod
    def of(cls, tree: Any, batch_ndim: int) -> "FlatLayout":
        """Layout of ``tree`` whose leaves share ``batch_ndim`` leading batch dims (or broadcast to them)."""
        leaves, treespec = tree_flatten(tree)
        trailing = tuple(tuple(leaf.shape[batch_ndim:]) if leaf.ndim >= batch_ndim else () for leaf in leaves)
        return cls(treespec, trailing, tuple(math.prod(t) for t in trailing))

    def pack(self, tree: Any, batch_shape: tuple) -> torch.Tensor:
        """``(*batch, n)``: the leaves concatenated on the last dim (always a copy)."""
        leaves = tree_leaves(tree)
        return torch.cat([leaf.expand((*batch_shape, *t)).reshape((*batch_shape, s))
                          for leaf, t, s in zip(leaves, self.trailing, self.sizes)], dim=-1)

    def unpack(self, flat: torch.Tensor, batch_shape: tuple, lead: int = 0) -> Any:
        """Inverse of :meth:`pack` for ``flat`` ``(*lead, *batch, n)`` (views where possible; ``lead`` leading
        dims, a scan's time axis, unpack as more batch dims)."""
        parts = torch.split(flat, self.sizes, dim=-1)
        batch_shape = (*flat.shape[:lead], *batch_shape)
        return tree_unflatten([p.reshape((*batch_shape, *t)) for p, t in zip(parts, self.trailing)], self.treespec)

    def pack_by_field(self, tree: Any, batch_shape: tuple) -> torch.Tensor:
        """``(n, *batch)``: the leaves' elements as rows, the batch dims last (always a copy).

        A compiled loop reads its carry this way: each field contiguous over the batch, so inductor vectorizes a
        step's arithmetic across the batch. Batch-first, every field of a ``(B, 70)`` Arm26 carry is 70 floats
        apart, and inductor's C++ kernels ran scalar (or 6 of 16 vector lanes, over the muscles).
        """
        leaves = tree_leaves(tree)
        return torch.cat([leaf.expand((*batch_shape, *t)).reshape((*batch_shape, s)).movedim(-1, 0)
                          for leaf, t, s in zip(leaves, self.trailing, self.sizes)], dim=0)

    def unpack_by_field(self, flat: torch.Tensor, batch_shape: tuple, lead: int = 0) -> Any:
        """Inverse of :meth:`pack_by_field` for ``flat`` ``(*lead, n, *batch)`` (``lead`` leading dims, a scan's
        time axis): leaves ``(*lead, *batch, *trailing)``, views of ``flat``."""
        nb = len(batch_shape)
        parts = torch.split(flat, self.sizes, dim=lead)
        leaves = [batch_first(p.reshape((*p.shape[:lead], *t, *p.shape[lead + 1:])), lead, nb)
                  for p, t in zip(parts, self.trailing)]
        return tree_unflatten(leaves, self.treespec)


def batch_last(x: torch.Tensor, lead: int, batch_ndim: int) -> torch.Tensor:
    """``(*lead, *batch, *trailing)`` -> a contiguous ``(*lead, *trailing, *batch)`` copy (``lead`` and
    ``batch_ndim`` count dims); ``x`` itself where that moves nothing."""
    trailing = x.ndim - lead - batch_ndim
    if batch_ndim == 0 or trailing == 0:
        return x
    return x.permute(*range(lead), *range(lead + batch_ndim, x.ndim), *range(lead, lead + batch_ndim)).contiguous()


def batch_first(x: torch.Tensor, lead: int, batch_ndim: int) -> torch.Tensor:
    """Inverse of :func:`batch_last`, as a view: ``(*lead, *trailing, *batch)`` -> ``(*lead, *batch, *trailing)``."""
    trailing = x.ndim - lead - batch_ndim
    if batch_ndim == 0 or trailing == 0:
        return x
    return x.permute(*range(lead), *range(lead + trailing, x.ndim), *range(lead, lead + trailing))


def materialise(tree: Any, batch_shape: tuple) -> Any:
    """``tree`` with every leaf carrying the full batch dims: ``tree`` itself when each leaf is already contiguous
    with them, else views of one packed ``(*batch, n)`` copy (expanded views would compile another graph; the
    copy cost 80 us a call, 6% of a B = 1 compiled Arm26 rollout)."""
    n = len(batch_shape)
    if all(leaf.is_contiguous() and tuple(leaf.shape[:n]) == tuple(batch_shape) for leaf in tree_leaves(tree)):
        return tree
    layout = FlatLayout.of(tree, n)
    return layout.unpack(layout.pack(tree, batch_shape), batch_shape)


class ConstantLayout(NamedTuple):
    """How the tensors a loop body reads but does not carry (parameters, weights) pack into one flat tensor.

    A compiled ``scan`` passes every tensor its body closes over to each iteration as a separate input, at a
    handle's cost per tensor per step. Packed, the floating leaves of the common dtype that do not require
    grad travel as one 1-D tensor. Leaves that require grad travel as they are (packed with the others,
    they would make autograd differentiate through every constant; packed apart, the trainer's episode
    measured slower), and so do other leaves (integer masks, other dtypes, non-tensors).

    Attributes:
        treespec: the pytree structure.
        packed: per leaf, whether it is packed.
        shapes: per leaf, its shape.
    """

    treespec: Any
    packed: tuple
    shapes: tuple

    @classmethod
    def of(cls, tree: Any) -> "ConstantLayout":
        leaves, treespec = tree_flatten(tree)
        floats = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor) and leaf.is_floating_point()]
        dtype, device = (floats[0].dtype, floats[0].device) if floats else (None, None)
        packed = tuple(isinstance(leaf, torch.Tensor) and leaf.dtype == dtype and leaf.device == device
                       and not leaf.requires_grad for leaf in leaves)
        shapes = tuple(tuple(leaf.shape) if p else None for leaf, p in zip(leaves, packed))
        return cls(treespec, packed, shapes)

    def pack(self, tree: Any) -> tuple[torch.Tensor | None, tuple]:
        """``(flat, rest)``: the packed leaves concatenated into one (n,) tensor (None if there are none), and
        the other leaves, in order."""
        leaves = tree_leaves(tree)
        parts = [leaf.reshape(-1) for leaf, p in zip(leaves, self.packed) if p]
        return (torch.cat(parts) if parts else None), tuple(leaf for leaf, p in zip(leaves, self.packed) if not p)

    def unpack(self, flat: torch.Tensor | None, rest: tuple) -> Any:
        """Inverse of :meth:`pack` (the packed leaves are views of ``flat``)."""
        sizes = [math.prod(shape) for shape in self.shapes if shape is not None]
        parts = iter(torch.split(flat, sizes) if sizes else ())
        others = iter(rest)
        leaves = [next(parts).reshape(shape) if p else next(others) for p, shape in zip(self.packed, self.shapes)]
        return tree_unflatten(leaves, self.treespec)
