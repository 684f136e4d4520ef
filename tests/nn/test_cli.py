"""The motornet-fn command end to end on tiny runs."""
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch

from motornet_fn.cli import main
from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn.train import Trainer
from tests.run_dirs import TINY, files_of

TINY = ["--batches", "3", *TINY]


@pytest.fixture
def trained(tmp_path):
    """A finished 3-batch run."""
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    return run


@pytest.fixture
def python_sigint_handler():
    """Python's Ctrl-C handler, whatever pytest inherited (a shell's background job ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def test_train_evaluate_plot_and_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run), "--checkpoint-every", "2"]) == 0
    for name in ("config.json", "checkpoint.pt", "losses.csv", "loss.png", "trajectories.png"):
        assert (run / name).stat().st_size > 0, name
    config = json.loads((run / "config.json").read_text())
    assert config["n_batches"] == 3 and config["effector"] == "ReluPointMass24"
    assert len((run / "losses.csv").read_text().splitlines()) == 1 + 3

    (run / "loss.png").unlink()
    assert main(["plot", str(run)]) == 0
    assert (run / "loss.png").exists()

    # an explicit --batches extends a finished run
    assert main(["train", "--resume", str(run), "--batches", "5", "--no-progress"]) == 0
    assert len((run / "losses.csv").read_text().splitlines()) == 1 + 5


def test_evaluate_writes_under_analysis_and_never_touches_the_run(trained, capsys):
    before = files_of(trained)
    assert main(["evaluate", str(trained), "--batch-size", "5"]) == 0
    assert main(["evaluate", str(trained), "--batch-size", "5", "--seed", "7"]) == 0
    after = files_of(trained)
    analysis = {name: value for name, value in after.items() if name.startswith("analysis/")}
    assert {name: value for name, value in after.items() if name not in analysis} == before
    assert sorted(analysis) == ["analysis/evaluation_member0_batch3_seed12345_n5.json",
                                "analysis/evaluation_member0_batch3_seed7_n5.json",
                                "analysis/trajectories_member0_batch3_seed12345_n5.png",
                                "analysis/trajectories_member0_batch3_seed7_n5.png"]
    result = json.loads(analysis["analysis/evaluation_member0_batch3_seed12345_n5.json"][0])
    assert result["batches_trained"] == 3 and result["final_distance_mean_m"] > 0 and result["seed"] == 12345


def test_evaluate_titles_say_which_member_of_the_ensemble(tmp_path, monkeypatch, capsys):
    from motornet_fn import cli

    run = tmp_path / "run"
    assert main(["train", *TINY, "--batches", "1", "--ensemble-size", "3", "--out", str(run)]) == 0
    figures = []
    monkeypatch.setattr(cli, "_save_png", lambda fig, path: figures.append(fig) or path)
    assert main(["evaluate", str(run), "--member", "2"]) == 0
    assert "member 2 of 3 (seed 2)" in figures[0].axes[0].get_title()


def test_training_reports_compile_decisions_on_stdout_and_keeps_stderr_for_errors(tmp_path, capsys):
    import logging

    handlers = list(logging.getLogger("motornet_fn.compile").handlers)
    assert main(["train", *TINY, "--batches", "1", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert "compile=auto: running eagerly" in out and err == ""
    assert logging.getLogger("motornet_fn.compile").handlers == handlers


def test_existing_output_dir_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("precious")
    assert main(["train", *TINY, "--out", str(run)]) == 2
    assert "already exists and is not empty" in one_line(capsys.readouterr().err)
    assert (run / "keep.txt").read_text() == "precious" and len(list(run.iterdir())) == 1


def test_bad_arguments_are_reported(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--batches", "0"])
    assert "expected an integer >= 1, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--effector", "Octopus"])
    assert "invalid choice: 'Octopus'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--batches", "abc"], "motornet-fn train: error: --batches: expected an integer >= 1, got 'abc'"),
    (["train", "--lr", "fast"], "motornet-fn train: error: --lr: expected a number > 0, got 'fast'"),
    (["train", "--curl-prob", "2"], "motornet-fn train: error: --curl-prob: expected a number in [0, 1], got '2'"),
    (["train", "--bogus"], "motornet-fn: error: unrecognized arguments: --bogus"),
    (["evaluate"], "motornet-fn evaluate: error: the following arguments are required: run"),
])
def test_argument_errors_are_one_line_with_a_hint(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(message) and "--help)" in err


def test_help_shows_defaults_in_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    train = capsys.readouterr().out
    assert "``" not in top + train
    for text in ("--batches BATCHES", "(default: 1000)", "(default: ReluPointMass24)", "(default: 0.001)",
                 "--threads THREADS", "(default: 1,"):
        assert text in train, text


def test_resume_refuses_options_that_would_change_the_run(trained, capsys):
    before = files_of(trained)
    assert main(["train", "--resume", str(trained), "--effector", "RigidTendonArm26", "--lr", "0.5"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "--effector RigidTendonArm26 (the run has ReluPointMass24)" in err and "--lr 0.5 (the run has 0.001)" in err
    assert files_of(trained) == before
    # options equal to the run's, and performance switches, are accepted
    assert main(["train", "--resume", str(trained), "--lr", "0.001", "--threads", "1", "--checkpoint-every", "7",
                 "--release-memory", "--no-progress"]) == 0


def test_resume_refuses_a_target_below_the_done_batches(trained, capsys):
    before = files_of(trained)
    assert main(["train", "--resume", str(trained), "--batches", "2"]) == 2
    assert "--batches 2 is below the 3 batches" in one_line(capsys.readouterr().err)
    assert files_of(trained) == before


def test_resume_honours_an_explicit_batches_equal_to_the_default(trained, monkeypatch, capsys):
    targets = []
    monkeypatch.setattr(Trainer, "fit", lambda self, **kw: targets.append(self.config.n_batches))
    assert main(["train", "--resume", str(trained), "--batches", "1000", "--no-progress"]) == 0
    assert targets == [1000]
    assert json.loads((trained / "config.json").read_text())["n_batches"] == 1000


def test_double_ctrl_c_mid_batch_saves_the_last_batch_boundary(tmp_path, monkeypatch, python_sigint_handler, capsys):
    straight = tmp_path / "straight"
    assert main(["train", *TINY, "--batches", "5", "--out", str(straight)]) == 0
    objective = Trainer.objective

    def two_ctrl_c_in_batch_3(self, trace):  # after batch 3 drew its samples, before its optimiser step
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return objective(self, trace)

    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "objective", two_ctrl_c_in_batch_3)
        assert main(["train", *TINY, "--batches", "5", "--out", str(run)]) == 130
    assert "interrupted at batch 2" in capsys.readouterr().err
    assert ckpt.load_run(run).step == 2
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    resumed, reference = ckpt.load_run(run), ckpt.load_run(straight)
    assert resumed.log.loss == reference.log.loss
    for name, value in reference.models[0].state_dict().items():
        assert torch.equal(resumed.models[0].state_dict()[name], value), name


def test_non_finite_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    objective = Trainer.objective
    monkeypatch.setattr(Trainer, "objective",
                        lambda self, trace: objective(self, trace) * (math.nan if self.step == 2 else 1.0))
    run = tmp_path / "run"
    assert main(["train", *TINY, "--batches", "5", "--out", str(run)]) == 1
    err = one_line(capsys.readouterr().err)
    assert "loss became non-finite at batch 3, member 0 (seed 0)" in err and "checkpoint saved at batch 2" in err
    trainer = ckpt.load_run(run)
    assert trainer.step == 2 and all(math.isfinite(v[0]) for v in trainer.log.loss)
    assert all(torch.isfinite(p).all() for p in trainer.models[0].parameters())


@pytest.mark.parametrize("layout", ["new", "nested", "empty", "foreign file"])
def test_a_run_that_fails_before_its_first_batch_removes_what_it_created(tmp_path, monkeypatch, layout):
    run = tmp_path / ("a/b/run" if layout == "nested" else "run")
    if layout in ("empty", "foreign file"):
        run.mkdir()

    def fail(self):
        if layout == "foreign file":
            (run / "notes.txt").write_text("mine")  # a user's file, put there while the run started
        raise RuntimeError("boom")

    monkeypatch.setattr(Trainer, "train_batch", fail)
    with pytest.raises(RuntimeError, match="boom"):
        main(["train", *TINY, "--out", str(run)])
    if layout in ("new", "nested"):
        assert not (tmp_path / "run").exists() and not (tmp_path / "a").exists()
    else:
        assert sorted(p.name for p in run.iterdir()) == ([] if layout == "empty" else ["notes.txt"])


@pytest.mark.slow
def test_ctrl_c_leaves_a_resumable_checkpoint(tmp_path):
    """A real SIGINT to a training process: exit code 130, checkpoint at the interrupted batch."""
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

    trainer = ckpt.load_run(run)
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
    before = torch.get_num_threads()
    try:
        assert main(["train", *TINY, "--batches", "1", "--threads", "2", "--out", str(tmp_path / "run")]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
