"""The motornet-fn command end to end on tiny runs."""
import json
import subprocess
import sys

import pytest

from motornet_fn.cli import main

TINY = ["--batches", "3", "--batch-size", "4", "--episode-duration", "0.05", "--hidden-size", "8", "--no-progress"]


def test_train_evaluate_plot_and_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run), "--checkpoint-every", "2"]) == 0
    for name in ("config.json", "checkpoint.pt", "losses.csv", "loss.png", "trajectories.png"):
        assert (run / name).stat().st_size > 0, name
    config = json.loads((run / "config.json").read_text())
    assert config["n_batches"] == 3 and config["effector"] == "ReluPointMass24"
    assert len((run / "losses.csv").read_text().splitlines()) == 1 + 3

    assert main(["evaluate", str(run), "--batch-size", "5"]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    assert result["batches_trained"] == 3 and result["final_distance_mean_m"] > 0

    (run / "loss.png").unlink()
    assert main(["plot", str(run)]) == 0
    assert (run / "loss.png").exists()

    # an explicit --batches extends a finished run
    assert main(["train", "--resume", str(run), "--batches", "5", "--no-progress"]) == 0
    assert len((run / "losses.csv").read_text().splitlines()) == 1 + 5


def test_existing_output_dir_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("precious")
    assert main(["train", *TINY, "--out", str(run)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (run / "keep.txt").read_text() == "precious" and len(list(run.iterdir())) == 1


def test_bad_arguments_are_reported(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--batches", "0"])
    assert "expected an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--effector", "Octopus"])
    assert "invalid choice: 'Octopus'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_leaves_a_resumable_checkpoint(tmp_path):
    """A real SIGINT to a training process: exit code 130, checkpoint at the interrupted batch."""
    import signal
    import time

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "motornet_fn", "train", "--batches", "100000", "--batch-size", "2",
                             "--episode-duration", "0.05", "--hidden-size", "4", "--no-progress", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job (``cmd &``) inherits SIGINT ignored, and Python keeps
                            # an ignored SIGINT ignored: give the child the default disposition back
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Resume with: motornet-fn train --resume" in err
    from motornet_fn.nn.checkpoint import load_run

    trainer = load_run(run)
    assert trainer.step >= 1
    assert len(trainer.log.loss) == trainer.step


def test_train_keeps_freed_memory_for_the_next_batch_unless_told_not_to(tmp_path, monkeypatch):
    from motornet_fn import cli

    calls = []
    monkeypatch.setattr(cli, "retain_freed_memory", lambda: calls.append("retain") or True)
    assert main(["train", *TINY, "--batches", "1", "--out", str(tmp_path / "a")]) == 0
    assert calls == ["retain"]
    assert main(["train", *TINY, "--batches", "1", "--out", str(tmp_path / "b"), "--release-memory"]) == 0
    assert calls == ["retain"]


def test_train_sets_the_thread_count(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        assert main(["train", *TINY, "--batches", "1", "--threads", "2", "--out", str(tmp_path / "run")]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
