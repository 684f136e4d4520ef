"""GRUPolicy and MLPPolicy follow the policy contract (state_dim, noise_dim, initial_hidden, activity,
optional noise) without changing their numbers; the contract holds under functional_call + vmap."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from motornet_fn.nn.modular import ModularGRUPolicy
from motornet_fn.nn.policies import GRUPolicy, MLPPolicy, functional_method, gru_cell
from motornet_fn.nn.rate_rnn import RateRNNPolicy
from tests.nn.modular_helpers import three_modules

POLICY_CASES = {
    "gru": lambda: GRUPolicy(6, 8, 2, input_noise=0.1, hidden_noise=0.2),
    "mlp": lambda: MLPPolicy(6, (8, 8), 2),
    "rate": lambda: RateRNNPolicy(6, 8, 2, input_noise=0.1, hidden_noise=0.2),
    "modular": lambda: ModularGRUPolicy(**three_modules()),
}


def test_gru_noise_defaults_off_and_enters_as_documented():
    torch.manual_seed(0)
    quiet = GRUPolicy(5, 7, 3)
    assert quiet.state_dim == 7 and quiet.noise_dim == 0
    x, h = torch.randn(4, 5), torch.randn(4, 7)
    torch.testing.assert_close(quiet(x, h, None), quiet(x, h), rtol=0, atol=0)
    noisy = GRUPolicy(5, 7, 3, input_noise=0.1, hidden_noise=0.3)
    noisy.load_state_dict(quiet.state_dict())
    assert noisy.noise_dim == 5 + 7
    noise = torch.randn(4, 12)
    g = quiet.gru
    h_ref = gru_cell(x + 0.1 * noise[:, :5], h, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0) + 0.3 * noise[:, 5:]
    u, h1 = noisy(x, h, noise)
    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(u, torch.sigmoid(h_ref @ quiet.fc.weight.T + quiet.fc.bias))
    assert GRUPolicy(5, 7, 3, hidden_noise=0.3).noise_dim == 7
    with pytest.raises(ValueError, match="hidden_noise must be a standard deviation >= 0, got -1"):
        GRUPolicy(5, 7, 3, hidden_noise=-1)


def test_mlp_contract():
    policy = MLPPolicy(5, (4,), 2)
    assert policy.state_dim == 0 and policy.noise_dim == 0
    h = policy.initial_hidden((3, 2))
    assert h.shape == (3, 2, 0)
    u, h1 = policy(torch.randn(3, 2, 5), h)
    assert u.shape == (3, 2, 2) and h1.shape == (3, 2, 0) and policy.activity(h1).shape == (3, 2, 0)


@pytest.mark.parametrize("name", sorted(POLICY_CASES))
def test_contract_under_functional_call_and_vmap(name):
    """initial_hidden and forward with noise, for an ensemble of 3, equal the members' own calls; any
    leading batch dims work."""
    torch.manual_seed(1)
    members = [POLICY_CASES[name]() for _ in range(3)]
    base = members[0]
    weights, buffers = stack_module_state(members)
    h = vmap(lambda w, b: functional_method(base, (w, b), "initial_hidden", (2, 4)))(weights, buffers)
    assert h.shape == (3, 2, 4, base.state_dim)
    obs = torch.randn(3, 2, 4, 6)
    noise = torch.randn(3, 2, 4, base.noise_dim)
    actions, h1 = vmap(lambda w, b, o, hh, n: functional_call(base, (w, b), (o, hh, n)))(weights, buffers, obs, h, noise)
    for k, m in enumerate(members):
        torch.testing.assert_close(h[k], m.initial_hidden((2, 4)))
        a_k, h_k = m(obs[k], h[k], noise[k])
        torch.testing.assert_close(actions[k], a_k)
        torch.testing.assert_close(h1[k], h_k)
        assert ((a_k > 0) & (a_k < 1)).all() and a_k.shape == (2, 4, 2)
        assert m.init_hidden(5).shape == (5, m.state_dim)
        assert m.activity(h_k).shape[:-1] == (2, 4)


@pytest.mark.parametrize("name", ["gru", "rate", "modular-no-output-delay", "modular", "mlp"])
def test_readout_is_the_action_of_the_updated_state(name):
    """readout(h_new) equals forward's action (noise included), so the engine can read the action out of a
    perturbed state; None / absent where the action does not read the updated state."""
    torch.manual_seed(2)
    policy = (ModularGRUPolicy(**three_modules(output_delay=0)) if name == "modular-no-output-delay"
              else POLICY_CASES[name]())
    if name in ("modular", "mlp"):
        assert getattr(policy, "readout", None) is None
        return
    obs, noise = torch.randn(3, 6), torch.randn(3, policy.noise_dim)
    action, h = policy(obs, policy.initial_hidden((3,)) + 0.1 * torch.randn(3, policy.state_dim), noise)
    torch.testing.assert_close(policy.readout(h), action, rtol=0, atol=0)
