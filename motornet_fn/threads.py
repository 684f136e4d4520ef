"""Torch's CPU thread count, set once when ``motornet_fn`` is imported.

An effector step is a few hundred tiny tensor operations; extra intra-op threads only add
synchronisation. On a loaded 2-core machine, MotorNet-style class-API training loops swung between
0.14 s and 15 s per batch with torch's default of 2 threads, and held 0.15 s with 1 thread.

The rule, applied when ``motornet_fn`` is first imported:

* ``MOTORNET_FN_THREADS=N`` (an integer >= 1): torch uses N threads;
* ``MOTORNET_FN_THREADS=torch``: motornet_fn leaves torch's thread count alone;
* otherwise, if ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set, torch already follows it and
  motornet_fn leaves it alone; if neither is set, torch uses 1 thread.

Torch cannot tell whether its current count was chosen by the user, so a ``torch.set_num_threads``
call made *before* ``import motornet_fn`` is overridden (set ``MOTORNET_FN_THREADS=torch`` to keep
it); one made *after* the import always wins. The ``motornet-fn`` command sets its own count
(``--threads``, default 1).
"""
from __future__ import annotations

import os
from typing import Mapping

import torch

ENV = "MOTORNET_FN_THREADS"
DEFAULT_THREADS = 1


def configured_threads(environ: Mapping[str, str] = os.environ) -> int | None:
    """The thread count the rule above asks for, or None to leave torch's.

    Raises:
        ValueError: ``MOTORNET_FN_THREADS`` is neither an integer >= 1 nor ``torch``.
    """
    value = environ.get(ENV, "").strip()
    if value.lower() == "torch":
        return None
    if value:
        if value.isdigit() and int(value) >= 1:
            return int(value)
        raise ValueError(f"{ENV} must be an integer >= 1 or 'torch', got {value!r}")
    if environ.get("OMP_NUM_THREADS") or environ.get("MKL_NUM_THREADS"):
        return None
    return DEFAULT_THREADS


def apply(environ: Mapping[str, str] = os.environ) -> int:
    """Set torch's intra-op thread count by the rule above; returns the count torch uses now."""
    n = configured_threads(environ)
    if n is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


apply()

__all__ = ["DEFAULT_THREADS", "ENV", "apply", "configured_threads"]
