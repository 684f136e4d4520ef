"""A conditions x seeds sweep on a local Ray instance against the same runs trained one by one in a loop.

    python benchmarks/bench_sweep.py                       # 4 conditions x 4 seeds of 200-batch tutorial runs
    python benchmarks/bench_sweep.py --batches 20 --conditions 2 --seeds 2   # a quick check

``sweep``: ``motornet_fn.sweep.run_sweep`` (one Ray task per condition, its seeds trained as one vectorised
ensemble, as many tasks at once as the machine has CPUs). ``loop``: what one writes by hand, every
(condition, seed) as its own ``Trainer(...).fit()`` in this process, one after the other. Both use one
torch thread per run and the same configs (the tutorial task; learning rates differ across conditions).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import print_footer, setup  # noqa: E402

from motornet_fn.nn import TrainConfig, Trainer  # noqa: E402
from motornet_fn.sweep import SweepSpec, run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--conditions", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    args = parser.parse_args()
    facts = setup(1)
    print("# bench_sweep\n# " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    lrs = [1e-3 * (i + 1) for i in range(args.conditions)]
    spec = SweepSpec(base={"n_batches": args.batches}, grid={"lr": lrs}, conditions=[],
                     seeds=list(range(args.seeds)))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_sweep(spec, Path(tmp) / "sweep", cpus=args.cpus, progress=False, echo=lambda line: None)
        sweep_s = time.perf_counter() - start
        failed = [o.condition.name for o in result.outcomes if o.status != "done"]
        start = time.perf_counter()
        for lr in lrs:
            for seed in spec.seeds:
                Trainer(TrainConfig(n_batches=args.batches, lr=lr, seed=seed, compile="auto")).fit(progress=False)
        loop_s = time.perf_counter() - start
    runs = args.conditions * args.seeds
    print(f"\n## {args.conditions} conditions x {args.seeds} seeds of {args.batches}-batch tutorial runs "
          f"({runs} runs), {args.cpus} CPUs")
    print(f"sweep (Ray)   {sweep_s:8.1f} s")
    print(f"loop          {loop_s:8.1f} s   loop / sweep = {loop_s / sweep_s:4.2f}x")
    if failed:
        print(f"# {len(failed)} conditions did not finish: {failed}")
    print_footer()


if __name__ == "__main__":
    main()
