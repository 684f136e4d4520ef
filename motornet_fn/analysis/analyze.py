"""Analyse one policy of a trained run: evaluation reaches, behaviour metrics, PCA, fixed points, a
mid-movement force pulse, figures and a summary, written under ``RUN/analysis/`` (``motornet-fn analyze``).

:func:`analyze_run` loads the run's checkpoint, rolls member k through a fixed evaluation batch of a task
(centre-out by default: every target in turn, a fixed seed) with and without a force pulse, and writes
``RUN/analysis/member<k>_<task>/``:

* ``metrics.csv``: one row per trial and condition (``unperturbed``, ``force_pulse``) with every
  :class:`~motornet_fn.analysis.behaviour.ReachMetrics` field; ``summary_by_target.csv``: their mean and
  std per condition and target (trials that moved);
* ``hand_paths.png``, ``speed_profiles.png``, ``muscle_activations.png``, ``pca_trajectories.png``,
  ``eigenvalues.png`` (fixed points, recurrent policies only), ``perturbed_paths.png``;
* ``summary.json``: metric means, PCA variance explained, fixed points and their stability, timings and
  the options used.

Nothing outside that directory is written; files of an earlier analysis there are replaced.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from motornet_fn.analysis import figures
from motornet_fn.analysis import perturbations as P
from motornet_fn.analysis.behaviour import METRIC_UNITS, SUMMARY_FIELDS, ReachMetrics, metrics_from_trace, \
    metrics_table, summarise
from motornet_fn.analysis.population import fixed_points, pca, policy_step_fn
from motornet_fn.analysis.table import Table
from motornet_fn.core import effector as eff
from motornet_fn.core.env import EnvParams, EnvSpec, EnvState
from motornet_fn.core.tasks import get_task
from motornet_fn.core.types import Loads
from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn.modular import ModularGRUPolicy
from motornet_fn.nn.train import Trainer

#: the task analysed by default
DEFAULT_TASK = "centre_out"
#: the evaluation batch's seed (as ``motornet-fn evaluate``)
DEFAULT_SEED = 12345
#: the force pulse's duration (s) and, by default, its size: it changes the hand's velocity by this fraction of
#: the median peak speed (impulse = fraction x peak speed x effective endpoint mass)
PULSE_DURATION, PULSE_SPEED_FRACTION = 0.05, 0.3
#: at most this many principal components, fixed-point conditions, and starting states per condition
N_PCS, N_CONDITIONS, N_STARTS = 10, 8, 16
CONDITIONS = ("unperturbed", "force_pulse")


def recurrent_map(policy: torch.nn.Module) -> tuple[Callable | None, int, str | None]:
    """``(step_fn(x, u), n, None)``: the policy's recurrent update of its first ``n`` state entries (its
    units) under a constant observation u, for a fixed-point search; ``(None, 0, why)`` where the policy
    has no such map (no recurrent state; a modular state that also holds past activity)."""
    if getattr(policy, "state_dim", 0) == 0:
        return None, 0, f"{type(policy).__name__} has no recurrent state"
    step = policy_step_fn(policy)
    if not isinstance(policy, ModularGRUPolicy):
        return step, policy.state_dim, None
    if policy.layout.n_past > 0:
        return None, 0, ("the modular policy's state also holds past activity (inter-module or output delays), "
                         "so the units alone have no fixed points")
    units = policy.hidden_size

    def step_units(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:  # the step counter (last entry) at 0
        return step(torch.cat([x, x.new_zeros(*x.shape[:-1], 1)], dim=-1), u)[..., :units]

    return step_units, units, None


def endpoint_mass(spec: EnvSpec, params: EnvParams, state: EnvState, direction: torch.Tensor) -> torch.Tensor:
    """(B,) kg: the effector's effective mass at the endpoint along ``direction`` (B, space_dim) (unit
    vectors) in the trials' states: a 1 N endpoint force over one step of ``dt`` changes the endpoint velocity
    along it by ``dt / mass`` (muscles unexcited)."""
    e, ep = spec.effector, params.effector
    action = direction.new_zeros(*direction.shape[:-1], e.n_muscles)
    rest = eff.default_loads(e, action)
    pushed = Loads(rest.endpoint + direction, rest.joint)
    velocity = lambda loads: eff.cartesian(e, ep, eff.step(e, ep, state.effector, action, loads).joint).vel  # noqa: E731
    return e.dt / ((velocity(pushed) - velocity(rest)) * direction).sum(-1)


def analysis_environment(trainer: Trainer, task: str | None = None) -> EnvSpec:
    """The run's environment with ``task`` (default centre-out; the run's own options if it is the run's task).

    Raises:
        ValueError: the task's observation differs from the one the policy was trained on.
    """
    name = DEFAULT_TASK if task is None else task
    options = trainer.config.task_options if name == trainer.config.task else {}
    spec = dataclasses.replace(trainer.env_spec, task=get_task(name, **options))
    if spec.obs_dim != trainer.env_spec.obs_dim:
        raise ValueError(f"task {name!r} gives {spec.obs_dim} observation entries, the policy was trained on "
                         f"{trainer.env_spec.obs_dim} ({trainer.config.task!r}); analyse it with --task "
                         f"{trainer.config.task}")
    return spec


def _concat(a: ReachMetrics, b: ReachMetrics) -> ReachMetrics:
    return ReachMetrics(*(torch.cat([x, y]) for x, y in zip(a, b)))


def _number(x: Any) -> Any:
    """A JSON value: floats rounded to 6 significant digits, NaN as null."""
    x = float(x)
    return None if math.isnan(x) else float(f"{x:.6g}")


def _search_fixed_points(model: torch.nn.Module, states: torch.Tensor, obs: torch.Tensor,
                         labels: np.ndarray) -> tuple[dict, torch.Tensor | None]:
    """Fixed points of the policy's map at each condition's last observation, from states along its trials
    (float64 copy of the policy). Returns (summary, (K, n) eigenvalues of the distinct fixed points)."""
    step_fn, n, why = recurrent_map(copy.deepcopy(model).double())
    if step_fn is None:
        return {"skipped": why}, None
    conditions, per_condition, eigenvalues = np.unique(labels)[:N_CONDITIONS], [], []
    for c in conditions:
        trials = np.nonzero(labels == c)[0]
        every = max(1, states.shape[1] // (N_STARTS // len(trials) + 1))
        starts = states[trials, ::every, :n].reshape(-1, n)[:N_STARTS].double()
        found = fixed_points(step_fn, obs[trials[0], -1].double(), starts, n_iter=1000)
        keep = found.unique[found.is_fixed[found.unique]]
        radius = found.eigenvalues[keep].abs().amax(dim=-1)
        eigenvalues.append(found.eigenvalues[keep])
        per_condition.append({"condition": c.item(), "n_fixed_points": len(keep), "n_stable": int((radius < 1).sum()),
                              "max_abs_eigenvalue": [_number(r) for r in radius],
                              "lowest_speed": _number(found.speed.min())})
    n_fixed = sum(p["n_fixed_points"] for p in per_condition)
    return {"input": "the observation at each condition's last step (the hand at its target), held constant",
            "stable_means": "max |eigenvalue| < 1 of the Jacobian of the one-step map",
            "n_conditions": len(per_condition), "n_fixed_points": n_fixed,
            "n_stable": sum(p["n_stable"] for p in per_condition), "per_condition": per_condition}, torch.cat(eigenvalues)


def _write(out: Path, files: dict[str, Callable[[Path], Any]]) -> list[Path]:
    """Write every file into a fresh directory beside ``out``, then move each into ``out`` (replacing files
    of an earlier analysis, leaving any other file there alone); a failure leaves ``out`` as it was."""
    out.parent.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name, write in files.items():
            write(tmp / name)
        out.mkdir(exist_ok=True)
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / name for name in files]


def analyze_run(run_dir: str | Path, member: int | None = None, task: str | None = None, *,
                batch_size: int | None = None, seed: int = DEFAULT_SEED, pulse_force: float | None = None,
                pulse_duration: float = PULSE_DURATION) -> dict:
    """Analyse member ``member`` of the run in ``run_dir`` and write ``run_dir/analysis/member<k>_<task>/``.

    Args:
        run_dir: a run directory of ``motornet-fn train`` (config.json, checkpoint.pt).
        member: the ensemble member (default 0).
        task: a registered task with the observation the policy was trained on (default centre_out).
        batch_size: evaluation trials (default 4 per target, or 32).
        seed: seed of the evaluation batch (start, targets, noise).
        pulse_force: N, size of the force pulse, perpendicular to each reach (to its left); default: the force
            that changes the hand's velocity by :data:`PULSE_SPEED_FRACTION` of the median peak speed
            (fraction x peak speed x effective endpoint mass / duration, see :func:`endpoint_mass`).
        pulse_duration: s, its duration; it starts at the median time of peak speed of the unperturbed reaches
            (at most half-way through the episode).

    Returns:
        The summary written to ``summary.json``.

    Raises:
        ValueError: a bad member, task or option (the message names it); FileNotFoundError / RunFileError:
            not a run directory, or its files are damaged.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    trainer = ckpt.load_run(run_dir)
    k = trainer.check_member(0 if member is None else member)
    spec = analysis_environment(trainer, task)
    n_targets = getattr(spec.task, "n_targets", None) if "target_index" in spec.task.reset_options else None
    size = batch_size if batch_size is not None else (4 * n_targets if n_targets else 32)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {size!r}")
    for name, value in (("pulse_force", 0.0 if pulse_force is None else pulse_force),
                        ("pulse_duration", pulse_duration)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    config, dt, T = trainer.config, spec.effector.dt, spec.n_steps
    model = trainer.policy(k)
    timing = {"load": time.perf_counter() - started}

    # ------------------------------------------------------------------ episodes
    t0 = time.perf_counter()
    batch = trainer.sample(torch.Generator().manual_seed(seed), size, evaluation=True, spec=spec)
    labels = (torch.arange(size) % n_targets).numpy() if n_targets else np.arange(size)
    go = batch.state.task.go_step
    go = torch.where(torch.isfinite(go), go, float(T)).long()  # catch trials: never cued
    with torch.no_grad():
        base = P.run(spec, trainer.env_params, model, batch, hidden="state")
        metrics = metrics_from_trace(base, dt, go)
        moved = metrics.peak_index[metrics.moved]
        onset = min(int(moved.median()) if len(moved) else T, T // 2)  # mid-movement, with time to respond
        steps = max(1, round(pulse_duration / dt))
        direction = P.lateral_force(batch.state, 1.0)
        mass = float(endpoint_mass(spec, trainer.env_params, batch.state, direction).median())
        peak = float(metrics.peak_speed[metrics.moved].median()) if len(moved) else 0.0
        sized = pulse_force is None
        if sized:
            pulse_force = float(f"{PULSE_SPEED_FRACTION * peak * mass / (steps * dt):.2g}")
        force = direction * pulse_force
        pulse = P.force_pulse(spec, P.window(T, onset, steps, size, force.dtype), force)
        pushed = P.run(spec, trainer.env_params, model, batch, loads=pulse, fields=("fingertip", "goal"))
        pushed_metrics = metrics_from_trace(pushed, dt, go)
        activity = model.activity(base.hidden)
    timing["episodes"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ tables
    target = batch.state.task.target
    trial_labels = {"target": labels} if n_targets else {}
    tables = [metrics_table(m, condition=[c] * size, **trial_labels, target_x=target[:, 0], target_y=target[:, 1])
              for c, m in zip(CONDITIONS, (metrics, pushed_metrics))]
    both = _concat(metrics, pushed_metrics)
    condition = np.repeat(CONDITIONS, size)
    by_target = summarise(both, {"condition": condition, **({"target": np.tile(labels, 2)} if n_targets else {})})
    overall = summarise(both, {"condition": condition})

    # ------------------------------------------------------------------ population
    t0 = time.perf_counter()
    population: dict[str, Any]
    result = None
    if activity.shape[-1] == 0:
        population = {"skipped": f"{type(model).__name__} records no unit activity"}
    else:
        n_pcs = min(N_PCS, activity.shape[-1], len(np.unique(labels)) * T)
        result = pca(activity, n_pcs, labels=labels if n_targets else None)
        ratio = result.explained_variance_ratio
        population = {"activity": "condition-averaged" if n_targets else "single trials",
                      "n_units": activity.shape[-1], "n_components": n_pcs,
                      "explained_variance_ratio": [_number(r) for r in ratio],
                      "cumulative_first_3": _number(ratio[:3].sum())}
    timing["pca"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fixed, eigenvalues = _search_fixed_points(model, base.hidden.detach(), base.obs.detach(), labels)
    timing["fixed_points"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ files
    title = f"{config.effector}, {config.policy} policy, {trainer.step} batches, {trainer.member_title(k)}"
    where = (f"Force pulse of {pulse_force:g} N for {steps * dt * 1000:g} ms from t = {onset * dt:g} s, perpendicular to "
             f"each reach (to its left)\n(onset: the median time of peak speed, at most half the episode)")
    files: dict[str, Callable[[Path], Any]] = {
        "metrics.csv": lambda p: Table.concat(tables).to_csv(p),
        "summary_by_target.csv": lambda p: by_target.to_csv(p),
        "hand_paths.png": lambda p: figures.plot_hand_paths(base.fingertip, target, p, labels,
                                                            title=f"Hand paths ({spec.task.name})\n{title}"),
        "speed_profiles.png": lambda p: figures.plot_speed_profiles(base.fingertip, dt, p, labels, metrics,
                                                                    title=f"Hand speed\n{title}"),
        "muscle_activations.png": lambda p: _muscle_figure(base.activation, dt, labels, "target" if n_targets else "trial",
                                                           spec, p, title),
        "perturbed_paths.png": lambda p: figures.plot_perturbed_paths(
            base.fingertip, pushed.fingertip, target, p, labels, onset, title=f"{where}\n{title}"),
    }
    if result is not None:
        files["pca_trajectories.png"] = lambda p: figures.plot_pca_trajectories(
            result, p, title=f"Population activity, {population['activity']} (PC1 vs PC2)\n{title}")
    if eigenvalues is not None:
        files["eigenvalues.png"] = lambda p: figures.plot_eigenvalues(
            eigenvalues, p, title=f"Jacobian eigenvalues at {fixed['n_fixed_points']} fixed points "
                                  f"({fixed['n_conditions']} inputs)\n{title}")
    means = {row["condition"]: {"n_trials": row["n_trials"], "fraction_moved": _number(row["fraction_moved"]),
                                **{f: _number(row[f"{f}_mean"]) for f in SUMMARY_FIELDS}} for row in overall.rows()}
    summary = {
        "run": str(run_dir), "member": k, "ensemble_size": config.ensemble_size, "seed_of_member": trainer.seeds[k],
        "batches_trained": trainer.step, "effector": config.effector, "policy": config.policy,
        "task": spec.task.name, "task_options": dataclasses.asdict(spec.task), "n_trials": size, "dt_s": dt,
        "options": {"member": k, "task": spec.task.name, "batch_size": size, "seed": seed,
                    "pulse_force_N": None if sized else pulse_force, "pulse_duration_s": pulse_duration},
        "metric_units": METRIC_UNITS, "metrics_mean": means,
        "metrics_note": "means over the trials that moved (see fraction_moved); per trial in metrics.csv",
        "perturbation": {"kind": "force_pulse", "force_N": pulse_force, "onset_step": onset, "onset_s": onset * dt,
                         "duration_steps": steps, "direction": "perpendicular to the start -> target line, to its left",
                         "effective_endpoint_mass_kg": _number(mass), "median_peak_speed_m_per_s": _number(peak),
                         "size": (f"{PULSE_SPEED_FRACTION:g} x median peak speed x effective endpoint mass / duration"
                                  if sized else "given")},
        "pca": population, "fixed_points": fixed,
        "files": sorted([*files, "summary.json"]),
    }
    out = run_dir / "analysis" / f"member{k}_{spec.task.name}"
    t0 = time.perf_counter()
    _write(out, files)  # figures and tables first (timed), then the summary
    timing["files"] = time.perf_counter() - t0
    timing["total"] = time.perf_counter() - started
    summary["timing_s"] = {name: round(seconds, 3) for name, seconds in timing.items()}
    _write(out, {"summary.json": lambda p: ckpt.atomic_write(p, lambda f: f.write(json.dumps(summary, indent=2).encode()))})
    return summary


def _muscle_figure(activation: torch.Tensor, dt: float, labels: np.ndarray, kind: str, spec: EnvSpec, path: Path,
                   title: str) -> Path:
    """Muscle activation over time, one panel per label (a target, or a trial), mean +- 1 SD over its
    trials, one legend."""
    import matplotlib.pyplot as plt

    groups = np.unique(labels)[:N_CONDITIONS]
    cols = min(4, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols + 1.5, 2.6 * rows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, c in zip(axes.flat, groups):
        figures.plot_muscle_activations(activation[torch.as_tensor(labels == c)], dt, ax,
                                        spec.effector.muscle_names)
        ax.set_title(f"{kind} {c}", fontsize=9)
        ax.get_legend().remove()
        ax.label_outer()
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    axes.flat[cols - 1].legend(handles=axes.flat[0].get_lines(), loc="upper left", bbox_to_anchor=(1.02, 1.0),
                               frameon=False, fontsize=8, title="muscle", title_fontsize=8)
    fig.suptitle(f"Muscle activation (mean and +-1 SD over each {kind}'s trials)\n{title}", fontsize=10)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


__all__ = ["analyze_run", "analysis_environment", "recurrent_map", "DEFAULT_TASK", "DEFAULT_SEED"]
