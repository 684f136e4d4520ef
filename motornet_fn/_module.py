"""Base of the MotorNet-style classes (muscle, skeleton, effector, environment)."""
from __future__ import annotations

from typing import Any, Callable

import torch


class RecordedModule(torch.nn.Module):
    """A module that remembers its constructor arguments (the recipe ``get_save_config`` saves and
    ``from_config`` replays) and tracks the device its buffers live on (MotorNet's ``device``)."""

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self.__dict__["_init_args"] = (args, kwargs)
        return self

    def _move_tensors(self, move: Callable[[Any], Any]) -> None:
        """Move tensors held outside buffers (current states, goals, ...); ``move`` leaves non-tensors."""

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self._device = fn(torch.empty(0, device=self._device)).device
        self._move_tensors(lambda v: fn(v) if torch.is_tensor(v) else v)
        return out

    @property
    def device(self) -> torch.device:
        return self._device
