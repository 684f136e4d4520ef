"""The research networks and composable losses inside the Trainer and the CLI."""
import csv
import dataclasses

import pytest
import torch

from motornet_fn.cli import main
from motornet_fn.nn import TrainConfig, Trainer
from motornet_fn.nn import checkpoint as ckpt

TINY = dict(n_batches=3, batch_size=4, episode_duration=0.1, hidden_size=8)
MODULAR = dict(policy="modular", policy_options={"modules": [8, 8, 4], "excitatory": 0.75, "delay": 2,
                                                 "feedback_prob": 0.5})


def test_an_ensemble_of_modular_networks_equals_separate_runs():
    cfg = TrainConfig(**TINY, **MODULAR, dtype="float64", seed=5, ensemble_size=3)
    ensemble = Trainer(cfg)
    ensemble.fit(progress=False)
    masks = []
    for k in range(3):
        single = Trainer(dataclasses.replace(cfg, ensemble_size=1, seed=5 + k))
        single.fit(progress=False)
        want = single.policy(0).state_dict()
        got = ensemble.policy(k).state_dict()
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-9, atol=1e-11, msg=name)
        masks.append(want["mask_rec"])
    assert not torch.equal(masks[0], masks[1])  # each member draws its own connection masks


def test_dale_signs_and_zero_masks_hold_through_training():
    trainer = Trainer(TrainConfig(**{**TINY, "n_batches": 20}, **MODULAR, lr=3e-2))
    trainer.fit(progress=False)
    model = trainer.policy(0)
    mask, sign = model.mask_rec, model.unit_sign
    effective = model.effective_weights()["W_rec"]  # (3 gates, hidden, hidden): what the network uses
    assert torch.all(effective[:, mask == 0] == 0) and bool((mask == 0).any())
    presynaptic = sign.expand_as(effective[0])
    nonzero = effective[0] != 0
    assert torch.all(torch.sign(effective[0][nonzero]) == presynaptic[nonzero])


def test_each_loss_term_is_logged_and_frozen_parts_stay_fixed(tmp_path):
    cfg = TrainConfig(**TINY, loss="position=1,effort=1e-3,hidden=1e-4", train_only="readout")
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.models[0].state_dict().items()}
    trainer.fit(progress=False)
    after = trainer.models[0].state_dict()
    assert set(trainer.log.terms) == {"position", "effort", "hidden"}
    for name in before:
        changed = not torch.equal(before[name], after[name])
        assert changed == name.startswith("fc."), name
    # the total is the weighted sum of the logged terms
    for i in range(3):
        t = {k: v[i][0] for k, v in trainer.log.terms.items()}
        total = t["position"] + 1e-3 * t["effort"] + 1e-4 * t["hidden"]
        assert abs(trainer.log.loss[i][0] - total) < 1e-6 * abs(total)
    ckpt.save_run(trainer, tmp_path)
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert {"term_position", "term_effort", "term_hidden"} <= set(rows[0]) and len(rows) == 3
    assert abs(float(rows[1]["term_hidden"]) - trainer.log.terms["hidden"][1][0]) < 1e-6


@pytest.mark.parametrize("policy", ["rate", "mlp", "gru"])
def test_every_registered_policy_trains(policy):
    trainer = Trainer(TrainConfig(**TINY, policy=policy, loss="five_term", ensemble_size=2))
    trainer.fit(progress=False)
    assert all(torch.isfinite(torch.tensor(v)).all() for v in trainer.log.loss)


def test_bad_policy_options_are_named():
    with pytest.raises(ValueError, match=r"policy 'gru' does not take \['modules'\]; its options are"):
        TrainConfig(policy_options={"modules": [4]}).validate()
    with pytest.raises(ValueError, match=r"excitatory must be a fraction in \(0, 1\]"):
        Trainer(TrainConfig(**TINY, policy="modular", policy_options={"modules": [4, 4], "excitatory": [0.5]}))
    with pytest.raises(ValueError, match=r"unknown loss term 'positon'"):
        TrainConfig(loss="positon=1").validate()
    with pytest.raises(ValueError, match=r"train_only must be None or one of"):
        TrainConfig(train_only="gates").validate()


def test_cli_trains_a_modular_network_with_a_composite_loss(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--policy", "modular", "--modules", "8,8", "--excitatory", "0.8", "--delay", "1",
                 "--loss", "position=1,hidden=1e-4", "--batches", "2", "--batch-size", "2",
                 "--episode-duration", "0.05", "--no-progress", "--out", str(run)]) == 0
    trainer = ckpt.load_run(run)
    assert trainer.config.policy_options == {"modules": [8, 8], "excitatory": 0.8, "delay": 1}
    assert trainer.policy(0).layout.module_size == (8, 8)
    assert main(["train", "--policy", "gru", "--modules", "8", "--out", str(tmp_path / "x")]) == 2
    assert "--modules: not an option of policy 'gru'" in capsys.readouterr().err
