"""trainable_names: train_only choices map to the right parameters for every policy, and training only
those leaves the others untouched."""
from __future__ import annotations

import pytest
import torch

import motornet_fn as mn
from motornet_fn.nn.freeze import TRAIN_ONLY, trainable_names
from motornet_fn.nn.modular import ModularGRUPolicy
from motornet_fn.nn.policies import GRUPolicy, MLPPolicy
from motornet_fn.nn.rate_rnn import RateRNNPolicy
from tests.nn.modular_helpers import three_modules


def test_gru_choices():
    p = GRUPolicy(4, 5, 2)
    assert trainable_names(p) == [n for n, _ in p.named_parameters()] == trainable_names(p, "all")
    assert trainable_names(p, "readout") == ["fc.weight", "fc.bias"]
    assert trainable_names(p, "recurrent") == ["gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0"]
    assert trainable_names(p, "input") == ["gru.weight_ih_l0"]
    assert "gru.weight_ih_l0" not in trainable_names(p, "no_input") and len(trainable_names(p, "no_input")) == 5
    assert trainable_names(p, "no_readout") == ["gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0"]


@pytest.mark.parametrize("policy", [
    MLPPolicy(4, (5, 5), 2), RateRNNPolicy(4, 5, 2), ModularGRUPolicy(**three_modules()),
    mn.policy.PolicyGRU(4, 5, 2, device="cpu"),
], ids=["mlp", "rate", "modular", "PolicyGRU"])
def test_groups_partition_every_policy(policy):
    names = [n for n, _ in policy.named_parameters()]
    parts = [set(trainable_names(policy, g)) for g in ("input", "recurrent", "readout")]
    assert set.union(*parts) == set(names) and sum(map(len, parts)) == len(names)
    assert set(trainable_names(policy, "no_input")) == set(names) - parts[0]


def test_training_only_the_readout_leaves_the_rest_unchanged():
    torch.manual_seed(0)
    policy = ModularGRUPolicy(**three_modules(connectivity_delay=None, output_delay=0))
    names = trainable_names(policy, "readout")
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    opt = torch.optim.Adam([p for n, p in policy.named_parameters() if n in names], lr=1e-2)
    h = policy.initial_hidden((3,))
    for _ in range(3):
        a, h = policy(torch.randn(3, 6), h)
    a.sum().backward()
    opt.step()
    for n, p in policy.named_parameters():
        assert torch.equal(p, before[n]) != (n in names), n


def test_unknown_choice_lists_the_valid_ones():
    with pytest.raises(ValueError, match="train_only must be None or one of \\['all', 'readout', 'recurrent'"):
        trainable_names(GRUPolicy(2, 3, 1), "gates")
    assert set(TRAIN_ONLY) == {"all", "readout", "recurrent", "input", "no_input", "no_readout"}
    with pytest.raises(TypeError, match="does not declare parameter_groups"):
        trainable_names(torch.nn.Linear(2, 2))
