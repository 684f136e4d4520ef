"""Ahead-of-time compiled artifacts: one per signature, reloaded from disk, same numbers as eager."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from motornet_fn.core import precompiled

pytestmark = pytest.mark.skipif(not precompiled.supported(), reason="this torch has no aot_compile")


def f(x, y):
    return (x * y).sin(), x + y


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    return tmp_path / "motornet_fn_aot"


def make(events, key="f"):
    compiled = torch.compile(f, fullgraph=True, dynamic=False)
    return precompiled.Precompiled(compiled, key, lambda args, seconds, loaded: events.append(loaded))


@pytest.mark.slow
def test_one_artifact_per_signature_and_reloaded_from_disk(artifacts):
    events = []
    fn = make(events)
    x, y = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
    out = fn(x, y)
    torch.testing.assert_close(out[0], f(x, y)[0])
    out[0].sum().backward()
    torch.testing.assert_close(x.grad, (y * (x * y).cos()).detach())
    small = fn(torch.randn(2, 4), torch.randn(2, 4))  # another shape: a second artifact
    assert small[0].shape == (2, 4)
    with torch.no_grad():  # grad mode is part of the signature too
        fn(x, y)
    fn(x, y)  # back to the first signature: served by its artifact, nothing new
    assert events == [False, False, False]
    assert len(list(artifacts.glob("*.pt"))) == 3 and not list(artifacts.glob("*.tmp"))

    again = []
    fresh = make(again)  # a new process would do exactly this
    torch.testing.assert_close(fresh(x, y)[1], x + y)
    assert again == [True]
    other = []
    make(other, key="another function")(x, y)  # another cache key never loads f's artifact
    assert other == [False]


@pytest.mark.slow
def test_a_damaged_artifact_is_rebuilt(artifacts):
    events = []
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    make(events)(x, y)
    (path,) = artifacts.glob("*.pt")
    path.write_bytes(b"not an artifact")
    fn = make(events)
    torch.testing.assert_close(fn(x, y)[0], (x * y).sin())
    assert events == [False, False]


def test_the_signature_names_shapes_dtypes_grad_flags_and_values():
    a = precompiled.call_signature((torch.zeros(2, 3), 1.5))
    assert a != precompiled.call_signature((torch.zeros(2, 4), 1.5))
    assert a != precompiled.call_signature((torch.zeros(2, 3, dtype=torch.float64), 1.5))
    assert a != precompiled.call_signature((torch.zeros(2, 3, requires_grad=True), 1.5))
    assert a != precompiled.call_signature((torch.zeros(2, 3), 2.5))
    with torch.no_grad():
        assert a != precompiled.call_signature((torch.zeros(2, 3), 1.5))


SCRIPT = """
import sys, numpy as np, torch, motornet_fn as mn
env = mn.environment.RandomTargetReach(effector=mn.effector.ReluPointMass24(), max_ep_duration=0.2, compile={compile})
obs, info = env.reset(seed=1, options={{"batch_size": 4}})
g = torch.Generator().manual_seed(0)
out = []
for _ in range(20):
    action = torch.rand(4, 4, generator=g, requires_grad=True)
    obs, reward, terminated, truncated, info = env.step(action=action)
    out.append(torch.cat([obs, info["states"]["fingertip"]], -1).detach())
np.save(sys.argv[1], torch.stack(out).numpy())
"""


@pytest.mark.slow
def test_compiled_environment_step_from_a_cold_and_a_warm_cache_equals_eager(tmp_path):
    """The built-in environment's compiled step: a first process compiles and saves, a second loads; both
    give the eager numbers to float rounding."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    results, logs = {}, {}
    for name, compile_ in (("eager", False), ("cold", True), ("warm", True)):
        path = tmp_path / f"{name}.npy"
        run = subprocess.run([sys.executable, "-c", SCRIPT.format(compile=compile_), str(path)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        results[name], logs[name] = np.load(path), run.stderr
    assert "compiled environment step" in logs["cold"]
    assert "loaded compiled environment step" in logs["warm"]
    assert "motornet_fn: compiled environment step" not in logs["warm"]  # nothing traced again
    np.testing.assert_allclose(results["cold"], results["eager"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results["warm"], results["cold"], rtol=0, atol=0)
