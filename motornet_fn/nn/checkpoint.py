"""Run directories: config, resumable checkpoint, loss log.

Writes are atomic: each file is written to ``<name>.tmp``, flushed to disk and renamed over the old
one, so a failed or interrupted save (a full disk, Ctrl-C) leaves the previous file intact and no
``.tmp`` behind. Reads that fail name the file and say how to recover.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path

import torch

from motornet_fn.nn.train import TrainConfig, Trainer

CONFIG, CHECKPOINT, LOSSES = "config.json", "checkpoint.pt", "losses.csv"
STATE_KEYS = ("config", "step", "weights", "optimizer", "scheduler", "generators", "log")


class RunFileError(ValueError):
    """A file of a run directory cannot be used; the message names it and says how to recover."""


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary file)`` on ``path.tmp``, then rename it over ``path``; on any failure remove the
    temporary file and leave ``path`` as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_run_dir(path: str | Path) -> list[Path]:
    """Create a new, writable run directory; refuse a non-empty one (nothing saved is overwritten).

    Returns:
        The directories this call created, the run directory first and its new parents after it (empty
        when it existed already): what :func:`remove_unfinished_run` may remove.

    Raises:
        FileExistsError: ``path`` exists and is a file or a non-empty directory.
        PermissionError: ``path`` cannot be created or written.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"output directory {str(path)!r} already exists and is not empty; "
                              f"choose another --out, or continue it with --resume {str(path)!r}")
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create the run directory {str(path)!r}: {err.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to the run directory {str(path)!r}: permission denied")
    return created


def remove_unfinished_run(path: str | Path, created: list[Path]) -> None:
    """Delete the files :func:`save_run` wrote into ``path`` (and any ``.tmp`` left of them), then the
    directories of ``created`` that are empty now. Anything else in them is kept, and so are they."""
    path = Path(path)
    for name in (CONFIG, CHECKPOINT, LOSSES):
        (path / name).unlink(missing_ok=True)
        (path / (name + ".tmp")).unlink(missing_ok=True)
    for directory in created:  # deepest first
        try:
            directory.rmdir()
        except OSError:  # not empty: someone else's files are in it
            return


def save_run(trainer: Trainer, path: str | Path) -> None:
    """Write checkpoint.pt, losses.csv and config.json for ``trainer`` into ``path`` (each atomically)."""
    path = Path(path)
    atomic_write(path / CHECKPOINT, lambda f: torch.save(trainer.state_dict(), f))
    atomic_write(path / LOSSES, lambda f: f.write(losses_csv(trainer).encode()))
    atomic_write(path / CONFIG, lambda f: f.write(json.dumps(dataclasses.asdict(trainer.config), indent=2).encode()))


def losses_csv(trainer: Trainer) -> str:
    """The trainer's log as CSV: one row per batch and member."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["batch", "member", "seed", "loss", "grad_norm", "lr", "seconds"])
    log = trainer.log
    for i, (losses, norms) in enumerate(zip(log.loss, log.grad_norm)):
        for k, (loss, norm) in enumerate(zip(losses, norms)):
            writer.writerow([i + 1, k, trainer.seeds[k], f"{loss:.8g}", f"{norm:.6g}", f"{log.lr[i]:.6g}",
                             f"{log.seconds[i]:.5f}"])
    return text.getvalue()


def load_config(path: str | Path) -> TrainConfig:
    """The TrainConfig saved in a run directory.

    Raises:
        FileNotFoundError: ``path`` holds no config.json.
        RunFileError: config.json is not JSON (the message gives the line), has an unknown key or a bad
            value (the message names the key and what it must be).
    """
    file = Path(path) / CONFIG
    if not file.is_file():
        raise FileNotFoundError(f"{str(path)!r} is not a run directory: no {CONFIG}")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise RunFileError(f"{file} is not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{file} is not a text file; restore it from a backup") from None
    try:
        return TrainConfig.from_dict(data, source=str(file))
    except ValueError as err:
        raise RunFileError(str(err)) from None


def load_run(path: str | Path, map_location: str | None = None) -> Trainer:
    """Rebuild the trainer of a run directory at its last checkpoint.

    Raises:
        FileNotFoundError: no config.json or checkpoint.pt.
        RunFileError: a file is unreadable, or checkpoint.pt was saved with another config than
            config.json holds; the message names the file, what is wrong and how to recover.
    """
    path = Path(path)
    config = load_config(path)
    if map_location is not None:
        config.device = map_location
    trainer = Trainer(config)
    file = path / CHECKPOINT
    if not file.is_file():
        raise FileNotFoundError(f"no {CHECKPOINT} in {str(path)!r}")
    recover = f"restore it from a backup, or train again in a new directory (or move {str(path)!r} aside first)"
    with open(file, "rb") as f:  # a missing permission is reported as such
        try:
            state = torch.load(f, map_location=config.device, weights_only=False)
        except Exception as err:  # torch and pickle raise many kinds (even OSError) on a damaged file
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:100] if str(err) else 'no detail'}"
            raise RunFileError(f"{file} is unreadable: truncated or corrupted ({reason}); {recover}") from None
    missing = [key for key in STATE_KEYS if key not in state] if isinstance(state, dict) else ["all keys"]
    if missing:
        raise RunFileError(f"{file} is not a motornet_fn checkpoint (it lacks {', '.join(missing)}); {recover}")
    state["config"]["device"] = config.device
    try:
        trainer.load_state_dict(state)
    except ValueError as err:
        raise RunFileError(f"{file} does not match {path / CONFIG} (the trainer's config): {err}; "
                           f"undo the edit of {CONFIG}") from None
    return trainer
