"""Parameter sweeps: many effector variants simulated in one vmapped call.

A variant overrides leaves of :class:`~motornet_fn.core.effector.EffectorParams`, addressed by dotted
paths such as ``"skeleton.l1"``, ``"skeleton.m2"``, ``"skeleton.i2"``, ``"muscle.optimal_muscle_length"``,
``"muscle.tendon_length"``, ``"geometry.coordinates"`` or ``"damping"`` (:func:`param_paths` lists
them). A value is anything broadcastable to the leaf's shape, or a callable mapping the base leaf to
its new value (e.g. ``lambda l0: 1.1 * l0``). :func:`variants` (a list) and :func:`grid` (a Cartesian
product) stack the variants into one parameter pytree whose leaves carry a leading (n_variants,)
dim; :func:`sweep` vmaps any core function over it. Structure (the spec) is shared by all variants.

Example::

    spec, params = core.rigid_tendon_arm26()
    v = sweeps.grid(params, {"skeleton.l1": [0.28, 0.31, 0.34], "skeleton.m2": [1.2, 1.4]})
    states = sweeps.sweep_initial_state(spec, v.params, joint)        # leaves (6, ...)
    traj = sweeps.sweep_rollout(spec, v.params, states, actions)       # leaves (6, T + 1, ...)
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch
from torch.func import vmap

from motornet_fn.core.effector import EffectorParams, EffectorSpec, initial_state, step
from motornet_fn.core.engine import rollout
from motornet_fn.core.tree import tree_map, tree_stack
from motornet_fn.core.types import EffectorState, JointState, Loads

#: leaves that must stay strictly positive (masses, lengths, inertias, forces, time constants)
POSITIVE = frozenset({
    "m1", "m2", "l1", "l2", "l1g", "l2g", "i1", "i2", "mass", "max_isometric_force", "optimal_muscle_length",
    "tau_activation", "tau_deactivation", "length", "inertia",
})
#: leaves that must stay non-negative
NON_NEGATIVE = frozenset({"tendon_length", "damping", "viscosity", "normalized_slack_muscle_length"})


class Variants(NamedTuple):
    """Stacked parameter variants.

    Attributes:
        params: EffectorParams whose every leaf has a leading (n_variants,) dim.
        values: ``{path: (n_variants, *leaf_shape)}`` the value each variant gives to each overridden leaf.
        shape: grid shape (n_1, ..., n_k) of :func:`grid` (row-major, last axis fastest); (n_variants,)
            for :func:`variants`. Reshape results with ``out.reshape(*shape, *out.shape[1:])``.
    """

    params: EffectorParams
    values: dict
    shape: tuple


# ------------------------------------------------------------------------------------ addressing
def param_paths(params: Any, prefix: str = "") -> tuple[str, ...]:
    """Every dotted leaf path of a parameter pytree, e.g. ``("skeleton.m1", ..., "damping")``."""
    if isinstance(params, torch.Tensor):
        return (prefix,)
    paths: list[str] = []
    for name, value in zip(params._fields, params):
        paths += param_paths(value, f"{prefix}.{name}" if prefix else name)
    return tuple(paths)


def get_param(params: Any, path: str) -> torch.Tensor:
    """The leaf at a dotted ``path``.

    Raises:
        KeyError: the path does not name a leaf (the message lists the valid paths).
    """
    node = params
    for name in path.split("."):
        if isinstance(node, torch.Tensor) or name not in getattr(node, "_fields", ()):
            raise KeyError(f"unknown parameter path {path!r}; valid paths: {list(param_paths(params))}")
        node = getattr(node, name)
    if not isinstance(node, torch.Tensor):
        raise KeyError(f"parameter path {path!r} names a group, not a leaf; valid paths: {list(param_paths(params))}")
    return node


def _set_param(node: Any, names: Sequence[str], value: torch.Tensor) -> Any:
    if not names:
        return value
    return node._replace(**{names[0]: _set_param(getattr(node, names[0]), names[1:], value)})


def _resolve(path: str, base: torch.Tensor, value: Any) -> torch.Tensor:
    """A validated override of leaf ``path``: same shape, dtype and device as ``base``."""
    if callable(value):
        value = value(base)
    try:
        t = torch.as_tensor(value, dtype=base.dtype, device=base.device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"value for {path!r} must be numeric, got {value!r}") from err
    try:
        t = torch.broadcast_to(t, base.shape).clone()
    except RuntimeError as err:
        raise ValueError(f"value for {path!r} must broadcast to shape {tuple(base.shape)}, "
                         f"got shape {tuple(t.shape)}") from err
    leaf = path.rsplit(".", 1)[-1]
    if not torch.isfinite(t).all():
        raise ValueError(f"value for {path!r} must be finite, got {t.tolist()}")
    if leaf in POSITIVE and (t <= 0).any():
        raise ValueError(f"value for {path!r} must be > 0, got {t.tolist()}")
    if leaf in NON_NEGATIVE and (t < 0).any():
        raise ValueError(f"value for {path!r} must be >= 0, got {t.tolist()}")
    return t


def vary(params: EffectorParams, overrides: Mapping[str, Any]) -> EffectorParams:
    """One variant: ``params`` with the leaves named in ``overrides`` replaced (eagerly validated).

    Args:
        overrides: {path: value or callable(base leaf) -> value}.

    Raises:
        KeyError: unknown path.
        ValueError: a value of the wrong shape, non-finite or out of range (e.g. a non-positive mass).
        TypeError: a value that is not numeric.
    """
    for path, value in overrides.items():
        params = _set_param(params, path.split("."), _resolve(path, get_param(params, path), value))
    return params


# ------------------------------------------------------------------------------------ stacking
def variants(params: EffectorParams, overrides: Sequence[Mapping[str, Any]]) -> Variants:
    """Stack a list of variants of ``params`` (one override dict per variant; ``{}`` is the base)."""
    if len(overrides) == 0:
        raise ValueError("overrides must hold at least one variant")
    varied = [vary(params, o) for o in overrides]
    paths = sorted({p for o in overrides for p in o})
    values = {p: torch.stack([get_param(v, p) for v in varied]) for p in paths}
    return Variants(tree_stack(varied), values, (len(varied),))


def grid(params: EffectorParams, axes: Mapping[str, Sequence[Any]]) -> Variants:
    """Cartesian product of per-path values, flattened row-major (last axis fastest).

    Args:
        axes: {path: sequence of values (or callables of the base leaf)}, each non-empty.
    """
    if len(axes) == 0 or any(len(v) == 0 for v in axes.values()):
        raise ValueError(f"grid needs at least one axis and a non-empty value list per axis, got "
                         f"{ {k: len(v) for k, v in axes.items()} }")
    paths = list(axes)
    combos = [dict(zip(paths, combo)) for combo in itertools.product(*(axes[p] for p in paths))]
    stacked = variants(params, combos)
    return stacked._replace(shape=tuple(len(axes[p]) for p in paths))


def n_variants(params: EffectorParams) -> int:
    """Number of stacked variants (the leading dim of the damping leaf)."""
    return params.damping.shape[0]


def select_variant(params: EffectorParams, index: int) -> EffectorParams:
    """Variant ``index`` of stacked parameters (for loops and plotting)."""
    return tree_map(lambda leaf: leaf[index], params)


# ------------------------------------------------------------------------------------ running
def sweep(fn: Callable, params: EffectorParams, *args: Any, per_variant: Sequence[bool] | None = None) -> Any:
    """``fn(variant_params, *args)`` for every variant, in one ``torch.func.vmap`` call.

    Args:
        fn: a pure function of ``(params, *args)`` returning a pytree of tensors.
        params: stacked parameters (leading (n_variants,) dim on every leaf).
        args: shared inputs (same for all variants) unless flagged in ``per_variant``.
        per_variant: one bool per arg: whether that arg carries a leading (n_variants,) dim.

    Returns:
        ``fn``'s output with a leading (n_variants,) dim on every leaf.
    """
    flags = tuple(per_variant) if per_variant is not None else (False,) * len(args)
    if len(flags) != len(args):
        raise ValueError(f"per_variant must have one flag per argument ({len(args)}), got {len(flags)}")
    return vmap(fn, in_dims=(0,) + tuple(0 if f else None for f in flags))(params, *args)


def sweep_initial_state(spec: EffectorSpec, params: EffectorParams, joint: JointState,
                        joint_per_variant: bool = False) -> EffectorState:
    """Initial state of every variant. joint: (..., dof) shared, or (n_variants, ..., dof)."""
    return sweep(lambda p, j: initial_state(spec, p, j), params, joint, per_variant=(joint_per_variant,))


def sweep_step(spec: EffectorSpec, params: EffectorParams, state: EffectorState, action: torch.Tensor,
               loads: Loads | None = None, inputs_per_variant: bool = False) -> EffectorState:
    """One step of every variant.

    Args:
        state: per-variant states, leaves (n_variants, ...).
        action: (..., n_muscles) shared, or (n_variants, ..., n_muscles) with ``inputs_per_variant``.
        loads: shared, or per variant with ``inputs_per_variant``.
    """
    if loads is None:
        return sweep(lambda p, s, a: step(spec, p, s, a), params, state, action,
                     per_variant=(True, inputs_per_variant))
    return sweep(lambda p, s, a, ld: step(spec, p, s, a, ld), params, state, action, loads,
                 per_variant=(True, inputs_per_variant, inputs_per_variant))


def sweep_rollout(spec: EffectorSpec, params: EffectorParams, state: EffectorState, actions: torch.Tensor,
                  loads: Loads | None = None, inputs_per_variant: bool = False) -> EffectorState:
    """A rollout of every variant from per-variant initial states.

    Args:
        state: leaves (n_variants, ...).
        actions: (T, ..., n_muscles) shared, or (n_variants, T, ..., n_muscles) with ``inputs_per_variant``.
        loads: constant loads, shared or per variant.

    Returns:
        EffectorState with leaves (n_variants, T + 1, ...).
    """
    if loads is None:
        return sweep(lambda p, s, a: rollout(spec, p, s, a), params, state, actions,
                     per_variant=(True, inputs_per_variant))
    return sweep(lambda p, s, a, ld: rollout(spec, p, s, a, ld), params, state, actions, loads,
                 per_variant=(True, inputs_per_variant, inputs_per_variant))


def muscle_points(spec: EffectorSpec, muscle: str) -> tuple[int, ...]:
    """Columns of ``PathParams.coordinates`` holding the fixation points of ``muscle`` (path geometry).

    Raises:
        ValueError: unknown muscle name, or an effector without path geometry.
    """
    if muscle not in spec.muscle_names:
        raise ValueError(f"unknown muscle {muscle!r}; valid names: {list(spec.muscle_names)}")
    owner = getattr(spec.geometry, "muscle_of_point", None)
    if owner is None:
        raise ValueError(f"{type(spec.geometry).__name__} has no fixation points (path geometry only)")
    index = spec.muscle_names.index(muscle)
    return tuple(i for i, m in enumerate(owner) if m == index)


__all__ = [
    "Variants", "param_paths", "get_param", "vary", "variants", "grid", "n_variants", "select_variant", "sweep",
    "sweep_initial_state", "sweep_step", "sweep_rollout", "muscle_points",
]
