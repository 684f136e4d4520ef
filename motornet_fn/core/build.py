"""Builders of effector (spec, params) pairs, with eager validation, and MotorNet's prebuilt effectors."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from motornet_fn.core.effector import INTEGRATORS, EffectorParams, EffectorSpec
from motornet_fn.core.geometry import (
    ConstantMomentArmGeometry, ConstantMomentArmParams, PathGeometry, PathParams, PolynomialGeometry, arm26_params,
)
from motornet_fn.core.muscles import MUSCLES, MuscleModel, get_muscle
from motornet_fn.core.skeletons import ARM26_SKELETON, PointMass, SkeletonModel, TwoDofArm
from motornet_fn.core.skeletons.base import as_scalar

ARM26_MUSCLE_NAMES = ("pectoralis", "deltoid", "brachioradialis", "tricepslat", "biceps", "tricepslong")
ARM26_MAX_FORCE = (838.0, 1207.0, 1422.0, 1549.0, 414.0, 603.0)
ARM26_OPTIMAL_LENGTH = (0.134, 0.140, 0.092, 0.093, 0.137, 0.127)
ARM26_TENDON_RIGID = (0.039, 0.066, 0.172, 0.187, 0.204, 0.217)
ARM26_TENDON_COMPLIANT = (0.070, 0.070, 0.172, 0.187, 0.204, 0.217)
#: joint position bounds of the Arm26 effectors and Reacher (shoulder, elbow), degrees
ARM26_BOUNDS_DEG = ((0.0, 0.0), (135.0, 155.0))
#: FreePointMass24's position bounds (m)
FREE_POINT_MASS_BOUNDS = (-0.6, 0.6)
#: corners of ReluPointMass24's muscle anchors (m) by muscle name; the other end is on the mass
RELU_POINT_MASS_CORNERS = {"UpperRight": (2, 2), "UpperLeft": (-2, 2), "LowerRight": (2, -2), "LowerLeft": (-2, -2)}
#: constant moment arms (dof, 4) and muscle names of Reacher and FreePointMass24
REACHER_ARMS = (("sf", "se", "ef", "ee"), ((-1.0, 1.0, 0.0, 0.0), (0.0, 0.0, -1.0, 1.0)))
FREE_POINT_MASS_ARMS = (("r", "u", "l", "d"), ((-1.0, 0.0, 1.0, 0.0), (0.0, -1.0, 0.0, 1.0)))
#: default max isometric force of the constant-moment-arm effectors (N)
CONSTANT_ARM_FORCE = 1000.0


def resolve_muscle(muscle: str | MuscleModel) -> MuscleModel:
    return get_muscle(muscle) if isinstance(muscle, str) else muscle


def resolve_integrator(name: str) -> str:
    """Map MotorNet's method names to ours: "rk4" and aliases mean MotorNet's chained variant."""
    key = str(name).casefold()
    if key in ("rk4", "rungekutta4", "runge-kutta4", "runge-kutta-4"):
        return "rk4_motornet"
    if key in ("rk4-classic", "rk4_classic", "classic-rk4"):
        return "rk4"
    if key not in INTEGRATORS:
        raise ValueError(f"unknown integration method {name!r}; valid names: "
                         f"{sorted(INTEGRATORS) + ['rk4-classic', 'runge-kutta-4']}")
    return key


def check_integrator(name: str) -> str:
    """Validate a core integrator name: "euler", "rk4" (textbook) or "rk4_motornet" (MotorNet's "rk4").
    MotorNet's method names are translated by :func:`resolve_integrator` (the class API does this)."""
    if name not in INTEGRATORS:
        raise ValueError(f"unknown integrator {name!r}; valid names: {sorted(INTEGRATORS)} "
                         f"(MotorNet's 'rk4' is 'rk4_motornet' here; see resolve_integrator)")
    return name


def stack_muscle_kwargs(model: MuscleModel, per_muscle: Sequence[dict], names: Sequence[str],
                        shared: dict | None = None) -> dict:
    """Gather per-muscle keyword dicts into {param: [value per muscle]}, applying model defaults.

    Raises:
        TypeError: a required parameter is missing for some muscle, or a keyword is unknown.
    """
    shared = dict(shared or {})
    known = set(model.Params._fields)
    unknown = sorted(set(shared) - known)
    if unknown:
        raise TypeError(f"unknown muscle parameter(s) {unknown} for {model.name} (shared by all muscles); expected "
                        f"some of {sorted(known)}")
    out: dict[str, list] = {}
    for name, kwargs in zip(names, per_muscle):
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"muscle {name!r}: unknown parameter(s) {unknown} for {model.name}; expected some of {sorted(known)}")
        for key in model.Params._fields:
            if key in kwargs:
                out.setdefault(key, []).append(kwargs[key])
            elif key in shared:
                out.setdefault(key, []).append(shared[key])
            elif key in model.defaults or key in model.activation_defaults:
                out.setdefault(key, []).append({**model.activation_defaults, **model.defaults}[key])
            else:
                raise TypeError(f"muscle {name!r}: missing keyword argument {key!r} required by {model.name}")
    return out


def max_body(skeleton: SkeletonModel) -> int:
    """The highest body index a fixation point can name on ``skeleton`` (0 is the world)."""
    return 1 if isinstance(skeleton, PointMass) else skeleton.dof


def check_path(where: str, path_fixation_body: Any, path_coordinates: Any, space_dim: int,
               highest_body: int | None) -> tuple[list[int], np.ndarray]:
    """One muscle path, validated: (body index per fixation point, (n_points, space_dim) coordinates).

    Args:
        where: what the messages name (e.g. ``"muscle 'biceps'"``).
        highest_body: the skeleton's :func:`max_body` (None: unknown, not checked).

    Raises:
        ValueError: inconsistent shapes, fewer than 2 points, a body index that is not an integer in
            0..highest_body, or non-finite coordinates.
    """
    body = np.asarray(path_fixation_body, dtype=np.float64).reshape(-1)
    xy = np.asarray(path_coordinates, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != space_dim:
        raise ValueError(f"{where}: path_coordinates must have shape (n_points, space_dim={space_dim}), got {xy.shape}")
    if xy.shape[0] != body.size:
        raise ValueError(f"{where}: path_coordinates has {xy.shape[0]} points but path_fixation_body has {body.size}")
    if body.size < 2:
        raise ValueError(f"{where}: a path needs at least 2 fixation points, got {body.size}")
    top = np.inf if highest_body is None else highest_body
    if (body < 0).any() or (body > top).any() or (body != np.round(body)).any():
        expected = "integers >= 0" if highest_body is None else f"integers in 0..{highest_body}"
        raise ValueError(f"{where}: path_fixation_body entries must be {expected}, got {body.tolist()}")
    if not np.isfinite(xy).all():
        raise ValueError(f"{where}: path_coordinates must be finite, got {xy.tolist()}")
    return body.astype(int).tolist(), xy


def path_effector(
    skeleton: SkeletonModel,
    muscle: str | MuscleModel,
    paths: Sequence[dict],
    skeleton_params: Any = None,
    dt: float = 0.01,
    n_ministeps: int = 1,
    integrator: str = "euler",
    damping: float = 0.0,
    muscle_defaults: dict | None = None,
    motornet_velocity: bool = True,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> tuple[EffectorSpec, EffectorParams]:
    """An effector whose muscles follow fixation-point paths (MotorNet's ``add_muscle``).

    Args:
        paths: one dict per muscle with ``path_fixation_body`` (n_points,), ``path_coordinates``
            (n_points, space_dim), optional ``name``, and the muscle's parameters
            (``max_isometric_force``, ``tendon_length``, ...).
        muscle_defaults: parameters shared by all muscles (e.g. ``min_activation``).
    """
    model = resolve_muscle(muscle)
    skeleton_params = skeleton.make_params(dtype=dtype, device=device) if skeleton_params is None else skeleton_params
    if len(paths) == 0:
        raise ValueError("paths must hold at least one muscle")
    bodies, coords, names, kwargs = [], [], [], []
    for i, path in enumerate(paths):
        path = dict(path)
        name = path.pop("name", None) or f"muscle_{i + 1}"
        missing = [k for k in ("path_fixation_body", "path_coordinates") if k not in path]
        if missing:
            raise TypeError(f"muscle {name!r}: missing keyword argument(s) {missing}; every path needs "
                            f"path_fixation_body (n_points,) and path_coordinates (n_points, space_dim)")
        body, xy = check_path(f"muscle {name!r}", path.pop("path_fixation_body"), path.pop("path_coordinates"),
                              skeleton.space_dim, max_body(skeleton))
        bodies.append(body)
        coords.append(xy)
        names.append(name)
        kwargs.append(path)
    muscle_kwargs = stack_muscle_kwargs(model, kwargs, names, muscle_defaults)
    spec = EffectorSpec(
        skeleton=skeleton, muscle=model,
        geometry=PathGeometry.from_paths(bodies, motornet_velocity=motornet_velocity),
        dt=float(dt), n_ministeps=n_ministeps, integrator=check_integrator(integrator), muscle_names=tuple(names),
    )
    coordinates = torch.tensor(np.concatenate(coords, axis=0).T, dtype=dtype, device=device)
    params = EffectorParams(
        skeleton=skeleton_params,
        muscle=model.make_params(len(paths), dtype=dtype, device=device, **muscle_kwargs),
        geometry=PathParams(coordinates),
        damping=as_scalar("damping", damping, dtype, device),
    )
    return spec, params


def relu_point_mass24(dt: float = 0.01, max_isometric_force: float = 500.0, mass: float = 1.0,
                      integrator: str = "euler", n_ministeps: int = 1, damping: float = 0.0,
                      dtype=torch.float32, device=None, **muscle_defaults):
    """MotorNet's ReluPointMass24: a 2D point mass pulled by 4 ReLU muscles in an X."""
    skeleton = PointMass(2)
    paths = [dict(name=n, path_fixation_body=[0, 1], path_coordinates=[c, (0, 0)], max_isometric_force=max_isometric_force)
             for n, c in RELU_POINT_MASS_CORNERS.items()]
    return path_effector(skeleton, "ReluMuscle", paths, skeleton.make_params(mass=mass, dtype=dtype, device=device),
                         dt, n_ministeps, integrator, damping, muscle_defaults, dtype=dtype, device=device)


def arm26_skeleton_params(dtype=torch.float32, device=None):
    """The Arm26 TwoDofArm (Nijhof & Kouwenhoven 2000) with its position bounds."""
    return TwoDofArm().make_params(dtype=dtype, device=device, pos_lower_bound=np.deg2rad(ARM26_BOUNDS_DEG[0]),
                                   pos_upper_bound=np.deg2rad(ARM26_BOUNDS_DEG[1]), **ARM26_SKELETON)


def _constant_arm_effector(skeleton, skeleton_params, muscle, names, moment_arm, muscle_kwargs, dt, n_ministeps,
                           integrator, damping, dtype, device):
    model = resolve_muscle(muscle)
    kwargs = {"max_isometric_force": [CONSTANT_ARM_FORCE] * 4, **(muscle_kwargs or {})}
    spec = EffectorSpec(skeleton, model, ConstantMomentArmGeometry(), float(dt), n_ministeps,
                        check_integrator(integrator), tuple(names), init_dt=float(dt))
    params = EffectorParams(
        skeleton_params, model.make_params(4, dtype=dtype, device=device, **kwargs),
        ConstantMomentArmParams(torch.tensor(moment_arm, dtype=dtype, device=device)),
        as_scalar("damping", damping, dtype, device),
    )
    return spec, params


def reacher(muscle: str | MuscleModel = "RigidTendonHillMuscle", dt: float = 0.01, muscle_kwargs: dict | None = None,
            integrator: str = "euler", n_ministeps: int = 1, damping: float = 0.0, skeleton_params=None,
            dtype=torch.float32, device=None):
    """MotorNet's Reacher: Arm26 skeleton with 4 constant-moment-arm muscles (sf, se, ef, ee)."""
    skeleton = TwoDofArm()
    if skeleton_params is None:
        skeleton_params = arm26_skeleton_params(dtype, device)
    names, arms = REACHER_ARMS
    return _constant_arm_effector(skeleton, skeleton_params, muscle, names, arms, muscle_kwargs,
                                  dt, n_ministeps, integrator, damping, dtype, device)


def free_point_mass24(muscle: str | MuscleModel = "RigidTendonHillMuscle", dt: float = 0.01,
                      muscle_kwargs: dict | None = None, integrator: str = "euler", n_ministeps: int = 1,
                      damping: float = 0.0, skeleton_params=None, dtype=torch.float32, device=None):
    """MotorNet's FreePointMass24: 2D point mass, 4 constant-moment-arm muscles (r, u, l, d)."""
    skeleton = PointMass(2)
    if skeleton_params is None:
        skeleton_params = skeleton.make_params(mass=1.0, pos_lower_bound=FREE_POINT_MASS_BOUNDS[0],
                                               pos_upper_bound=FREE_POINT_MASS_BOUNDS[1], dtype=dtype, device=device)
    names, arms = FREE_POINT_MASS_ARMS
    return _constant_arm_effector(skeleton, skeleton_params, muscle, names, arms, muscle_kwargs,
                                  dt, n_ministeps, integrator, damping, dtype, device)


def _arm26(muscle, compliant, dt, integrator, n_ministeps, damping, muscle_kwargs, skeleton_params, dtype, device):
    model = resolve_muscle(muscle)
    skeleton = TwoDofArm()
    if skeleton_params is None:
        skeleton_params = arm26_skeleton_params(dtype, device)
    fixed = {
        "max_isometric_force": ARM26_MAX_FORCE,
        "tendon_length": ARM26_TENDON_COMPLIANT if compliant else ARM26_TENDON_RIGID,
        "optimal_muscle_length": ARM26_OPTIMAL_LENGTH,
    }
    # like MotorNet, pass only the anatomical parameters the muscle model uses (ReluMuscle takes no lengths);
    # muscle_kwargs override them (and are validated by make_params)
    kwargs = {**{k: v for k, v in fixed.items() if k in model.Params._fields}, **(muscle_kwargs or {})}
    spec = EffectorSpec(skeleton, model, PolynomialGeometry(), float(dt), n_ministeps, check_integrator(integrator),
                        ARM26_MUSCLE_NAMES, init_dt=float(dt))
    params = EffectorParams(skeleton_params, model.make_params(6, dtype=dtype, device=device, **kwargs),
                            arm26_params(compliant, dtype, device), as_scalar("damping", damping, dtype, device))
    return spec, params


def rigid_tendon_arm26(muscle: str | MuscleModel = "RigidTendonHillMuscle", dt: float = 0.01, integrator: str = "euler",
                       n_ministeps: int = 1, damping: float = 0.0, muscle_kwargs: dict | None = None,
                       skeleton_params=None, dtype=torch.float32, device=None):
    """MotorNet's RigidTendonArm26: 6 lumped muscles on a 2-link arm with polynomial geometry
    (Nijhof & Kouwenhoven 2000). ``muscle_kwargs`` (scalars or 6 values per parameter) override the
    built-in ones, ``max_isometric_force``, ``tendon_length`` and ``optimal_muscle_length`` included."""
    return _arm26(muscle, False, dt, integrator, n_ministeps, damping, muscle_kwargs, skeleton_params, dtype, device)


def compliant_tendon_arm26(dt: float = 0.0002, integrator: str = "rk4_motornet", n_ministeps: int = 1,
                           damping: float = 0.0, muscle_kwargs: dict | None = None, skeleton_params=None,
                           dtype=torch.float32, device=None):
    """MotorNet's CompliantTendonArm26 (compliant-tendon Hill muscles, dt = 0.2 ms, MotorNet's rk4);
    ``muscle_kwargs`` as in :func:`rigid_tendon_arm26`."""
    return _arm26("CompliantTendonHillMuscle", True, dt, integrator, n_ministeps, damping, muscle_kwargs,
                  skeleton_params, dtype, device)


PREBUILT = {
    "ReluPointMass24": relu_point_mass24,
    "RigidTendonArm26": rigid_tendon_arm26,
    "CompliantTendonArm26": compliant_tendon_arm26,
    "Reacher": reacher,
    "FreePointMass24": free_point_mass24,
}


def prebuilt(name: str, **kwargs):
    """Build a MotorNet prebuilt effector by class name; returns (spec, params)."""
    if name not in PREBUILT:
        raise ValueError(f"unknown prebuilt effector {name!r}; valid names: {sorted(PREBUILT)}")
    return PREBUILT[name](**kwargs)


__all__ = ["path_effector", "prebuilt", "PREBUILT", "relu_point_mass24", "rigid_tendon_arm26",
           "compliant_tendon_arm26", "reacher", "free_point_mass24", "resolve_integrator", "MUSCLES"]
