"""Eager checks of what enters the core.

* Shape and dtype checks (:func:`check_action`, :func:`check_joint_input`, :func:`state_batch`,
  :func:`check_time_dim`): they read shapes only, so the public entry points run them under
  ``torch.func`` transforms and before compiling, at the cost of a few attribute reads.
* Finite-value checks (:func:`check_finite`): off by default; ``MOTORNET_FN_DEBUG=1`` or
  ``check_finite(True)`` turns them on. They read values, so they run only eagerly (never inside a
  transform or a compiled function), naming the first non-finite input or state.
* :func:`check_state`: everything about one effector state, for debugging (never in the hot path).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from motornet_fn.core.tree import named_leaves

if TYPE_CHECKING:
    from motornet_fn.core.effector import EffectorParams, EffectorSpec
    from motornet_fn.core.types import EffectorState, JointState

#: the environment variable that turns the finite-value checks on (any value but "", "0")
DEBUG_VARIABLE = "MOTORNET_FN_DEBUG"
_finite = os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


# ------------------------------------------------------------------------------------ shapes and dtypes
def _event_ndim(path: str) -> int:
    """Trailing (non-batch) dims of an effector-state leaf: 2 for moment arms (dof, n_muscles), else 1."""
    return 2 if path.endswith("moment_arm") else 1


def state_batch(state: Any, name: str = "state") -> torch.Size:
    """The batch shape shared by every leaf of an effector state.

    Raises:
        TypeError: a leaf is not a tensor, or the leaves mix dtypes.
        ValueError: the leaves have different batch shapes (a mixed batch).
    """
    ref = None
    for path, x in named_leaves(state, name):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{path} must be a tensor, got {type(x).__name__}")
        batch = x.shape[: max(x.ndim - _event_ndim(path), 0)]
        if ref is None:
            ref = (path, batch, x.dtype)
        elif batch != ref[1]:
            raise ValueError(f"{name} mixes batch shapes: {ref[0]} has batch dims {tuple(ref[1])} but {path} has "
                             f"{tuple(batch)} (shape {tuple(x.shape)}); every leaf must share one batch shape")
        elif x.dtype != ref[2]:
            raise TypeError(f"{name} mixes dtypes: {ref[0]} is {ref[2]} but {path} is {x.dtype}")
    return ref[1]


def check_dtype(name: str, x: torch.Tensor, params: Any) -> None:
    """Raise TypeError unless ``x`` has the dtype of the parameters (those of ``make_params``/the builders)."""
    dtype = params.damping.dtype
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the params are {dtype}: build the params with "
                        f"dtype={x.dtype} or convert {name} with .to({dtype})")


def check_action(spec: EffectorSpec, params: EffectorParams, action: Any, batch: torch.Size, name: str = "action",
                 time_dim: bool = False) -> None:
    """Raise unless ``action`` is a (``T``, if ``time_dim``) (..., n_muscles) tensor of the params' dtype whose
    batch dims broadcast to ``batch`` (the state's) without enlarging it."""
    shape = getattr(action, "shape", None)
    lead = 1 if time_dim else 0
    if shape is not None and shape[lead:-1] == batch and shape[-1:] == (spec.n_muscles,) and \
            action.dtype == params.damping.dtype:
        return  # the usual case, in a few attribute reads
    dims = (["T"] if time_dim else []) + [str(b) for b in batch] + [f"n_muscles={spec.n_muscles}"]
    expected = f"({', '.join(dims)})"
    if not isinstance(action, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {expected}, got {type(action).__name__}")
    if action.ndim < 1 + lead or shape[-1] != spec.n_muscles:
        raise ValueError(f"{name} must have shape {expected} (last dim: one excitation per muscle), "
                         f"got {tuple(shape)}")
    try:
        fits = torch.broadcast_shapes(shape[lead:-1], batch) == batch
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(shape)}: its batch dims "
                         f"{tuple(shape[lead:-1])} do not match the state's {tuple(batch)} (expand the state to the "
                         f"actions' batch first)")
    check_dtype(name, action, params)


def check_step(spec: EffectorSpec, params: EffectorParams, state: Any, action: Any, finite: bool = True) -> None:
    """The cheap check of one step's inputs: the action against the state's joint position (shape, dtype);
    with ``finite`` and the finite checks on, also the values of the action and of the (effector or
    environment) ``state``."""
    pos = getattr(state, "effector", state).joint.pos
    check_action(spec, params, action, pos.shape[:-1])
    if pos.dtype != params.damping.dtype:
        check_dtype("state", pos, params)
    if finite and finite_checks():
        raise_non_finite(action, "action")
        raise_non_finite(state, "state")


def check_joint_input(spec: EffectorSpec, params: EffectorParams, joint: JointState, name: str = "joint") -> None:
    """Raise unless ``joint`` holds (..., dof) tensors ``pos`` and ``vel`` of one shape and the params' dtype."""
    pos, vel = (getattr(joint, k, None) for k in ("pos", "vel"))
    if not (isinstance(pos, torch.Tensor) and isinstance(vel, torch.Tensor)):
        raise TypeError(f"{name} must be a JointState of (..., dof={spec.dof}) tensors pos and vel, got "
                        f"{type(joint).__name__}")
    if pos.ndim < 1 or pos.shape[-1] != spec.dof or vel.shape != pos.shape:
        raise ValueError(f"{name}.pos and {name}.vel must have one shape (..., dof={spec.dof}), got "
                         f"{tuple(pos.shape)} and {tuple(vel.shape)}")
    check_dtype(f"{name}.pos", pos, params)
    check_dtype(f"{name}.vel", vel, params)


def check_time_dim(tree: Any, n_steps: int, name: str) -> None:
    """Raise ValueError unless every tensor of ``tree`` has a leading time dim of ``n_steps``."""
    for path, x in named_leaves(tree, name):
        if isinstance(x, torch.Tensor) and (x.ndim == 0 or x.shape[0] != n_steps):
            raise ValueError(f"{path} must have a leading time dim of n_steps={n_steps}, got shape {tuple(x.shape)}")


# ------------------------------------------------------------------------------------ finite values
class check_finite:
    """Turn the finite-value checks on (``check_finite()``, ``check_finite(True)``) or off; also a context
    manager restoring the previous setting on exit. Default: the ``MOTORNET_FN_DEBUG`` environment variable."""

    def __init__(self, enabled: bool = True):
        global _finite
        self.previous, _finite = _finite, bool(enabled)

    def __enter__(self) -> "check_finite":
        return self

    def __exit__(self, *exc) -> None:
        global _finite
        _finite = self.previous


def finite_checks() -> bool:
    """Whether the finite-value checks are on and can run here (eagerly: not while compiling, not under a
    ``torch.func`` transform)."""
    return _finite and not torch.compiler.is_compiling() and not torch._C._are_functorch_transforms_active()


def first_non_finite(tree: Any, name: str, time_axis: int | None = None) -> str | None:
    """A description of the first non-finite entry of ``tree`` (the earliest step along ``time_axis``, if
    given, then the first leaf), or None."""
    found = []
    for path, x in named_leaves(tree, name):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            continue
        bad = ~torch.isfinite(x.detach())
        if not bad.any():
            continue
        kind = "NaN" if torch.isnan(x.detach()).any() else "inf"
        if time_axis is not None and x.ndim > 0:
            step = int(bad.movedim(time_axis, 0).reshape(x.shape[time_axis], -1).any(dim=1).nonzero()[0, 0])
            found.append((step, len(found), f"{path} contains {kind} at step {step}"))
        else:
            found.append((0, len(found), f"{path} contains {kind}"))
    return min(found)[2] if found else None


def raise_non_finite(tree: Any, name: str, time_axis: int | None = None, where: str = "") -> None:
    """Raise ValueError naming the first non-finite entry of ``tree`` (see :func:`first_non_finite`)."""
    message = first_non_finite(tree, name, time_axis)
    if message is not None:
        raise ValueError(f"{where}{message} (finite checks are on: {DEBUG_VARIABLE}=1 or check_finite(); "
                         f"check_finite(False) turns them off)")


# ------------------------------------------------------------------------------------ debugging
def check_state(spec: EffectorSpec, params: EffectorParams, state: EffectorState) -> None:
    """Raise ``ValueError`` naming the first offending field: wrong trailing shape, non-finite values,
    a joint state out of bounds, or leaves with different batch shapes (``TypeError``: mixed dtypes)."""
    spec.skeleton.check_joint(params.skeleton, state.joint)
    n = spec.n_muscles
    for kind, fields in (("muscle state field", state.muscle), ("geometry field", state.geometry)):
        for name, value in zip(type(fields)._fields, fields):
            if value.shape[-1] != n:
                raise ValueError(f"{kind} {name!r} must end in n_muscles={n}, got shape {tuple(value.shape)}")
            if not torch.isfinite(value).all():
                raise ValueError(f"{kind} {name!r} must be finite, got non-finite values "
                                 f"{value[~torch.isfinite(value)].tolist()[:8]} (of shape {tuple(value.shape)})")
    state_batch(state)
