"""Helpers for tests of run directories: what a directory holds, byte for byte."""
from __future__ import annotations

from pathlib import Path

#: the options of a tiny training run (batch 4, 0.05 s episodes, 8 hidden units, no progress bar)
TINY = ["--batch-size", "4", "--episode-duration", "0.05", "--hidden-size", "8", "--no-progress"]


def files_of(run: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``run`` (relative path -> (content, mtime in ns)), to compare before and after."""
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run.rglob("*"))
            if p.is_file()}
