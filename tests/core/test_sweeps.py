"""Parameter sweeps: one vmapped call over stacked variants equals a Python loop over the same variants."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
import torch

from motornet_fn import core
from motornet_fn.core import analysis as an
from motornet_fn.core import sweeps
from motornet_fn.core.tree import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference import build_core, load_case  # noqa: E402

DT = torch.float64


def assert_trees_equal(actual, expected, index=(), rtol=1e-12, atol=1e-12):
    la, le = tree_leaves(actual), tree_leaves(expected)
    assert len(la) == len(le)
    for a, e in zip(la, le):
        torch.testing.assert_close(a[index], e, rtol=rtol, atol=atol)


def path_arm():
    """TwoDofArm with MotorNet's six add_muscle paths (rigid-tendon Hill muscles)."""
    return build_core(load_case("twodofarm_paths")[0], DT)


def scale(s):
    return lambda base: base * s


# a 4 x 4 x 4 x 4 grid: upper-arm length, forearm mass, optimal lengths (all muscles scaled) and the
# biceps' fixation points (scaled about the body origins)
L1 = [0.28, 0.30, 0.32, 0.34]
M2 = [1.2, 1.4, 1.6, 1.8]
L0_SCALE = [0.9, 1.0, 1.1, 1.2]
BICEPS_SCALE = [0.9, 1.0, 1.05, 1.1]


def biceps_scaled(spec, s):
    cols = list(sweeps.muscle_points(spec, "biceps"))

    def apply(coords):
        out = coords.clone()
        out[:, cols] = coords[:, cols] * s
        return out

    return apply


def test_256_geometry_sweep_equals_python_loop():
    spec, params = path_arm()
    axes = {
        "skeleton.l1": L1,
        "skeleton.m2": M2,
        "muscle.optimal_muscle_length": [scale(s) for s in L0_SCALE],
        "geometry.coordinates": [biceps_scaled(spec, s) for s in BICEPS_SCALE],
    }
    grid = sweeps.grid(params, axes)
    assert grid.shape == (4, 4, 4, 4) and sweeps.n_variants(grid.params) == 256
    joint = core.JointState(torch.tensor([[0.7, 1.2], [1.0, 1.5]], dtype=DT),
                            torch.tensor([[0.0, 0.0], [0.2, -0.3]], dtype=DT))
    actions = torch.rand(3, 2, 6, dtype=DT, generator=torch.Generator().manual_seed(0))

    states0 = sweeps.sweep_initial_state(spec, grid.params, joint)
    traj = sweeps.sweep_rollout(spec, grid.params, states0, actions)
    assert traj.joint.pos.shape == (256, 4, 2, 2)

    # the loop builds each variant on its own, in itertools.product order (last axis fastest)
    for i, (l1, m2, s0, sb) in enumerate(itertools.product(L1, M2, L0_SCALE, BICEPS_SCALE)):
        p = sweeps.vary(params, {"skeleton.l1": l1, "skeleton.m2": m2,
                                 "muscle.optimal_muscle_length": params.muscle.optimal_muscle_length * s0,
                                 "geometry.coordinates": biceps_scaled(spec, sb)(params.geometry.coordinates)})
        assert float(grid.params.skeleton.l1[i]) == l1 and float(grid.values["skeleton.m2"][i]) == m2
        s = core.initial_state(spec, p, joint)
        expected = core.rollout(spec, p, s, actions)
        assert_trees_equal(traj, expected, index=i)
    # the sweep is not trivially constant across variants
    assert traj.joint.pos[:, -1].std(dim=0).min() > 1e-6
    assert traj.geometry.length[:, 0, :, 5].std() > 1e-4  # biceps length varies with its fixation points


def test_variant_list_on_arm26_with_inertias_and_tendons_equals_loop():
    spec, params = core.rigid_tendon_arm26("MujocoHillMuscle", dtype=DT)
    overrides = [
        {},
        {"skeleton.i1": 0.04, "skeleton.i2": 0.07, "skeleton.l2g": 0.15},
        {"muscle.tendon_length": scale(1.05), "skeleton.m1": 2.1},
        {"muscle.max_isometric_force": [900.0, 1100.0, 1300.0, 1500.0, 500.0, 700.0], "damping": 0.3},
    ]
    v = sweeps.variants(params, overrides)
    assert v.shape == (4,)
    torch.testing.assert_close(v.values["skeleton.i1"], torch.tensor([0.051, 0.04, 0.051, 0.051], dtype=DT))
    torch.testing.assert_close(v.values["muscle.tendon_length"][2], params.muscle.tendon_length * 1.05)
    joint = core.JointState(torch.tensor([0.8, 1.2], dtype=DT), torch.tensor([0.1, -0.2], dtype=DT))
    states = sweeps.sweep_initial_state(spec, v.params, joint)
    actions = torch.rand(4, 3, 6, dtype=DT, generator=torch.Generator().manual_seed(1))  # per-variant actions
    loads = core.Loads(torch.tensor([2.0, -1.0], dtype=DT), torch.tensor([0.1, 0.0], dtype=DT))
    stepped = sweeps.sweep_step(spec, v.params, states, actions[:, 0], inputs_per_variant=True)
    shared_loaded = sweeps.sweep_step(spec, v.params, states, actions[0, 0], loads)
    for i, o in enumerate(overrides):
        p = sweeps.vary(params, o)
        s = core.initial_state(spec, p, joint)
        assert_trees_equal(states, s, index=i)
        assert_trees_equal(stepped, core.step(spec, p, s, actions[i, 0]), index=i)
        assert_trees_equal(shared_loaded, core.step(spec, p, s, actions[0, 0], loads), index=i)
        assert_trees_equal(sweeps.select_variant(v.params, i), p, rtol=0, atol=0)


def test_sweeping_a_linearisation_over_variants_equals_loop():
    """analysis and sweeps compose: A and B matrices for every arm geometry in one call."""
    spec, params = core.rigid_tendon_arm26(dtype=DT)
    v = sweeps.grid(params, {"skeleton.l2": [0.3, 0.33, 0.36], "skeleton.m2": [1.3, 1.6]})
    x0 = torch.tensor([0.8, 1.2, 0.6, 0.4, 0.2, 0.45, 0.6, 0.35, 0.5, 0.25], dtype=DT)
    u0 = torch.tensor([0.5, 0.2, 0.8, 0.6, 0.25, 0.55], dtype=DT)
    lin = sweeps.sweep(lambda p: an.linearise(spec, p, x0, u0), v.params)
    assert lin.A.shape == (6, 10, 10)
    for i in range(6):
        one = an.linearise(spec, sweeps.select_variant(v.params, i), x0, u0)
        assert_trees_equal(lin, one, index=i)
    assert (lin.A[:, 2:4, 4:] - lin.A[0, 2:4, 4:]).abs().amax() > 1e-6  # the geometry matters


def test_sweep_with_per_variant_joint_states():
    spec, params = core.relu_point_mass24(dtype=DT)
    v = sweeps.grid(params, {"skeleton.mass": [0.5, 1.0, 2.0]})
    joints = core.JointState(torch.tensor([[0.1, 0.2], [0.0, -0.3], [0.4, 0.1]], dtype=DT), torch.zeros(3, 2, dtype=DT))
    states = sweeps.sweep_initial_state(spec, v.params, joints, joint_per_variant=True)
    actions = torch.full((5, 4), 0.3, dtype=DT)
    traj = sweeps.sweep_rollout(spec, v.params, states, actions)
    for i in range(3):
        p = sweeps.select_variant(v.params, i)
        j = core.JointState(joints.pos[i], joints.vel[i])
        assert_trees_equal(traj, core.rollout(spec, p, core.initial_state(spec, p, j), actions), index=i)


def test_float32_sweep_matches_loop_within_round_off():
    spec, params = core.rigid_tendon_arm26()
    v = sweeps.grid(params, {"skeleton.l1": [0.29, 0.31], "muscle.optimal_muscle_length": [scale(0.95), scale(1.05)]})
    joint = core.JointState(torch.tensor([0.8, 1.2]), torch.tensor([0.0, 0.0]))
    actions = torch.full((4, 6), 0.2)
    traj = sweeps.sweep_rollout(spec, v.params, sweeps.sweep_initial_state(spec, v.params, joint), actions)
    for i in range(4):
        p = sweeps.select_variant(v.params, i)
        expected = core.rollout(spec, p, core.initial_state(spec, p, joint), actions)
        assert_trees_equal(traj, expected, index=i, rtol=1e-5, atol=1e-6)


def test_param_paths_and_errors():
    spec, params = path_arm()
    paths = sweeps.param_paths(params)
    assert {"skeleton.l1", "skeleton.i2", "muscle.tendon_length", "geometry.coordinates", "damping"} <= set(paths)
    with pytest.raises(KeyError, match="unknown parameter path 'skeleton.length'.*skeleton.l1"):
        sweeps.vary(params, {"skeleton.length": 0.3})
    with pytest.raises(KeyError, match="names a group"):
        sweeps.get_param(params, "skeleton")
    with pytest.raises(ValueError, match=r"'muscle.tendon_length' must broadcast to shape \(6,\), got shape \(3,\)"):
        sweeps.vary(params, {"muscle.tendon_length": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match="'skeleton.m2' must be > 0"):
        sweeps.grid(params, {"skeleton.m2": [1.0, -1.0]})
    with pytest.raises(ValueError, match="must be finite"):
        sweeps.vary(params, {"skeleton.l2": float("nan")})
    with pytest.raises(ValueError, match="non-empty value list"):
        sweeps.grid(params, {"skeleton.l1": []})
    with pytest.raises(ValueError, match="at least one variant"):
        sweeps.variants(params, [])
    with pytest.raises(ValueError, match="one flag per argument"):
        sweeps.sweep(lambda p, a: a, sweeps.variants(params, [{}]).params, torch.ones(2), per_variant=(True, True))
    with pytest.raises(ValueError, match="unknown muscle 'bicep'"):
        sweeps.muscle_points(spec, "bicep")
    arm_spec, _ = core.rigid_tendon_arm26()
    with pytest.raises(ValueError, match="path geometry only"):
        sweeps.muscle_points(arm_spec, "biceps")
    assert sweeps.muscle_points(spec, "pectoralis") == (0, 1)
    # the base is never modified
    assert float(params.skeleton.l1) == pytest.approx(0.309)
