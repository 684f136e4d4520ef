"""``motornet-fn sweep``: train the conditions x seeds of a sweep file on Ray (see :mod:`motornet_fn.sweep`).

    motornet-fn sweep examples/sweep.toml --out runs/sweep      # a local Ray instance on every CPU
    motornet-fn sweep examples/sweep.toml --out runs/sweep      # again: skips finished, resumes the rest
    motornet-fn sweep --dry-run examples/sweep.toml             # the task list and an estimated run time
    motornet-fn sweep spec.toml --out /shared/runs/x --address auto   # an existing Ray cluster
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path


def add_sweep_parser(subparsers) -> None:
    """Register the ``sweep`` subcommand on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    from motornet_fn.cli import _nonnegative_int, _positive_int  # here, not at the top: cli imports this module

    sweep = subparsers.add_parser("sweep", help="train every condition x seed of a sweep file (TOML) on Ray",
                                  description=__doc__.split("\n\n")[0])
    sweep.add_argument("spec", type=Path, help="sweep file (TOML; see examples/sweep.toml)")
    sweep.add_argument("--out", type=Path, default=None,
                       help="sweep directory: one run directory per condition (default: runs/<spec name>)")
    sweep.add_argument("--dry-run", action="store_true",
                       help="print the task list and an estimated run time; train nothing")
    sweep.add_argument("--address", default=None,
                       help="join an existing Ray cluster ('auto' or HOST:PORT) instead of starting a local instance")
    sweep.add_argument("--cpus", type=_positive_int, default=None,
                       help="CPUs of the local Ray instance (default: os.cpu_count()); with --dry-run, the CPUs "
                            "the estimate assumes")
    sweep.add_argument("--cpus-per-task", type=_positive_int, default=1,
                       help="Ray num_cpus and torch threads of every condition's task (default 1)")
    sweep.add_argument("--retries", type=_nonnegative_int, default=2,
                       help="times Ray retries a condition whose worker died or that raised (default 2)")
    sweep.add_argument("--checkpoint-every", type=_positive_int, default=50, help="batches between checkpoints")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cmd_sweep(args) -> int:
    """Run (or dry-run) a sweep; 0 when every condition finished, 1 when one failed, 2 on bad input or
    without Ray, 130 after Ctrl-C."""
    from motornet_fn import sweep

    spec = sweep.load_spec(args.spec)
    out = args.out if args.out is not None else Path("runs") / args.spec.stem
    cpus = args.cpus or os.cpu_count() or 1
    if args.dry_run:
        sweep.dry_run(spec, out, slots=max(1, cpus // args.cpus_per_task), threads=args.cpus_per_task)
        return 0
    if args.address is not None and args.cpus is not None:
        raise ValueError("--cpus sizes a local Ray instance; a cluster joined with --address has its own CPUs")
    if args.address is None and args.cpus_per_task > cpus:
        raise ValueError(f"--cpus-per-task {args.cpus_per_task} exceeds the {cpus} CPUs of the local Ray instance "
                         f"(--cpus): no task could start")
    try:
        import ray  # noqa: F401
    except ImportError:
        print(sweep.INSTALL_HINT, file=sys.stderr)
        return 2
    resume = f"interrupted; every run is resumable: motornet-fn sweep {args.spec} --out {out}"
    try:
        result = sweep.run_sweep(spec, out, address=args.address, cpus=cpus, cpus_per_task=args.cpus_per_task,
                                 retries=args.retries, checkpoint_every=args.checkpoint_every,
                                 progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\n{resume}", file=sys.stderr)
        return 130
    counts = Counter(o.status for o in result.outcomes)
    for note in result.notes:
        print(note)
    print(f"summary: {', '.join(f'{n} {status}' for status, n in counts.items())}; "
          f"wrote {result.summary_csv} and {result.summary_png}")
    if result.interrupted:
        print(resume, file=sys.stderr)
        return 130
    return 1 if counts["failed"] else 0
