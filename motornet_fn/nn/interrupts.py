"""Ctrl-C between training batches, never inside one."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


@contextlib.contextmanager
def _hold_sigint(second_raises: bool) -> Iterator[None]:
    """Hold SIGINTs that arrive inside the block and raise one ``KeyboardInterrupt`` after it; with
    ``second_raises`` the second SIGINT raises at once (once: the code cleaning up after it, such as
    a rollback to the last batch boundary, is not cut again)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield
        return
    received: list[int] = []

    def hold(signum, frame):
        received.append(signum)
        if second_raises and len(received) == 2:  # asked twice: stop now; later ones wait for the block
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(signal.SIGINT, None)
        raise KeyboardInterrupt


def finish_before_interrupt() -> contextlib.AbstractContextManager[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until the block has finished, then raise
    it (through the previous handler, normally ``KeyboardInterrupt``). A second Ctrl-C inside the
    block raises at once.

    A training batch draws samples, steps the optimiser and appends to the log; interrupted half-way
    it would leave a run that cannot resume exactly (or a log whose columns differ in length), so
    :meth:`~motornet_fn.nn.train.Trainer.fit` rolls a batch stopped by a second Ctrl-C back to the
    last batch boundary. Only the main thread can handle signals: elsewhere, and where SIGINT is
    ignored, this does nothing.
    """
    return _hold_sigint(second_raises=True)


def defer_interrupts() -> contextlib.AbstractContextManager[None]:
    """Hold every Ctrl-C that arrives inside the block until it has finished, then raise one
    ``KeyboardInterrupt``. For short steps that must not be cut (restoring a snapshot, the final save)."""
    return _hold_sigint(second_raises=False)


__all__ = ["defer_interrupts", "finish_before_interrupt"]
