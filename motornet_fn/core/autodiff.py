"""Small ``torch.func`` helpers shared by the analysis toolkit.

* :func:`choose_mode` / :func:`jacobian_fn`: forward (``jacfwd``) or reverse (``jacrev``) mode,
  picked from the sizes of the differentiated inputs and outputs.
* :func:`vmap_leading`: apply a per-sample function over any number of leading batch dims by
  nesting ``vmap``.
* :func:`central_difference`: a vectorised central finite-difference Jacobian, to check autodiff.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.func import jacfwd, jacrev, vmap

from motornet_fn.core.tree import tree_leaves, tree_map

MODES = ("auto", "fwd", "rev")


def choose_mode(mode: str, n_in: int, n_out: int) -> str:
    """Resolve ``"auto"`` to ``"fwd"`` (cost ~ n_in) or ``"rev"`` (cost ~ n_out).

    Forward mode needs one Jacobian-vector product per input element and reverse mode one
    vector-Jacobian product per output element, so the smaller count wins (ties go forward, whose
    products are cheaper).

    Raises:
        ValueError: ``mode`` is not one of ``"auto"``, ``"fwd"``, ``"rev"``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "fwd" if n_in <= n_out else "rev"


def jacobian_fn(fn: Callable, argnums: int | tuple[int, ...], mode: str, has_aux: bool = False) -> Callable:
    """``jacfwd`` or ``jacrev`` of ``fn`` (``mode`` already resolved by :func:`choose_mode`)."""
    transform = jacfwd if mode == "fwd" else jacrev
    return transform(fn, argnums=argnums, has_aux=has_aux)


def vmap_leading(fn: Callable, n_dims: int, in_dims: Sequence[int | None]) -> Callable:
    """Map a per-sample ``fn`` over ``n_dims`` leading dims of the arguments whose ``in_dims`` is 0
    (arguments with ``None`` are shared)."""
    for _ in range(n_dims):
        fn = vmap(fn, in_dims=tuple(in_dims))
    return fn


def numel(tree: Any) -> int:
    """Total number of elements over the leaves of a pytree."""
    return sum(leaf.numel() for leaf in tree_leaves(tree))


def broadcast_leading(trees: Sequence[Any], n_trailing: Sequence[Any]) -> tuple[tuple[int, ...], list]:
    """Broadcast the leading (batch) dims of several pytrees against each other.

    Args:
        trees: pytrees of tensors.
        n_trailing: for each tree, a pytree of the same structure (or one int for all its leaves)
            giving how many trailing dims of each leaf are per-sample dims.

    Returns:
        (batch_shape, trees with every leaf expanded to batch_shape + its per-sample shape).
    """
    def trailing_counts(tree, counts):
        return tree_map(lambda _: counts, tree) if isinstance(counts, int) else counts

    counts = [trailing_counts(t, c) for t, c in zip(trees, n_trailing)]
    shapes = [leaf.shape[: leaf.ndim - k] for t, c in zip(trees, counts)
              for leaf, k in zip(tree_leaves(t), tree_leaves(c))]
    batch = tuple(torch.broadcast_shapes(*shapes)) if shapes else ()
    expanded = [
        tree_map(lambda leaf, k: leaf.expand(*batch, *leaf.shape[leaf.ndim - k:]), t, c)
        for t, c in zip(trees, counts)
    ]
    return batch, expanded


def central_difference(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       eps: float | torch.Tensor = 1e-6) -> torch.Tensor:
    """Central finite-difference Jacobian of a vector function, in one batched call of ``fn``.

    Args:
        fn: maps (..., n_in) to (..., n_out) and accepts any leading batch dims.
        x: (..., n_in) point(s).
        eps: step(s) in the units of ``x``: a scalar, or a tensor broadcastable to ``x``.

    Returns:
        (..., n_out, n_in) Jacobian: column j is (fn(x + eps_j e_j) - fn(x - eps_j e_j)) / (2 eps_j).
    """
    n = x.shape[-1]
    steps = torch.as_tensor(eps, dtype=x.dtype, device=x.device).expand_as(x)
    shifts = torch.diag_embed(steps)  # (..., n_in, n_in), row j = eps_j e_j
    points = torch.cat([x.unsqueeze(-2) + shifts, x.unsqueeze(-2) - shifts], dim=-2)  # (..., 2 n_in, n_in)
    out = fn(points)  # (..., 2 n_in, n_out)
    return ((out[..., :n, :] - out[..., n:, :]) / (2 * steps.unsqueeze(-1))).transpose(-1, -2)
