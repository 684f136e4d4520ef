"""The motornet-fn command: train, evaluate, analyse and plot reaching policies.

examples:
  motornet-fn train                        MotorNet's tutorial task, saved under runs/
  motornet-fn train --effector RigidTendonArm26 --muscle RigidTendonHillMuscle --ensemble-size 10 --out runs/arm26
  motornet-fn train --resume runs/arm26 --batches 2000   continue a run (interrupted or finished)
  motornet-fn evaluate runs/arm26 --member 3             writes runs/arm26/analysis/
  motornet-fn analyze runs/arm26 --member 3              metrics, PCA, fixed points, perturbations, figures
  motornet-fn plot runs/arm26                            redraws loss.png and trajectories.png
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import re
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from motornet_fn.analysis import analyze as analyze_module
from motornet_fn.core.build import PREBUILT
from motornet_fn.core.muscles import MUSCLES
from motornet_fn.core.tasks import TASKS, get_task, option_help, option_names
from motornet_fn.nn.freeze import TRAIN_ONLY
from motornet_fn.nn.policy_registry import OPTION_HELP as POLICY_OPTION_HELP
from motornet_fn.nn.policy_registry import POLICY_BUILDERS
from motornet_fn.nn.policy_registry import option_default as policy_option_default
from motornet_fn.nn.policy_registry import option_names as policy_option_names
from motornet_fn.memory import retain_freed_memory
from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn import losses as L
from motornet_fn.nn import plots
from motornet_fn.nn.batch_guard import NonFiniteLossError
from motornet_fn.nn.interrupts import defer_interrupts
from motornet_fn.nn.train import TrainConfig, Trainer
from motornet_fn.sweep_cli import add_sweep_parser, cmd_sweep

DEFAULTS = TrainConfig()
#: the train options that are no part of the run's config: they may differ when a run is resumed
RESUMABLE = ("--batches (to extend), --compile / --no-compile, --threads, --release-memory, --no-progress, "
             "--checkpoint-every")


class UsageError(ValueError):
    """The command line asks for something that cannot be done (reported in one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """Reports errors in one line: ``motornet-fn train: error: --batches: expected ... (see ... --help)``."""

    def error(self, message: str):
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parse_as(kind, ok, expected: str):
    """An argparse ``type`` that reads ``kind`` and checks ``ok``, else says ``expected ..., got 'text'``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_positive_int = _parse_as(int, lambda v: v >= 1, "an integer >= 1")
_nonnegative_int = _parse_as(int, lambda v: v >= 0, "an integer >= 0")
_int = _parse_as(int, lambda v: True, "an integer")
_positive_float = _parse_as(float, lambda v: 0 < v < math.inf, "a number > 0")
_float = _parse_as(float, math.isfinite, "a number")
_probability = _parse_as(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")

#: (flag, TrainConfig field, argparse keywords, help): the options that define a run
RUN_OPTIONS = [
    ("--effector", "effector", dict(choices=sorted(PREBUILT)), "prebuilt effector"),
    ("--muscle", "muscle", dict(choices=sorted(MUSCLES)),
     "muscle model for RigidTendonArm26 / Reacher / FreePointMass24 (default: the effector's own)"),
    ("--task", "task", dict(choices=sorted(TASKS)), "reaching task"),
    ("--batches", "n_batches", dict(type=_positive_int), "number of training batches"),
    ("--batch-size", "batch_size", dict(type=_positive_int), "trials per batch"),
    ("--episode-duration", "episode_duration", dict(type=_positive_float), "seconds per trial"),
    ("--policy", "policy", dict(choices=sorted(POLICY_BUILDERS)), "policy network"),
    ("--hidden-size", "hidden_size", dict(type=_positive_int), "hidden units"),
    ("--lr", "lr", dict(type=_positive_float), "Adam learning rate"),
    ("--lr-schedule", "lr_schedule", dict(choices=["constant", "cosine"]), "learning-rate schedule"),
    ("--loss", "loss", {},
     "training loss: a preset (" + ", ".join(L.PRESETS) + "), or weighted terms such as "
     "position=1,effort=1e-4,hidden=1e-5 (terms: " + ", ".join(L.LOSS_TERMS) + "), or l1_position / l2_position"),
    ("--train-only", "train_only", dict(choices=list(TRAIN_ONLY)),
     "train only part of the network (the rest keeps its initial weights)"),
    ("--truncate-every", "truncate_every", dict(type=_positive_int),
     "truncated BPTT window in steps (default: off)"),
    ("--curl-gain", "curl_gain", dict(type=_float), "curl force field gain in N s/m (clockwise if > 0; 0 = off)"),
    ("--curl-prob", "curl_prob", dict(type=_probability), "fraction of trials with the curl field on"),
    ("--seed", "seed", dict(type=_int), "seed of member 0 (member k uses seed + k)"),
    ("--ensemble-size", "ensemble_size", dict(type=_positive_int), "train K policies at once"),
    ("--device", "device", {}, "torch device: cpu, cuda, cuda:<index> or mps"),
    ("--dtype", "dtype", dict(choices=["float32", "float64"]), "floating-point precision"),
]
FLAGS = {field: flag for flag, field, _, _ in RUN_OPTIONS}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="motornet-fn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,analyze,plot,sweep}")

    train = sub.add_parser("train", help="train a policy (or an ensemble) and save a run directory",
                           description="Train a policy (or an ensemble) and save a run directory holding config.json, "
                                       "checkpoint.pt, losses.csv, loss.png and trajectories.png.")
    run = train.add_argument_group("run options (saved in config.json; a resumed run keeps them)")
    for flag, field, kwargs, text in RUN_OPTIONS:
        default = "" if getattr(DEFAULTS, field) is None else f" (default: {getattr(DEFAULTS, field)})"
        metavar = None if "choices" in kwargs else flag.lstrip("-").replace("-", "_").upper()
        run.add_argument(flag, dest=field, default=None, metavar=metavar, help=text + default, **kwargs)
    TASK_OPTIONS.add_to(train, "task options (from the task registry; each applies to the tasks named; saved in "
                               "config.json)")
    POLICY_OPTIONS.add_to(train, "policy options (from the policy registry; each applies to the policies named; "
                                 "saved in config.json)")
    speed = train.add_argument_group("compilation (may change when resuming)").add_mutually_exclusive_group()
    speed.add_argument("--compile", dest="compile", action="store_const", const=True, default=None,
                       help="always compile the episode with torch.compile (same numbers; ~10x faster batches after a "
                            "one-off compilation; default: compile when the run is long enough to repay it)")
    speed.add_argument("--no-compile", dest="compile", action="store_const", const=False,
                       help="never compile: run every batch eagerly")
    other = train.add_argument_group("output and performance (may change when resuming)")
    other.add_argument("--out", type=Path, default=None,
                       help="new run directory; never overwritten (default: runs/<time>-<effector>)")
    other.add_argument("--resume", type=Path, default=None,
                       help=f"continue the run in this directory with its saved config; only {RESUMABLE} may be given")
    other.add_argument("--checkpoint-every", type=_positive_int, default=100,
                       help="batches between checkpoints (default: %(default)s)")
    other.add_argument("--threads", type=_positive_int, default=1,
                       help="CPU threads for torch (default: %(default)s, the fastest for these small batches: the "
                            "tutorial batch took 144 ms with 1 thread, 197 ms with 2 on a 2-core CPU)")
    other.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    other.add_argument("--release-memory", action="store_true",
                       help="let the allocator return freed memory to the OS after every batch (default: keep it for "
                            "the next batch, which saves page faults; see motornet_fn.memory)")

    evaluate = sub.add_parser("evaluate", help="evaluate a run's policy on a fixed batch",
                              description="Evaluate one policy of a run on a fixed batch. Writes "
                                          "RUN/analysis/evaluation_<tag>.json and trajectories_<tag>.png "
                                          "(tag: member, batches trained, seed, batch size); the training run's "
                                          "own files are never touched.")
    evaluate.add_argument("run", type=Path, help="run directory")
    evaluate.add_argument("--batch-size", type=_positive_int, default=64, help="trials (default: %(default)s)")
    evaluate.add_argument("--seed", type=_int, default=12345, help="seed of the batch (default: %(default)s)")
    evaluate.add_argument("--member", type=_nonnegative_int, default=0,
                          help="ensemble member to evaluate (default: %(default)s)")

    analyze = sub.add_parser(
        "analyze", help="analyse a run's policy: behaviour, population activity, fixed points, a perturbation",
        description="Analyse one policy of a run on fixed evaluation reaches (with and without a mid-movement force "
                    "pulse). Writes RUN/analysis/member<K>_<TASK>/: metrics.csv (per trial), summary_by_target.csv, "
                    "hand_paths.png, speed_profiles.png, muscle_activations.png, pca_trajectories.png, "
                    "eigenvalues.png (recurrent policies), perturbed_paths.png and summary.json; the training run's own "
                    "files are never touched.")
    analyze.add_argument("run", type=Path, help="run directory")
    analyze.add_argument("--member", type=_nonnegative_int, default=0,
                         help="ensemble member to analyse (default: %(default)s)")
    analyze.add_argument("--task", choices=sorted(TASKS), default=analyze_module.DEFAULT_TASK,
                         help="task of the evaluation reaches, with its default options (the run's options if it is "
                              "the run's task; default: %(default)s)")
    analyze.add_argument("--batch-size", type=_positive_int, default=None,
                         help="trials (default: 4 per target, or 32)")
    analyze.add_argument("--seed", type=_int, default=analyze_module.DEFAULT_SEED,
                         help="seed of the evaluation batch (default: %(default)s)")
    analyze.add_argument("--pulse-force", type=_positive_float, default=None,
                         help="force pulse perpendicular to each reach, in N (default: sized to change the hand's "
                              f"velocity by {analyze_module.PULSE_SPEED_FRACTION:.0%} of the median peak speed)")
    analyze.add_argument("--pulse-duration", type=_positive_float, default=analyze_module.PULSE_DURATION,
                         help="its duration in s (default: %(default)s)")

    plot = sub.add_parser("plot", help="(re)draw a run's loss curve and trajectories",
                          description="Redraw RUN/loss.png and RUN/trajectories.png from the checkpoint "
                                      "(replacing the figures training drew; nothing else is written).")
    plot.add_argument("run", type=Path, help="run directory")
    add_sweep_parser(sub)
    return parser


class OptionFamily:
    """The options of one registry (tasks, policies): one flag per option name of any member, checked
    against the member chosen."""

    def __init__(self, kind: str, members: list[str], names: Callable[[str], tuple], helps: Callable[[str, str], str],
                 defaults: Callable[[str, str], object]):
        self.kind, self.members, self.names, self.helps, self.defaults = kind, members, names, helps, defaults

    def flags(self) -> dict[str, str]:
        """flag -> option name (``n_targets`` -> ``--n-targets``)."""
        return {"--" + name.replace("_", "-"): name for m in self.members for name in self.names(m)}

    def add_to(self, parser: argparse.ArgumentParser, title: str) -> None:
        group = parser.add_argument_group(title)
        for flag, name in sorted(self.flags().items()):
            users = [m for m in self.members if name in self.names(m)]
            defaults = {repr(self.defaults(m, name)) for m in users}
            text = self.helps(users[0], name)
            shown = f" (default: {defaults.pop()})" if len(defaults) == 1 and "default" not in text else ""
            group.add_argument(flag, dest=f"{self.kind}_option_{name}", type=_option_value, default=None,
                               metavar="VALUE", help=f"{', '.join(users)}: {text}{shown}")

    def given(self, args, member: str) -> dict:
        """The options given on the command line; one ``member`` does not take is an error."""
        given = {name: getattr(args, f"{self.kind}_option_{name}") for name in self.flags().values()
                 if getattr(args, f"{self.kind}_option_{name}", None) is not None}
        wrong = sorted(set(given) - set(self.names(member)))
        if wrong:
            flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
            valid = ", ".join("--" + n.replace("_", "-") for n in self.names(member)) or "none"
            raise UsageError(f"{flags}: not an option of {self.kind} {member!r} (its options: {valid})")
        return given


def _task_default(task: str, name: str):
    return next(f.default for f in dataclasses.fields(TASKS[task]) if f.name == name)


TASK_OPTIONS = OptionFamily("task", sorted(TASKS), option_names, lambda t, n: option_help(TASKS[t], n), _task_default)
POLICY_OPTIONS = OptionFamily("policy", sorted(POLICY_BUILDERS), policy_option_names,
                              lambda p, n: POLICY_OPTION_HELP.get(n, ""), policy_option_default)


def _option_value(text: str):
    """A flag's value: JSON (numbers, lists, null), a comma-separated list (64,64,32), or a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [_option_value(part) for part in text.split(",") if part.strip()]
    return text


def _task_options(args, task: str) -> dict:
    return TASK_OPTIONS.given(args, task)


def _config_from_args(args) -> TrainConfig:
    given = {field: getattr(args, field) for field in [*FLAGS, "compile"] if getattr(args, field) is not None}
    return TrainConfig(**given, task_options=_task_options(args, given.get("task", DEFAULTS.task)),
                       policy_options=POLICY_OPTIONS.given(args, given.get("policy", DEFAULTS.policy)))


def _save_png(fig, path: Path) -> Path:
    ckpt.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    return path


def draw_figures(trainer: Trainer, run: Path) -> list[Path]:
    """Write (or redraw) loss.png and trajectories.png into ``run``."""
    title = f"{trainer.config.effector}, {trainer.step} batches"
    losses = plots.loss_figure(trainer.log.loss, trainer.log.terms, trainer.loss.weights, title=title,
                               label=plots.loss_label(trainer.config))
    paths = trainer.evaluate()
    trajectories = plots.plot_trajectories(paths, title=f"{title}\n{trainer.member_title(0)}")
    return [_save_png(losses, run / "loss.png"), _save_png(trajectories, run / "trajectories.png")]


def _resumed_trainer(args) -> Trainer:
    """The run of ``--resume`` at its checkpoint; refuses options that would change it."""
    run = args.resume
    if args.out is not None:
        raise UsageError("give either --out or --resume, not both")
    trainer = ckpt.load_run(run)
    saved = trainer.config
    changed = [f"{flag} {getattr(args, field)} (the run has {getattr(saved, field)})" for field, flag in FLAGS.items()
               if field != "n_batches" and getattr(args, field) is not None and getattr(args, field) != getattr(saved, field)]
    task = get_task(saved.task, **saved.task_options)
    for name, value in _task_options(args, saved.task).items():
        if value != getattr(task, name):
            changed.append(f"--{name.replace('_', '-')} {value} (the run has {getattr(task, name)})")
    for name, value in POLICY_OPTIONS.given(args, saved.policy).items():
        had = saved.policy_options.get(name, policy_option_default(saved.policy, name))
        if value != had:
            changed.append(f"--{name.replace('_', '-')} {value} (the run has {had})")
    if changed:
        raise UsageError(f"--resume continues {str(run)!r} with its saved config; refusing options that would change "
                         f"it: {', '.join(changed)}. With --resume give only {RESUMABLE}")
    if args.n_batches is not None:
        if args.n_batches < trainer.step:
            raise UsageError(f"--batches {args.n_batches} is below the {trainer.step} batches {str(run)!r} has done; "
                             f"give --batches {trainer.step} or more")
        trainer.config.n_batches = args.n_batches
    if args.compile is not None:  # a performance switch
        trainer.config.compile = args.compile
    return trainer


def cmd_train(args) -> int:
    torch.set_num_threads(args.threads)
    if not args.release_memory:
        retain_freed_memory()
    created: list[Path] | None = None  # what a new run created; None when resuming
    if args.resume is not None:
        trainer, run = _resumed_trainer(args), args.resume
        print(f"resuming {run} at batch {trainer.step}/{trainer.config.n_batches}")
    else:
        try:  # a bad config fails here, before any directory exists
            trainer = Trainer(_config_from_args(args))
        except ValueError as err:  # name the option, not the config field
            field = str(err).split(" ", 1)[0]
            options = {*TASK_OPTIONS.flags().values(), *POLICY_OPTIONS.flags().values()}
            flag = FLAGS.get(field) or ("--" + field.replace("_", "-") if field in options else "")
            raise UsageError(flag + str(err)[len(field):] if flag else str(err)) from None
        config = trainer.config
        run = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.effector}"
        created = ckpt.create_run_dir(run)
        print(f"training {config.effector} ({config.ensemble_size} polic{'y' if config.ensemble_size == 1 else 'ies'}) "
              f"for {config.n_batches} batches -> {run}")

    def periodic_save(t: Trainer):
        if t.step % args.checkpoint_every == 0:
            ckpt.save_run(t, run)

    try:
        ckpt.save_run(trainer, run)
        with _compile_log_to_stdout():
            trainer.fit(progress=not args.no_progress, callback=periodic_save)
        ckpt.save_run(trainer, run)
    except BaseException as err:
        return _stopped(trainer, run, created, err)
    figures = draw_figures(trainer, run)
    final = sum(trainer.log.loss[-1]) / len(trainer.log.loss[-1])
    per_batch = sum(trainer.log.seconds) / max(1, len(trainer.log.seconds))
    print(f"done: final loss {final:.4f}, {per_batch * 1000:.0f} ms/batch; wrote {', '.join(str(f) for f in figures)}")
    return 0


@contextlib.contextmanager
def _compile_log_to_stdout():
    """Send the compile decisions and timings (``motornet_fn.compile``, stderr by default; log files stay
    as they are) to stdout while training, so that stderr carries the progress bar and errors only."""
    logger = logging.getLogger("motornet_fn.compile")
    to_stderr = [h for h in logger.handlers
                 if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    to_stdout = logging.StreamHandler(sys.stdout)
    for h in to_stderr:
        to_stdout.setFormatter(h.formatter)
        logger.removeHandler(h)
    if to_stderr:  # a silenced log stays silent
        logger.addHandler(to_stdout)
    try:
        yield
    finally:
        logger.removeHandler(to_stdout)
        for h in to_stderr:
            logger.addHandler(h)


def _stopped(trainer: Trainer, run: Path, created: list[Path] | None, err: BaseException) -> int:
    """After training stopped early: remove a new run that never finished a batch, else save its last
    consistent batch; then report a Ctrl-C (130) or a non-finite loss (1), or re-raise anything else."""
    if created is not None and trainer.step == 0:
        ckpt.remove_unfinished_run(run, created)
        kept = f"no batch had finished, so what it wrote in {str(run)!r} was removed"
    else:
        try:
            with defer_interrupts():
                ckpt.save_run(trainer, run)
            kept = f"checkpoint saved at batch {trainer.step}"
        except (OSError, KeyboardInterrupt) as save_err:
            kept = f"the checkpoint could not be saved ({_one_line(save_err)}); the one on disk is from an earlier batch"
    if isinstance(err, KeyboardInterrupt):
        resume = f". Resume with: motornet-fn train --resume {run}" if trainer.step else ""
        print(f"\ninterrupted at batch {trainer.step}; {kept}{resume}", file=sys.stderr)
        return 130
    if isinstance(err, NonFiniteLossError):
        print(f"motornet-fn train: error: {err}; {kept}", file=sys.stderr)
        return 1
    raise err


def cmd_evaluate(args) -> int:
    trainer = ckpt.load_run(args.run)
    trainer.check_member(args.member, "--member")
    trace = trainer.evaluate(batch_size=args.batch_size, seed=args.seed, k=args.member)
    final_distance = torch.linalg.vector_norm(trace.fingertip[:, -1] - trace.goal[:, -1], dim=-1)
    result = {
        "run": str(args.run), "member": args.member, "batches_trained": trainer.step,
        "seed": args.seed, "batch_size": args.batch_size,
        "l1_position_loss": float(L.l1_position(trace.fingertip, trace.goal)),
        "final_distance_mean_m": float(final_distance.mean()),
        "final_distance_median_m": float(final_distance.median()),
    }
    out = args.run / "analysis"
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create {str(out)!r}: {err.strerror}") from None
    tag = f"member{args.member}_batch{trainer.step}_seed{args.seed}_n{args.batch_size}"
    json_path = out / f"evaluation_{tag}.json"
    ckpt.atomic_write(json_path, lambda f: f.write(json.dumps(result, indent=2).encode()))
    title = f"{trainer.config.effector}, {trainer.step} batches\n{trainer.member_title(args.member)}"
    png = _save_png(plots.plot_trajectories(trace, title=title), out / f"trajectories_{tag}.png")
    print(json.dumps(result, indent=2))
    print(f"wrote {json_path}, {png}")
    return 0


def cmd_analyze(args) -> int:
    try:
        summary = analyze_module.analyze_run(args.run, args.member, args.task, batch_size=args.batch_size,
                                                seed=args.seed, pulse_force=args.pulse_force,
                                                pulse_duration=args.pulse_duration)
    except ValueError as err:  # name the option, not the argument
        if str(err).startswith("member "):
            raise UsageError(f"--{err}") from None
        raise
    out = args.run / "analysis" / f"member{summary['member']}_{summary['task']}"
    means = summary["metrics_mean"]["unperturbed"]
    print(f"{summary['n_trials']} {summary['task']} trials of member {summary['member']}: endpoint error "
          f"{means['endpoint_error']} m, peak speed {means['peak_speed']} m/s, angular error {means['angular_error']} rad "
          f"(means over the {means['fraction_moved']:.0%} that moved)")
    fixed = summary["fixed_points"]
    print("fixed points: " + (fixed["skipped"] if "skipped" in fixed else
                              f"{fixed['n_fixed_points']} ({fixed['n_stable']} stable) at {fixed['n_conditions']} inputs"))
    print(f"wrote {len(summary['files'])} files to {out} in {summary['timing_s']['total']:.1f} s")
    return 0


def cmd_plot(args) -> int:
    trainer = ckpt.load_run(args.run)
    for f in draw_figures(trainer, args.run):
        print(f)
    return 0


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {err.strerror}"
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "analyze": cmd_analyze, "plot": cmd_plot,
                "sweep": cmd_sweep}[args.command](args)
    except KeyboardInterrupt:
        print(f"\nmotornet-fn {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:  # bad input, unreadable or unwritable files: one line, no traceback
        print(f"motornet-fn {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
