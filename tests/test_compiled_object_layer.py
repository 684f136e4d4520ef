"""The object layer's compiled steps (``compile=True`` / ``MOTORNET_FN_COMPILE=1``): the built-in environments'
step, the effector step and the PolicyGRU step give the eager numbers and gradients to float rounding, allow
MotorNet-style in-place perturbations, and a second process reloads their graphs instead of tracing them."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn.reaching import CentreOutReach, DelayedReach

pytestmark = pytest.mark.slow  # every test compiles a few graphs (seconds each)


def make_policy(compile_, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return mn.policy.PolicyGRU(10, 16, 4, device=torch.device("cpu"), compile=compile_).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_policy_gru_equals_torch_gru(dtype):
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-12)
    xs = torch.randn(6, 8, 10, dtype=dtype, generator=torch.Generator().manual_seed(1))
    results = []
    for compile_ in (False, True):
        policy = make_policy(compile_, dtype)
        h = policy.init_hidden(batch_size=8)
        us = []
        for x in xs:
            u, h = policy(x, h)
            us.append(u)
        loss = torch.stack(us).square().sum() + h.sum()
        grads = torch.autograd.grad(loss, list(policy.parameters()))
        results.append((torch.stack(us), h, grads))
    (u0, h0, g0), (u1, h1, g1) = results
    assert h1.shape == (1, 8, 16) and u1.dtype == dtype
    torch.testing.assert_close(u1, u0, **tol)
    torch.testing.assert_close(h1, h0, **tol)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, **tol)


def test_a_policy_whose_layers_were_swapped_runs_them_eagerly():
    policy = make_policy(True)
    policy.sigmoid = torch.nn.Tanh()  # the compiled step computes a sigmoid readout: it must not be used
    x, h = torch.randn(3, 10), torch.zeros(1, 3, 16)
    u, _ = policy(x, h)
    y, _ = policy.gru(x[:, None, :], h)
    torch.testing.assert_close(u, torch.tanh(policy.fc(y)).squeeze(1))


def arm():
    return mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle())


def episode(make_env, compile_, steps=14, perturb=False):
    env = make_env(compile_)
    obs, info = env.reset(seed=5, options={"batch_size": 6})
    actions = (torch.rand(steps, 6, env.n_muscles, generator=torch.Generator().manual_seed(2)) * 0.5).requires_grad_()
    out = [obs]
    for i, a in enumerate(actions):
        obs, _, _, _, info = env.step(a)
        if perturb and i == 4:  # a MotorNet user's mid-episode push, in place, in grad mode
            info["states"]["joint"][:, 2:] += 0.5
        out += [obs, info["states"]["fingertip"], info["states"]["muscle"].flatten(1)]
        if "desired" in info:
            out.append(info["desired"])
    flat = torch.cat(out, dim=-1)
    grad, = torch.autograd.grad(flat.square().sum(), actions)
    return flat.detach(), grad


ENVS = {
    "centre-out, curl field": lambda c: CentreOutReach(arm(), curl_gain=8.0, compile=c),
    "delayed reach, go cue and catch trials": lambda c: DelayedReach(arm(), catch_prob=0.5, compile=c),
}  # the point-mass tutorial environment: the three-process test below


@pytest.mark.parametrize("name", list(ENVS))
def test_compiled_builtin_environment_step_equals_eager(name):
    (eager, g_eager), (fast, g_fast) = (episode(ENVS[name], c) for c in (False, True))
    torch.testing.assert_close(fast, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_fast, g_eager, rtol=1e-4, atol=1e-4)
    assert g_eager.abs().sum() > 0


def test_in_place_perturbations_of_compiled_states_keep_values_and_gradients():
    make = ENVS["centre-out, curl field"]
    (eager, g_eager), (fast, g_fast) = (episode(make, c, perturb=True) for c in (False, True))
    torch.testing.assert_close(fast, eager, rtol=1e-5, atol=1e-5)
    # float32 through a push of 0.5 rad/s: one gradient entry of ~18 differs by 2e-4 relative
    torch.testing.assert_close(g_fast, g_eager, rtol=1e-3, atol=1e-3)
    unperturbed, _ = episode(make, True)
    assert not torch.allclose(unperturbed, fast)  # the push took effect


def test_compiled_effector_step_equals_eager():
    """The effector's own compiled step (what a user's Environment subclass calls), with an endpoint load:
    fingertip values and their gradients with respect to the actions equal eager ones."""
    outs = []
    for compile_ in (False, True):
        effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle(), compile=compile_)
        effector.reset(options={"batch_size": 5, "joint_state": torch.tensor([[0.6, 1.4, 0.0, 0.0]]).expand(5, 4)})
        actions = torch.full((10, 5, 6), 0.3, requires_grad=True)
        tips = []
        for a in actions:
            effector.step(a, endpoint_load=torch.tensor([[1.0, -2.0]]))
            tips.append(effector.states["cartesian"])
        tips = torch.stack(tips)
        outs.append((tips.detach(), torch.autograd.grad(tips.sum(), actions)[0]))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outs[1][1], outs[0][1], rtol=1e-4, atol=1e-5)


SCRIPT = """
import sys, numpy as np, torch, motornet_fn as mn
torch.manual_seed(0)
env = mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24(), max_ep_duration=0.2, compile={compile})
policy = mn.policy.PolicyGRU(env.observation_space.shape[0], 8, 4, device=torch.device("cpu"), compile={compile})
obs, info = env.reset(seed=1, options={{"batch_size": 4}})
h = policy.init_hidden(batch_size=4)
out = []
for _ in range(20):
    action, h = policy(obs, h)
    obs, reward, terminated, truncated, info = env.step(action=action)
    out.append(torch.cat([obs, info["states"]["fingertip"]], -1))
grads = torch.autograd.grad(torch.stack(out).square().sum(), list(policy.parameters()))
np.save(sys.argv[1], np.concatenate([torch.stack(out).detach().numpy().ravel()] + [g.numpy().ravel() for g in grads]))
"""


def test_a_second_process_reloads_the_graphs_and_gets_the_same_numbers(tmp_path):
    """Eager, then a cold cache (traces and compiles), then a warm one (reloads): warm equals cold bit for bit,
    and both equal eager to float rounding."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    results, logs = {}, {}
    for name, compile_ in (("eager", False), ("cold", True), ("warm", True)):
        path = tmp_path / f"{name}.npy"
        run = subprocess.run([sys.executable, "-c", SCRIPT.format(compile=compile_), str(path)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        results[name], logs[name] = np.load(path), run.stderr
    for part in ("environment step", "PolicyGRU step"):
        assert f"motornet_fn: compiled {part}" in logs["cold"]
        assert f"motornet_fn: loaded compiled {part}" in logs["warm"]
        assert f"motornet_fn: compiled {part}" not in logs["warm"]  # nothing traced again
    np.testing.assert_allclose(results["cold"], results["eager"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(results["warm"], results["cold"])
