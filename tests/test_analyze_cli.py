"""motornet-fn analyze: every expected file under RUN/analysis/, training files untouched, a summary that agrees
with the per-trial metrics, ensembles and every policy kind, and one-line errors on bad input."""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from motornet_fn.analysis.behaviour import SUMMARY_FIELDS
from motornet_fn.cli import main
from tests.run_dirs import TINY, files_of

FIGURES = ["hand_paths.png", "speed_profiles.png", "muscle_activations.png", "perturbed_paths.png"]
POPULATION = ["pca_trajectories.png", "eigenvalues.png"]
TABLES = ["metrics.csv", "summary_by_target.csv", "summary.json"]


def train(run: Path, *options: str) -> Path:
    assert main(["train", "--batches", "2", *TINY, "--out", str(run), *options]) == 0
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("analyze") / "run")


def training_files(run: Path) -> dict:
    return {name: data for name, data in files_of(run).items() if not name.startswith("analysis/")}


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_analyze_writes_every_file_under_analysis_and_never_touches_the_training_files(trained, capsys):
    before = training_files(trained)
    assert main(["analyze", str(trained)]) == 0
    out = trained / "analysis" / "member0_centre_out"
    assert sorted(p.name for p in out.iterdir()) == sorted(FIGURES + POPULATION + TABLES)
    assert all((out / name).stat().st_size > 0 for name in FIGURES + POPULATION + TABLES)
    assert f"wrote 9 files to {out}" in capsys.readouterr().out
    assert training_files(trained) == before
    # again: the analysis files are replaced, nothing else appears (no temporary directories left)
    (out / "my_notes.txt").write_text("kept")
    assert main(["analyze", str(trained)]) == 0
    assert sorted(p.name for p in (trained / "analysis").iterdir()) == ["member0_centre_out"]
    assert (out / "my_notes.txt").read_text() == "kept"
    assert training_files(trained) == before


def test_the_summary_agrees_with_the_per_trial_metrics(trained):
    assert main(["analyze", str(trained), "--batch-size", "16", "--seed", "3"]) == 0
    out = trained / "analysis" / "member0_centre_out"
    summary = json.loads((out / "summary.json").read_text())
    rows = read_csv(out / "metrics.csv")
    assert summary["options"] == {"member": 0, "task": "centre_out", "batch_size": 16, "seed": 3,
                                  "pulse_force_N": None, "pulse_duration_s": 0.05}
    pulse = summary["perturbation"]  # sized from the reaches: 0.3 x peak speed x 1 kg (the point mass) / 0.05 s
    assert pulse["effective_endpoint_mass_kg"] == pytest.approx(1.0, rel=1e-4)
    assert pulse["force_N"] == pytest.approx(0.3 * pulse["median_peak_speed_m_per_s"] * 1.0 / 0.05, rel=0.05)
    assert len(rows) == 2 * 16 and {r["condition"] for r in rows} == {"unperturbed", "force_pulse"}
    assert sorted({int(r["target"]) for r in rows}) == list(range(8))  # every centre-out target, in turn
    for condition, means in summary["metrics_mean"].items():
        mine = [r for r in rows if r["condition"] == condition]
        moved = [r for r in mine if r["moved"] == "True"]
        assert means["n_trials"] == len(mine) and means["fraction_moved"] == pytest.approx(len(moved) / len(mine))
        for field in SUMMARY_FIELDS:
            expected = np.mean([float(r[field]) for r in moved]) if moved else None
            assert means[field] == pytest.approx(expected, rel=1e-5, abs=1e-9), (condition, field)
    by_target = read_csv(out / "summary_by_target.csv")
    assert len(by_target) == 2 * 8
    for row in by_target:
        mine = [r for r in rows if r["condition"] == row["condition"] and r["target"] == row["target"]
                and r["moved"] == "True"]
        assert int(row["n"]) == len(mine)
        if mine:
            assert float(row["endpoint_error_mean"]) == pytest.approx(np.mean([float(r["endpoint_error"]) for r in mine]))
    pca = summary["pca"]
    ratio = pca["explained_variance_ratio"]
    assert pca["n_units"] == 8 and len(ratio) == pca["n_components"] and sum(ratio) <= 1 + 1e-5
    assert ratio == sorted(ratio, reverse=True) and pca["cumulative_first_3"] == pytest.approx(sum(ratio[:3]), abs=1e-5)
    fixed = summary["fixed_points"]
    per = fixed["per_condition"]
    assert fixed["n_conditions"] == len(per) == 8
    assert fixed["n_fixed_points"] == sum(p["n_fixed_points"] for p in per) == sum(len(p["max_abs_eigenvalue"]) for p in per)
    assert fixed["n_stable"] == sum(r < 1 for p in per for r in p["max_abs_eigenvalue"])
    assert summary["perturbation"]["onset_step"] <= 2 and summary["timing_s"]["total"] > 0  # at most half of 5 steps


def test_an_ensemble_member(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    run = train(tmp_path / "ensemble", "--ensemble-size", "2", "--seed", "4")
    titles, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: titles.append(
        " ".join([ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text() if fig._suptitle else ""]))
        or save(fig, *a, **k))
    assert main(["analyze", str(run), "--member", "1", "--pulse-force", "5", "--pulse-duration", "0.02"]) == 0
    assert len(titles) == 6 and all("member 1 of 2 (seed 5)" in t for t in titles), titles
    monkeypatch.undo()
    summary = json.loads((run / "analysis" / "member1_centre_out" / "summary.json").read_text())
    assert (summary["member"], summary["ensemble_size"], summary["seed_of_member"]) == (1, 2, 5)
    assert (summary["perturbation"]["force_N"], summary["perturbation"]["duration_steps"]) == (5.0, 2)
    assert main(["analyze", str(run)]) == 0
    other = json.loads((run / "analysis" / "member0_centre_out" / "summary.json").read_text())
    assert other["seed_of_member"] == 4 and other["metrics_mean"] != summary["metrics_mean"]  # another network


@pytest.mark.parametrize("policy, options, skipped", [
    ("mlp", [], ["fixed_points", "pca"]),
    ("rate", [], []),
    ("modular", ["--modules", "4,4"], []),
    ("modular", ["--modules", "4,4", "--delay", "1"], ["fixed_points"]),
], ids=["mlp", "rate", "modular", "modular-delays"])
def test_other_policies(tmp_path, policy, options, skipped):
    run = train(tmp_path / policy, "--policy", policy, *options)
    assert main(["analyze", str(run)]) == 0
    out = run / "analysis" / "member0_centre_out"
    summary = json.loads((out / "summary.json").read_text())
    for part in ("fixed_points", "pca"):
        assert ("skipped" in summary[part]) == (part in skipped), summary[part]
    files = {"fixed_points": "eigenvalues.png", "pca": "pca_trajectories.png"}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        FIGURES + TABLES + [files[p] for p in ("fixed_points", "pca") if p not in skipped])
    if "fixed_points" not in skipped:
        assert summary["fixed_points"]["n_fixed_points"] >= 1


def test_the_sweeps_analyze_option_analyses_each_finished_run(tmp_path):
    from motornet_fn import sweep
    from motornet_fn.nn import TrainConfig

    config = TrainConfig(n_batches=2, batch_size=4, episode_duration=0.05, hidden_size=8)
    sweep.train_condition(str(tmp_path / "cond"), dataclasses.asdict(config), analyze=True)
    assert json.loads((tmp_path / "cond" / "analysis" / "member0_centre_out" / "summary.json").read_text())["member"] == 0


@pytest.mark.slow  # a fresh Python per case, as a user runs it
def test_bad_input_is_one_line_and_writes_nothing(trained, tmp_path):
    from tests.test_bad_input import fails_in_one_line

    before = files_of(trained)
    err = fails_in_one_line("analyze", str(trained), "--member", "3", cwd=tmp_path)
    assert "--member must be in 0..0 (the run has 1 policy), got 3" in err
    err = fails_in_one_line("analyze", str(trained), "--task", "delayed_reach", cwd=tmp_path)
    assert "exceeds the episode duration of 0.05 s" in err  # the task's own check of its options
    assert files_of(trained) == before
    (tmp_path / "notes").mkdir()
    err = fails_in_one_line("analyze", str(tmp_path / "notes"), cwd=tmp_path)
    assert "is not a run directory: no config.json" in err and list((tmp_path / "notes").iterdir()) == []


def test_a_task_with_another_observation_is_refused():
    from motornet_fn.analysis.analyze import analysis_environment
    from motornet_fn.nn import TrainConfig, Trainer

    trainer = Trainer(TrainConfig(hidden_size=8))
    with pytest.raises(ValueError, match=r"task 'delayed_reach' gives 13 observation entries, the policy was trained on "
                                         r"12 \('random_reach'\); analyse it with --task random_reach"):
        analysis_environment(trainer, "delayed_reach")
    assert analysis_environment(trainer).task.name == "centre_out"
