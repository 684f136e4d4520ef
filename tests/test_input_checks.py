"""Bad input to the object layer fails at once with a message naming the argument, and leaves the object
usable: a failed ``add_muscle`` changes nothing, malformed paths and options are rejected, constructor
arguments that would be ignored or would fail later are refused."""
import math
import re
import warnings

import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn.core import checks


def _point_mass():
    effector = mn.effector.Effector(mn.skeleton.PointMass(space_dim=2), mn.muscle.ReluMuscle())
    effector.add_muscle(path_fixation_body=[0, 1], path_coordinates=[[-2, 0], [0, 0]], name="m0",
                        max_isometric_force=500)
    return effector


def _snapshot(effector) -> dict:
    """Everything add_muscle may change, as plain values."""
    buffers = {k: v.clone() for k, v in effector.named_buffers()}
    return {"n_muscles": effector.n_muscles, "input_dim": effector.input_dim, "names": list(effector.muscle_name),
            "to_build": {k: list(v) for k, v in effector.tobuild__muscle.items()},
            "muscle_n": effector.muscle.n_muscles, "paths": effector.get_muscle_cfg(), "buffers": buffers,
            "calls": list(effector._add_muscle_calls)}


def _assert_same(a: dict, b: dict) -> None:
    assert {k: v for k, v in a.items() if k != "buffers"} == {k: v for k, v in b.items() if k != "buffers"}
    assert a["buffers"].keys() == b["buffers"].keys()
    for key in a["buffers"]:
        torch.testing.assert_close(a["buffers"][key], b["buffers"][key], rtol=0, atol=0)


# ------------------------------------------------------------------------------------ add_muscle
BAD_MUSCLES = {
    "negative force": (dict(max_isometric_force=-500), ValueError,
                       "add_muscle('m1'): max_isometric_force must be > 0, got [500.0, -500.0]"),
    "NaN coordinate": (dict(path_coordinates=[[float("nan"), 0], [0, 0]]), ValueError,
                       "add_muscle('m1'): path_coordinates must be finite, got [[nan, 0.0], [0.0, 0.0]]"),
    "no such body": (dict(path_fixation_body=[0, 5]), ValueError,
                     "add_muscle('m1'): path_fixation_body entries must be integers in 0..1, got [0.0, 5.0]"),
}


@pytest.mark.parametrize("case", list(BAD_MUSCLES))
def test_a_failed_add_muscle_changes_nothing(case):
    kwargs, error, message = BAD_MUSCLES[case]
    effector = _point_mass()
    before = _snapshot(effector)
    call = {"path_fixation_body": [0, 1], "path_coordinates": [[2, 0], [0, 0]], "name": "m1",
            "max_isometric_force": 500, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        effector.add_muscle(**call)
    _assert_same(_snapshot(effector), before)
    # still usable: a valid muscle is added, and the effector resets and steps
    effector.add_muscle(path_fixation_body=[0, 1], path_coordinates=[[2, 0], [0, 0]], name="m1",
                        max_isometric_force=500)
    assert effector.n_muscles == 2 and effector.muscle.max_iso_force.reshape(-1).tolist() == [500.0, 500.0]
    effector.reset(options={"batch_size": 3})
    effector.step(torch.full((3, 2), 0.5))
    assert effector.states["muscle"].shape == (3, 4, 2) and torch.isfinite(effector.states["joint"]).all()


def test_a_body_the_two_dof_arm_does_not_have_is_rejected():
    effector = mn.effector.Effector(mn.skeleton.TwoDofArm(), mn.muscle.ReluMuscle())
    with pytest.raises(ValueError, match=re.escape("add_muscle('biceps'): path_fixation_body entries must be integers "
                                                   "in 0..2, got [0.0, 3.0]")):
        effector.add_muscle([0, 3], [[0, 0], [0.1, 0]], name="biceps", max_isometric_force=100)
    assert effector.n_muscles == 0
    effector.add_muscle([0, 2], [[0, 0], [0.1, 0]], name="biceps", max_isometric_force=100)
    assert effector.n_muscles == 1


# ------------------------------------------------------------------------------------ step and reset
def _arm26_pair(lib):
    effector = lib.effector.RigidTendonArm26(lib.muscle.RigidTendonHillMuscle())
    return effector, lib.environment.RandomTargetReach(effector=effector, max_ep_duration=1.0)


def _row_per_trial_action():
    action = torch.full((2, 1, 6), 0.3)
    action[1] = 0.6
    return action


def test_a_batch_by_1_by_n_muscles_action_steps_like_motornet():
    """MotorNet reads an excitation as rows of n_muscles: (batch, 1, n_muscles) is (batch, n_muscles)."""
    mn0 = pytest.importorskip("motornet")
    results = []
    for lib in (mn0, mn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            effector, env = _arm26_pair(lib)
            effector.reset(seed=1, options={"batch_size": 2})
            effector.step(_row_per_trial_action())
            env.reset(seed=1, options={"batch_size": 2})
            obs = env.step(_row_per_trial_action(), deterministic=True)[0]
        results.append((effector.states["joint"], effector.states["muscle"], env.states["joint"], obs))
    for theirs, ours in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size, error", [(-1, ValueError), (2.5, TypeError), (None, TypeError),
                                               (True, TypeError)])
def test_reset_rejects_a_batch_size_that_is_not_an_integer_ge_0(batch_size, error):
    env = mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24())
    for reset in (env.reset, env.effector.reset):
        message = f"options['batch_size'] must be an integer >= 0, got {batch_size!r}"
        with pytest.raises(error, match=re.escape(message)):
            reset(options={"batch_size": batch_size})
    env.reset(options={"batch_size": 2})  # still usable
    assert env.step(torch.full((2, 4), 0.5))[0].shape == (2, env.observation_space.shape[0])


def test_step_before_reset_says_so():
    env = mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24())
    with pytest.raises(RuntimeError, match=re.escape("RandomTargetReach.reset() must be called before step()")):
        env.step(torch.zeros(1, 4))
    with pytest.raises(RuntimeError, match=re.escape("ReluPointMass24.reset() must be called before step()")):
        env.effector.step(torch.zeros(1, 4))


def test_a_muscle_or_skeleton_given_by_name_is_rejected():
    with pytest.raises(TypeError, match=re.escape("muscle must be a Muscle instance such as mn.muscle."
                                                  "RigidTendonHillMuscle(), got 'RigidTendonHillMuscle' (str)")):
        mn.effector.RigidTendonArm26("RigidTendonHillMuscle")
    with pytest.raises(TypeError, match=r"skeleton must be a Skeleton instance .* got 'TwoDofArm' \(str\)"):
        mn.effector.Effector("TwoDofArm", mn.muscle.ReluMuscle())


def test_check_finite_names_a_non_finite_action_or_state():
    env = mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24())
    env.reset(options={"batch_size": 2})
    action = torch.full((2, 4), 0.5)
    action[1, 2] = float("nan")
    with checks.check_finite():
        with pytest.raises(ValueError, match=r"action contains NaN"):
            env.step(action)
        with pytest.raises(ValueError, match=r"action contains NaN"):
            env.effector.step(action)
        env.effector.states["joint"][0, 3] = float("inf")
        with pytest.raises(ValueError, match=r"states\['joint'\] contains inf"):
            env.step(torch.full((2, 4), 0.5))


# ------------------------------------------------------------------------------------ constructors
def test_unknown_skeleton_keyword_arguments_are_rejected():
    with pytest.raises(TypeError, match=r"TwoDofArm\(\) got unexpected keyword argument\(s\) \['foo'\]"):
        mn.skeleton.TwoDofArm(foo=1)
    with pytest.raises(TypeError, match=r"PointMass\(\) got unexpected keyword argument\(s\) \['bar'\]"):
        mn.skeleton.PointMass(bar=1)
    arm = mn.skeleton.TwoDofArm(L1=0.5, input_dim=2)  # MotorNet's aliases and dims are still taken
    assert arm.l1 == 0.5 and arm.input_dim == 2


@pytest.mark.parametrize("timestep", [math.inf, math.nan, 0.0])
def test_a_timestep_that_is_not_finite_and_positive_is_rejected(timestep):
    message = f"timestep must be a finite number of seconds > 0, got {timestep!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        mn.effector.ReluPointMass24(timestep=timestep)


@pytest.mark.parametrize("name, value", [("action_noise", -1), ("obs_noise", [0.1, -0.1] * 6),
                                         ("proprioception_noise", float("nan")), ("vision_noise", -0.5)])
def test_a_negative_or_non_finite_noise_is_rejected_at_construction(name, value):
    shown = np.asarray(value, dtype=np.float64).reshape(-1).tolist()
    with pytest.raises(ValueError, match=re.escape(f"{name} must be finite and >= 0, got {shown}")):
        mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24(), **{name: value})
