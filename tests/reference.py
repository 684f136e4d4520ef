"""Loading the MotorNet 0.3.0 reference recordings in ``tests/data`` (see its README)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from motornet_fn.core import build
from motornet_fn.core.skeletons import get_skeleton
from motornet_fn.core.types import (
    EffectorState, JointState, Loads, geometry_from_tensor, geometry_to_tensor, joint_from_tensor, muscle_to_tensor,
)

DATA = Path(__file__).parent / "data"
EFFECTOR_CASES = sorted(p.stem for p in DATA.glob("*.npz") if not p.stem.startswith("env_"))
ENV_CASES = sorted(p.stem for p in DATA.glob("env_*.npz"))
#: cases whose float32 rollouts amplify round-off (reference README): checked one step at a time
FLOAT32_SENSITIVE = {"pointmass_x_mujoco", "compliant_arm26", "twodofarm_paths"}


def load_case(name: str) -> tuple[dict, dict]:
    """(config, arrays) of a reference case."""
    with np.load(DATA / f"{name}.npz") as f:
        arrays = {k: f[k] for k in f.files if k != "config"}
        config = json.loads(str(f["config"]))
    return config, arrays


def build_core(config: dict, dtype=torch.float32):
    """Rebuild a recorded effector case with the functional core: (spec, params)."""
    cls = config["effector_class"]
    kw = dict(config["effector_kwargs"])
    dt = kw.pop("timestep", 0.01)
    integrator = kw.pop("integration_method", config.get("integration_method", "euler"))
    n_ministeps = kw.pop("n_ministeps", 1)
    damping = kw.pop("damping", 0.0)
    muscle_kwargs = kw.pop("muscle_kwargs", None)
    assert not kw, kw
    common = dict(dt=dt, integrator=build.resolve_integrator(integrator), n_ministeps=n_ministeps, damping=damping, dtype=dtype)
    muscle = config.get("muscle_class")
    if cls == "Effector":
        skeleton = get_skeleton(config["skeleton_class"], **config["skeleton_kwargs"])
        skel_kwargs = {k: v for k, v in config["skeleton_kwargs"].items() if k != "space_dim"}
        sp = skeleton.make_params(dtype=dtype, **skel_kwargs)
        paths = [dict(m) for m in config["add_muscle"]]
        return build.path_effector(skeleton, muscle, paths, sp, **common)
    if cls == "ReluPointMass24":
        return build.relu_point_mass24(**common)
    if cls == "CompliantTendonArm26":
        return build.compliant_tendon_arm26(**common)
    return build.prebuilt(cls, muscle=muscle, muscle_kwargs=muscle_kwargs, **common)


def recorded_state(arrays: dict, t, muscle_model, dtype=torch.float32) -> EffectorState:
    """The recorded effector state at time index t (int or slice), as core pytrees."""
    as_t = lambda x: torch.as_tensor(x, dtype=dtype)  # noqa: E731
    muscle = arrays["muscle"][t]
    fields = [as_t(muscle[..., i, :]) for i in range(muscle.shape[-2])]
    return EffectorState(
        joint_from_tensor(as_t(arrays["joint"][t])),
        muscle_model.State(*fields),
        geometry_from_tensor(as_t(arrays["geometry"][t])),
    )


def recorded_loads(arrays: dict, dtype=torch.float32) -> Loads | None:
    if "endpoint_load" not in arrays:
        return None
    return Loads(torch.as_tensor(arrays["endpoint_load"], dtype=dtype), torch.as_tensor(arrays["joint_load"], dtype=dtype))


def state_arrays(spec, params, state: EffectorState) -> dict:
    """MotorNet-layout numpy arrays (joint, cartesian, muscle, geometry, fingertip) of a state."""
    cart = spec.skeleton.forward_kinematics(params.skeleton, state.joint)
    cartesian = torch.cat([cart.pos, cart.vel], dim=-1)
    return {
        "joint": torch.cat([state.joint.pos, state.joint.vel], -1).double().numpy(),
        "cartesian": cartesian.double().numpy(),
        "muscle": muscle_to_tensor(state.muscle).double().numpy(),
        "geometry": geometry_to_tensor(state.geometry).double().numpy(),
        "fingertip": cart.pos.double().numpy(),
    }


__all__ = ["load_case", "build_core", "recorded_state", "recorded_loads", "state_arrays", "EFFECTOR_CASES",
           "ENV_CASES", "FLOAT32_SENSITIVE", "JointState"]
