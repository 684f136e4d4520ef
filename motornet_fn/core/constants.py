"""Static tensors derived from a model's structure (masks, incidence matrices), built once per
(key, device, dtype) and reused by every step.

Structure lives in frozen dataclasses as numpy arrays or tuples; the hot path needs it as tensors on
the data's device. Converting with ``torch.as_tensor`` on every call costs a host-to-tensor copy per
step (and a graph constant per trace under ``torch.compile``); this cache turns it into a dict lookup.
"""
from __future__ import annotations

from typing import Callable, Hashable

import numpy as np
import torch

_CACHE: dict = {}


def static_tensor(key: Hashable, build: Callable[[], np.ndarray], device: torch.device | None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """The tensor ``build()`` (a numpy array, or anything ``torch.as_tensor`` takes) on ``device``
    with ``dtype`` (None keeps numpy's), cached under ``(key, device, dtype)``.

    ``key`` must identify the structure completely (e.g. ``("two_link.on_arm", bodies)``). Cached
    tensors never require grad and must not be modified in place. ``torch.compile`` traces the lookup
    as a constant; :mod:`motornet_fn.core.compiled` runs one eager step first so the cache is warm.
    """
    full_key = (key, device, dtype)
    value = _CACHE.get(full_key)
    if value is None:
        with torch.inference_mode(False):  # a tensor first built under inference_mode must still serve autograd
            value = torch.as_tensor(build(), dtype=dtype, device=device)
        _CACHE[full_key] = value
    return value


def clear() -> None:
    """Drop every cached tensor (e.g. to free device memory)."""
    _CACHE.clear()
