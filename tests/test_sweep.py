"""``motornet-fn sweep`` and motornet_fn.sweep: spec validation, dry run, and real sweeps on a local
Ray instance (one per module, 2 CPUs) with killed workers, failing conditions, Ctrl-C and resumption."""
from __future__ import annotations

import csv
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from motornet_fn import sweep
from motornet_fn.cli import main
from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn.train import TrainConfig, Trainer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep.toml"
RUN_FILES = ("config.json", "checkpoint.pt", "losses.csv", "loss.png", "trajectories.png")
TINY = "[base]\nn_batches = 30\nbatch_size = 4\nepisode_duration = 0.1\n"


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs) shared by this module's sweeps; shut down afterwards."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def read_summary(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def mtimes(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.glob("*/*")}


def uninterrupted(config: TrainConfig) -> list:
    """The loss log of the same config trained in one go, in this process."""
    trainer = Trainer(config)
    trainer.fit(progress=False)
    return trainer.log.loss


# ------------------------------------------------------------------------------------------------ spec
BAD_SPECS = [
    ("seeds = 2\n[base]\nhiden_size = 8", "base.hiden_size: unknown TrainConfig field (did you mean 'hidden_size'?)"),
    ("seeds = 2\n[grid]\nlr = []", "grid.lr: empty list of values"),
    ("seeds = 2\n[grid]\n", "grid: empty table"),
    ("seeds = 2\n[grid]\nlr = 0.1", "grid.lr: expected a list of values, got 0.1"),
    ('seeds = 2\n[base]\nhidden_size = "big"', "base.hidden_size: expected an integer, got 'big'"),
    ("seeds = 2\n[grid]\nbatch_size = [8, 2.5]", "grid.batch_size: expected an integer, got 2.5"),
    ('seeds = 2\n[[conditions]]\nlr = "fast"', "conditions[0].lr: expected a number, got 'fast'"),
    ("seeds = 2\ngird = 1", "unknown top-level key 'gird'"),
    ("[base]\nlr = 0.1", "missing key 'seeds'"),
    ("seeds = [0, 2]", "seeds: must be consecutive"),
    ("seeds = 0", "seeds: expected a count >= 1"),
    ("seeds = 2\n[base]\nseed = 3", "base.seed: set by the top-level 'seeds' key"),
    ('seeds = 2\nanalyze = "yes"', "analyze: expected true or false, got 'yes'"),
    ('seeds = 2\n[grid]\neffector = ["Octopus"]', "condition effector=Octopus: effector must be one of"),
    ("seeds = 2\n[base]\ntask_options = 4", "base.task_options: expected a table, got 4"),
    ("seeds = 2\n[[conditions]]\nlr = 0.1\n[grid]\nlr = [0.2]", "conditions[0].lr: also in [grid]"),
    ("seeds = 1\n[grid]\nlr = [0.1, 0.1]", "two conditions are both 'lr=0.1'"),
    ("seeds = = 2", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD_SPECS, ids=[m.split(":")[0] for _, m in BAD_SPECS])
def test_bad_spec_is_one_line_naming_the_key(tmp_path, capsys, text, message):
    spec = write(tmp_path / "bad.toml", text)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith(f"motornet-fn sweep: error: {spec}: ")
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_spec_and_bad_arguments(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such sweep file" in capsys.readouterr().err
    assert main(["sweep", str(EXAMPLE), "--out", str(tmp_path / "o"), "--address", "auto", "--cpus", "2"]) == 2
    assert "--cpus sizes a local Ray instance" in capsys.readouterr().err
    assert main(["sweep", str(EXAMPLE), "--out", str(tmp_path / "o"), "--cpus", "1", "--cpus-per-task", "2"]) == 2
    assert "--cpus-per-task 2 exceeds the 1 CPUs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        main(["sweep", str(EXAMPLE), "--cpus-per-task", "0"])
    assert "sweep: error: --cpus-per-task: expected an integer >= 1, got '0'" in capsys.readouterr().err


def test_conditions_are_the_grid_crossed_with_the_overrides_and_named_from_them():
    spec = sweep.parse_spec({
        "seeds": [3, 4, 5], "base": {"n_batches": 7, "lr": 0.01, "task": "centre_out"},
        "grid": {"hidden_size": [16, 64], "task_options": [{"start_posture": [0.5, 1.0], "n_targets": 4}]},
        "conditions": [{"effector": "RigidTendonArm26", "muscle": "RigidTendonHillMuscle"},
                       {"truncate_every": "none"}],
    })
    conditions = spec.expand()
    options = "task_options=n_targets-4,start_posture-0.5,1.0"
    assert [c.name for c in conditions] == [
        f"effector=RigidTendonArm26_hidden_size=16_muscle=RigidTendonHillMuscle_{options}",
        f"effector=RigidTendonArm26_hidden_size=64_muscle=RigidTendonHillMuscle_{options}",
        f"hidden_size=16_{options}_truncate_every=none",
        f"hidden_size=64_{options}_truncate_every=none",
    ]
    c = conditions[1].config
    assert (c.seed, c.ensemble_size, c.n_batches, c.lr, c.hidden_size) == (3, 3, 7, 0.01, 64)
    assert c.task_options == {"start_posture": [0.5, 1.0], "n_targets": 4}
    assert conditions[2].config.truncate_every is None and conditions[2].config.effector == "ReluPointMass24"
    assert sweep.condition_name({}) == "base"
    assert sweep.condition_name({"effector": "a/b c", "lr": 3e-05}) == "effector=a-b-c_lr=3e-05"
    long = sweep.condition_name({"task_options": {"goal": [0.123456789] * 40}})
    assert len(long) <= 120 and long != sweep.condition_name({"task_options": {"goal": [0.123456788] * 40}})


def test_changed_keys_name_what_differs():
    old = {"base": {"lr": 0.1}, "grid": {"hidden_size": [8]}, "conditions": [{"lr": 1}], "seeds": [0, 1]}
    new = {"base": {"lr": 0.2, "n_batches": 3}, "grid": {"hidden_size": [8]}, "conditions": [{"lr": 2}], "seeds": [0]}
    assert sweep.changed_keys(old, new) == ["base.lr", "base.n_batches", "conditions[0].lr", "seeds"]
    assert sweep.changed_keys(old, old) == []


def test_dry_run_lists_the_tasks_and_estimates_the_time(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "analysis_function", lambda: None)
    spec = write(tmp_path / "s.toml", EXAMPLE.read_text().replace("analyze = false", "analyze = true"))
    out = tmp_path / "out"
    assert main(["sweep", "--dry-run", str(spec), "--out", str(out), "--cpus", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 conditions x 2 seeds (0..1)" in text
    for name in ("lr=0.001", "lr=0.003"):
        assert f"  {name}  seeds 0..1  20 batches  new" in text and str(out / name) in text
    assert "estimated run time:" in text and "on 2 parallel slot(s)" in text and "ms per batch measured" in text
    assert "analysis: not available in this version" in text
    assert not out.exists()


def test_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert main(["sweep", str(EXAMPLE), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == sweep.INSTALL_HINT and 'pip install -e ".[sweep]"' in err
    assert not (tmp_path / "out").exists()


def test_a_directory_that_is_not_a_sweep_is_never_touched(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["sweep", str(EXAMPLE), "--out", str(out)]) == 2
    assert "is not a sweep directory" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"


# ------------------------------------------------------------------------------------------------ on Ray
@pytest.mark.slow
def test_example_sweep_writes_runs_and_summary_then_skips_and_refuses_a_changed_spec(ray_instance, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(EXAMPLE), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "lr=0.001: done, final loss" in text and "summary: 2 done" in text
    rows = read_summary(out)
    assert [(r["condition"], r["seed"], r["status"]) for r in rows] == [
        ("lr=0.001", "0", "done"), ("lr=0.001", "1", "done"), ("lr=0.003", "0", "done"), ("lr=0.003", "1", "done")]
    for name in ("lr=0.001", "lr=0.003"):
        run = out / name
        for file in RUN_FILES:
            assert (run / file).stat().st_size > 0, (name, file)
        trainer = ckpt.load_run(run)
        assert trainer.step == 20 and trainer.seeds == [0, 1] and trainer.config.lr == float(name[3:])
        assert len((run / "losses.csv").read_text().splitlines()) == 1 + 20 * 2
        for row in (r for r in rows if r["condition"] == name):
            assert float(row["final_loss"]) == pytest.approx(trainer.log.loss[-1][int(row["member"])], rel=1e-7)
            assert row["lr"] == str(trainer.config.lr) and row["hidden_size"] == "16" and row["batches"] == "20"
            assert float(row["train_seconds"]) > 0
    assert (out / "summary.png").stat().st_size > 0 and (out / "sweep.json").is_file()

    before = mtimes(out)  # the same command again trains nothing
    assert main(["sweep", str(EXAMPLE), "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("finished earlier, skipped") == 2
    assert mtimes(out) == before
    assert main(["sweep", "--dry-run", str(EXAMPLE), "--out", str(out)]) == 0
    assert "estimated run time: 0 s" in capsys.readouterr().out

    changed = write(tmp_path / "changed.toml", EXAMPLE.read_text().replace("hidden_size = 16", "hidden_size = 24"))
    assert main(["sweep", str(changed), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a sweep with another spec (changed: base.hidden_size)" in err and "\n" not in err
    assert mtimes(out) == before


@pytest.mark.slow
def test_killed_worker_is_retried_failing_condition_is_reported_and_rerun_resumes(
        ray_instance, tmp_path, capsys, monkeypatch):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    monkeypatch.setenv(sweep.HOOKS_ENV, str(hooks))
    spec_file = write(tmp_path / "faults.toml", f"seeds = 2\n{TINY}[grid]\nhidden_size = [8, 12, 16]\n")
    spec = sweep.load_spec(spec_file)
    ok, failing, killed = spec.expand()
    (hooks / f"{failing.name}.fail").write_text("20")  # raises once 20 batches are trained, at every attempt
    (hooks / f"{killed.name}.hold").write_text("")     # waits after its first checkpoint until killed

    def kill_when_held():
        held = hooks / f"{killed.name}.held"
        deadline = time.time() + 120
        while not (held.exists() and held.read_text().strip()) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(int(held.read_text()), signal.SIGKILL)
        (hooks / f"{killed.name}.hold").unlink()

    killer = threading.Thread(target=kill_when_held, daemon=True)
    killer.start()
    out = tmp_path / "out"
    command = ["sweep", str(spec_file), "--out", str(out), "--retries", "1", "--checkpoint-every", "10",
               "--no-progress"]
    assert main(command) == 1
    killer.join(timeout=5)
    text = capsys.readouterr().out
    assert f"{failing.name}: FAILED after 1 retry: RuntimeError: test hook: {failing.name} fails after" in text
    assert "summary: 2 done, 1 failed" in text
    status = {r["condition"]: (r["status"], r["batches"], r["error"]) for r in read_summary(out)}
    assert status[ok.name] == ("done", "30", "") and status[killed.name] == ("done", "30", "")
    assert status[failing.name][:2] == ("failed", "20") and "test hook" in status[failing.name][2]
    pids = (hooks / f"{killed.name}.pid").read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1]  # killed once, retried by Ray in a new worker
    assert len((hooks / f"{failing.name}.pid").read_text().split()) == 2  # tried, then retried once
    assert ckpt.load_run(out / killed.name).log.loss == uninterrupted(killed.config)  # resumed bit for bit

    (hooks / f"{failing.name}.fail").unlink()
    done = {p: t for p, t in mtimes(out).items() if failing.name not in str(p)}
    assert main(command) == 0
    assert capsys.readouterr().out.count("finished earlier, skipped") == 2
    assert {p: t for p, t in mtimes(out).items() if failing.name not in str(p)} == done
    assert len((hooks / f"{failing.name}.pid").read_text().split()) == 3
    assert ckpt.load_run(out / failing.name).log.loss == uninterrupted(failing.config)  # resumed from batch 20
    assert {r["status"] for r in read_summary(out)} == {"done"}


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_and_leaves_it_resumable(ray_instance, tmp_path, capsys, monkeypatch):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    monkeypatch.setenv(sweep.HOOKS_ENV, str(hooks))
    spec_file = write(tmp_path / "ctrl_c.toml", f"seeds = 2\n{TINY}[grid]\nhidden_size = [8]\n")
    (condition,) = sweep.load_spec(spec_file).expand()
    (hooks / f"{condition.name}.hold").write_text("")  # mid-run (after batch 10) when Ctrl-C comes

    def ctrl_c_when_held():
        deadline = time.time() + 120
        while not (hooks / f"{condition.name}.held").exists() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_when_held, daemon=True).start()
    out = tmp_path / "out"
    command = ["sweep", str(spec_file), "--out", str(out), "--checkpoint-every", "10", "--no-progress"]
    assert main(command) == 130
    captured = capsys.readouterr()
    assert "every run is resumable: motornet-fn sweep" in captured.err
    assert [r["status"] for r in read_summary(out)] == ["interrupted", "interrupted"]
    assert ckpt.load_run(out / condition.name).step == 10

    assert main(command) == 0  # resumes (the hold applies to the first attempt only)
    assert len((hooks / f"{condition.name}.pid").read_text().split()) == 2
    assert ckpt.load_run(out / condition.name).log.loss == uninterrupted(condition.config)


def test_readme_shows_the_example_sweep_file():
    assert EXAMPLE.read_text() in (EXAMPLE.parents[1] / "README.md").read_text()
