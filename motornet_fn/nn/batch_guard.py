"""Keep a trainer at batch boundaries: a snapshot of the last consistent state, the rollback to it,
and the check that stops training when a loss or gradient stops being finite (used by
:meth:`~motornet_fn.nn.train.Trainer.fit`)."""
from __future__ import annotations

import dataclasses
import math

import torch

from motornet_fn.core.tree import tree_map
from motornet_fn.nn.interrupts import defer_interrupts


class NonFiniteLossError(FloatingPointError):
    """A batch's loss or gradient norm was NaN or infinite; the trainer was rolled back to the batch before."""


def _copy(state: dict) -> dict:
    """``state`` with every tensor cloned (8x faster than ``copy.deepcopy`` on a tutorial trainer's state)."""
    return tree_map(lambda x: x.detach().clone() if isinstance(x, torch.Tensor) else x, state)


def snapshot(trainer) -> dict:
    """A copy of ``trainer.state_dict(log=False)``: the state at the current batch boundary (the log
    only grows, so its length, the step, is enough to cut it back)."""
    return _copy(trainer.state_dict(log=False))


def restore(trainer, boundary: dict) -> None:
    """Put ``trainer`` back at the batch boundary of a :func:`snapshot`; Ctrl-C waits until it is done."""
    with defer_interrupts():
        n = boundary["step"]
        log = {f.name: getattr(trainer.log, f.name)[:n] for f in dataclasses.fields(trainer.log)}
        trainer.load_state_dict({**_copy(boundary), "log": log})  # a copy: the optimiser keeps the tensors it loads


def check_finite(trainer) -> None:
    """Raise :class:`NonFiniteLossError` if the last batch's loss or gradient norm is NaN or infinite,
    naming the batch (1-based, as in losses.csv), the members and their seeds."""
    for what, values in (("loss", trainer.log.loss[-1]), ("gradient norm", trainer.log.grad_norm[-1])):
        bad = [k for k, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            members = ", ".join(f"member {k} (seed {trainer.seeds[k]}): {values[k]}" for k in bad)
            raise NonFiniteLossError(
                f"{what} became non-finite at batch {trainer.step}, {members}; training stopped and the "
                f"trainer keeps the state after batch {trainer.step - 1}")


__all__ = ["NonFiniteLossError", "check_finite", "restore", "snapshot"]
