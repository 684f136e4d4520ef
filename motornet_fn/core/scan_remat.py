"""A ``scan``'s backward recomputes each step from the carry it saved, instead of saving the step's intermediates.

Under autograd, torch 2.13 splits a scan's step into a forward and a backward part with the min-cut partitioner
(``torch._higher_order_ops.partitioner``): the forward scan then stacks every intermediate the partitioner chose
to keep, one output buffer per intermediate per step (44 for an Arm26 rollout step recording the fingertip), and
the backward scan reads them back. :func:`install` marks every deterministic op of the step's joint graph
``MUST_RECOMPUTE`` before that partition, so the forward saves only the step's inputs: the packed carry (cloned
once per step), the step's slice of the inputs and the constants (read, not copied). The backward scan runs the
step's forward again, then its backward, from those.

Numbers: the same ops on the same values, so gradients equal the saving partition's to float rounding
(``tests/core/test_scan_remat.py``). Ops tagged ``nondeterministic_seeded`` (random draws) are left to the
partitioner, so a recomputed step never draws new numbers.

Measured (100-step Arm26 rollout + backward recording the fingertip, B = 32, one thread, alternating processes):
4.1-4.6 ms against 6.7-8.0 ms; the trainer's Arm26 batch is unchanged (17.4-20.3 ms either way).

:data:`OPTIONS` (in every ``compiled.compile_function``) puts a hash of this file into inductor's and AOTAutograd's
cache keys, so graphs partitioned before the change are never replayed.
"""
from __future__ import annotations

import torch

from motornet_fn.core.cache_key import FileVersion

_ORIGINAL = None


#: inductor options of a compilation whose scans recompute their steps in the backward
OPTIONS = {"post_grad_custom_pre_pass": FileVersion(__file__)}


def mark_recompute(graph: torch.fx.Graph) -> int:
    """Mark every deterministic ``call_function`` node of ``graph`` ``MUST_RECOMPUTE``; returns how many."""
    from torch.utils.checkpoint import CheckpointPolicy

    marked = 0
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        tags = getattr(node.target, "tags", ())
        if torch.Tag.nondeterministic_seeded in tags:
            continue
        node.meta["recompute"] = CheckpointPolicy.MUST_RECOMPUTE
        marked += 1
    return marked


def _partition(self, partition_fn, always_recompute_complex_exprs):
    mark_recompute(self.joint_gm.graph)  # node metadata only: the graph module's code is unchanged
    return _ORIGINAL(self, partition_fn, always_recompute_complex_exprs)


def installed() -> bool:
    return _ORIGINAL is not None


def install() -> None:
    """Make every scan's backward recompute its steps (idempotent; a torch without the HOP partitioner is left
    alone)."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        return
    try:
        from torch._higher_order_ops.partitioner import HopJointGraph
    except ImportError:  # pragma: no cover - depends on the torch version
        return
    _ORIGINAL = HopJointGraph.partition
    HopJointGraph.partition = _partition


def uninstall() -> None:
    """Restore torch's own partition (for comparisons)."""
    global _ORIGINAL
    if _ORIGINAL is None:
        return
    from torch._higher_order_ops.partitioner import HopJointGraph

    HopJointGraph.partition = _ORIGINAL
    _ORIGINAL = None
