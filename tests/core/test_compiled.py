"""The compiled fast path (``motornet_fn.core.compiled``, ``motornet_fn.nn.compiled``) gives the plain
path's numbers: MotorNet reference parity for both, compiled == eager for rollouts, gradients and
training losses.

Compiling takes 5-60 s per case on a 2-core CPU, so the compile-based tests are few and marked slow; the
layout and cache helpers are checked without compiling.
"""
from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest
import torch

from motornet_fn import core
from motornet_fn.core import compiled, constants, loop_pool, scan_remat
from tests.reference import build_core, load_case, recorded_loads, recorded_state, state_arrays

from .helpers import STATE_KEYS, assert_state_arrays_close, tol_units

needs_scan = pytest.mark.skipif(not compiled.available(), reason="torch._higher_order_ops.scan unavailable")

#: rollout parity cases: path geometry (ReLU point mass), polynomial geometry with loads and damping,
#: MotorNet's chained rk4
ROLLOUT_CASES = ["relu_pointmass24", "rigid_arm26_loads", "rigid_arm26_rk4"]
#: one-step (teacher-forced) cases at the reference tolerance: Thelen muscle, Hill muscles on paths
STEP_CASES = ["rigid_arm26_thelen", "pointmass_x_hill"]
#: cases whose float32 steps amplify round-off (their float64 steps sit 30-50 tolerance units from
#: MotorNet's float32 recording): the compiled path is checked against the plain one in float64
SENSITIVE_STEP_CASES = ["compliant_arm26", "twodofarm_paths_ministeps3"]


@functools.lru_cache(maxsize=None)
def case(name):
    config, arrays = load_case(name)
    spec, params = build_core(config)
    return arrays, spec, params


def reset_state(spec, params, arrays):
    joint = core.joint_from_tensor(torch.as_tensor(arrays["joint_init"], dtype=torch.float32))
    return core.initial_state(spec, params, joint)


def plain_rollout(spec, params, state, actions, loads):
    return core.rollout(spec, params, state, actions, loads)


def compiled_rollout(spec, params, state, actions, loads):
    with torch.no_grad():
        return compiled.rollout(spec, params, state, actions, loads)


# ------------------------------------------------------------------------------ no compilation
def test_flat_layout_round_trip():  # the packing of the compiled engine's carry
    spec, params = core.rigid_tendon_arm26()
    joint = core.JointState(torch.rand(3, 5, 2), torch.rand(3, 5, 2))
    state = core.initial_state(spec, params, joint)  # some leaves are expanded views
    layout = compiled.FlatLayout.of(state, batch_ndim=2)
    flat = layout.pack(state, (3, 5))
    assert flat.shape == (3, 5, layout.width) and layout.width == 2 + 2 + 7 * 6 + 6 + 6 + 12
    back = layout.unpack(flat, (3, 5))
    for a, b in zip(core.tree.tree_leaves(state), core.tree.tree_leaves(back)):
        torch.testing.assert_close(b, a.expand_as(b), rtol=0, atol=0)


def test_rollout_inputs_are_copied_only_where_a_leaf_is_a_broadcast_view():
    from motornet_fn.core.packing import materialise

    spec, params = core.rigid_tendon_arm26()
    state = core.initial_state(spec, params, core.JointState(torch.rand(3, 2), torch.rand(3, 2)))
    assert materialise(state, (3,)) is not state  # some leaves are expanded views
    full = materialise(state, (3,))
    dense = core.tree.tree_map(lambda x: x.clone(), full)
    assert materialise(dense, (3,)) is dense
    for a, b in zip(core.tree.tree_leaves(state), core.tree.tree_leaves(full)):
        assert b.shape[0] == 3 and 0 not in b.stride()
        torch.testing.assert_close(b, a.expand_as(b), rtol=0, atol=0)


def test_static_tensor_cache_serves_autograd_after_inference_mode():
    """A structural constant first built under inference_mode must not poison later autograd."""
    spec, params = core.relu_point_mass24()
    constants.clear()
    with torch.inference_mode():
        state = core.initial_state(spec, params, core.JointState(torch.zeros(2, 2), torch.zeros(2, 2)))
        core.step(spec, params, state, torch.rand(2, 4))
    pos = torch.zeros(2, 2, requires_grad=True)
    state = core.initial_state(spec, params, core.JointState(pos, torch.zeros(2, 2)))
    core.step(spec, params, state, torch.rand(2, 4)).geometry.length.sum().backward()
    assert torch.isfinite(pos.grad).all()


def test_static_tensor_is_cached_per_device_and_dtype():
    calls = []
    build = lambda: calls.append(1) or np.eye(2)  # noqa: E731
    a = constants.static_tensor(("test.eye",), build, torch.device("cpu"), torch.float32)
    b = constants.static_tensor(("test.eye",), build, torch.device("cpu"), torch.float32)
    c = constants.static_tensor(("test.eye",), build, torch.device("cpu"), torch.float64)
    assert a is b and c.dtype == torch.float64 and len(calls) == 2


def test_compile_rejects_truncated_backprop():
    from motornet_fn.nn import TrainConfig

    with pytest.raises(ValueError, match="compile=True does not support truncate_every"):
        TrainConfig(compile=True, truncate_every=10).validate()


# ------------------------------------------------------------------------------ reference parity, both paths
@pytest.mark.slow
@needs_scan
@pytest.mark.parametrize("path", ["plain", "compiled"])
@pytest.mark.parametrize("name", ROLLOUT_CASES)
def test_rollout_matches_reference(name, path):
    """Free-running rollout over every recorded step, plain and compiled."""
    arrays, spec, params = case(name)
    run = plain_rollout if path == "plain" else compiled_rollout
    actions = torch.as_tensor(arrays["actions"], dtype=torch.float32)
    traj = run(spec, params, reset_state(spec, params, arrays), actions, recorded_loads(arrays))
    assert_state_arrays_close(state_arrays(spec, params, traj), arrays, f"{name} {path} rollout")


@pytest.mark.slow
@needs_scan
@pytest.mark.parametrize("path", ["plain", "compiled"])
@pytest.mark.parametrize("name", STEP_CASES)
def test_one_step_matches_reference(name, path):
    """Teacher forcing: every recorded state stepped once (all T steps as one (T, B) batch)."""
    arrays, spec, params = case(name)
    n = arrays["actions"].shape[0]
    states = recorded_state(arrays, slice(0, n), spec.muscle)
    actions = torch.as_tensor(arrays["actions"], dtype=torch.float32)
    step = (lambda *a: core.step(spec, *a)) if path == "plain" else compiled.compiled_step(spec)
    with torch.no_grad():
        got = step(params, states, actions, recorded_loads(arrays))
    assert_state_arrays_close(state_arrays(spec, params, got), {k: arrays[k][1:] for k in STATE_KEYS},
                              f"{name} {path} one-step")


@pytest.mark.slow
@needs_scan
def test_compiled_rollout_records_and_differentiates_like_eager():
    """record=None / a function, and gradients through the compiled rollout, equal the eager ones."""
    arrays, spec, params = case("rigid_arm26_loads")
    state = reset_state(spec, params, arrays)
    loads = recorded_loads(arrays)
    base = torch.as_tensor(arrays["actions"][:30], dtype=torch.float32)
    tip = lambda s: core.cartesian(spec, params, s.joint).pos  # noqa: E731

    a_eager = base.clone().requires_grad_(True)
    traj = core.rollout(spec, params, state, a_eager, loads)
    tip(traj).pow(2).mean().backward()
    a_fast = base.clone().requires_grad_(True)
    tips = compiled.rollout(spec, params, state, a_fast, loads, record=tip)
    tips.pow(2).mean().backward()
    torch.testing.assert_close(tips, tip(traj), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a_fast.grad, a_eager.grad, rtol=1e-4, atol=1e-7)

    with torch.no_grad():
        final = compiled.rollout(spec, params, state, base, loads, record=None)
    for got, want in zip(core.tree.tree_leaves(final), core.tree.tree_leaves(traj)):
        torch.testing.assert_close(got, want[-1].detach(), rtol=1e-5, atol=1e-5)
    assert any(k[0] == "rollout" for k in compiled.COMPILE_SECONDS)


def _arm26_rollout_inputs(spec, params, batch, steps, seed):
    g = torch.Generator().manual_seed(seed)
    pos = torch.stack([torch.rand(batch, generator=g) * 0.5 + 0.5, torch.rand(batch, generator=g) * 0.5 + 0.8], -1)
    state = core.initial_state(spec, params, core.JointState(pos, torch.zeros(batch, 2)))
    return state, torch.rand(steps, batch, spec.n_muscles, generator=g)


@pytest.mark.slow
@needs_scan
@pytest.mark.parametrize("loads_kind", ["none", "constant", "time-varying"])
def test_a_dynamic_batch_rollout_compiles_once_for_every_batch_size(loads_kind):
    """dynamic_batch=True: one graph serves B = 3, 5 and 8 (B = 1 gets its own: torch specialises size-1 dims),
    and every result equals eager; the caller's tensors are not marked."""
    spec, params = core.rigid_tendon_arm26()
    compiled.clear_caches()
    compiles = []
    for batch in (3, 5, 1, 8):
        state, actions = _arm26_rollout_inputs(spec, params, batch, 20, batch)
        loads = {"none": None,
                 "constant": core.Loads(torch.full((batch, 2), 0.5), torch.zeros(batch, 2)),
                 "time-varying": core.Loads(torch.rand(20, batch, 2), torch.zeros(20, batch, 2))}[loads_kind]
        varying = loads_kind == "time-varying"
        before = compiled._graphs_compiled()
        with torch.no_grad():
            got = compiled.rollout(spec, params, state, actions, loads, varying, dynamic_batch=True)
        compiles.append(compiled._graphs_compiled() - before)
        want = core.rollout(spec, params, state, actions, loads, varying)
        for g, w in zip(core.tree.tree_leaves(got), core.tree.tree_leaves(want)):
            assert g.shape == w.shape
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
        assert not hasattr(actions, "_dynamo_weak_dynamic_indices")
    assert compiles == [1, 0, 1, 0]
    if loads_kind == "none":  # a static call compiles its own graph: it does not run the symbolic one
        before = compiled._graphs_compiled()
        with torch.no_grad():
            compiled.rollout(spec, params, state, actions, loads)
        assert compiled._graphs_compiled() == before + 1
    with pytest.raises(TypeError, match="dynamic_batch must be True or False"):
        compiled.rollout(spec, params, state, actions, dynamic_batch="yes")


# ------------------------------------------------------------------------------ training
def _losses_and_grads(trainer, compile_):
    generators = [torch.Generator().manual_seed(7 + k) for k in range(trainer.config.ensemble_size)]
    batch = trainer.batch(generators=generators)
    params = list(trainer.weights_and_buffers()[0].values())
    for p in params:
        p.grad = None
    losses = trainer.losses(batch, compiled=compile_)
    losses.sum().backward()
    return losses.detach(), [p.grad.clone() for p in params]


@pytest.mark.slow
@needs_scan
@pytest.mark.parametrize("kwargs", [
    dict(n_batches=2, batch_size=8, episode_duration=0.3),
    dict(n_batches=2, batch_size=4, episode_duration=0.2, effector="RigidTendonArm26", muscle="RigidTendonHillMuscle",
         task="delayed_reach", task_options=dict(delay_range=[0.05, 0.1], target_on=0.02), proprio_delay=2, vision_delay=3,
         action_frames=2, proprio_noise=0.01, vision_noise=0.01, action_noise=0.01, curl_gain=5.0,
         hidden_size=16),
    dict(n_batches=2, batch_size=4, episode_duration=0.2, ensemble_size=3, hidden_size=16),
    dict(n_batches=2, batch_size=4, episode_duration=0.2, policy="modular", loss="five_term",
         policy_options={"modules": [8, 8, 4], "excitatory": 0.75, "delay": 2, "feedback_prob": 0.5}),
    dict(n_batches=100_000, batch_size=4, episode_duration=0.2, hidden_size=16),  # long: loop and kernels in one file
], ids=["tutorial", "arm26-delays-noise-curl", "ensemble3", "modular-dale-delays-five-term", "long-run-one-file"])
def test_compiled_training_objective_equals_eager(kwargs, capsys):
    """Losses and gradients of the compiled scan episode equal the eager episode's (single policy,
    every optional part of the episode, a vectorised ensemble, and a run long enough to build the C++ loop and its
    kernels as one file; shorter runs build them apart)."""
    from motornet_fn.nn import TrainConfig, Trainer
    from motornet_fn.nn.objective import ONE_FILE_MIN_STEPS

    trainer = Trainer(TrainConfig(**kwargs))
    eager_loss, eager_grads = _losses_and_grads(trainer, False)
    fast_loss, fast_grads = _losses_and_grads(trainer, True)
    one_file = kwargs["n_batches"] * trainer.n_steps >= ONE_FILE_MIN_STEPS
    err = capsys.readouterr().err
    assert ("C++ as one file" in err) == one_file and ("built apart from its kernels" in err) == (not one_file)
    torch.testing.assert_close(fast_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for got, want in zip(fast_grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert any(key[0] == "training episode" for key in compiled.COMPILE_SECONDS)


@pytest.mark.slow
@needs_scan
@pytest.mark.parametrize("name", SENSITIVE_STEP_CASES)
def test_sensitive_step_compiled_equals_plain(name):
    """Round-off-sensitive cases (compliant tendon; path geometry with ministeps): inductor reorders
    float32 arithmetic (fusion, division by a constant as multiplication by its reciprocal), which
    moves one teacher-forced step by up to ~4 tolerance units against MotorNet, where the plain path,
    keeping MotorNet's order of operations, stays within 1. So: compiled == plain to 1e-9 in float64
    (the same math), and compiled float32 within 5 tolerance units of the reference."""
    config, arrays = load_case(name)
    n = arrays["actions"].shape[0]
    for dtype in (torch.float64, torch.float32):
        spec, params = build_core(config, dtype=dtype)
        states = recorded_state(arrays, slice(0, n), spec.muscle, dtype=dtype)
        actions = torch.as_tensor(arrays["actions"], dtype=dtype)
        with torch.no_grad():
            got = compiled.compiled_step(spec)(params, states, actions)
            want = core.step(spec, params, states, actions)
        if dtype == torch.float64:
            for a, b in zip(core.tree.tree_leaves(got), core.tree.tree_leaves(want)):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        else:
            got_arrays = state_arrays(spec, params, got)
            for key in STATE_KEYS:
                assert tol_units(got_arrays[key], arrays[key][1:]) <= 5.0, key


def test_view_copy_decompositions_reach_inductor_after_an_earlier_compilation():
    """inductor caches its decomposition table on first use; registering ours later must still take effect (a
    fresh process: the registration is once per process)."""
    code = (
        "import torch\n"
        "from torch._inductor.decomposition import fast_random_decomps, select_decomp_table\n"
        "fast_random_decomps()  # what any earlier compilation does\n"
        "from motornet_fn.core import compiled\n"
        "compiled.register_view_copy_decompositions()\n"
        "ops = (torch.ops.aten.select_copy.int, torch.ops.aten.slice_copy.Tensor, torch.ops.aten.split_copy.Tensor)\n"
        "assert all(op in select_decomp_table() for op in ops)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_compile_function_turns_off_inductors_per_step_checks_unless_asked(monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: seen.append(kw["options"]) or fn)
    compiled.compile_function(lambda x: x + 1, {"cpp_wrapper": True})
    compiled.compile_function(lambda x: x + 1, {"size_asserts": True})
    # every compilation's cache key names the scans' recompute policy and the loop wrapper
    engine = {**scan_remat.OPTIONS, **loop_pool.OPTIONS}
    assert seen[0] == {"size_asserts": False, "scalar_asserts": False, **engine, "cpp_wrapper": True}
    assert seen[1] == {"size_asserts": True, "scalar_asserts": False, **engine}
