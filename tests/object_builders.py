"""Build the recorded reference cases (tests/data) through a MotorNet-style class API.

The same builders run on ``motornet_fn`` and, in the live-parity tests, on ``motornet`` itself, so the
recipes exercise exactly the calls a MotorNet user writes.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np
import torch

RTOL, ATOL = 1e-4, 1e-5


def build_effector(mn: ModuleType, config: dict):
    """An effector object built from a reference case's recipe with package ``mn``."""
    cls = config["effector_class"]
    kwargs = dict(config["effector_kwargs"])
    muscle = None
    if config.get("muscle_class"):
        muscle = getattr(mn.muscle, config["muscle_class"])(**config.get("muscle_kwargs", {}))
    if cls == "Effector":
        skeleton = getattr(mn.skeleton, config["skeleton_class"])(**config["skeleton_kwargs"])
        effector = mn.effector.Effector(skeleton=skeleton, muscle=muscle, **kwargs)
        for call in config["add_muscle"]:
            effector.add_muscle(**call)
        return effector
    if cls in ("ReluPointMass24", "CompliantTendonArm26"):
        return getattr(mn.effector, cls)(**kwargs)
    return getattr(mn.effector, cls)(muscle=muscle, **kwargs)


def build_env(mn: ModuleType, config: dict):
    """A RandomTargetReach environment of a reference ``env_*`` case."""
    effector = build_effector(mn, config["effector"])
    return getattr(mn.environment, config["env_class"])(effector, **config["env_kwargs"])


def tolerance_units(actual, expected) -> float:
    """max |actual - expected| / (atol + rtol |expected|): <= 1 means within tolerance."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected) / (ATOL + RTOL * np.abs(expected)), initial=0.0))


def states_numpy(states: dict) -> dict:
    """The effector's ``states`` dict as float64 numpy arrays."""
    return {k: v.detach().cpu().double().numpy() for k, v in states.items()}


def set_recorded_state(effector, arrays: dict, t: int, prefix: str = "") -> None:
    """Put the recorded state at time index t into ``effector.states`` (teacher forcing)."""
    as_t = lambda key: torch.as_tensor(arrays[prefix + key][t], dtype=torch.float32)  # noqa: E731
    effector._set_state({"joint": as_t("joint"), "muscle": as_t("muscle"), "geometry": as_t("geometry")})
