"""Conditions x seeds on Ray: the library behind ``motornet-fn sweep``.

A sweep file (TOML) names a base :class:`~motornet_fn.nn.train.TrainConfig`, a grid and/or a list of
condition overrides, and the seeds::

    seeds = 10                    # seeds 0..9, or a consecutive list such as [10, 11, 12]
    analyze = false               # optional

    [base]                        # TrainConfig fields shared by every condition
    n_batches = 2000

    [grid]                        # Cartesian product of these values
    hidden_size = [32, 64]
    lr = [0.001, 0.003]

    [[conditions]]                # each table is one condition; crossed with every grid point
    effector = "RigidTendonArm26"
    muscle = "RigidTendonHillMuscle"

Every condition trains its seeds as ONE ensemble (``TrainConfig(ensemble_size=len(seeds),
seed=seeds[0])``; member k equals a single run with seed ``seeds[0] + k``, which is why seed lists must be
consecutive) in one Ray task, in ``DIR/<condition>/``: the run directory ``motornet-fn train`` writes.
``DIR/sweep.json`` records the spec so a re-run skips finished conditions, resumes the others from their
checkpoints and refuses a changed spec; ``DIR/summary.csv`` and ``DIR/summary.png`` hold the results.
"""
from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import itertools
import json
import os
import re
import tempfile
import time
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn.train import TrainConfig, Trainer

TOP_LEVEL = ("analyze", "base", "conditions", "grid", "seeds")
SET_BY_SEEDS = ("ensemble_size", "seed")
FIELD_TYPES = typing.get_type_hints(TrainConfig)
PERF_ONLY = ("compile",)  # switches that do not change the numbers (TrainConfig.load_state_dict ignores them)
SPEC_FILE, SUMMARY_CSV, SUMMARY_PNG = "sweep.json", "summary.csv", "summary.png"
FIGURES = ("loss.png", "trajectories.png")
#: the files ``save_run`` writes (and their temporary files): all an interrupted first save can leave
SAVE_FILES = {name + tmp for name in (ckpt.CONFIG, ckpt.CHECKPOINT, ckpt.LOSSES) for tmp in ("", ".tmp")}
INSTALL_HINT = 'motornet-fn sweep needs Ray, which is not installed: pip install -e ".[sweep]"'
#: Test-only fault injection (see :class:`_TestHooks`): set in the driver's environment, passed to the tasks.
HOOKS_ENV = "MOTORNET_FN_SWEEP_TEST_HOOKS"
#: Seconds a Ctrl-C waits for running tasks to save at the end of their batch before killing them.
CANCEL_GRACE_S = 15.0


class SpecError(ValueError):
    """A bad sweep file or output directory; the message is one line naming the key."""


@dataclass(frozen=True)
class Condition:
    """One condition of a sweep.

    Attributes:
        name: stable, file-name-safe id derived from ``overrides`` (``hidden_size=64_lr=0.003``).
        overrides: the TrainConfig fields this condition sets on top of the base.
        config: the full ensemble config (all seeds of the condition).
    """

    name: str
    overrides: dict
    config: TrainConfig


@dataclass
class SweepSpec:
    """A parsed, validated sweep file (see the module docstring).

    Attributes:
        base: TrainConfig fields shared by every condition.
        grid: field -> list of values (Cartesian product).
        conditions: list of override tables (crossed with the grid).
        seeds: the consecutive seeds every condition trains.
        analyze: whether to analyse every finished run (when ``motornet_fn.analysis`` offers it).
        source: where the spec came from (for messages).
    """

    base: dict
    grid: dict
    conditions: list
    seeds: list
    analyze: bool = False
    source: str = "sweep file"

    def expand(self) -> list[Condition]:
        """The conditions: every override table crossed with every grid point, in file order."""
        keys = list(self.grid)
        points = [dict(zip(keys, values)) for values in itertools.product(*self.grid.values())]
        result, seen = [], {}
        for row, point in itertools.product(self.conditions or [{}], points):
            overrides = {**row, **point}
            name = condition_name(overrides)
            if name in seen:
                raise SpecError(f"{self.source}: two conditions are both {name!r} ({seen[name]} and {overrides}); "
                                f"remove the duplicate")
            seen[name] = overrides
            values = {**self.base, **overrides, "seed": self.seeds[0], "ensemble_size": len(self.seeds)}
            config = TrainConfig(**values)
            try:
                config.validate()
            except (TypeError, ValueError) as err:
                raise SpecError(f"{self.source}: condition {name}: {err}") from None
            result.append(Condition(name, overrides, config))
        return result

    def normalised(self) -> dict:
        """What decides the runs, as stored in ``DIR/sweep.json`` (``analyze`` is left out: it
        changes no run)."""
        spec = {"base": dict(sorted(self.base.items())), "grid": {k: self.grid[k] for k in sorted(self.grid)},
                "conditions": [dict(sorted(c.items())) for c in self.conditions], "seeds": list(self.seeds)}
        return json.loads(json.dumps(spec))


# ------------------------------------------------------------------------------------------------ parsing
def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Raises:
        SpecError: a one-line message naming the file and the bad key.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such sweep file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from None
    return parse_spec(data, source=str(path))


def parse_spec(data: dict, source: str = "sweep file") -> SweepSpec:
    """Validate a sweep file's content (a dict as ``tomllib`` gives it).

    Args:
        data: the top-level table.
        source: file name used in messages.

    Raises:
        SpecError: unknown top-level key or TrainConfig field, empty grid, wrong type, bad seeds, or a
            condition that TrainConfig.validate rejects; the message names the key.
    """
    def fail(message):
        raise SpecError(f"{source}: {message}")

    for key in data:
        if key not in TOP_LEVEL:
            fail(f"unknown top-level key {key!r} (expected one of: {', '.join(TOP_LEVEL)})")
    if "seeds" not in data:
        fail("missing key 'seeds' (seeds = N for seeds 0..N-1, or a list of consecutive seeds)")
    base = _fields(_table(data.get("base", {}), "base", fail), "base", fail)
    grid_table = _table(data.get("grid", {}), "grid", fail)
    if "grid" in data and not grid_table:
        fail("grid: empty table (give field = [values], or drop [grid])")
    grid = {}
    for key, values in grid_table.items():
        if not isinstance(values, list):
            fail(f"grid.{key}: expected a list of values, got {values!r}")
        if not values:
            fail(f"grid.{key}: empty list of values")
        grid[key] = [_fields({key: v}, "grid", fail)[key] for v in values]
    rows = data.get("conditions", [])
    if not isinstance(rows, list):
        fail(f"conditions: expected [[conditions]] tables, got {rows!r}")
    conditions = []
    for i, row in enumerate(rows):
        row = _fields(_table(row, f"conditions[{i}]", fail), f"conditions[{i}]", fail)
        for key in row:
            if key in grid:
                fail(f"conditions[{i}].{key}: also in [grid]; give each field in one place")
        conditions.append(row)
    analyze = data.get("analyze", False)
    if not isinstance(analyze, bool):
        fail(f"analyze: expected true or false, got {analyze!r}")
    spec = SweepSpec(base, grid, conditions, _seeds(data["seeds"], fail), analyze, source)
    spec.expand()  # validates every condition's config
    return spec


def _table(value, where: str, fail) -> dict:
    if not isinstance(value, dict):
        fail(f"{where}: expected a table, got {value!r}")
    return value


def _fields(table: dict, where: str, fail) -> dict:
    """Check TrainConfig field names and value types; 'none' gives None for optional fields."""
    result = {}
    for key, value in table.items():
        if key in SET_BY_SEEDS:
            fail(f"{where}.{key}: set by the top-level 'seeds' key, not per condition")
        if key not in FIELD_TYPES:
            close = difflib.get_close_matches(key, list(FIELD_TYPES), n=1)
            fail(f"{where}.{key}: unknown TrainConfig field" + (f" (did you mean {close[0]!r}?)" if close else ""))
        result[key] = _typed(value, FIELD_TYPES[key], f"{where}.{key}", fail)
    return result


def _typed(value, hint, where: str, fail):
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    allowed = tuple(typing.get_origin(t) or t for t in allowed)
    if type(None) in allowed and isinstance(value, str) and value.lower() == "none":
        return None
    for t in allowed:
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if t is int and isinstance(value, bool):
            continue
        if t is not type(None) and isinstance(value, t):
            return value
    names = [{"NoneType": "'none'", "str": "a string", "int": "an integer", "float": "a number",
              "bool": "true/false", "list": "a list", "dict": "a table"}.get(t.__name__, t.__name__) for t in allowed]
    fail(f"{where}: expected {' or '.join(names)}, got {value!r}")


def _seeds(value, fail) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            fail(f"seeds: expected a count >= 1 or a list of seeds, got {value!r}")
        return list(range(value))
    if not (isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value)):
        fail(f"seeds: expected a count >= 1 or a non-empty list of integers, got {value!r}")
    if value != list(range(value[0], value[0] + len(value))):
        fail(f"seeds: must be consecutive and increasing (one ensemble trains seeds s..s+K-1), got {value!r}")
    return value


def condition_name(overrides: dict) -> str:
    """A stable, readable, file-name-safe id: ``key=value`` pairs sorted by key and joined by ``_``
    (``hidden_size=64_lr=0.003``); ``base`` without overrides; long names end in a hash."""
    if not overrides:
        return "base"
    text = "_".join(f"{key}={_format(overrides[key])}" for key in sorted(overrides))
    name = re.sub(r"[^A-Za-z0-9._=,+-]+", "-", text)
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return name


def _format(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_format(v) for v in value)
    if isinstance(value, dict):  # task_options = {n_targets = 4} -> n_targets-4
        return ",".join(f"{k}-{_format(v)}" for k, v in sorted(value.items()))
    return repr(value) if isinstance(value, float) else str(value)


def changed_keys(old: dict, new: dict) -> list[str]:
    """Dotted keys that differ between two :meth:`SweepSpec.normalised` dicts."""
    missing = object()
    keys = []
    for section in ("base", "grid"):
        a, b = old.get(section, {}), new.get(section, {})
        keys += [f"{section}.{k}" for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]
    a, b = old.get("conditions", []), new.get("conditions", [])
    if len(a) != len(b):
        keys.append("conditions")
    else:
        for i, (x, y) in enumerate(zip(a, b)):
            keys += [f"conditions[{i}].{k}" for k in sorted(set(x) | set(y)) if x.get(k, missing) != y.get(k, missing)]
    return keys + (["seeds"] if old.get("seeds") != new.get("seeds") else [])


# ------------------------------------------------------------------------------------------------ run directories
def check_out_dir(spec: SweepSpec, out: Path, create: bool = False) -> None:
    """Accept ``out`` for ``spec``: new, empty, or holding the same sweep (``sweep.json``).

    Args:
        create: make the directory and write ``sweep.json`` where they do not exist yet.

    Raises:
        SpecError: ``out`` holds a sweep with another spec (the message names the changed keys).
        FileExistsError: ``out`` is a non-empty directory (or a file) that is not a sweep.
    """
    record = out / SPEC_FILE
    if record.is_file():
        changed = changed_keys(json.loads(record.read_text())["spec"], spec.normalised())
        if changed:
            raise SpecError(f"{out} holds a sweep with another spec (changed: {', '.join(changed)}); "
                            f"restore those keys to resume it, or choose another --out")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not a sweep directory (no {SPEC_FILE}); choose another --out")
    if create:
        out.mkdir(parents=True, exist_ok=True)
        names = {c.name: c.overrides for c in spec.expand()}
        _write_text(record, json.dumps({"format": 1, "spec": spec.normalised(), "conditions": names}, indent=2))


def _write_text(path: Path, text: str) -> None:
    ckpt.atomic_write(path, lambda f: f.write(text.encode()))


def load_existing(run: Path, config: TrainConfig) -> Trainer | None:
    """The trainer saved in ``run`` at its last checkpoint, or None where nothing was saved yet.

    Raises:
        ValueError: ``run`` holds a run whose config differs from ``config`` (it is never overwritten).
        FileExistsError: ``run`` holds files but no checkpoint (not a run this sweep wrote).
    """
    if not run.exists():
        return None
    names = set(os.listdir(run))
    if not {ckpt.CONFIG, ckpt.CHECKPOINT} <= names:  # no save finished: at most the first one, cut short
        if names <= SAVE_FILES and (ckpt.CONFIG not in names or not _config_diff(ckpt.load_config(run), config)):
            return None
        raise FileExistsError(f"{run} is not empty and holds no complete run; move it away to train this condition")
    diff = _config_diff(ckpt.load_config(run), config)
    if diff:
        raise ValueError(f"{run} holds a run with another config ({diff}); it is never overwritten: move it away")
    return ckpt.load_run(run)


def _config_diff(saved: TrainConfig, wanted: TrainConfig) -> str:
    a, b = dataclasses.asdict(saved), dataclasses.asdict(wanted)
    return ", ".join(f"{k}: saved {a[k]!r}, sweep {b[k]!r}" for k in a if k not in PERF_ONLY and a[k] != b.get(k))


def is_finished(trainer: Trainer | None, run: Path) -> bool:
    """Whether the run trained all its batches and drew its figures."""
    return trainer is not None and trainer.step >= trainer.config.n_batches and all((run / f).is_file() for f in FIGURES)


def analysis_function() -> Callable | None:
    """``motornet_fn.analysis.analyze_run`` where this version has it, else None."""
    try:
        from motornet_fn import analysis
    except ImportError:
        return None
    return getattr(analysis, "analyze_run", None)


# ------------------------------------------------------------------------------------------------ one task
def train_condition(run: str, config: dict, checkpoint_every: int = 50, threads: int = 1,
                    hooks: str | None = None, analyze: bool = False) -> dict:
    """Train (or resume) one condition's ensemble in ``run``: the body of one Ray task.

    Writes what ``motornet-fn train`` writes (config.json, checkpoint.pt, losses.csv, loss.png,
    trajectories.png), checkpointing every ``checkpoint_every`` batches. Safe to run again after any
    interruption: it resumes from the last checkpoint. A ``ray.cancel`` (a KeyboardInterrupt: Trainer.fit
    leaves the trainer at a batch boundary) saves a checkpoint first.

    Args:
        run: the condition's run directory.
        config: ``dataclasses.asdict`` of the condition's TrainConfig.
        checkpoint_every: batches between checkpoints.
        threads: torch CPU threads (the task's Ray ``num_cpus``).
        hooks: test-only fault injection directory (see :data:`HOOKS_ENV`).
        analyze: call ``motornet_fn.analysis.analyze_run(run)`` on the finished run, where available.

    Returns:
        ``name``, ``step``, ``losses`` (the last batch's per-member losses), ``resumed_at``, ``wall_s``
        and ``pid``.
    """
    import torch

    from motornet_fn.cli import draw_figures
    from motornet_fn.memory import retain_freed_memory

    t0 = time.perf_counter()
    torch.set_num_threads(threads)
    retain_freed_memory()
    run, config = Path(run), TrainConfig(**config)
    hook = _TestHooks(hooks, run.name)
    trainer = load_existing(run, config)
    resumed_at = 0 if trainer is None else trainer.step
    if trainer is None:
        if run.exists():  # only what an interrupted first save of this same config left (load_existing checked)
            ckpt.remove_unfinished_run(run, [])
        ckpt.create_run_dir(run)
        trainer = Trainer(config)
        ckpt.save_run(trainer, run)

    def callback(t: Trainer) -> None:
        if t.step % checkpoint_every == 0:
            ckpt.save_run(t, run)
        hook.after_batch(t, checkpoint_every)

    if trainer.step < config.n_batches:
        try:
            trainer.fit(progress=False, callback=callback)
        except KeyboardInterrupt:
            ckpt.save_run(trainer, run)
            raise
        ckpt.save_run(trainer, run)
    if not is_finished(trainer, run):
        with tempfile.TemporaryDirectory(dir=run) as tmp:  # complete figures or none, never half a PNG
            for figure in draw_figures(trainer, Path(tmp)):
                os.replace(figure, run / figure.name)
    if analyze and analysis_function() is not None:
        analysis_function()(run)
    return {"name": run.name, "step": trainer.step, "losses": trainer.log.loss[-1], "resumed_at": resumed_at,
            "wall_s": time.perf_counter() - t0, "pid": os.getpid()}


class _TestHooks:
    """Test-only fault injection, off unless the driver's environment sets ``MOTORNET_FN_SWEEP_TEST_HOOKS=DIR``.

    For condition NAME, the task appends its PID to ``DIR/NAME.pid`` at every attempt; ``DIR/NAME.fail``
    (holding a batch count B) makes it raise once it has trained B batches, at every attempt;
    ``DIR/NAME.hold`` makes its first attempt write ``DIR/NAME.held`` after its first checkpoint and wait
    until ``NAME.hold`` is removed (so a test can kill it mid-run).
    """

    def __init__(self, directory: str | None, name: str):
        self.dir, self.name = (Path(directory) if directory else None), name
        if self.dir is not None:
            with open(self.dir / f"{name}.pid", "a") as f:
                f.write(f"{os.getpid()}\n")

    def after_batch(self, trainer: Trainer, checkpoint_every: int) -> None:
        if self.dir is None:
            return
        fail, hold, held = (self.dir / f"{self.name}.{s}" for s in ("fail", "hold", "held"))
        if fail.exists() and trainer.step >= int(fail.read_text()):
            raise RuntimeError(f"test hook: {self.name} fails after {trainer.step} batches")
        if hold.exists() and not held.exists() and trainer.step % checkpoint_every == 0:
            held.write_text(f"{os.getpid()}\n")
            while hold.exists():
                time.sleep(0.05)


# ------------------------------------------------------------------------------------------------ the sweep
@dataclass
class Outcome:
    """What happened to one condition in this invocation.

    Attributes:
        condition: the condition.
        status: ``done`` (trained to the end, now or earlier), ``failed``, ``interrupted`` (resumable)
            or ``not started``.
        error: one-line error of a failed condition.
        skipped: finished before this invocation, so nothing was trained.
    """

    condition: Condition
    status: str
    error: str = ""
    skipped: bool = False


@dataclass
class SweepResult:
    """The outcomes of :func:`run_sweep` and the summary files it wrote."""

    outcomes: list
    interrupted: bool = False
    summary_csv: Path | None = None
    summary_png: Path | None = None
    notes: list = field(default_factory=list)


def run_sweep(spec: SweepSpec, out: str | Path, *, address: str | None = None, cpus: int | None = None,
              cpus_per_task: int = 1, retries: int = 2, checkpoint_every: int = 50, progress: bool = True,
              echo: Callable[[str], None] = print) -> SweepResult:
    """Train every condition of ``spec`` as one Ray task each, then write the summary.

    Args:
        spec: the sweep.
        out: the sweep directory (``out/<condition>/`` per condition, ``sweep.json``, ``summary.*``).
        address: an existing Ray cluster (``"auto"``, ``"host:6379"``); default: a new local instance
            with ``cpus`` CPUs (default ``os.cpu_count()``). A driver that already called ``ray.init``
            keeps its instance.
        cpus_per_task: Ray ``num_cpus`` and torch threads of every task.
        retries: Ray ``max_retries`` (worker death and, with ``retry_exceptions=True``, exceptions).
        checkpoint_every: batches between checkpoints.
        progress: show a tqdm bar over the conditions.
        echo: where the per-condition lines go.

    Returns:
        The outcomes; ``interrupted`` after Ctrl-C (running tasks saved or were killed, every run resumable).
    """
    import ray

    out = Path(out).resolve()
    check_out_dir(spec, out)
    conditions = spec.expand()
    outcomes = {c.name: Outcome(c, "not started") for c in conditions}
    for c in conditions:
        if is_finished(load_existing(out / c.name, c.config), out / c.name):
            outcomes[c.name] = Outcome(c, "done", skipped=True)
    todo = [c for c in conditions if not outcomes[c.name].skipped]
    started = _connect(ray, address, cpus) if todo else False
    try:
        check_out_dir(spec, out, create=True)
        task = ray.remote(train_condition).options(num_cpus=cpus_per_task, max_retries=retries, retry_exceptions=True)
        analyze = spec.analyze and analysis_function() is not None
        hooks = os.environ.get(HOOKS_ENV)
        refs = {task.remote(str(out / c.name), dataclasses.asdict(c.config), checkpoint_every, cpus_per_task, hooks,
                            analyze): c for c in todo}
        interrupted = _collect(ray, refs, outcomes, retries, progress, echo)
    finally:
        if started:
            ray.shutdown()
    if interrupted:
        for c in todo:
            if outcomes[c.name].status == "not started":
                finished = is_finished(load_existing(out / c.name, c.config), out / c.name)
                outcomes[c.name].status = "done" if finished else "interrupted"
    result = SweepResult([outcomes[c.name] for c in conditions], interrupted, notes=analysis_notes(spec))
    result.summary_csv, result.summary_png = write_summary(spec, out, result.outcomes)
    return result


def _collect(ray, refs: dict, outcomes: dict, retries: int, progress: bool, echo) -> bool:
    """Wait for the tasks, recording each outcome with one line and a tqdm bar over all conditions;
    returns whether Ctrl-C stopped the sweep (the running tasks cancelled, see :func:`_cancel`)."""
    from tqdm.auto import tqdm

    skipped = [o.condition.name for o in outcomes.values() if o.skipped]
    say = tqdm.write if progress else echo
    with tqdm(total=len(outcomes), initial=len(skipped), disable=not progress, unit="condition",
              dynamic_ncols=True) as bar:
        for name in skipped:
            say(f"{name}: finished earlier, skipped")
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in ready:
                    c = refs[ref]
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as err:
                        outcomes[c.name] = Outcome(c, "failed", error=_one_line(err))
                        say(f"{c.name}: FAILED after {retries} retr{'y' if retries == 1 else 'ies'}: {_one_line(err)}")
                    else:
                        outcomes[c.name] = Outcome(c, "done")
                        losses = result["losses"]
                        say(f"{c.name}: done, final loss {sum(losses) / len(losses):.4g} (mean of {len(losses)} "
                            f"seeds), {result['wall_s']:.1f} s")
                    bar.update(1)
        except KeyboardInterrupt:
            _cancel(ray, pending)
            return True
    return False


def _connect(ray, address: str | None, cpus: int | None) -> bool:
    """Start or join Ray unless this process already did; returns whether to shut it down afterwards."""
    if ray.is_initialized():
        return False
    if address is None:  # "local": a new instance even where `ray start` left a cluster running on this machine
        kwargs = {"address": "local", "num_cpus": cpus or os.cpu_count(), "include_dashboard": False}
    else:
        kwargs = {"address": address}
    try:
        ray.init(log_to_driver=False, logging_level="WARNING", **kwargs)
    except ConnectionError as err:
        raise ValueError(f"--address {address!r}: cannot connect to a Ray cluster ({_one_line(err)})") from None
    return True


def _cancel(ray, pending: list) -> None:
    """Ctrl-C: ask running tasks to stop at the end of their batch (they save a checkpoint), then kill
    what is still running after CANCEL_GRACE_S (it resumes from its last periodic checkpoint)."""
    for ref in pending:
        ray.cancel(ref)
    try:
        _, left = ray.wait(pending, num_returns=len(pending), timeout=CANCEL_GRACE_S) if pending else ([], [])
    except KeyboardInterrupt:  # asked twice: stop now
        left = pending
    for ref in left:
        ray.cancel(ref, force=True)


def _one_line(err: BaseException) -> str:
    cause = getattr(err, "cause", None)
    text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else f"{type(err).__name__}: {err}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def analysis_notes(spec: SweepSpec) -> list[str]:
    """Lines saying what ``analyze = true`` will do in this version."""
    if not spec.analyze:
        return []
    if analysis_function() is None:
        return ["analysis: not available in this version (motornet_fn.analysis has no analyze_run); "
                "runs are trained without it"]
    return ["analysis: every finished run is analysed (motornet_fn.analysis.analyze_run)"]


# ------------------------------------------------------------------------------------------------ summary
def summary_rows(spec: SweepSpec, out: Path, outcomes: list[Outcome]) -> list[dict]:
    """One row per condition x seed: condition, status, member, seed, the varying config values, the
    base ones, batches trained, the member's final loss, the condition's training time, the error."""
    varying = sorted({k for o in outcomes for k in o.condition.overrides})
    fixed = [k for k in FIELD_TYPES if k not in varying and k not in SET_BY_SEEDS]
    rows = []
    for o in outcomes:
        run = out / o.condition.name
        trainer = load_existing(run, o.condition.config) if (run / ckpt.CHECKPOINT).is_file() else None
        config = dataclasses.asdict(o.condition.config)
        for k, seed in enumerate(spec.seeds):
            row = {"condition": o.condition.name, "status": o.status, "member": k, "seed": seed}
            row.update({key: _cell(config[key]) for key in varying + fixed})
            done = trainer is not None and trainer.step > 0
            row["batches"] = trainer.step if trainer is not None else 0
            row["final_loss"] = f"{trainer.log.loss[-1][k]:.8g}" if done else ""
            row["train_seconds"] = f"{sum(trainer.log.seconds):.2f}" if done else ""
            row["error"] = o.error
            rows.append(row)
    return rows


def _cell(value) -> str:
    return "" if value is None else json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def write_summary(spec: SweepSpec, out: Path, outcomes: list[Outcome]) -> tuple[Path, Path]:
    """Write ``out/summary.csv`` and ``out/summary.png``; returns their paths."""
    rows = summary_rows(spec, out, outcomes)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _write_text(out / SUMMARY_CSV, text.getvalue())
    plot_summary(outcomes, rows, out / SUMMARY_PNG, title=f"{out.name}: {len(outcomes)} conditions x "
                                                               f"{len(spec.seeds)} seeds")
    return out / SUMMARY_CSV, out / SUMMARY_PNG


LOSS_UNITS = {"l1_position": "m", "l2_position": "m$^2$", "clipped_position": "m"}


def plot_summary(outcomes: list[Outcome], rows: list[dict], path: Path, title: str = "") -> None:
    """Final loss per condition: one point per seed, a bar at the mean with the std as error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels, losses = [], []
    for o in outcomes:
        values = [float(r["final_loss"]) for r in rows if r["condition"] == o.condition.name and r["final_loss"]]
        label = "\n".join(f"{k} = {_format(v)}" for k, v in sorted(o.condition.overrides.items())) or "base"
        labels.append(label if o.status == "done" else f"{label}\n({o.status})")
        losses.append(values if o.status == "done" else [])
    lines = [label.count("\n") + 1 for label in labels]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * sum(max(n, 2) for n in lines)))
    y = np.arange(len(outcomes))[::-1]
    jitter = np.random.default_rng(0)
    for yi, values, o in zip(y, losses, outcomes):
        if not values:
            note = f"{o.status}: {o.error}" if o.error else f"{o.status}: no final loss yet"
            note = note if len(note) <= 60 else note[:59] + "…"  # the full error is in summary.csv
            ax.text(0.01, yi, note, transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="#c0392b")
        else:
            ax.errorbar(np.mean(values), yi, xerr=np.std(values), fmt="|", ms=18, mew=2.5, color="#3182bd",
                        ecolor="#3182bd", elinewidth=2, capsize=6, label="mean ± std over seeds")
            ax.scatter(values, yi + jitter.uniform(-0.15, 0.15, len(values)), s=22, color="k", alpha=0.7,
                       zorder=3, label="one seed")
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_ylim(-0.6, len(outcomes) - 0.4)
    for tick, o in zip(ax.get_yticklabels(), outcomes):
        if o.status != "done":
            tick.set_color("#c0392b")
    configs = [o.condition.config for o in outcomes]
    plain = all(c.loss == configs[0].loss and not c.activation_weight and not c.hidden_weight for c in configs)
    unit = LOSS_UNITS.get(configs[0].loss, "a.u.") if plain else "a.u."
    ax.set_xlabel(f"final training loss ({configs[0].loss if plain else 'total'}, {unit})")
    ax.set_ylabel("condition")
    ax.grid(axis="x", alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), frameon=False, fontsize=8, ncol=2, loc="lower center",
                  bbox_to_anchor=(0.5, 1.0))
    ax.set_title(title, fontsize=10, pad=22)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ dry run
def plan(spec: SweepSpec, out: Path) -> list[tuple[Condition, str, int]]:
    """(condition, status, batches done) for every condition; status is ``new``, ``resume`` or ``done``."""
    check_out_dir(spec, out)
    result = []
    for c in spec.expand():
        trainer = load_existing(out / c.name, c.config)
        status = "done" if is_finished(trainer, out / c.name) else "new" if trainer is None else "resume"
        result.append((c, status, 0 if trainer is None else trainer.step))
    return result


def seconds_per_batch(config: TrainConfig, threads: int = 1) -> float:
    """Wall time of one training batch of ``config`` (measured after one warm-up batch)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        trainer = Trainer(dataclasses.replace(config, n_batches=2, compile=False))
        trainer.fit(n_batches=1, progress=False)
        t0 = time.perf_counter()
        trainer.fit(n_batches=2, progress=False)
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)


def estimate_seconds(remaining: list[float], slots: int) -> float:
    """Makespan of tasks of the given durations on ``slots`` parallel slots (longest first, greedy)."""
    loads = [0.0] * max(1, slots)
    for seconds in sorted(remaining, reverse=True):
        loads[loads.index(min(loads))] += seconds
    return max(loads)


def dry_run(spec: SweepSpec, out: Path, slots: int, threads: int = 1, echo: Callable[[str], None] = print) -> None:
    """Print the task list (condition, seeds, batches, status, run directory) and an estimated run time."""
    rows = plan(spec, Path(out))
    seeds = f"{spec.seeds[0]}..{spec.seeds[-1]}" if len(spec.seeds) > 1 else str(spec.seeds[0])
    width = max(len(c.name) for c, _, _ in rows)
    echo(f"{len(rows)} conditions x {len(spec.seeds)} seeds ({seeds}), one Ray task (one ensemble) per condition:")
    for c, status, step in rows:
        state = f"resume at batch {step}" if status == "resume" else status
        echo(f"  {c.name:<{width}}  seeds {seeds}  {c.config.n_batches} batches  {state:<18}  {Path(out) / c.name}")
    todo = [(c, step) for c, status, step in rows if status != "done"]
    if todo:
        first = todo[0][0]
        cost = seconds_per_batch(first.config, threads)
        total = estimate_seconds([(c.config.n_batches - step) * cost for c, step in todo], slots)
        echo(f"estimated run time: {_duration(total)} for {len(todo)} task(s) on {slots} parallel slot(s), from "
             f"{cost * 1000:.0f} ms per batch measured on one batch of {first.name} with {threads} thread(s) "
             f"(conditions that change the effector, batch_size, episode_duration or hidden_size will differ; "
             f"Ray start-up adds ~10 s)")
    else:
        echo("estimated run time: 0 s (every condition is finished)")
    for note in analysis_notes(spec):
        echo(note)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


__all__ = ["Condition", "Outcome", "SpecError", "SweepResult", "SweepSpec", "changed_keys", "check_out_dir",
           "condition_name", "dry_run", "load_existing", "load_spec", "parse_spec", "plan", "run_sweep",
           "seconds_per_batch", "train_condition", "write_summary"]
