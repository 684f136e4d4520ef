"""Per-step cost of the policies (run by hand, not in the tests).

    python benchmarks/bench_policies.py [--batch 32] [--sizes 32 64] [--repeats 2000] [--threads 1]

One eager forward step (no grad) of GRUPolicy, ModularGRUPolicy (three equal modules, sparse
inter-module connections: without delays; with delays, output delay and Dale's law; the same plus a
lesion window) and RateRNNPolicy of the same total size, on Arm26's 16 inputs and 6 muscles; then one
forward + backward step (of the actions and the new activity). Medians of round-robin samples (``_common.interleaved``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_ms, interleaved, print_footer, start  # noqa: E402

from motornet_fn.nn.modular import ModularGRUPolicy  # noqa: E402
from motornet_fn.nn.policies import GRUPolicy  # noqa: E402
from motornet_fn.nn.rate_rnn import RateRNNPolicy  # noqa: E402

N_OBS, N_MUSCLES = 16, 6


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="units per module")
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--malloc", action="store_true")
    args = parser.parse_args()
    start("policy step, eager", args)
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
    print_footer()


if __name__ == "__main__":
    main()
