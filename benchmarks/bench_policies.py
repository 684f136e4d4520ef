"""Cost of the policies (run by hand, not in the tests).

    python benchmarks/bench_policies.py [--section step training] [--batch 32] [--sizes 32 64] [--repeats 2000]
    python benchmarks/bench_policies.py --section training [--modules 32 32 16] [--batches 11] [--no-compile]

Sections:

* ``step``: one eager forward step (no grad) of GRUPolicy, ModularGRUPolicy (three equal modules, sparse
  inter-module connections: without delays; with delays, output delay and Dale's law; the same plus a
  lesion window) and RateRNNPolicy of the same total size, on Arm26's 16 inputs and 6 muscles; then one
  forward + backward step (of the actions and the new activity).
* ``training``: ms per training batch (``Trainer.train_batch``: sampling, episode, loss, backward, clip,
  Adam) of the 3-module chain of ``notebooks/10_modular_networks.ipynb`` (premotor -> motor -> spinal,
  2-step delays, Dale's law, motor and spinal modules driving the muscles) against a GRU of the same total
  size, on bench_training's Arm26 workload (batch 32, 100 steps); eager and ``compile=True``, the
  compilation (first batch) timed separately.

Medians of round-robin samples (``_common.interleaved``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_options, first_call, fmt_ms, interleaved, print_compile_times, print_footer, start  # noqa: E402

from bench_training import WORKLOADS  # noqa: E402

from motornet_fn.nn import TrainConfig, Trainer  # noqa: E402

from motornet_fn.nn.modular import ModularGRUPolicy  # noqa: E402
from motornet_fn.nn.policies import GRUPolicy  # noqa: E402
from motornet_fn.nn.rate_rnn import RateRNNPolicy  # noqa: E402

N_OBS, N_MUSCLES = 16, 6
#: the policy options of notebook 10's network (``--modules`` replaces the sizes)
CHAIN = {"excitatory": 0.8, "delay": 2, "forward_prob": 0.5, "feedback_prob": 0.2, "output_from": [1, 2]}


def modular(size: int, delays: bool) -> ModularGRUPolicy:
    conn = np.array([[1.0, 0.2, 0.0], [0.2, 1.0, 0.2], [0.0, 0.2, 1.0]])
    return ModularGRUPolicy(
        N_OBS, [size] * 3, N_MUSCLES, vision_mask=[1, 0, 0], proprio_mask=[0, 1, 1], task_mask=[1, 0, 0],
        connectivity_mask=conn, output_mask=[0, 0, 1], vision_dim=[2, 3], proprio_dim=list(range(4, N_OBS)),
        task_dim=[0, 1], connectivity_delay=np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]]) if delays else None,
        proportion_excitatory=[0.8] * 3 if delays else None, output_delay=1 if delays else 0, random_seed=0)


def policies(size: int) -> dict:
    hidden = 3 * size
    lesioned = modular(size, True)
    lesioned.set_lesion((10, 20), units=[0, 1], pairs=[(1, 0)])
    return {
        f"GRUPolicy {hidden}": GRUPolicy(N_OBS, hidden, N_MUSCLES),
        f"Modular 3x{size}, no delays": modular(size, False),
        f"Modular 3x{size}, delays+Dale+out delay": modular(size, True),
        f"  + unit and pair lesions": lesioned,
        f"RateRNNPolicy {hidden}": RateRNNPolicy(N_OBS, hidden, N_MUSCLES),
    }


def bench_steps(args) -> None:
    """The ``step`` section: one policy step, forward and forward + backward."""
    torch.manual_seed(0)
    obs = torch.randn(args.batch, N_OBS)
    for size in args.sizes:
        nets = policies(size)
        states = {name: (net.initial_hidden((args.batch,)) + 0.1).detach() for name, net in nets.items()}
        noises = {name: torch.randn(args.batch, net.noise_dim) if net.noise_dim else None for name, net in nets.items()}

        def forward(name):
            def run():
                with torch.no_grad():
                    return nets[name](obs, states[name], noises[name])
            return run

        def backward(name):
            net = nets[name]

            def run():
                a, h = net(obs, states[name], noises[name])
                (a.sum() + net.activity(h).sum()).backward()  # through the readout and the update
            return run

        for label, make in (("forward", forward), ("forward + backward", backward)):
            res = interleaved({name: make(name) for name in nets}, repeats=args.repeats // (1 if label == "forward" else 4),
                              warmup=20)
            base = res[next(iter(nets))]["median"]
            print(f"\n## {label}, batch {args.batch}, ms per step (median; ratio to GRUPolicy)")
            for name, r in res.items():
                print(f"{name:45s} {fmt_ms(r['median'])}  {r['median'] / base:5.2f}x   (min {fmt_ms(r['min'])})")


def training_trainers(modules: list[int], compile: bool) -> dict[str, Trainer]:
    """A GRU and the modular chain of the same total size, on bench_training's Arm26 workload."""
    arm26 = {**WORKLOADS["arm26"], "hidden_size": sum(modules), "compile": compile}
    return {f"GRU {sum(modules)}": Trainer(TrainConfig(**arm26)),
            f"modular {'+'.join(map(str, modules))}": Trainer(TrainConfig(
                **arm26, policy="modular", policy_options={**CHAIN, "modules": modules}))}


def bench_training(args) -> None:
    """The ``training`` section: ms per training batch, eager and compiled."""
    print(f"\n## training batch (Arm26, batch 32, 100 steps, fwd + bwd + clip + Adam), ms; modular options {CHAIN}")
    results, compile_times = {}, []
    for mode in ("eager", "compiled") if args.compile else ("eager",):
        trainers = training_trainers(args.modules, mode == "compiled")
        if mode == "compiled":
            for name, t in trainers.items():
                compile_times.append((f"{name} training batch (first batch)", first_call(t.train_batch)))
        res = interleaved({name: t.train_batch for name, t in trainers.items()}, repeats=args.batches)
        for name, r in res.items():
            results.setdefault(name, {})[mode] = r
    gru = next(iter(results.values()))
    print(f"{'policy':22s} " + "  ".join(f"{mode + ' median':>16s} {'min':>8s} {'/GRU':>5s}" for mode in gru))
    for name, modes in results.items():
        print(f"{name:22s} " + "  ".join(f"{r['median'] * 1e3:16.1f} {r['min'] * 1e3:8.1f} "
                                          f"{r['median'] / gru[mode]['median']:5.2f}" for mode, r in modes.items()))
    print_compile_times(compile_times, "first batch: trace + C++ build + run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", nargs="+", choices=("step", "training"), default=["step", "training"])
    parser.add_argument("--batch", type=int, default=32, help="step section: batch size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="step section: units per module")
    parser.add_argument("--repeats", type=int, default=2000, help="step section: timed steps")
    parser.add_argument("--modules", type=int, nargs="+", default=[32, 32, 16], help="training section: module sizes")
    parser.add_argument("--batches", type=int, default=11, help="training section: timed batches per policy and mode")
    add_run_options(parser)
    args = parser.parse_args()
    start("policy cost", args)
    if "step" in args.section:
        bench_steps(args)
    if "training" in args.section:
        bench_training(args)
    print_footer()


if __name__ == "__main__":
    main()
