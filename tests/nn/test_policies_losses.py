"""Policies equal torch's GRU, batch under vmap; losses equal their hand-computed definitions."""
import math

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from motornet_fn.nn import losses as L
from motornet_fn.nn.policies import GRUPolicy, MLPPolicy


def test_gru_policy_equals_torch_gru_with_the_same_weights():
    torch.manual_seed(0)
    policy = GRUPolicy(5, 7, 3)
    gru, fc = torch.nn.GRU(5, 7, 1, batch_first=True), torch.nn.Linear(7, 3)
    gru.load_state_dict({k.removeprefix("gru."): v for k, v in policy.state_dict().items() if k.startswith("gru.")})
    fc.load_state_dict({k.removeprefix("fc."): v for k, v in policy.state_dict().items() if k.startswith("fc.")})
    x, h = torch.randn(4, 5), torch.randn(4, 7)
    u, h1 = policy(x, h)
    y, h_ref = gru(x[:, None], h[None])
    torch.testing.assert_close(h1, h_ref[0])
    torch.testing.assert_close(u, torch.sigmoid(fc(y[:, 0])))


def test_gru_policy_initialisation_follows_motornet():
    torch.manual_seed(1)
    p = GRUPolicy(6, 16, 4)
    w = p.gru.weight_hh_l0.detach()
    torch.testing.assert_close(w.T @ w, torch.eye(16), atol=1e-5, rtol=0)
    assert torch.all(p.fc.bias == -5.0) and torch.all(p.gru.bias_ih_l0 == 0) and torch.all(p.gru.bias_hh_l0 == 0)
    bound = math.sqrt(6 / (6 + 48))  # xavier uniform bound for (48, 6)
    assert p.gru.weight_ih_l0.abs().max() <= bound


@pytest.mark.parametrize("cls,args", [(GRUPolicy, (5, 8, 3)), (MLPPolicy, (5, (8, 8), 3))])
def test_vmap_over_stacked_policies_equals_loop(cls, args):
    torch.manual_seed(2)
    models = [cls(*args) for _ in range(4)]
    params, buffers = stack_module_state(models)
    base = models[0]
    x = torch.randn(4, 6, 5)
    h = torch.stack([m.init_hidden(6) for m in models]) + (0.1 if cls is GRUPolicy else 0)
    out, h1 = vmap(lambda p, b, xi, hi: functional_call(base, (p, b), (xi, hi)))(params, buffers, x, h)
    for k, m in enumerate(models):
        u_k, h_k = m(x[k], h[k])
        torch.testing.assert_close(out[k], u_k)
        torch.testing.assert_close(h1[k], h_k)


def test_policy_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_dim must be a positive int, got 0"):
        GRUPolicy(3, 0, 2)


def test_losses_equal_hand_computed_values():
    pos = torch.tensor([[[0.0, 0.0], [1.0, 2.0]]])  # (B=1, T=2, 2)
    goal = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]])
    assert L.l1_position(pos, goal).item() == pytest.approx((2 + 1) / 2)
    assert L.l2_position(pos, goal).item() == pytest.approx((2 + 1) / 2)
    assert L.clipped_position(pos, goal, radius=1.5).item() == pytest.approx((0.5 + 0) / 2)
    act = torch.tensor([[[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]])  # (1, 3, 2)
    assert L.activation_l2(act).item() == pytest.approx((1 + 0.5 + 1) / 3)
    assert L.activation_derivative_l2(act, dt=0.5).item() == pytest.approx(((1 + 1) + (1 + 1)) / 2)
    assert L.hidden_activity_l2(act).item() == pytest.approx((1 + 0.5 + 1) / 3)
    assert L.hidden_derivative_l2(act).item() == pytest.approx((0.5 + 0.5) / 2)
