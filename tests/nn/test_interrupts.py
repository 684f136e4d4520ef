"""A Ctrl-C inside a training batch is held until the batch has finished."""
import os
import signal

import pytest
import torch

from motornet_fn.nn import TrainConfig, Trainer
from motornet_fn.nn.interrupts import finish_before_interrupt


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's Ctrl-C handler, whatever pytest inherited (a shell's background job ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_interrupt_inside_the_block_is_raised_after_it():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with finish_before_interrupt():
            ctrl_c()
            done.append("rest of the block")
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_interrupt_raises_at_once():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with finish_before_interrupt():
            ctrl_c()
            ctrl_c()
            done.append("not reached")
    assert done == [] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_third_interrupt_waits_for_the_cleanup_after_the_second():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with finish_before_interrupt():
            try:
                ctrl_c()
                ctrl_c()
            except KeyboardInterrupt:
                ctrl_c()  # pressed again while the batch is being rolled back
                done.append("cleanup finished")
                raise
    assert done == ["cleanup finished"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_defer_interrupts_holds_every_interrupt_until_the_end():
    from motornet_fn.nn.interrupts import defer_interrupts

    done = []
    with pytest.raises(KeyboardInterrupt):
        with defer_interrupts():
            ctrl_c()
            ctrl_c()
            ctrl_c()
            done.append("rest of the block")
    assert done == ["rest of the block"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with finish_before_interrupt():
            ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_fit_interrupted_mid_batch_keeps_a_consistent_resumable_log(monkeypatch):
    trainer = Trainer(TrainConfig(n_batches=5, batch_size=2, episode_duration=0.05, hidden_size=4))
    original = trainer.optimizer.step

    def step_then_interrupt(*args, **kwargs):  # Ctrl-C between the optimiser step and the log update
        out = original(*args, **kwargs)
        if trainer.step == 1:
            ctrl_c()
        return out

    monkeypatch.setattr(trainer.optimizer, "step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(progress=False)
    assert trainer.step == 2
    log = trainer.log
    assert len(log.loss) == len(log.grad_norm) == len(log.lr) == len(log.seconds) == 2
    reference = Trainer(TrainConfig(n_batches=5, batch_size=2, episode_duration=0.05, hidden_size=4))
    reference.fit(n_batches=2, progress=False)
    assert log.loss == reference.log.loss
    for a, b in zip(trainer.models[0].parameters(), reference.models[0].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("ensemble_size", [1, 2])
def test_a_second_interrupt_mid_batch_rolls_the_trainer_back_to_the_last_batch(ensemble_size):
    cfg = TrainConfig(n_batches=5, batch_size=2, episode_duration=0.05, hidden_size=4, ensemble_size=ensemble_size,
                      proprio_noise=0.01)
    trainer = Trainer(cfg)
    objective = trainer.objective

    def two_ctrl_c_in_batch_3(trace):  # batch 3 has drawn its samples; its optimiser step has not run
        if trainer.step == 2:
            ctrl_c()
            ctrl_c()
        return objective(trace)

    trainer.objective = two_ctrl_c_in_batch_3
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(progress=False)
    del trainer.objective
    reference = Trainer(cfg)
    reference.fit(2, progress=False)
    assert trainer.step == 2 and trainer.log.loss == reference.log.loss
    for g, r in zip(trainer.generators, reference.generators):
        assert torch.equal(g.get_state(), r.get_state())
    for k in range(ensemble_size):
        for name, value in reference.policy(k).state_dict().items():
            assert torch.equal(trainer.policy(k).state_dict()[name], value), name
    trainer.fit(progress=False)  # continues exactly as an uninterrupted run
    reference.fit(progress=False)
    assert trainer.log.loss == reference.log.loss
