"""A graph pass that changes nothing, used to put a source file's hash into inductor's and AOTAutograd's cache keys."""
from __future__ import annotations

import hashlib
from pathlib import Path

from torch._inductor.custom_graph_pass import CustomGraphPass


class FileVersion(CustomGraphPass):
    """A no-op custom graph pass whose ``uuid`` is the SHA-256 of ``path``: passed as an inductor option, code
    compiled under an earlier version of that file is never replayed from the caches."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __call__(self, graph) -> None:
        return None

    def uuid(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()
