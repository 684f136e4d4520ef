"""Training benchmarks: one optimisation batch of motornet_fn (eager and ``compile=True``) against
MotorNet 0.3.0's tutorial loop, ensembles against sequential runs, and peak memory.

    python benchmarks/bench_training.py                       # everything
    python benchmarks/bench_training.py --section tutorial arm26 --batches 10
    python benchmarks/bench_training.py --section ensemble --members 10
    python benchmarks/bench_training.py --section memory

Sections:

* ``tutorial``: MotorNet's tutorial batch: ReluPointMass24 + RandomTargetReach (1 s, 100 steps), GRU 32,
  batch 32, L1 fingertip loss, backward, gradient clipping, Adam. ``motornet`` is the tutorial loop
  verbatim (``env.step`` / ``policy`` / ``optimizer``); ``fn_eager`` and ``fn_compiled`` are
  ``Trainer(TrainConfig()).train_batch()`` with ``compile`` off / on (sampling included; a C++ time loop
  built apart from its kernels, ``motornet_fn.nn.objective.CPP_LOOP_OPTIONS``); ``fn_compiled_long`` the same
  in a 10 000-batch run, whose loop and kernels are built as one file
  (``motornet_fn.nn.objective.ONE_FILE_MIN_STEPS``).
* ``arm26``: the same with RigidTendonArm26 (RigidTendonHillMuscle) and a GRU of 64 units.
* ``ensemble``: ``Trainer(ensemble_size=K)`` for one batch against K sequential single-policy batches,
  eager and compiled.
* ``memory``: growth of the process's resident set during 3 training batches after a warm-up batch
  (each implementation in a fresh subprocess; Linux only).
* ``loops``: the compiled episode's time-loop builds (``LOOPS``: a Python loop wrapper, the C++ loop built
  apart from its kernels, the C++ loop and kernels as one file, the loop built apart with inductor's own wrapper
  instead of ``core.loop_pool``'s, or with inductor's own vector width instead of
  ``nn.objective.training_vector_options()``'s), each alone in a fresh subprocess with a fresh ``TORCHINDUCTOR_CACHE_DIR``:
  first batch (compile), then the median of ``--batches`` batches and the loss, against MotorNet's batch measured
  in a subprocess of the same run; ``--workloads`` and ``--loops`` pick the workloads and the builds.

Medians of round-robin repeats (ms per batch); compile times (first batch) print separately.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    add_run_options, first_call, interleaved, mn, print_compile_times, print_footer, saved_tensor_bytes, start,
    tensor_peak_bytes, tune_malloc,
)

from bench_class_api import TrainingLoop  # noqa: E402

from motornet_fn.core.compiled import DEFAULT_OPTIONS  # noqa: E402
from motornet_fn.nn import TrainConfig, Trainer  # noqa: E402
from motornet_fn.nn.objective import CPP_LOOP_OPTIONS, training_vector_options  # noqa: E402

WORKLOADS = {
    "tutorial": dict(effector="ReluPointMass24", hidden_size=32),
    "arm26": dict(effector="RigidTendonArm26", muscle="RigidTendonHillMuscle", hidden_size=64),
}


def MotorNetTutorial(effector: str, hidden_size: int, batch_size: int = 32, seed: int = 0) -> TrainingLoop:
    """MotorNet 0.3.0's tutorial training loop on ``effector``; one call = one batch."""
    e = (mn.effector.RigidTendonArm26(muscle=mn.muscle.RigidTendonHillMuscle()) if effector == "RigidTendonArm26"
         else getattr(mn.effector, effector)())
    env = mn.environment.RandomTargetReach(effector=e, max_ep_duration=1.0)
    return TrainingLoop(mn, env, hidden_size, "goal", batch_size, seed)


def trainer(workload: str, compile: bool, **kw) -> Trainer:
    return Trainer(TrainConfig(**WORKLOADS[workload], compile=compile, **kw))


def bench_batches(args, workload, report):
    print(f"\n## {workload}: ms per training batch (batch 32, 100 steps, fwd + bwd + clip + Adam)")
    fns = {}
    if mn is not None:
        fns["motornet"] = MotorNetTutorial(WORKLOADS[workload]["effector"], WORKLOADS[workload]["hidden_size"])
    eager = trainer(workload, False)
    fns["fn_eager"] = eager.train_batch
    if args.compile:
        fast = trainer(workload, True)
        report["compile"].append((f"{workload} training step (first batch)", first_call(fast.train_batch)))
        fns["fn_compiled"] = fast.train_batch
        # a run long enough (>= ONE_FILE_MIN_STEPS) for the trainer to build its C++ loop and kernels as one file
        long = trainer(workload, True, n_batches=10_000)
        report["compile"].append((f"{workload} training step, long run (first batch)", first_call(long.train_batch)))
        fns["fn_compiled_long"] = long.train_batch
    first = {}
    if mn is not None:
        first["motornet"] = first_call(MotorNetTutorial(WORKLOADS[workload]["effector"], WORKLOADS[workload]["hidden_size"]))
    first["fn_eager"] = first_call(trainer(workload, False).train_batch)
    result = interleaved(fns, repeats=args.batches)
    for name, r in result.items():
        ratio = (f"   motornet/{name} = {result['motornet']['median'] / r['median']:5.1f}x"
                 if "motornet" in result and name != "motornet" else "")
        print(f"{name:16s} median {r['median'] * 1e3:9.2f} ms  min {r['min'] * 1e3:9.2f} ms{ratio}")
    print("first batch (fresh object, no compile): " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in first.items()))
    report[workload] = result


def bench_ensemble(args, report):
    k = args.members
    print(f"\n## ensemble of {k} (tutorial workload): one vectorised batch vs {k} sequential single-policy batches")
    modes = [False, True] if args.compile else [False]
    for compile in modes:
        ensemble = trainer("tutorial", compile, ensemble_size=k)
        single = trainer("tutorial", compile)  # K members run one after the other cost K of its batches
        if compile:
            report["compile"].append((f"ensemble of {k} training step", first_call(ensemble.train_batch)))
            report["compile"].append(("single-policy training step (cached if the tutorial section ran)",
                                      first_call(single.train_batch)))
        fns = {"ensemble": ensemble.train_batch, "sequential": lambda: [single.train_batch() for _ in range(k)]}
        result = interleaved(fns, repeats=max(3, args.batches // 2))
        label = "compiled" if compile else "eager"
        e, s = result["ensemble"]["median"], result["sequential"]["median"]
        print(f"{label:9s} ensemble {e * 1e3:9.1f} ms   {k} sequential {s * 1e3:9.1f} ms   speed-up {s / e:5.1f}x")
        report[f"ensemble_{label}"] = result
    if args.compile and "ensemble_eager" in report:
        s = report["ensemble_eager"]["sequential"]["median"]
        e = report["ensemble_compiled"]["ensemble"]["median"]
        print(f"compiled ensemble vs {k} sequential eager runs: {s / e:5.1f}x")


#: the time-loop builds of the ``loops`` section: inductor options of the trainer's compiled episode
#: (the trainer's builds take training_vector_options(): AVX2-wide kernels on an AVX-512 CPU)
_VECTORS = training_vector_options()
LOOPS = {"python_loop": {}, "cpp_loop_apart": {**CPP_LOOP_OPTIONS, **_VECTORS},
         "cpp_loop_one_file": {**DEFAULT_OPTIONS, **_VECTORS},
         # inductor's own loop wrapper (each iteration allocates its buffers), without core.loop_pool
         "cpp_loop_apart_unpooled": {**CPP_LOOP_OPTIONS, **_VECTORS, "joint_custom_post_pass": None},
         # inductor's own vector width (AVX-512's 16 floats where the CPU has it)
         "cpp_loop_apart_wide": CPP_LOOP_OPTIONS}


def loop_one(impl: str, workload: str, batches: int) -> dict:
    """(In a fresh subprocess) first batch and median batch of MotorNet's loop or of one of :data:`LOOPS`,
    and (ours) the loss of the first and the last batch."""
    torch.set_num_threads(1)
    fit = None
    if impl == "motornet":
        run = MotorNetTutorial(WORKLOADS[workload]["effector"], WORKLOADS[workload]["hidden_size"])
    else:
        import motornet_fn.nn.train as train_module

        train_module.compile_options = lambda remaining, n_steps: (dict(LOOPS[impl]), f"benchmark: {impl}")
        fit = trainer(workload, True, n_batches=1000, seed=0)
        run = fit.train_batch
    first = first_call(run)
    median = interleaved({impl: run}, repeats=batches, warmup=0)[impl]["median"]
    loss = None if fit is None else (fit.log.loss[0][0], fit.log.loss[-1][0])
    return {"first": first, "median": median, "loss": loss}


def bench_loops(args, report):
    import tempfile

    print(f"\n## compiled time-loop builds, each alone in a fresh process with a fresh compile cache "
          f"(median of {args.batches} batches after the first)")
    impls = (["motornet"] if mn is not None else []) + list(args.loops)
    for workload in args.workloads:
        results = {}
        for impl in impls:
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--loop-one", impl, workload,
                                      str(args.batches)] + (["--malloc"] if args.malloc else []),
                                     capture_output=True, text=True, check=True, env=env)
            results[impl] = r = json.loads(out.stdout.strip().splitlines()[-1])
            ratio = (f"   motornet/{impl} = {results['motornet']['median'] / r['median']:5.1f}x"
                     if "motornet" in results and impl != "motornet" else "")
            loss = f"   loss {r['loss'][0]:.5f} -> {r['loss'][1]:.5f}" if r["loss"] else ""
            print(f"{workload:9s} {impl:18s} first batch {r['first']:6.1f} s   median {r['median'] * 1e3:7.2f} ms"
                  f"{ratio}{loss}", flush=True)
        report[f"loops_{workload}"] = results


def memory_one(impl: str, workload: str) -> dict:
    """(In a fresh subprocess) memory of one training batch after two warm-up batches: the tensor
    peak seen by the profiler and the bytes autograd saves for backward."""
    torch.set_num_threads(1)
    if impl == "motornet":
        run = MotorNetTutorial(WORKLOADS[workload]["effector"], WORKLOADS[workload]["hidden_size"])
    else:
        run = trainer(workload, impl == "fn_compiled").train_batch
    run()
    run()
    return {"peak": max(tensor_peak_bytes(run) for _ in range(2)), "saved": saved_tensor_bytes(run)}


def bench_memory(args, report):
    print("\n## memory of one training batch, MiB (fresh process per implementation, after 2 warm-up batches)")
    print("#   peak:  live tensor memory above the level before the batch, from the profiler's allocation events")
    print("#          (exact for eager code; for fn_compiled it sees the buffers the compiled graphs return and")
    print("#          save, not the per-step temporaries inside the generated loop)")
    print("#   saved: distinct storages autograd keeps for backward (activation memory at the end of forward)")
    impls = (["motornet"] if mn is not None else []) + ["fn_eager"] + (["fn_compiled"] if args.compile else [])
    for workload in args.workloads:
        cells = []
        for impl in impls:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-one", impl, workload],
                                 capture_output=True, text=True, check=True)
            value = json.loads(out.stdout.strip().splitlines()[-1])
            cells.append(f"{impl}: peak {value['peak'] / 2**20:6.2f}, saved {value['saved'] / 2**20:6.2f}")
            report.setdefault("memory", []).append((workload, impl, value))
        print(f"{workload:10s} " + " | ".join(cells), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", nargs="+", choices=("tutorial", "arm26", "ensemble", "memory", "loops"),
                        default=["tutorial", "arm26", "ensemble", "memory"])
    parser.add_argument("--workloads", nargs="+", choices=tuple(WORKLOADS), default=list(WORKLOADS),
                        help="workloads of the memory and loops sections")
    parser.add_argument("--loops", nargs="+", choices=tuple(LOOPS), default=list(LOOPS),
                        help="time-loop builds of the loops section")
    parser.add_argument("--batches", type=int, default=11, help="timed batches per implementation")
    parser.add_argument("--members", type=int, default=10)
    add_run_options(parser)
    parser.add_argument("--memory-one", nargs=2, metavar=("IMPL", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--loop-one", nargs=3, metavar=("IMPL", "WORKLOAD", "BATCHES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_one:
        print(json.dumps(memory_one(*args.memory_one)))
        return None
    if args.loop_one:
        if args.malloc:
            tune_malloc()
        impl, workload, batches = args.loop_one
        print(json.dumps(loop_one(impl, workload, int(batches))))
        return None
    start("bench_training", args)
    report = {"compile": []}
    for workload in ("tutorial", "arm26"):
        if workload in args.section:
            bench_batches(args, workload, report)
    if "ensemble" in args.section:
        bench_ensemble(args, report)
    if "memory" in args.section:
        bench_memory(args, report)
    if "loops" in args.section:
        bench_loops(args, report)
    print_compile_times(report["compile"], "first batch: trace + C++ build + run")
    print_footer()
    return report


if __name__ == "__main__":
    main()
