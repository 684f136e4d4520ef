"""The modular functional step inside torch.compile(fullgraph=True) + scan equals the eager loop
(one compile, ~20-40 s on a 2-core CPU)."""
from __future__ import annotations

import pytest
import torch

from motornet_fn.core import compiled
from motornet_fn.nn.modular import ModularGRUPolicy
from tests.nn.modular_helpers import rollout, three_modules


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="torch._higher_order_ops.scan unavailable")
def test_compiled_scan_equals_eager_loop():
    from torch._higher_order_ops.scan import scan

    torch.manual_seed(0)
    policy = ModularGRUPolicy(**three_modules())  # delays, output delay, Dale's law, noise
    policy.set_lesion((3, 7), units=[1, 6], pairs=[(1, 0)])
    T, B = 12, 4
    obs, noise = torch.randn(T, B, 6), torch.randn(T, B, 12)
    h0 = policy.initial_hidden((B,))

    def episode(h, obs, noise):
        def body(carry, x):
            action, carry = policy(x[0], carry, x[1])
            return carry, action
        return scan(body, h, (obs, noise))

    with torch.no_grad():
        h_fast, a_fast = torch.compile(episode, fullgraph=True, dynamic=False)(h0, obs, noise)
        a_eager, states = rollout(policy, obs, noise, h0)
    torch.testing.assert_close(a_fast, a_eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_fast, states[-1], rtol=1e-5, atol=1e-6)
    assert torch.all(states[3:7, :, [1, 6]] == 0) and torch.all(h_fast[:, [1, 6]] != 0)
