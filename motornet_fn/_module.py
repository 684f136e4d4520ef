"""Base of the MotorNet-style classes (muscle, skeleton, effector, environment)."""
from __future__ import annotations

from typing import Any, Callable

import torch


#: instance attributes whose names start with this are caches: rebuilt on demand, never pickled
CACHE_PREFIX = "_memo_"


class RecordedModule(torch.nn.Module):
    """A module that remembers its constructor arguments (the recipe ``get_save_config`` saves and
    ``from_config`` replays) and tracks the device its buffers live on (MotorNet's ``device``)."""

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self.__dict__["_init_args"] = (args, kwargs)
        self.__dict__["_version"] = 0
        return self

    # ------------------------------------------------------------------ change tracking
    # ``_version`` counts assignments, buffer registrations and device/dtype moves of this module, so
    # that what is derived from its attributes (core parameter tuples, the core spec) can be built once
    # and reused at every step. In-place edits of a buffer need no bump: the cached tuples hold views.
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        self.__dict__["_version"] += 1

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self.__dict__["_version"] += 1

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        super().register_buffer(name, tensor, persistent)
        self.__dict__["_version"] += 1

    def touch(self) -> None:
        """Mark this module as changed (after an in-place edit of a list or array attribute)."""
        self.__dict__["_version"] += 1

    def memo(self, name: str, build: Callable[[], Any], *deps: "RecordedModule") -> Any:
        """``build()``, reused until this module or one of ``deps`` changes (see ``_version``)."""
        key = (self.__dict__["_version"],) + tuple(d.__dict__["_version"] for d in deps)
        hit = self.__dict__.get(CACHE_PREFIX + name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = build()
        self.__dict__[CACHE_PREFIX + name] = (key, value)
        return value

    def _move_tensors(self, move: Callable[[Any], Any]) -> None:
        """Move tensors held outside buffers (current states, goals, ...); ``move`` leaves non-tensors."""

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith(CACHE_PREFIX)}

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self.__dict__["_version"] += 1
        self._device = fn(torch.empty(0, device=self._device)).device
        self._move_tensors(lambda v: fn(v) if torch.is_tensor(v) else v)
        return out

    @property
    def device(self) -> torch.device:
        return self._device
