"""Randomized live parity with MotorNet 0.3.0 (skipped where ``motornet`` is not importable).

Random muscle path layouts (random number of muscles and fixation points, random fixation bodies and
coordinates) on PointMass and TwoDofArm, for every muscle class, MotorNet's euler and rk4, with and without
ministeps; random joint states inside the bounds and random actions. Every state entry (joint, cartesian,
muscle, geometry, fingertip) is compared after ``reset`` and after every step. Each step is checked from
MotorNet's own previous state (teacher forcing), so float32 round-off cannot compound over the rollout.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from motornet_fn import core

from .helpers import HILL4, MUSCLE_NAMES, SKELETON_NAMES, assert_state_arrays_close, random_joint, random_layout
from .helpers import state_from_arrays

mn = pytest.importorskip("motornet")

N_STEPS = 4
BATCH = 6


def mn_states(effector) -> dict:
    return {k: effector.states[k].detach().double().numpy().copy() for k in ("joint", "cartesian", "muscle",
                                                                             "geometry", "fingertip")}


def core_arrays(spec, params, state) -> dict:
    cart = core.cartesian(spec, params, state.joint)
    return {
        "joint": core.joint_to_tensor(state.joint).double().numpy(),
        "cartesian": torch.cat([cart.pos, cart.vel], -1).double().numpy(),
        "muscle": core.muscle_to_tensor(state.muscle).double().numpy(),
        "geometry": core.geometry_to_tensor(state.geometry).double().numpy(),
        "fingertip": cart.pos.double().numpy(),
    }


def compare_run(mn_effector, spec, params, joint0: np.ndarray, actions: np.ndarray, loads=None, where=""):
    """Reset both from ``joint0``, then step MotorNet through ``actions`` and check every core step
    taken from MotorNet's previous state. Returns the worst error in tolerance units."""
    kwargs = {}
    core_loads = None
    if loads is not None:
        kwargs = dict(endpoint_load=torch.tensor(loads[0], dtype=torch.float32),
                      joint_load=torch.tensor(loads[1], dtype=torch.float32))
        core_loads = core.Loads(kwargs["endpoint_load"], kwargs["joint_load"])
    mn_effector.reset(options={"joint_state": torch.tensor(joint0, dtype=torch.float32)})
    ref = mn_states(mn_effector)
    state = core.initial_state(spec, params, core.joint_from_tensor(torch.tensor(joint0, dtype=torch.float32)))
    worst = assert_state_arrays_close(core_arrays(spec, params, state), ref, f"{where} reset")
    for t, action in enumerate(actions):
        a = torch.tensor(action, dtype=torch.float32)
        mn_effector.step(a, **kwargs)
        nxt = mn_states(mn_effector)
        state = core.step(spec, params, state_from_arrays(ref, spec.muscle), a, core_loads)
        worst = max(worst, assert_state_arrays_close(core_arrays(spec, params, state), nxt, f"{where} step {t}"))
        ref = nxt
    return worst


def build_path_pair(skeleton: str, muscle: str, layout: dict, dt: float, integrator: str, n_ministeps: int,
                    mass: float, damping: float):
    """The same random layout as a MotorNet ``Effector`` and as core (spec, params)."""
    activation = layout["activation"]
    mn_skeleton = mn.skeleton.PointMass(space_dim=2, mass=mass) if skeleton == "PointMass" else mn.skeleton.TwoDofArm()
    mn_muscle = getattr(mn.muscle, muscle)(**activation)
    effector = mn.effector.Effector(skeleton=mn_skeleton, muscle=mn_muscle, timestep=dt, integration_method=integrator,
                                    n_ministeps=n_ministeps, damping=damping)
    for path in layout["paths"]:
        effector.add_muscle(**path)

    sk = core.get_skeleton(skeleton)
    sp = sk.make_params(mass=mass) if skeleton == "PointMass" else sk.make_params()
    spec, params = core.path_effector(sk, muscle, layout["paths"], sp, dt=dt, n_ministeps=n_ministeps,
                                      integrator=core.resolve_integrator(integrator), damping=damping, muscle_defaults=activation)
    return effector, spec, params


COMBOS = [(s, m, i, k) for s in SKELETON_NAMES for m in MUSCLE_NAMES for i in ("euler", "rk4") for k in (1, 3)]


@pytest.mark.parametrize("layout_seed", [0, 1])
@pytest.mark.parametrize("skeleton,muscle,integrator,n_ministeps", COMBOS,
                         ids=[f"{s}-{m}-{i}-x{k}" for s, m, i, k in COMBOS])
def test_random_path_layouts_match_motornet(skeleton, muscle, integrator, n_ministeps, layout_seed):
    """``integrator`` is MotorNet's name: its "rk4" is our ``rk4_motornet``."""
    rng = np.random.default_rng(zlib.crc32(f"{skeleton}{muscle}{integrator}{n_ministeps}{layout_seed}".encode()))
    # the compliant tendon is stiff: MotorNet uses it at dt = 0.2 ms (CompliantTendonArm26)
    dt = float(rng.choice([0.0005, 0.001])) if muscle == "CompliantTendonHillMuscle" else float(rng.choice([0.005, 0.01]))
    layout = random_layout(rng, skeleton, muscle)
    effector, spec, params = build_path_pair(skeleton, muscle, layout, dt, integrator, n_ministeps,
                                             mass=float(rng.uniform(0.5, 2.0)), damping=float(rng.uniform(0.0, 0.5)))
    assert spec.n_muscles == effector.n_muscles == len(layout["paths"])
    assert spec.integrator == {"euler": "euler", "rk4": "rk4_motornet"}[integrator]
    joint0 = random_joint(rng, skeleton, BATCH)
    actions = rng.uniform(0.0, 1.0, size=(N_STEPS, BATCH, spec.n_muscles))
    compare_run(effector, spec, params, joint0, actions, where=f"{skeleton}/{muscle}/{integrator}x{n_ministeps}")


PREBUILT_LIVE = [
    ("RigidTendonArm26", m) for m in MUSCLE_NAMES if m != "CompliantTendonHillMuscle"
] + [("CompliantTendonArm26", None), ("ReluPointMass24", None), ("Reacher", "RigidTendonHillMuscle"),
     ("Reacher", "MujocoHillMuscle"), ("FreePointMass24", "RigidTendonHillMuscleThelen"), ("FreePointMass24", "ReluMuscle")]


@pytest.mark.parametrize("integrator", ["euler", "rk4"])
@pytest.mark.parametrize("name,muscle", PREBUILT_LIVE, ids=[f"{n}-{m}" for n, m in PREBUILT_LIVE])
def test_prebuilt_effectors_match_motornet_with_loads(name, muscle, integrator):
    """Prebuilt effectors from random joint states, with random endpoint and joint loads and damping."""
    rng = np.random.default_rng(zlib.crc32(f"{name}{muscle}{integrator}".encode()))
    damping = float(rng.uniform(0.0, 0.5))
    kwargs = dict(integration_method=integrator, damping=damping)
    core_kwargs = dict(integrator=core.resolve_integrator(integrator), damping=damping)
    muscle_kwargs = {}
    if name in ("Reacher", "FreePointMass24") and muscle != "ReluMuscle":
        muscle_kwargs = {k: list(v) for k, v in HILL4.items()}
        muscle_kwargs["tendon_length"] = [0.0] * 4
    if name == "CompliantTendonArm26":
        effector = mn.effector.CompliantTendonArm26(**kwargs)
        spec, params = core.compliant_tendon_arm26(**core_kwargs)
    elif name == "ReluPointMass24":
        effector = mn.effector.ReluPointMass24(**kwargs)
        spec, params = core.relu_point_mass24(**core_kwargs)
    elif name == "RigidTendonArm26":
        effector = mn.effector.RigidTendonArm26(muscle=getattr(mn.muscle, muscle)(), **kwargs)
        spec, params = core.rigid_tendon_arm26(muscle=muscle, **core_kwargs)
    else:
        effector = getattr(mn.effector, name)(muscle=getattr(mn.muscle, muscle)(), muscle_kwargs=muscle_kwargs, **kwargs)
        spec, params = core.prebuilt(name, muscle=muscle, muscle_kwargs=muscle_kwargs or None, **core_kwargs)
    lo = effector.pos_lower_bound.double().numpy()
    hi = effector.pos_upper_bound.double().numpy()
    pos = lo + (hi - lo) * rng.uniform(0.05, 0.95, size=(BATCH, 2))
    joint0 = np.concatenate([pos, rng.uniform(-0.5, 0.5, size=(BATCH, 2))], -1)
    actions = rng.uniform(0.0, 1.0, size=(N_STEPS, BATCH, spec.n_muscles))
    loads = (rng.uniform(-3.0, 3.0, size=(BATCH, 2)), rng.uniform(-0.5, 0.5, size=(BATCH, 2)))
    compare_run(effector, spec, params, joint0, actions, loads, where=f"{name}/{muscle}/{integrator}")
