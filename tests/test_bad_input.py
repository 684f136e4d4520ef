"""Bad input to the motornet-fn command, run as a user would: each mistake gets exit code 2 and ONE line
on stderr that names the problem (no traceback), and nothing in the run directory changes."""
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motornet_fn.cli import main
from tests.run_dirs import TINY, files_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # a fresh Python (6 s of CPU to import torch) per case: 1.5 min on 2 idle cores


def motornet_fn(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "motornet_fn", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300)


def fails_in_one_line(*argv: str, cwd: Path, **env: str) -> str:
    """stderr of a run that must exit with 2 and print one line, no traceback."""
    result = motornet_fn(*argv, cwd=cwd, **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--batches", "2", *TINY, "--out", str(run)]) == 0
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of a finished 2-batch run, to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.mark.parametrize("damage", ["truncated", "empty", "zero-filled"])
def test_a_damaged_checkpoint(run, damage):
    file = run / "checkpoint.pt"
    data = file.read_bytes()
    file.write_bytes({"truncated": data[:3000], "empty": b"", "zero-filled": bytes(len(data))}[damage])
    before = files_of(run)
    err = fails_in_one_line("train", "--resume", str(run), cwd=run.parent)
    assert f"{file} is unreadable: truncated or corrupted" in err and "restore it from a backup" in err
    assert files_of(run) == before


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace('"lr": 0.001', '"lr": "0.001"'), "config.json: lr must be float, got '0.001' (str)"),
    (lambda text: text.replace('"lr": 0.001', '"lr": 0.001, "foo": 1'), "config.json: unknown key 'foo'"),
    (lambda text: text.replace('"lr": 0.001', '"lr": 0.002'), "in lr: checkpoint 0.001, trainer 0.002; undo the edit"),
])
def test_a_broken_config(run, edit, message):
    (run / "config.json").write_text(edit((run / "config.json").read_text()))
    before = files_of(run)
    assert message in fails_in_one_line("evaluate", str(run), cwd=run.parent)
    assert files_of(run) == before


def test_a_config_that_is_not_json(run):
    file = run / "config.json"
    line = 1 + next(i for i, text in enumerate(file.read_text().splitlines()) if '"lr"' in text)
    file.write_text(file.read_text().replace('"lr": 0.001,', '"lr": 0.001,,'))
    before = files_of(run)
    assert f"{file} is not valid JSON: line {line}, column " in fails_in_one_line("plot", str(run), cwd=run.parent)
    assert files_of(run) == before


@pytest.mark.parametrize("argv, message", [
    (["--device", "cuda"], "--device 'cuda' is not available"),
    (["--device", "foo"], "--device must be a torch device such as 'cpu' or 'cuda', got 'foo'"),
    (["--episode-duration", "0.001"], "--episode-duration must be at least 3 time steps of ReluPointMass24's dt = 0.01 s"),
    (["--batches", "abc"], "--batches: expected an integer >= 1, got 'abc' (see motornet-fn train --help)"),
])
def test_a_bad_option_creates_no_directory(tmp_path, argv, message):
    assert message in fails_in_one_line("train", *TINY, *argv, cwd=tmp_path, CUDA_VISIBLE_DEVICES="")
    assert list(tmp_path.iterdir()) == []  # not even runs/


@contextlib.contextmanager
def read_only(directory: Path):
    """``directory`` made unwritable (as root, where permissions do not bind, by the immutable flag)."""
    directory.mkdir()
    directory.chmod(0o555)
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None
    if immutable and subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode != 0:
        immutable = False
    try:
        if os.access(directory, os.W_OK):
            pytest.skip("cannot make a directory read-only here")
        yield directory
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


@pytest.mark.parametrize("out", ["ro/run", "ro"])
def test_a_read_only_output_directory(tmp_path, out):
    with read_only(tmp_path / "ro"):
        err = fails_in_one_line("train", *TINY, "--out", str(tmp_path / out), cwd=tmp_path)
        assert str(tmp_path / out) in err and ("cannot create" in err or "cannot write" in err)
        assert list((tmp_path / "ro").iterdir()) == []


def test_resume_with_options_that_would_change_the_run(run):
    before = files_of(run)
    err = fails_in_one_line("train", "--resume", str(run), "--effector", "RigidTendonArm26", "--lr", "0.5",
                            cwd=run.parent)
    assert "--effector RigidTendonArm26 (the run has ReluPointMass24), --lr 0.5 (the run has 0.001)" in err
    err = fails_in_one_line("train", "--resume", str(run), "--batches", "1", cwd=run.parent)
    assert "--batches 1 is below the 2 batches" in err
    assert files_of(run) == before
