"""Training loops: ensembles equal separate runs, resume is exact, losses fall."""
import dataclasses
import math

import pytest
import torch

from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn.train import TrainConfig, Trainer

TINY = dict(n_batches=4, batch_size=4, episode_duration=0.08, hidden_size=8)


def weights(trainer, k):
    return {name: p.detach().clone() for name, p in trainer.policy(k).state_dict().items()}


@pytest.mark.parametrize("extra", [{}, {"proprio_noise": 0.05, "action_noise": 0.05, "lr_schedule": "cosine"}])
def test_ensemble_equals_separate_runs_with_the_same_seeds(extra):
    cfg = TrainConfig(**TINY, dtype="float64", seed=3, ensemble_size=3, **extra)
    ensemble = Trainer(cfg)
    ensemble.fit(progress=False)
    for k in range(3):
        single = Trainer(dataclasses.replace(cfg, ensemble_size=1, seed=3 + k))
        single.fit(progress=False)
        got, want = weights(ensemble, k), weights(single, 0)
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-9, atol=1e-11, msg=name)
        torch.testing.assert_close(torch.tensor(ensemble.log.loss)[:, k], torch.tensor(single.log.loss)[:, 0],
                                   rtol=1e-9, atol=0)
    # members differ from each other (different seeds, different data)
    assert not torch.equal(weights(ensemble, 0)["fc.bias"], weights(ensemble, 1)["fc.bias"])


@pytest.mark.parametrize("ensemble_size", [1, 2])
def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path, ensemble_size):
    cfg = TrainConfig(**{**TINY, "n_batches": 6}, ensemble_size=ensemble_size, proprio_noise=0.01)
    straight = Trainer(cfg)
    straight.fit(progress=False)

    first = Trainer(cfg)
    first.fit(3, progress=False)
    ckpt.save_run(first, tmp_path)
    del first
    resumed = ckpt.load_run(tmp_path)
    assert resumed.step == 3
    resumed.fit(progress=False)
    for k in range(ensemble_size):
        for name, value in weights(straight, k).items():
            assert torch.equal(weights(resumed, k)[name], value), name
    assert resumed.log.loss == straight.log.loss


def test_default_task_loss_falls():
    torch.manual_seed(0)
    trainer = Trainer(TrainConfig(n_batches=60, batch_size=16, episode_duration=0.5, lr=3e-3))
    trainer.fit(progress=False)
    first = sum(l[0] for l in trainer.log.loss[:5]) / 5
    last = sum(l[0] for l in trainer.log.loss[-5:]) / 5
    assert last < 0.75 * first, (first, last)  # measured: 1.22 -> 0.83


def test_gradient_clipping_bounds_the_update():
    cfg = TrainConfig(**TINY, grad_clip=1e-3, ensemble_size=2)
    trainer = Trainer(cfg)
    trainer.train_batch()
    assert all(n > 1e-3 for n in trainer.log.grad_norm[0])  # the pre-clip norms are logged
    grads = [w.grad for w in trainer.weights.values()]
    post = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]), dim=0)
    torch.testing.assert_close(post, torch.full((2,), 1e-3), rtol=1e-3, atol=0)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="effector must be one of .* got 'Arm'"):
        Trainer(TrainConfig(effector="Arm"))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        Trainer(TrainConfig(batch_size=0))
    with pytest.raises(ValueError, match="muscle cannot be chosen for ReluPointMass24"):
        Trainer(TrainConfig(muscle="RigidTendonHillMuscle"))


def test_checkpoint_refuses_a_mismatched_config(tmp_path):
    trainer = Trainer(TrainConfig(**TINY))
    state = trainer.state_dict()
    other = Trainer(TrainConfig(**{**TINY, "lr": 0.5}))
    with pytest.raises(ValueError, match="checkpoint config differs from this trainer's config in lr: checkpoint "
                                         "0.001, trainer 0.5$"):
        other.load_state_dict(state)
    other.fit(1, progress=False)  # nothing was loaded: the trainer still works


@pytest.mark.parametrize("change, message", [
    (dict(episode_duration=0.02), r"episode_duration must be at least 3 time steps of ReluPointMass24's "
                                  r"dt = 0.01 s \(>= 0.03 s\) for an action to reach the fingertip, got 0.02"),
    (dict(episode_duration=math.inf), "episode_duration must be a finite duration > 0 s, got inf"),
    (dict(truncate_every=2), "truncate_every must be None or >= 3 steps"),
    (dict(device="foo"), "device must be a torch device such as 'cpu' or 'cuda', got 'foo'"),
    (dict(device="cuda:99"), "device 'cuda:99'"),
    (dict(lr="0.1"), r"lr must be float, got '0.1' \(str\)"),
    (dict(batch_size=True), r"batch_size must be int, got True \(bool\)"),
    (dict(task_options=[("n_targets", 4)]), r"task_options must be dict, got \[\('n_targets', 4\)\] \(list\)"),
])
def test_config_errors_name_the_field_and_what_it_must_be(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change).validate()


def test_cuda_without_cuda_is_refused_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'cuda' is not available: this torch .* use device 'cpu'"):
        Trainer(TrainConfig(device="cuda"))


@pytest.mark.parametrize("effector", ["ReluPointMass24", "RigidTendonArm26", "CompliantTendonArm26", "Reacher",
                                      "FreePointMass24"])
def test_the_shortest_valid_episode_trains(effector):
    from motornet_fn.nn.train import build_effector

    dt = build_effector(TrainConfig(effector=effector))[0].dt
    trainer = Trainer(TrainConfig(effector=effector, episode_duration=3 * dt, truncate_every=3, n_batches=1,
                                  batch_size=2, hidden_size=4))
    assert trainer.n_steps == 3
    trainer.fit(progress=False)
    assert math.isfinite(trainer.log.loss[0][0])


def test_a_non_finite_loss_stops_training_naming_batch_and_member_and_keeps_the_last_good_state():
    cfg = TrainConfig(**{**TINY, "n_batches": 5}, ensemble_size=3, compile=False)
    trainer = Trainer(cfg)
    sample = trainer.sample

    def poisoned(generator, batch_size, evaluation=False):  # member 1's observations become NaN in batch 3
        batch = sample(generator, batch_size, evaluation)
        if trainer.step == 2 and generator is trainer.generators[1]:
            batch = batch._replace(obs=batch.obs * math.nan)
        return batch

    trainer.sample = poisoned
    with pytest.raises(FloatingPointError, match=r"loss became non-finite at batch 3, member 1 \(seed 1\): nan; "
                                                 r"training stopped and the trainer keeps the state after batch 2"):
        trainer.fit(progress=False)
    del trainer.sample
    reference = Trainer(cfg)
    reference.fit(2, progress=False)
    assert trainer.step == 2 and trainer.log.loss == reference.log.loss
    for k in range(3):
        for name, value in weights(reference, k).items():
            assert torch.equal(weights(trainer, k)[name], value), name
    trainer.fit(progress=False)  # usable afterwards: continues as an uninterrupted run
    reference.fit(progress=False)
    assert trainer.log.loss == reference.log.loss
