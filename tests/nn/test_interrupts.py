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
