"""``motornet_fn.policy.PolicyGRU``: shapes, MotorNet's initialization scheme, gradients."""
from __future__ import annotations

import math

import torch

import motornet_fn as mn


def test_forward_shapes_and_range():
    policy = mn.policy.PolicyGRU(input_dim=12, hidden_dim=16, output_dim=4, device="cpu")
    h = policy.init_hidden(batch_size=5)
    assert h.shape == (1, 5, 16) and not h.any()
    u, h = policy(torch.randn(5, 12), h)
    assert u.shape == (5, 4) and h.shape == (1, 5, 16)
    assert ((u > 0) & (u < 1)).all()


def test_initialization_scheme():
    """Xavier-uniform input and readout weights, orthogonal recurrent weights, zero GRU biases, and a
    readout bias of -5 so that the first excitations are sigmoid(-5)."""
    policy = mn.policy.PolicyGRU(input_dim=10, hidden_dim=8, output_dim=3, device="cpu")
    gru, fc = policy.gru, policy.fc
    assert not gru.bias_ih_l0.any() and not gru.bias_hh_l0.any()
    assert torch.equal(fc.bias, torch.full((3,), -5.0))
    w = gru.weight_hh_l0  # (3 * hidden, hidden): orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(8), atol=1e-5, rtol=0)
    for weight in (gru.weight_ih_l0, fc.weight):
        fan_out, fan_in = weight.shape
        assert weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out))
    u, _ = policy(torch.zeros(2, 10), policy.init_hidden(2))
    torch.testing.assert_close(u, torch.full((2, 3), torch.sigmoid(torch.tensor(-5.0)).item()))


def test_gradients_flow_over_time():
    policy = mn.policy.PolicyGRU(input_dim=6, hidden_dim=8, output_dim=2, device="cpu")
    h = policy.init_hidden(3)
    total = 0
    for x in torch.randn(5, 3, 6):
        u, h = policy(x, h)
        total = total + u.sum()
    total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in policy.parameters())
    assert policy.gru.weight_hh_l0.grad.abs().sum() > 0


def test_float64_policy_keeps_its_dtype():
    policy = mn.policy.PolicyGRU(4, 5, 2, device="cpu").double()
    u, h = policy(torch.randn(2, 4, dtype=torch.float64), policy.init_hidden(2))
    assert u.dtype == h.dtype == torch.float64
