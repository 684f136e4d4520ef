"""Eager validation of states, for debugging outside ``torch.func`` transforms (never in the hot path)."""
from __future__ import annotations

import torch

from motornet_fn.core.effector import EffectorParams, EffectorSpec
from motornet_fn.core.types import EffectorState


def check_state(spec: EffectorSpec, params: EffectorParams, state: EffectorState) -> None:
    """Raise ``ValueError`` naming the first offending field: wrong trailing shape, non-finite values,
    or a joint state out of bounds."""
    spec.skeleton.check_joint(params.skeleton, state.joint)
    n = spec.n_muscles
    for name, value in zip(type(state.muscle)._fields, state.muscle):
        if value.shape[-1] != n:
            raise ValueError(f"muscle state field {name!r} must end in n_muscles={n}, got shape {tuple(value.shape)}")
        if not torch.isfinite(value).all():
            raise ValueError(f"muscle state field {name!r} must be finite, got non-finite values "
                             f"{value[~torch.isfinite(value)].tolist()[:8]} (of shape {tuple(value.shape)})")
    for name, value in zip(state.geometry._fields, state.geometry):
        if value.shape[-1] != n:
            raise ValueError(f"geometry field {name!r} must end in n_muscles={n}, got shape {tuple(value.shape)}")
        if not torch.isfinite(value).all():
            raise ValueError(f"geometry field {name!r} must be finite, got non-finite values "
                             f"{value[~torch.isfinite(value)].tolist()[:8]} (of shape {tuple(value.shape)})")
