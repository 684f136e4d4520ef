"""Ahead-of-time compiled functions, saved on disk and reloaded by later processes.

``torch.compile`` traces a function again in every new process (Dynamo's tracing is most of a warm
start), and every call of a compiled function evaluates its guards and runtime wrappers in Python. For
small functions called once per simulation step (the object layer's compiled step), both costs matter.
``torch.compile(fn).aot_compile(example)`` (torch >= 2.13, experimental) traces once and returns a
serialisable callable; a reloaded artifact skips tracing and dispatches faster.

:class:`Precompiled` keeps one artifact per input signature. It calls the one that served last; its
guards (shapes, dtypes, devices, grad flags, grad mode) reject any other signature, in which case another
artifact is tried, then loaded from disk, then compiled and saved. Artifacts live under
``<inductor cache>/motornet_fn_aot`` and are keyed by the caller's ``cache_key`` (the static structure the
function closes over), the input signature, the torch version and a hash of this package's source, so an
edited package never reloads stale code. Anything that fails on the way (an unsupported op, an
unpicklable closure) falls back to plain ``torch.compile`` for that signature.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

from motornet_fn.core.tree import tree_leaves

log = logging.getLogger("motornet_fn.compile")


def supported() -> bool:
    """Whether this torch has ``torch.compile(...).aot_compile`` and ``torch.compiler.load_compiled_function``."""
    return hasattr(torch.compiler, "load_compiled_function") and os.environ.get("MOTORNET_FN_AOT", "1") != "0"


@lru_cache(maxsize=1)
def source_hash() -> str:
    """Hash of every ``.py`` file of the installed ``motornet_fn`` package (an edit invalidates artifacts)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(torch.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def artifact_dir() -> Path:
    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR", tempfile.gettempdir())) / "motornet_fn_aot"


def call_signature(args: tuple) -> str:
    """What the compiled code specialises on: every leaf's shape, dtype, device and grad flag (tensors) or
    value (anything else), plus the grad mode."""
    parts = [str(torch.is_grad_enabled())]
    for x in tree_leaves(args):
        parts.append(f"{tuple(x.shape)}|{x.dtype}|{x.device}|{x.requires_grad}" if isinstance(x, torch.Tensor)
                     else repr(x))
    return ";".join(parts)


def static_key(*objects: Any) -> str:
    """A stable string for the static objects a compiled function closes over (specs, layouts): the hash of
    their pickle, which holds every attribute (``repr`` where they cannot be pickled)."""
    try:
        data = pickle.dumps(objects, protocol=4)
    except Exception:  # noqa: BLE001 - unpicklable: fall back on the repr
        data = repr(objects).encode()
    return hashlib.sha256(data).hexdigest()


def _guard_failure(error: RuntimeError) -> bool:
    return "GuardManager check failed" in str(error)


class Precompiled:
    """``compiled(*args)``: ``fn(*args)`` through ahead-of-time compiled artifacts (see module docstring).

    Args:
        compiled: ``torch.compile(fn, fullgraph=True, dynamic=False, ...)``.
        cache_key: a string naming everything ``fn`` closes over that changes its code (e.g. ``repr`` of the
            static spec); with the input signature it keys the artifacts on disk.
        on_compile: called as ``on_compile(args, seconds, loaded)`` after an artifact is built or loaded.
    """

    def __init__(self, compiled: Callable, cache_key: str, on_compile: Callable[[tuple, float, bool], None]):
        self.compiled, self.cache_key, self.on_compile = compiled, cache_key, on_compile
        self.artifacts: list[Callable] = []
        self.last = 0

    def __call__(self, *args):
        if self.artifacts:
            try:
                return self.artifacts[self.last](*args)
            except RuntimeError as error:
                if not _guard_failure(error):
                    raise
            for i, artifact in enumerate(self.artifacts):
                if i == self.last:
                    continue
                try:
                    out = artifact(*args)
                except RuntimeError as error:
                    if not _guard_failure(error):
                        raise
                    continue
                self.last = i
                return out
        self.artifacts.append(self._artifact(args))
        self.last = len(self.artifacts) - 1
        return self.artifacts[self.last](*args)

    def _artifact(self, args: tuple) -> Callable:
        key = hashlib.sha256(f"{self.cache_key}\n{call_signature(args)}\n{source_hash()}".encode()).hexdigest()
        path = artifact_dir() / f"{key[:32]}.pt"
        start = time.perf_counter()
        if path.exists():
            try:
                with open(path, "rb") as f:
                    artifact = torch.compiler.load_compiled_function(f)
                self.on_compile(args, time.perf_counter() - start, True)
                return artifact
            except Exception as error:  # a damaged or incompatible file: rebuild it
                log.debug("could not load %s (%s); compiling again", path, error)
        try:
            with warnings.catch_warnings():  # Dynamo's guard builder reads .grad of non-leaf inputs
                warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf")
                artifact = self.compiled.aot_compile((args, {}))
        except Exception as error:  # noqa: BLE001 - anything aot_compile cannot take runs through torch.compile
            log.debug("aot_compile failed (%s); using torch.compile", error)
            artifact = self.compiled
        else:
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                artifact.save_compiled_function(str(partial))
                os.replace(partial, path)
            except Exception as error:  # noqa: BLE001 - not savable: keep it for this process only
                partial.unlink(missing_ok=True)
                log.debug("could not save the compiled artifact (%s)", error)
        self.on_compile(args, time.perf_counter() - start, False)
        return artifact


__all__ = ["Precompiled", "static_key", "supported", "source_hash", "call_signature", "artifact_dir"]
