"""Helpers shared by the core tests: tolerances, comparisons, random muscle layouts, prebuilt effectors."""
from __future__ import annotations

import numpy as np
import torch

from motornet_fn import core

#: the parity tolerance of issue 2 (float32): |got - ref| <= ATOL + RTOL * |ref|
RTOL, ATOL = 1e-4, 1e-5
STATE_KEYS = ("joint", "cartesian", "muscle", "geometry", "fingertip")

MUSCLE_NAMES = ("ReluMuscle", "MujocoHillMuscle", "RigidTendonHillMuscle", "RigidTendonHillMuscleThelen",
                "CompliantTendonHillMuscle")
SKELETON_NAMES = ("PointMass", "TwoDofArm")

#: Hill parameters for the constant-moment-arm effectors (Reacher, FreePointMass24), as in the reference data
HILL4 = dict(max_isometric_force=[1000.0] * 4, optimal_muscle_length=[0.1] * 4, tendon_length=[0.0] * 4)

#: every prebuilt effector (and every muscle class on the Arm26 skeleton): id -> (builder name, kwargs)
PREBUILT_CASES = {
    "ReluPointMass24": ("ReluPointMass24", {}),
    "RigidTendonArm26-Kistemaker": ("RigidTendonArm26", {"muscle": "RigidTendonHillMuscle"}),
    "RigidTendonArm26-Thelen": ("RigidTendonArm26", {"muscle": "RigidTendonHillMuscleThelen"}),
    "RigidTendonArm26-Mujoco": ("RigidTendonArm26", {"muscle": "MujocoHillMuscle"}),
    "RigidTendonArm26-Relu": ("RigidTendonArm26", {"muscle": "ReluMuscle"}),
    "CompliantTendonArm26": ("CompliantTendonArm26", {}),
    "Reacher": ("Reacher", {"muscle_kwargs": HILL4}),
    "FreePointMass24": ("FreePointMass24", {"muscle_kwargs": HILL4}),
}




def build_prebuilt(case: str, dtype=torch.float32, integrator: str | None = None, **kwargs):
    """(spec, params) of a :data:`PREBUILT_CASES` entry; ``integrator`` is a core name (``euler``,
    ``rk4_motornet``, ``rk4``)."""
    name, base = PREBUILT_CASES[case]
    if integrator is not None:
        kwargs["integrator"] = integrator
    spec, params = core.prebuilt(name, dtype=dtype, **{**base, **kwargs})
    assert integrator is None or spec.integrator == integrator
    return spec, params


def tol_units(got, ref, rtol: float = RTOL, atol: float = ATOL) -> float:
    """Largest error in units of the tolerance: max |got - ref| / (atol + rtol |ref|); <= 1 passes."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(got - ref) / (atol + rtol * np.abs(ref)), initial=0.0))


def assert_state_arrays_close(got: dict, ref: dict, where: str = "", keys=STATE_KEYS) -> float:
    """Assert that MotorNet-layout state arrays agree to (RTOL, ATOL); returns the error in tolerance units."""
    worst = 0.0
    for key in keys:
        g, r = np.asarray(got[key], dtype=np.float64), np.asarray(ref[key], dtype=np.float64)
        assert g.shape == r.shape, f"{where}: {key} has shape {g.shape}, reference {r.shape}"
        assert np.isfinite(r).all(), f"{where}: reference {key} is not finite (bad test case)"
        units = tol_units(g, r)
        if not units <= 1.0:
            err = np.abs(g - r) / (ATOL + RTOL * np.abs(r))
            idx = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape)
            raise AssertionError(
                f"{where}: {key} off by {units:.3g} tolerance units (rtol={RTOL}, atol={ATOL}) at index {idx}: "
                f"got {g[idx]!r}, expected {r[idx]!r}"
            )
        worst = max(worst, units)
    return worst


def state_from_arrays(arrays: dict, muscle_model, dtype=torch.float32) -> core.EffectorState:
    """Core state from MotorNet-layout arrays: joint (..., 2 dof), muscle (..., n_states, M),
    geometry (..., 2 + dof, M)."""
    as_t = lambda x: torch.as_tensor(np.asarray(x), dtype=dtype)  # noqa: E731
    muscle = as_t(arrays["muscle"])
    return core.EffectorState(
        core.joint_from_tensor(as_t(arrays["joint"])),
        muscle_model.State(*muscle.unbind(-2)),
        core.geometry_from_tensor(as_t(arrays["geometry"])),
    )


def rest_joint(params, fractions=(0.35, 0.6), batch: int | None = None) -> core.JointState:
    """Joint states at rest, at given fractions of the position range (one per batch element)."""
    lo, hi = params.skeleton.pos_lower_bound, params.skeleton.pos_upper_bound
    pos = torch.stack([lo + f * (hi - lo) for f in fractions])
    if batch is not None:
        pos = pos[:batch]
    return core.JointState(pos, torch.zeros_like(pos))


# ----------------------------------------------------------------------------- random muscle layouts
ARM_LENGTHS = (0.309, 0.26)  # TwoDofArm defaults (l1, l2)


def random_joint(rng: np.random.Generator, skeleton: str, batch: int, vel_scale: float = 1.0) -> np.ndarray:
    """(batch, 2 dof) joint states uniformly inside the default position bounds of ``skeleton``, with
    moderate velocities (well inside the velocity bounds)."""
    if skeleton == "PointMass":
        lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    else:
        lo, hi = np.deg2rad([0.0, 0.0]), np.deg2rad([140.0, 160.0])
    pos = lo + (hi - lo) * rng.uniform(0.02, 0.98, size=(batch, 2))
    vel = vel_scale * rng.uniform(-1.0, 1.0, size=(batch, 2))
    return np.concatenate([pos, vel], axis=-1)


def _random_point(rng, skeleton: str, body: int) -> list:
    if skeleton == "PointMass":
        if body == 0:  # outside the +-1 workspace, so a world point never meets the mass
            return list(rng.choice([-1.0, 1.0], size=2) * rng.uniform(1.3, 2.5, size=2))
        return list(rng.uniform(-0.1, 0.1, size=2))
    if body == 0:
        return list(rng.uniform(-0.15, 0.15, size=2))
    return [rng.uniform(0.02, 0.95) * ARM_LENGTHS[body - 1], rng.uniform(-0.04, 0.04)]


def _path_lengths(skeleton: str, bodies, coords, joints: np.ndarray) -> np.ndarray:
    """Segment lengths (n_joints, n_segments) of one path at many joint states (float64, exact kinematics)."""
    sk = core.get_skeleton(skeleton)
    sp = sk.make_params(dtype=torch.float64)
    j = torch.as_tensor(joints, dtype=torch.float64)
    pts = sk.fixation_points(sp, core.joint_from_tensor(j), torch.tensor(np.asarray(coords).T, dtype=torch.float64),
                             tuple(bodies))
    return torch.linalg.vector_norm(pts.pos[..., 1:] - pts.pos[..., :-1], dim=-2).numpy()


def random_layout(rng: np.random.Generator, skeleton: str, muscle: str, max_muscles: int = 5) -> dict:
    """A random muscle layout, as MotorNet ``add_muscle`` keyword dicts.

    Random number of muscles (1..max_muscles), random number of fixation points (2..4), random fixation
    bodies and coordinates, and muscle parameters scaled to each path's length range so that every model
    works in a physiological regime. Paths whose consecutive points come close (< 1 cm on the arm) at any
    sampled joint state are redrawn: MotorNet divides by segment length.

    Returns:
        dict(paths=[add_muscle kwargs...], activation=muscle constructor kwargs shared by MotorNet and core).
    """
    n_bodies = 2 if skeleton == "PointMass" else 3
    probe = random_joint(rng, skeleton, 64)
    min_seg = 0.05 if skeleton == "PointMass" else 0.01
    paths = []
    for i in range(int(rng.integers(1, max_muscles + 1))):
        while True:
            n_points = int(rng.integers(2, 5))
            bodies = [int(b) for b in rng.integers(0, n_bodies, size=n_points)]
            if all(b == 0 for b in bodies):
                continue  # a path fixed to the world only has no moment arm; keep layouts informative
            coords = [_random_point(rng, skeleton, b) for b in bodies]
            seg = _path_lengths(skeleton, bodies, coords, probe)
            if seg.min() > min_seg:
                break
        total = seg.sum(-1)
        lmin, lmean = float(total.min()), float(total.mean())
        path = dict(name=f"m{i}", path_fixation_body=bodies, path_coordinates=coords,
                    max_isometric_force=float(rng.uniform(50.0, 500.0)))
        if muscle != "ReluMuscle":
            tendon = float(rng.uniform(0.2, 0.45)) * lmin
            path.update(tendon_length=tendon, optimal_muscle_length=(lmean - tendon) / float(rng.uniform(0.9, 1.2)))
            if muscle == "MujocoHillMuscle":
                path.update(normalized_slack_muscle_length=float(rng.uniform(1.1, 1.5)),
                            lmin=float(rng.uniform(0.4, 0.6)), lmax=float(rng.uniform(1.4, 1.8)),
                            vmax=float(rng.uniform(1.0, 2.0)), fvmax=float(rng.uniform(1.1, 1.5)))
            elif muscle == "RigidTendonHillMuscleThelen":
                path.update(normalized_slack_muscle_length=float(rng.uniform(0.9, 1.3)))
            else:
                path.update(normalized_slack_muscle_length=float(rng.uniform(1.1, 1.5)))
        paths.append(path)
    activation = dict(min_activation=float(rng.uniform(0.0, 0.05)), tau_activation=float(rng.uniform(0.01, 0.03)),
                      tau_deactivation=float(rng.uniform(0.03, 0.08)))
    if muscle == "MujocoHillMuscle":
        activation["passive_forces"] = float(rng.uniform(0.5, 1.5))
    return dict(paths=paths, activation=activation)
