"""Run directories: config, resumable checkpoint, loss log. Writes are atomic (temp file + rename)
so an interrupted save never corrupts what was saved before."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import torch

from motornet_fn.nn.train import TrainConfig, Trainer

CONFIG, CHECKPOINT, LOSSES = "config.json", "checkpoint.pt", "losses.csv"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def prepare_run_dir(path: str | Path) -> Path:
    """Create a new run directory; refuse to reuse a non-empty one (nothing saved is overwritten)."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"output directory {str(path)!r} already exists and is not empty; "
                              f"choose another --out, or continue it with --resume {str(path)!r}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_run(trainer: Trainer, path: str | Path) -> None:
    """Write config.json, checkpoint.pt and losses.csv for ``trainer`` into ``path``."""
    path = Path(path)
    _atomic(path / CONFIG, lambda p: p.write_text(json.dumps(dataclasses.asdict(trainer.config), indent=2)))
    _atomic(path / CHECKPOINT, lambda p: torch.save(trainer.state_dict(), p))
    _atomic(path / LOSSES, lambda p: write_losses(trainer, p))


def write_losses(trainer: Trainer, path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["batch", "member", "seed", "loss", "grad_norm", "lr", "seconds"])
        log = trainer.log
        for i, (losses, norms) in enumerate(zip(log.loss, log.grad_norm)):
            for k, (loss, norm) in enumerate(zip(losses, norms)):
                writer.writerow([i + 1, k, trainer.seeds[k], f"{loss:.8g}", f"{norm:.6g}", f"{log.lr[i]:.6g}",
                                 f"{log.seconds[i]:.5f}"])


def load_config(path: str | Path) -> TrainConfig:
    """The TrainConfig saved in a run directory."""
    file = Path(path) / CONFIG
    if not file.exists():
        raise FileNotFoundError(f"{str(path)!r} is not a run directory: no {CONFIG}")
    return TrainConfig(**json.loads(file.read_text()))


def load_run(path: str | Path, map_location: str | None = None) -> Trainer:
    """Rebuild the trainer of a run directory at its last checkpoint."""
    config = load_config(path)
    if map_location is not None:
        config.device = map_location
    trainer = Trainer(config)
    file = Path(path) / CHECKPOINT
    if not file.exists():
        raise FileNotFoundError(f"no {CHECKPOINT} in {str(path)!r}")
    state = torch.load(file, map_location=config.device, weights_only=False)
    state["config"]["device"] = config.device
    trainer.load_state_dict(state)
    return trainer
