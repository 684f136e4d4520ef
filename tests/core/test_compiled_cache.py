"""The compiled engine's on-disk cache: graphs holding a ``scan`` are cached (torch refuses by default), and a
cached graph is never reused for a body that differs only in a constant baked into it."""
import pytest
import torch

from motornet_fn import core
from motornet_fn.core import compiled
from motornet_fn.core.tree import tree_leaves


def _rollout(dt, compile_):
    spec, params = core.relu_point_mass24(dt=dt)
    state = core.initial_state(spec, params, core.JointState(torch.full((2, 2), 0.1), torch.zeros(2, 2)))
    actions = torch.linspace(0, 0.5, 20 * 2 * 4).reshape(20, 2, 4)
    with torch.no_grad():
        if compile_:
            return compiled.rollout(spec, params, state, actions, record=None)
        return core.rollout(spec, params, state, actions, record=None)


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_scan_graphs_are_cached_and_keyed_by_their_body(tmp_path, monkeypatch):
    from torch._dynamo.utils import counters

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    compiled.configure_cache()
    results = {}
    bypasses = counters["inductor"]["fxgraph_cache_bypass"]  # (process-wide: earlier tests' compilations count too)
    for dt in (0.01, 0.02, 0.01):  # the third compiles again in memory but must hit the disk cache of the first
        compiled.clear_caches()
        torch._dynamo.reset()
        hits = counters["inductor"]["fxgraph_cache_hit"]
        got = _rollout(dt, True)
        for a, b in zip(tree_leaves(got), tree_leaves(_rollout(dt, False))):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        results.setdefault(dt, []).append(counters["inductor"]["fxgraph_cache_hit"] - hits)
    assert results[0.01][0] == 0 and results[0.02] == [0]  # dt is baked into the body: a new key
    assert results[0.01][1] >= 1  # the same rollout in a "new process" loads from the cache
    assert counters["inductor"]["fxgraph_cache_bypass"] == bypasses
