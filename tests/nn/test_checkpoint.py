"""Run directories: atomic writes, and reads of damaged files that name the file and the fix."""
import errno
import json

import pytest
import torch

from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn.train import TrainConfig, Trainer
from tests.run_dirs import files_of

TINY = dict(n_batches=2, batch_size=4, episode_duration=0.05, hidden_size=8)


@pytest.fixture
def run(tmp_path):
    """A run directory after one batch of a two-batch run."""
    trainer = Trainer(TrainConfig(**TINY))
    trainer.fit(1, progress=False)
    ckpt.save_run(trainer, tmp_path)
    return tmp_path


def test_a_full_disk_leaves_the_old_checkpoint_intact_and_no_temporary_file(run, monkeypatch):
    before = files_of(run)
    trainer = ckpt.load_run(run)
    trainer.fit(progress=False)

    def disk_full(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", disk_full)
        with pytest.raises(OSError, match="No space left"):
            ckpt.save_run(trainer, run)
    assert files_of(run) == before
    ckpt.save_run(trainer, run)  # the trainer is still usable, and the next save succeeds
    assert ckpt.load_run(run).step == 2


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    def interrupted(f):
        f.write(b"{")
        raise KeyboardInterrupt

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        ckpt.atomic_write(tmp_path / "config.json", interrupted)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"] and (tmp_path / "config.json").read_text() == "{}"


@pytest.mark.parametrize("damage", ["truncated", "empty", "zero-filled", "not a checkpoint"])
def test_a_damaged_checkpoint_names_the_file_and_the_fix(run, damage):
    file = run / "checkpoint.pt"
    data = file.read_bytes()
    if damage == "not a checkpoint":
        torch.save({"weights": {}}, file)
    else:
        file.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "zero-filled": bytes(len(data))}[damage])
    expected = "is not a motornet_fn checkpoint" if damage == "not a checkpoint" else "is unreadable: truncated or corrupted"
    with pytest.raises(ValueError, match=f"{file}.*{expected}.*restore it from a backup"):
        ckpt.load_run(run)


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace('"lr": 0.001', '"lr": "0.001"'), r"config.json: lr must be float, got '0.001' \(str\)"),
    (lambda text: text.replace('"batch_size": 4', '"batch_size": 4.0'), r"batch_size must be int, got 4.0 \(float\)"),
    (lambda text: text.replace('"lr": 0.001', '"lr": 0.001, "learning_rate": 1'), r"unknown key 'learning_rate'"),
    (lambda text: text.replace('"lr": 0.001', '"lr": 0.002').replace('"seed": 0', '"seed": 3'),
     r"checkpoint.pt does not match .*config.json .*in lr: checkpoint 0.001, trainer 0.002; seed: checkpoint 0, trainer 3"),
])
def test_a_broken_config_names_the_file_and_the_key(run, edit, message):
    file = run / "config.json"
    file.write_text(edit(file.read_text()))
    with pytest.raises(ValueError, match=message):
        ckpt.load_run(run)


def test_a_config_that_is_not_json_names_the_file_and_the_line(run):
    file = run / "config.json"
    lines = file.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith('"lr"'))
    file.write_text(file.read_text().replace('"lr": 0.001,', '"lr": 0.001,,'))
    with pytest.raises(ValueError, match=f"{file} is not valid JSON: line {line}, column "):
        ckpt.load_run(run)


def test_config_from_dict_names_unknown_keys_and_types():
    assert TrainConfig.from_dict({"lr": 0.01}) == TrainConfig(lr=0.01)
    with pytest.raises(ValueError, match="run.json: unknown key 'hidden'; the config's keys are effector, muscle"):
        TrainConfig.from_dict({"hidden": 8}, source="run.json")
    with pytest.raises(ValueError, match=r"seed must be int, got '1' \(str\)"):
        TrainConfig.from_dict({"seed": "1"})
    with pytest.raises(ValueError, match="expected a JSON object of config fields, got list"):
        TrainConfig.from_dict([])
    json.dumps(TrainConfig.from_dict({"muscle": None}).__dict__)  # None stays allowed where the field allows it


def test_create_run_dir_reports_what_it_created_and_remove_unfinished_run_keeps_other_files(tmp_path):
    run = tmp_path / "a" / "run"
    created = ckpt.create_run_dir(run)
    assert created == [run, tmp_path / "a"]
    trainer = Trainer(TrainConfig(**TINY))
    ckpt.save_run(trainer, run)
    (run / "notes.txt").write_text("mine")
    ckpt.remove_unfinished_run(run, created)
    assert [p.name for p in run.iterdir()] == ["notes.txt"]
    (run / "notes.txt").unlink()
    ckpt.remove_unfinished_run(run, created)
    assert list(tmp_path.iterdir()) == []
