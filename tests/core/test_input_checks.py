"""The core's entry points check their inputs' shapes and dtypes eagerly (under transforms too, before
compiling), ``check_state`` catches mixed batches, and the opt-in finite checks name the first
non-finite input or state."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.func import jacrev, vmap

from motornet_fn import core
from motornet_fn.core import checks, compiled, engine
from motornet_fn.core import env as E
from motornet_fn.core.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def arm():
    """Arm26 and a one-row state (batch (1,))."""
    spec, params = core.rigid_tendon_arm26()
    state = core.initial_state(spec, params, core.JointState(torch.tensor([[0.8, 1.2]]), torch.zeros(1, 2)))
    return spec, params, state


def _env(n_steps=4):
    spec_e, params_e = core.relu_point_mass24()
    spec = E.EnvSpec(spec_e, get_task("random_reach"), n_steps)
    params = E.make_params(spec, params_e)
    draws = E.sample_draws(E.reset_draws(spec, 2, {"batch_size": 2}), torch.Generator().manual_seed(0))
    state, obs = E.reset(spec, params, draws, {"batch_size": 2})
    return spec, params, state, obs


# ------------------------------------------------------------------------------------ shapes
def test_step_rejects_an_action_that_does_not_fit_the_state(arm):
    spec, params, state = arm
    with pytest.raises(ValueError, match=re.escape("action must have shape (1, n_muscles=6), got (3, 6): its batch "
                                                   "dims (3,) do not match the state's (1,)")):
        core.step(spec, params, state, torch.rand(3, 6))
    with pytest.raises(ValueError, match=re.escape("action must have shape (1, n_muscles=6) (last dim: one excitation "
                                                   "per muscle), got (1, 5)")):
        core.step(spec, params, state, torch.rand(1, 5))
    with pytest.raises(TypeError, match=r"action must be a tensor of shape \(1, n_muscles=6\), got list"):
        core.step(spec, params, state, [0.5] * 6)
    # an action broadcasting to the state's batch is fine
    assert core.step(spec, params, state, torch.full((6,), 0.5)).muscle.activation.shape == (1, 6)


def test_check_state_catches_a_mixed_batch(arm):
    spec, params, state = arm
    mixed = state._replace(muscle=state.muscle._replace(activation=state.muscle.activation.expand(3, 6)))
    with pytest.raises(ValueError, match=re.escape("state mixes batch shapes: state.joint.pos has batch dims (1,) but "
                                                   "state.muscle.activation has (3,)")):
        core.check_state(spec, params, mixed)
    with pytest.raises(ValueError, match="state mixes batch shapes"):
        core.rollout(spec, params, mixed, torch.rand(2, 1, 6))


def test_rollout_and_initial_state_check_shapes_before_running(arm):
    spec, params, state = arm
    with pytest.raises(ValueError, match=re.escape("actions must have shape (T, 1, n_muscles=6), got (4, 3, 6)")):
        core.rollout(spec, params, state, torch.rand(4, 3, 6))
    with pytest.raises(ValueError, match=re.escape("actions must have shape (T, 1, n_muscles=6) (last dim: one "
                                                   "excitation per muscle), got (4, 1, 5)")):
        core.rollout(spec, params, state, torch.rand(4, 1, 5), scan=True)
    with pytest.raises(ValueError, match=re.escape("joint.pos and joint.vel must have one shape (..., dof=2), got "
                                                   "(1, 3) and (1, 3)")):
        core.initial_state(spec, params, core.JointState(torch.zeros(1, 3), torch.zeros(1, 3)))
    with pytest.raises(ValueError, match=re.escape("got (3, 2) and (1, 2)")):
        core.initial_state(spec, params, core.JointState(torch.full((3, 2), 0.5), torch.zeros(1, 2)))


def test_the_engine_checks_time_dims_and_the_episode_batch():
    with pytest.raises(ValueError, match=re.escape("xs must have a leading time dim of n_steps=4, got shape (3, 2)")):
        engine.iterate(lambda c, x: (c, x), torch.zeros(2), torch.zeros(3, 2), 4)
    spec, params, state, obs = _env()
    policy = lambda o, h: (torch.full((*o.shape[:-1], 4), 0.5), h)  # noqa: E731
    with pytest.raises(ValueError, match=re.escape(f"obs must have shape (2, obs_dim={spec.obs_dim}) (the batch of the "
                                                   f"state, (2,)), got (1, {spec.obs_dim})")):
        engine.run_episode(spec, params, policy, torch.zeros(2, 0), state, obs[:1])
    with pytest.raises(ValueError, match=re.escape("h0 must have shape (2, state_dim)")):
        engine.run_episode(spec, params, policy, torch.zeros(3, 0), state, obs)
    inputs = engine.StepInputs(loads=core.Loads(torch.zeros(3, 2, 2), torch.zeros(3, 2, 2)))
    with pytest.raises(ValueError, match=re.escape("inputs.loads.endpoint must have a leading time dim of n_steps=4")):
        engine.run_episode(spec, params, policy, torch.zeros(2, 0), state, obs, inputs)
    bad_policy = lambda o, h: (torch.full((*o.shape[:-1], 5), 0.5), h)  # noqa: E731
    with pytest.raises(ValueError, match=re.escape("action must have shape (2, n_muscles=4)")):
        engine.run_episode(spec, params, bad_policy, torch.zeros(2, 0), state, obs)


def test_compiled_entry_points_check_before_compiling(arm):
    spec, params, state = arm
    compiled.COMPILE_SECONDS.clear()
    with pytest.raises(ValueError, match=re.escape("action must have shape (1, n_muscles=6), got (3, 6)")):
        compiled.compiled_step(spec)(params, state, torch.rand(3, 6))
    with pytest.raises(ValueError, match=re.escape("actions must have shape (T, 1, n_muscles=6)") + r".*\(5, 1, 4\)"):
        compiled.rollout(spec, params, state, torch.rand(5, 1, 4))
    env_spec, env_params, env_state, _ = _env()
    with pytest.raises(ValueError, match=re.escape("action must have shape (2, n_muscles=4)") + r".*\(2, 6\)"):
        compiled.compiled_env_step(env_spec)(env_params, env_state, torch.rand(2, 6))
    assert compiled.COMPILE_SECONDS == {}  # nothing was compiled


def test_the_checks_run_under_vmap_and_jacrev(arm):
    spec, params, state = arm
    one = core.initial_state(spec, params, core.JointState(torch.tensor([0.8, 1.2]), torch.zeros(2)))
    actions = torch.rand(5, 6)
    batched = vmap(lambda a: core.step(spec, params, one, a))(actions)
    looped = [core.step(spec, params, one, a) for a in actions]
    torch.testing.assert_close(batched.joint.vel[3], looped[3].joint.vel)
    dvel = jacrev(lambda a: core.rollout(spec, params, one, a.expand(3, 6), record=None).joint.vel)(actions[0])
    assert dvel.shape == (2, 6) and torch.isfinite(dvel).all()
    with pytest.raises(ValueError, match=re.escape("action must have shape (n_muscles=6)")):
        vmap(lambda a: core.step(spec, params, one, a))(torch.rand(5, 4))


def test_mixed_dtypes_are_rejected(arm):
    spec, params, state = arm
    spec64, params64 = core.rigid_tendon_arm26(dtype=torch.float64)
    joint = core.JointState(torch.tensor([[0.8, 1.2]]), torch.zeros(1, 2))
    with pytest.raises(TypeError, match=re.escape("joint.pos has dtype torch.float32 but the params are "
                                                  "torch.float64")):
        core.initial_state(spec64, params64, joint)
    with pytest.raises(TypeError, match=re.escape("action has dtype torch.float64 but the params are torch.float32")):
        core.step(spec, params, state, torch.rand(1, 6, dtype=torch.float64))
    with pytest.raises(TypeError, match=re.escape("state has dtype torch.float32 but the params are torch.float64")):
        core.rollout(spec64, params64, state, torch.rand(2, 1, 6, dtype=torch.float64))


# ------------------------------------------------------------------------------------ prebuilt options
def test_prebuilt_muscle_kwargs_are_honoured_or_rejected():
    _, params = core.rigid_tendon_arm26(muscle_kwargs={"max_isometric_force": [100.0] * 6})
    assert params.muscle.max_isometric_force.tolist() == [100.0] * 6
    with pytest.raises(ValueError, match=r"max_isometric_force must be > 0"):
        core.rigid_tendon_arm26(muscle_kwargs={"max_isometric_force": [-100.0] * 6})
    with pytest.raises(TypeError, match=r"unknown muscle parameter\(s\) \['tau_activaton'\] for ReluMuscle .*"
                                        r"'tau_activation'"):
        core.relu_point_mass24(tau_activaton=0.5)
    _, params = core.relu_point_mass24(tau_activation=0.5)
    assert params.muscle.tau_activation.tolist() == [0.5] * 4


# ------------------------------------------------------------------------------------ finite checks
def test_finite_checks_are_off_by_default(arm):
    if os.environ.get("MOTORNET_FN_DEBUG", "") not in ("", "0"):
        pytest.skip("MOTORNET_FN_DEBUG is set")
    spec, params, state = arm
    actions = torch.full((5, 1, 6), 0.5)
    actions[3, 0, 2] = float("nan")
    assert torch.isnan(core.rollout(spec, params, state, actions).muscle.activation[4]).any()


def test_check_finite_names_the_first_non_finite_input_or_state(arm):
    spec, params, state = arm
    actions = torch.full((5, 1, 6), 0.5)
    actions[3, 0, 2] = float("nan")
    with checks.check_finite():
        for scan in (False, True):
            with pytest.raises(ValueError, match="actions contains NaN at step 3"):
                core.rollout(spec, params, state, actions, scan=scan)
        with pytest.raises(ValueError, match="action contains NaN"):
            core.step(spec, params, state, actions[3])
        bad = state._replace(joint=core.JointState(state.joint.pos, torch.tensor([[0.0, float("inf")]])))
        with pytest.raises(ValueError, match=r"state\.joint\.vel contains inf"):
            core.step(spec, params, bad, actions[0])
        with pytest.raises(ValueError, match=r"joint\.pos contains NaN"):
            core.initial_state(spec, params, core.JointState(torch.tensor([[float("nan"), 1.0]]), torch.zeros(1, 2)))
        # a state that turns non-finite during the rollout (here from a NaN parameter): named at its step
        nan_damping = params._replace(damping=torch.tensor(float("nan")))
        with pytest.raises(ValueError, match=r"rollout: state\.joint\.vel contains NaN at step 1"):
            core.rollout(spec, nan_damping, state, torch.full((5, 1, 6), 0.5))
        # the policy's actions in a closed loop
        env_spec, env_params, env_state, obs = _env()

        def policy(o, h):
            return torch.where(h[..., :1] >= 2, float("nan"), 0.5).expand(*o.shape[:-1], 4), h + 1

        with pytest.raises(ValueError, match=r"run_episode: trace\.action contains NaN at step 2"):
            engine.run_episode(env_spec, env_params, policy, torch.zeros(2, 1), env_state, obs)
    assert torch.isnan(core.rollout(spec, params, state, actions).muscle.activation[4]).any()  # off again


@pytest.mark.slow  # a fresh Python (6 s of CPU to import torch)
def test_the_environment_variable_turns_the_finite_checks_on():
    script = ("import torch; from motornet_fn import core\n"
              "spec, params = core.relu_point_mass24()\n"
              "state = core.initial_state(spec, params, core.JointState(torch.zeros(1, 2), torch.zeros(1, 2)))\n"
              "actions = torch.full((5, 1, 4), 0.5); actions[3, 0, 1] = float('nan')\n"
              "core.rollout(spec, params, state, actions)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MOTORNET_FN_DEBUG": "1"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "ValueError: actions contains NaN at step 3" in result.stderr, result.stderr
