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
        return torch.cat([leaf.expand(*batch_shape, *t).reshape(*batch_shape, s)
                          for leaf, t, s in zip(leaves, self.trailing, self.sizes)], dim=-1)

    def unpack(self, flat: torch.Tensor, batch_shape: tuple) -> Any:
        """Inverse of :meth:`pack` for ``flat`` ``(*batch, n)`` (views where possible)."""
        parts = torch.split(flat, self.sizes, dim=-1)
        return tree_unflatten([p.reshape(*batch_shape, *t) for p, t in zip(parts, self.trailing)], self.treespec)
