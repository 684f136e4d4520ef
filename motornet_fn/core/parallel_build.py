"""A C++ loop built apart from its kernels compiles its two object files side by side.

Inductor (torch 2.13) builds a module with ``cpp_wrapper_build_separate`` (the trainer's episode,
``nn.objective.CPP_LOOP_OPTIONS``) in three steps, one after the other, in the compiling thread: the loop
(``*.main.o``, -O1), the kernels (``*.optimized.o``, -O3), then the link. The two compilations are
independent, so :func:`install` makes inductor's build step run the loop's in a second thread while the
calling thread compiles the kernels, and link when both are done. The commands, the files and inductor's
file lock are inductor's own; only the order changes, so the module built is the same.

Measured on a 2-core machine, 2026-12-03 (tutorial training episode, fresh cache): the forward module's
two compilations took 0.95 s and 1.92 s one after the other, the backward's 1.83 s and 1.69-7.82 s.
"""
from __future__ import annotations

import os
import threading

_original = None


def _build_if_missing(builder) -> None:
    if not os.path.exists(builder.get_target_file_path()):
        builder.build()


def _compile_side_by_side(lock_path: str, cpp_builders) -> None:
    """Inductor's ``_worker_compile_cpp`` with a (loop, kernels, linker) triple's first two compiled at once."""
    if len(cpp_builders) != 3:
        return _original(lock_path, cpp_builders)
    from torch._inductor import codecache
    from torch.utils._filelock import FileLock

    loop, kernels, linker = cpp_builders
    with FileLock(lock_path, timeout=codecache.LOCK_TIMEOUT):
        errors: list[BaseException] = []

        def build_loop() -> None:
            try:
                _build_if_missing(loop)
            except BaseException as exc:  # re-raised in the calling thread below
                errors.append(exc)

        thread = threading.Thread(target=build_loop, name="motornet_fn-build-loop", daemon=True)
        thread.start()
        try:
            _build_if_missing(kernels)
        finally:
            thread.join()
        if errors:
            raise errors[0]
        _build_if_missing(linker)
    return None


def install() -> None:
    """Make inductor's C++ build step compile a loop and its kernels side by side (idempotent)."""
    global _original
    from torch._inductor import codecache

    if codecache._worker_compile_cpp is not _compile_side_by_side:
        _original = codecache._worker_compile_cpp
        codecache._worker_compile_cpp = _compile_side_by_side


__all__ = ["install"]
