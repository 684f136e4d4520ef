"""RateRNNPolicy: the Euler-discretised leaky rate equation, checked against closed forms and an
independent numpy implementation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motornet_fn.nn.rate_rnn import NONLINEARITIES, RateRNNPolicy


def test_free_decay_follows_the_time_constant_exactly(float64):
    tau, dt = 0.05, 0.002
    policy = RateRNNPolicy(3, 5, 2, tau=tau, dt=dt)
    with torch.no_grad():
        policy.recurrent.weight.zero_()
        policy.recurrent.bias.zero_()
    x0 = torch.linspace(-2, 2, 5)
    h, xs = x0, []
    for _ in range(200):
        _, h = policy(torch.zeros(3), h)
        xs.append(h)
    xs = torch.stack(xs)
    steps = torch.arange(1, 201, dtype=torch.float64)[:, None]
    torch.testing.assert_close(xs, (1 - dt / tau) ** steps * x0, rtol=1e-12, atol=1e-15)  # Euler closed form
    # and the continuous solution x0 exp(-t / tau) to Euler's first-order error, (t dt / 2 tau^2) x
    t = steps * dt
    err = (xs - torch.exp(-t / tau) * x0).abs().max()
    assert err <= (t * dt / (2 * tau**2) * torch.exp(-t / tau) * x0.abs()).max() * 1.05
    t_63 = int(torch.nonzero(xs[:, -1] <= x0[-1] * math.exp(-1))[0, 0]) + 1  # steps to decay by 1/e
    assert abs(t_63 * dt - tau) <= dt * 2


def test_step_equals_a_numpy_implementation():
    torch.manual_seed(0)
    policy = RateRNNPolicy(4, 6, 3, tau=0.1, dt=0.01, nonlinearity="softplus", input_noise=0.2, hidden_noise=0.05)
    assert policy.noise_dim == 10
    W_in, W, b = (p.detach().double().numpy() for p in (policy.input.weight, policy.recurrent.weight, policy.recurrent.bias))
    W_out, b_out = policy.fc.weight.detach().double().numpy(), policy.fc.bias.detach().double().numpy()
    x, u, xi = torch.randn(2, 6), torch.randn(2, 4), torch.randn(2, 10)
    act, x1 = policy(u, x, xi)
    f = lambda v: np.log1p(np.exp(v))  # noqa: E731
    xn, un, xin = (t.double().numpy() for t in (x, u, xi))
    a = 0.1
    expect = (1 - a) * xn + a * (f(xn) @ W.T + b + (un + 0.2 * xin[:, :4]) @ W_in.T) + np.sqrt(2 * a) * 0.05 * xin[:, 4:]
    np.testing.assert_allclose(x1.detach().numpy(), expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(act.detach().numpy(), 1 / (1 + np.exp(-(f(expect) @ W_out.T + b_out))), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(policy.activity(x1), torch.nn.functional.softplus(x1))


def test_defaults_and_initial_state():
    policy = RateRNNPolicy(4, 6, 3)
    assert policy.noise_dim == 0 and policy.state_dim == 6 and torch.all(policy.fc.bias == -5)
    assert torch.all(policy.initial_hidden((2,)) == 0)
    u, _ = policy(torch.zeros(2, 4), policy.initial_hidden((2,)))
    torch.testing.assert_close(u, torch.full((2, 3), torch.sigmoid(torch.tensor(-5.0)).item()))
    assert set(NONLINEARITIES) >= {"tanh", "relu", "softplus"}


@pytest.mark.parametrize("kwargs,match", [
    ({"tau": 0.0}, "tau must be a duration > 0 s"),
    ({"dt": 0.2, "tau": 0.1}, "dt / tau must be at most 1"),
    ({"nonlinearity": "elu"}, "nonlinearity must be one of"),
    ({"input_noise": -0.1}, "input_noise must be a standard deviation >= 0"),
    ({"hidden_dim": 0}, "hidden_dim must be a positive int"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = {"input_dim": 3, "hidden_dim": 4, "output_dim": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        RateRNNPolicy(**args)
