"""The ``motornet-fn`` command: train, evaluate and plot reaching policies.

    motornet-fn train                       # MotorNet's tutorial task, saved under runs/
    motornet-fn train --effector RigidTendonArm26 --ensemble-size 10 --out runs/arm26
    motornet-fn train --resume runs/arm26   # continue an interrupted or finished run
    motornet-fn evaluate runs/arm26
    motornet-fn plot runs/arm26
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from motornet_fn.core.build import PREBUILT
from motornet_fn.core.muscles import MUSCLES
from motornet_fn.memory import retain_freed_memory
from motornet_fn.nn import checkpoint as ckpt
from motornet_fn.nn import losses as L
from motornet_fn.nn import plots
from motornet_fn.core.tasks import TASKS, option_help, option_names
from motornet_fn.nn.train import TrainConfig, Trainer
from motornet_fn.sweep_cli import add_sweep_parser, cmd_sweep

DEFAULTS = TrainConfig()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motornet-fn", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a policy (or an ensemble) and save a run directory")
    train.add_argument("--effector", choices=sorted(PREBUILT), default=DEFAULTS.effector)
    train.add_argument("--muscle", choices=sorted(MUSCLES), default=None,
                       help="muscle model for RigidTendonArm26 / Reacher / FreePointMass24")
    train.add_argument("--task", choices=sorted(TASKS), default=DEFAULTS.task)
    train.add_argument("--batches", type=_positive_int, default=DEFAULTS.n_batches, help="number of training batches")
    train.add_argument("--batch-size", type=_positive_int, default=DEFAULTS.batch_size)
    train.add_argument("--episode-duration", type=_positive_float, default=DEFAULTS.episode_duration, help="seconds")
    train.add_argument("--policy", choices=["gru", "mlp"], default=DEFAULTS.policy)
    train.add_argument("--hidden-size", type=_positive_int, default=DEFAULTS.hidden_size)
    train.add_argument("--lr", type=_positive_float, default=DEFAULTS.lr, help="Adam learning rate")
    train.add_argument("--lr-schedule", choices=["constant", "cosine"], default=DEFAULTS.lr_schedule)
    train.add_argument("--loss", choices=sorted(L.LOSSES), default=DEFAULTS.loss)
    train.add_argument("--truncate-every", type=_positive_int, default=None, help="truncated BPTT window (steps)")
    add_task_options(train)
    train.add_argument("--curl-gain", type=float, default=DEFAULTS.curl_gain,
                       help="curl force field gain in N s/m (clockwise if > 0; 0 = off)")
    train.add_argument("--curl-prob", type=float, default=DEFAULTS.curl_prob, help="fraction of trials with the curl field on")
    train.add_argument("--seed", type=int, default=DEFAULTS.seed)
    train.add_argument("--ensemble-size", type=_positive_int, default=DEFAULTS.ensemble_size,
                       help="train K policies (seeds seed..seed+K-1) at once")
    train.add_argument("--device", default=DEFAULTS.device)
    train.add_argument("--dtype", choices=["float32", "float64"], default=DEFAULTS.dtype)
    train.add_argument("--checkpoint-every", type=_positive_int, default=100, help="batches between checkpoints")
    train.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<time>-<effector>)")
    train.add_argument("--resume", type=Path, default=None, help="continue the run in this directory")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    speed = train.add_mutually_exclusive_group()
    speed.add_argument("--compile", dest="compile", action="store_const", const=True, default="auto",
                       help="always compile the episode with torch.compile (same numbers; ~10x faster batches after "
                            "a one-off compilation). Default: compile when the run is long enough to repay it")
    speed.add_argument("--no-compile", dest="compile", action="store_const", const=False,
                       help="never compile: run every batch eagerly")
    train.add_argument("--threads", type=_positive_int, default=1,
                       help="CPU threads for torch (default 1: the fastest for these small batches; the tutorial "
                            "batch measured 144 ms with 1 thread, 197 ms with 2 on a 2-core CPU)")
    train.add_argument("--release-memory", action="store_true",
                       help="let the allocator return freed memory to the OS after every batch (default: keep it "
                            "for the next batch, which saves page faults; see motornet_fn.memory)")

    evaluate = sub.add_parser("evaluate", help="evaluate a run's policy on a fixed batch")
    evaluate.add_argument("run", type=Path)
    evaluate.add_argument("--batch-size", type=_positive_int, default=64)
    evaluate.add_argument("--seed", type=int, default=12345)
    evaluate.add_argument("--member", type=int, default=0, help="ensemble member to evaluate")

    plot = sub.add_parser("plot", help="(re)draw a run's loss curve and trajectories")
    plot.add_argument("run", type=Path)
    add_sweep_parser(sub)
    return parser


def _task_option_flags() -> dict[str, str]:
    """Every task option of the registry, by its flag (``n_targets`` -> ``--n-targets``)."""
    return {"--" + name.replace("_", "-"): name for task in TASKS for name in option_names(task)}


def add_task_options(parser: argparse.ArgumentParser) -> None:
    """One flag per task option of the registry (a value is parsed as JSON: numbers, lists, strings)."""
    group = parser.add_argument_group("task options (from the task registry; each applies to the tasks named)")
    for flag, name in sorted(_task_option_flags().items()):
        users = [t for t in sorted(TASKS) if name in option_names(t)]
        group.add_argument(flag, dest="task_option_" + name, type=_json_value, default=None, metavar="VALUE",
                           help=f"{', '.join(users)}: {option_help(TASKS[users[0]], name)}")


def _json_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _task_options(args) -> dict:
    """The task options given on the command line; one the chosen task does not take is an error."""
    given = {name: getattr(args, "task_option_" + name) for name in _task_option_flags().values()
             if getattr(args, "task_option_" + name, None) is not None}
    wrong = sorted(set(given) - set(option_names(args.task)))
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        valid = ", ".join("--" + n.replace("_", "-") for n in option_names(args.task)) or "none"
        raise ValueError(f"{flags}: not an option of task {args.task!r} (its options: {valid})")
    return given


def _config_from_args(args) -> TrainConfig:
    return TrainConfig(
        effector=args.effector, muscle=args.muscle, task=args.task, task_options=_task_options(args),
        n_batches=args.batches, batch_size=args.batch_size, episode_duration=args.episode_duration,
        policy=args.policy, hidden_size=args.hidden_size, lr=args.lr, lr_schedule=args.lr_schedule, loss=args.loss,
        truncate_every=args.truncate_every, curl_gain=args.curl_gain, curl_prob=args.curl_prob,
        seed=args.seed, ensemble_size=args.ensemble_size,
        device=args.device, dtype=args.dtype, compile=args.compile,
    )


def draw_figures(trainer: Trainer, run: Path) -> list[Path]:
    """Write loss.png and trajectories.png into ``run``."""
    title = f"{trainer.config.effector}, {trainer.step} batches"
    plots.plot_losses(trainer.log.loss, run / "loss.png", title=title)
    plots.plot_trajectories(trainer.evaluate(), run / "trajectories.png", title=title)
    return [run / "loss.png", run / "trajectories.png"]


def cmd_train(args) -> int:
    torch.set_num_threads(args.threads)
    if not args.release_memory:
        retain_freed_memory()
    if args.resume is not None:
        if args.out is not None:
            raise SystemExit("motornet-fn train: give either --out or --resume, not both")
        run = args.resume
        trainer = ckpt.load_run(run)
        if args.batches != DEFAULTS.n_batches:  # an explicit --batches extends the run
            trainer.config.n_batches = args.batches
        if args.compile != "auto":  # a performance switch: may change for a resumed run
            trainer.config.compile = args.compile
        print(f"resuming {run} at batch {trainer.step}/{trainer.config.n_batches}")
    else:
        config = _config_from_args(args)
        run = args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.effector}"
        run = ckpt.prepare_run_dir(run)
        trainer = Trainer(config)
        print(f"training {config.effector} ({config.ensemble_size} polic{'y' if config.ensemble_size == 1 else 'ies'}) "
              f"for {config.n_batches} batches -> {run}")
    ckpt.save_run(trainer, run)

    def periodic_save(t: Trainer):
        if t.step % args.checkpoint_every == 0:
            ckpt.save_run(t, run)

    try:
        trainer.fit(progress=not args.no_progress, callback=periodic_save)
    except KeyboardInterrupt:
        ckpt.save_run(trainer, run)
        print(f"\ninterrupted at batch {trainer.step}; checkpoint saved. Resume with: motornet-fn train --resume {run}",
              file=sys.stderr)
        return 130
    ckpt.save_run(trainer, run)
    figures = draw_figures(trainer, run)
    final = sum(trainer.log.loss[-1]) / len(trainer.log.loss[-1])
    per_batch = sum(trainer.log.seconds) / max(1, len(trainer.log.seconds))
    print(f"done: final loss {final:.4f}, {per_batch * 1000:.0f} ms/batch; wrote {', '.join(str(f) for f in figures)}")
    return 0


def cmd_evaluate(args) -> int:
    trainer = ckpt.load_run(args.run)
    if not 0 <= args.member < trainer.config.ensemble_size:
        raise SystemExit(f"motornet-fn evaluate: --member must be in 0..{trainer.config.ensemble_size - 1}, got {args.member}")
    trace = trainer.evaluate(batch_size=args.batch_size, seed=args.seed, k=args.member)
    final_distance = torch.linalg.vector_norm(trace.fingertip[:, -1] - trace.goal[:, -1], dim=-1)
    result = {
        "run": str(args.run), "member": args.member, "batches_trained": trainer.step,
        "l1_position_loss": float(L.l1_position(trace.fingertip, trace.goal)),
        "final_distance_mean_m": float(final_distance.mean()),
        "final_distance_median_m": float(final_distance.median()),
    }
    (args.run / "evaluation.json").write_text(json.dumps(result, indent=2))
    plots.plot_trajectories(trace, args.run / "trajectories.png", title=f"member {args.member}")
    print(json.dumps(result, indent=2))
    return 0


def cmd_plot(args) -> int:
    trainer = ckpt.load_run(args.run)
    for f in draw_figures(trainer, args.run):
        print(f)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "plot": cmd_plot, "sweep": cmd_sweep}[args.command](args)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"motornet-fn {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
