"""Ctrl-C between training batches, never inside one."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


@contextlib.contextmanager
def finish_before_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until the block has finished, then raise
    it (through the previous handler, normally ``KeyboardInterrupt``). A second Ctrl-C inside the
    block raises at once.

    A training batch draws samples, steps the optimiser and appends to the log; interrupted half-way
    it would leave a run that cannot resume exactly (or a log whose columns differ in length). Only
    the main thread can handle signals: elsewhere, and where SIGINT is ignored, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame):
        if received:  # asked twice: stop now
            raise KeyboardInterrupt
        received.append(signum)

    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield
        return
    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(signal.SIGINT, None)
        raise KeyboardInterrupt


__all__ = ["finish_before_interrupt"]
