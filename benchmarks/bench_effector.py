"""Effector benchmarks: motornet_fn against MotorNet 0.3.0, same process, same workloads.

    python benchmarks/bench_effector.py                      # everything (compiles take minutes the first time)
    python benchmarks/bench_effector.py --section rollout --effectors RigidTendonArm26 --batches 1 32 128 1024
    python benchmarks/bench_effector.py --section backward --batches 32 1024
    python benchmarks/bench_effector.py --no-compile         # eager paths only

Sections:

* ``rollout``: no-grad rollouts of ``--steps`` steps (default 200) from MotorNet's random initial states
  with fixed random excitations, per effector and batch size. Implementations:
  ``motornet`` (MotorNet 0.3.0 ``Effector.step`` loop), ``fn_class`` (motornet_fn's MotorNet-compatible
  class API, same loop), ``fn_eager`` (``core.rollout``, returns the whole trajectory),
  ``fn_compiled`` (``core.compiled.rollout``, whole trajectory), ``fn_compiled_final``
  (``record=None``: only the final state, like the MotorNet loop, which stores nothing),
  ``fn_compiled_final_heap`` (the same with ``options=compiled.DEFAULT_OPTIONS``: inductor's own loop
  wrapper, which allocates every iteration's buffers on the heap, instead of ``core.stack_loop``'s) and
  ``fn_compiled_final_dyn`` (the same with ``dynamic_batch=True``: one graph for every B > 1, so its
  compile time after the first batch size is a cache lookup).
* ``overhead``: one ``Effector.step`` of the class API against the ``core.step`` it wraps (and
  ``core.step`` + ``core.cartesian``, since the class also keeps MotorNet's cartesian state), us per step.
* ``backward``: RigidTendonArm26, 100 steps with actions requiring grad, loss = mean fingertip
  position over time, then ``backward()``: ``motornet`` loop, ``fn_eager``, ``fn_compiled``
  (``record`` = fingertip; its C++ loops reuse their buffers, ``core.loop_pool``) and ``fn_compiled_unpooled``
  (the same with inductor's own loop wrapper, which allocates every buffer at every step).

Every row prints the median (and min) milliseconds per rollout over round-robin repeats (in a shuffled
order each round; ``--back-to-back``: each implementation's calls one after the other, with warm caches),
the per-step time, and the ratio MotorNet / ours. Compile times (first call, tracing + C++ build) print
separately. ``--malloc`` keeps freed memory in glibc's heap for the whole process (both libraries).
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    add_run_options, back_to_back, first_call, fmt_ms, interleaved, mn, print_compile_times, print_footer, start,
)

import motornet_fn  # noqa: E402
from motornet_fn import core  # noqa: E402
from motornet_fn.core import compiled  # noqa: E402

EFFECTORS = ("ReluPointMass24", "RigidTendonArm26", "CompliantTendonArm26")


def make_motornet(name: str):
    cls = getattr(mn.effector, name)
    return cls(muscle=mn.muscle.RigidTendonHillMuscle()) if name == "RigidTendonArm26" else cls()


def make_class(name: str):
    cls = getattr(motornet_fn.effector, name)
    return cls(muscle=motornet_fn.muscle.RigidTendonHillMuscle()) if name == "RigidTendonArm26" else cls()


def initial_joint(name: str, batch: int, seed: int) -> torch.Tensor:
    """(B, 2 dof) joint states drawn by MotorNet's own reset (or by ours when MotorNet is absent)."""
    effector = make_motornet(name) if mn is not None else make_class(name)
    effector.reset(seed=seed, options={"batch_size": batch})
    return effector.states["joint"].detach().clone()


def core_state(spec, params, joint):
    dof = spec.dof
    return core.initial_state(spec, params, core.JointState(joint[:, :dof].contiguous(), joint[:, dof:].contiguous()))


def loop_rollout(effector, joint, actions, record_fingertip=False):
    """MotorNet-style loop over ``Effector.step`` (MotorNet or our class API)."""
    effector.reset(options={"batch_size": joint.shape[0], "joint_state": joint})
    tips = []
    for t in range(actions.shape[0]):
        effector.step(actions[t])
        if record_fingertip:
            tips.append(effector.states["fingertip"])
    return torch.stack(tips) if record_fingertip else effector.states["joint"]


ROLLOUT_COLUMNS = ("motornet", "fn_class", "fn_eager", "fn_compiled", "fn_compiled_final", "fn_compiled_final_heap",
                   "fn_compiled_final_dyn")


def bench_rollouts(args, report):
    print("\n## no-grad rollouts: ms per rollout of", args.steps, "steps (median over repeats; per-step in brackets)")
    header = f"{'effector':22s} {'B':>5s} " + " ".join(f"{k:>22s}" for k in
                                                       ROLLOUT_COLUMNS)
    print(header + "   ratios motornet/" + ", motornet/".join(ROLLOUT_COLUMNS[2:]))
    for name in args.effectors:
        spec, params = core.prebuilt(name)
        for batch in args.batches:
            joint = initial_joint(name, batch, seed=batch)
            actions = torch.rand(args.steps, batch, spec.n_muscles, generator=torch.Generator().manual_seed(batch))
            state = core_state(spec, params, joint)
            fns = {}
            if mn is not None:
                effector = make_motornet(name)
                fns["motornet"] = lambda e=effector: loop_rollout(e, joint, actions)
            ours = make_class(name)
            fns["fn_class"] = lambda e=ours: loop_rollout(e, joint, actions)
            fns["fn_eager"] = lambda: core.rollout(spec, params, state, actions)
            if args.compile:
                for label, record, dynamic, options in (
                        ("fn_compiled", "state", False, None), ("fn_compiled_final", None, False, None),
                        ("fn_compiled_final_heap", None, False, compiled.DEFAULT_OPTIONS),
                        ("fn_compiled_final_dyn", None, True, None)):
                    fn = (lambda r=record, d=dynamic, o=options: compiled.rollout(spec, params, state, actions, record=r,
                                                                                  dynamic_batch=d, options=o))
                    with torch.no_grad():
                        seconds = first_call(fn)
                    report["compile"].append((f"rollout {name} B={batch} record={record}"
                                              + (" dynamic_batch" if dynamic else "")
                                              + (" inductor's loop wrapper" if options else ""), seconds))
                    fns[label] = fn
            with torch.no_grad():
                probe = interleaved({"motornet": fns["motornet"]} if "motornet" in fns else {"fn_eager": fns["fn_eager"]},
                                    repeats=1, warmup=0)
                slow = next(iter(probe.values()))["median"]
                repeats = max(3, min(args.repeats, int(args.budget / max(slow, 1e-6))))
                result = back_to_back(fns, repeats=repeats) if args.back_to_back else interleaved(fns, repeats=repeats)
            cells = []
            for key in ROLLOUT_COLUMNS:
                if key in result:
                    r = result[key]
                    cells.append(f"{fmt_ms(r['median'])} [{r['median'] / args.steps * 1e3:7.4f}]")
                else:
                    cells.append(f"{'-':>22s}")
            ratios = []
            if "motornet" in result:
                for key in ROLLOUT_COLUMNS[2:]:
                    ratios.append(f"{result['motornet']['median'] / result[key]['median']:6.1f}x" if key in result else "     -")
            print(f"{name:22s} {batch:5d} " + " ".join(cells) + "   " + " ".join(ratios), flush=True)
            report["rollout"].append((name, batch, result))


def bench_backward(args, report):
    name = "RigidTendonArm26"
    steps = args.backward_steps
    print(f"\n## {name}: {steps}-step rollout + backward (loss = mean fingertip position): ms per call")
    columns = ("motornet", "fn_eager", "fn_compiled", "fn_compiled_unpooled")
    print(" ".join(f"{k:>16s}" for k in ("B",) + columns) + "   ratios motornet/" + ", motornet/".join(columns[1:]))
    spec, params = core.prebuilt(name)
    unpooled = {**compiled.DEFAULT_OPTIONS, "joint_custom_post_pass": None}  # inductor's loop, not core.loop_pool's
    fingertip = lambda s: core.cartesian(spec, params, s.joint).pos  # noqa: E731  (one object: it keys the cache)
    for batch in args.batches:
        joint = initial_joint(name, batch, seed=batch)
        base = torch.rand(steps, batch, spec.n_muscles, generator=torch.Generator().manual_seed(batch))
        state = core_state(spec, params, joint)
        fns = {}

        def mn_run(e=make_motornet(name) if mn is not None else None):
            actions = base.clone().requires_grad_(True)
            loop_rollout(e, joint, actions, record_fingertip=True).mean().backward()
            return actions.grad

        def eager_run():
            actions = base.clone().requires_grad_(True)
            traj = core.rollout(spec, params, state, actions)
            core.cartesian(spec, params, traj.joint).pos.mean().backward()
            return actions.grad

        def compiled_run(options=None):
            actions = base.clone().requires_grad_(True)
            compiled.rollout(spec, params, state, actions, record=fingertip, options=options).mean().backward()
            return actions.grad

        if mn is not None:
            fns["motornet"] = mn_run
        fns["fn_eager"] = eager_run
        if args.compile:  # (core.stack_loop's wrapper does not apply under autograd: no stack-loop column)
            report["compile"].append((f"rollout+backward {name} B={batch} T={steps} fn_compiled",
                                      first_call(compiled_run)))
            fns["fn_compiled"] = compiled_run
            report["compile"].append((f"rollout+backward {name} B={batch} T={steps} fn_compiled_unpooled",
                                      first_call(lambda: compiled_run(unpooled))))
            fns["fn_compiled_unpooled"] = lambda: compiled_run(unpooled)
            grad_gap = (eager_run() - compiled_run()).abs().max().item()
            report["parity"].append((f"backward B={batch}: max |grad eager - grad compiled|", grad_gap))
        result = (back_to_back if args.back_to_back else interleaved)(fns, repeats=args.repeats)
        cells = [f"{fmt_ms(result[k]['median']):>16s}" if k in result else f"{'-':>16s}" for k in columns]
        ratios = [f"{result['motornet']['median'] / result[k]['median']:6.1f}x" if ("motornet" in result and k in result)
                  else "     -" for k in columns[1:]]
        print(f"{batch:16d} " + " ".join(cells) + "   " + " ".join(ratios), flush=True)
        report["backward"].append((batch, result))


def bench_overhead(args, report):
    """Per-step cost of the class API against the core it calls, one step at a time."""
    print("\n## object-layer overhead: us per no-grad step, Effector.step vs the core call(s) it makes")
    print(f"{'effector':22s} {'B':>5s} {'class step':>11s} {'core step':>10s} {'+cartesian':>11s}"
          "   overhead vs core step, vs core step + cartesian (the class also computes the cartesian state)")
    for name in args.effectors:
        for batch in args.batches:
            effector = make_class(name)
            effector.reset(seed=0, options={"batch_size": batch})
            spec, params, state = effector.spec, effector.params(), effector.core_state()
            action = torch.rand(batch, spec.n_muscles, generator=torch.Generator().manual_seed(batch))

            def core_and_cartesian():
                new = core.step(spec, params, state, action)
                return core.cartesian(spec, params, new.joint)

            fns = {"class": lambda: effector.step(action), "core": lambda: core.step(spec, params, state, action),
                   "core_cartesian": core_and_cartesian}
            with torch.no_grad():
                result = interleaved(fns, repeats=args.repeats * 3, inner=50, warmup=20)
            c, k, kc = (result[key]["median"] * 1e6 for key in ("class", "core", "core_cartesian"))
            print(f"{name:22s} {batch:5d} {c:11.1f} {k:10.1f} {kc:11.1f}   {100 * (c / k - 1):+6.1f}%  {100 * (c / kc - 1):+6.1f}%",
                  flush=True)
            report["overhead"].append((name, batch, result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", choices=("rollout", "backward", "overhead", "all"), default="all")
    parser.add_argument("--effectors", nargs="+", default=list(EFFECTORS), choices=EFFECTORS)
    parser.add_argument("--batches", nargs="+", type=int, default=None,
                        help="batch sizes (default: 1 32 128 256 1024 for rollouts, 32 1024 for backward, "
                             "1 32 for overhead)")
    parser.add_argument("--steps", type=int, default=200, help="rollout steps")
    parser.add_argument("--backward-steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timed calls per row (caps repeats)")
    parser.add_argument("--back-to-back", action="store_true",
                        help="time each implementation's calls one after the other (warm caches) instead of in "
                             "shuffled round-robin rounds")
    add_run_options(parser)
    args = parser.parse_args(argv)
    start("bench_effector", args)
    report = {"compile": [], "rollout": [], "backward": [], "overhead": [], "parity": []}
    if args.section in ("rollout", "all"):
        batches, args.batches = args.batches, args.batches or [1, 32, 128, 256, 1024]
        bench_rollouts(args, report)
        args.batches = batches
    if args.section in ("backward", "all"):
        batches, args.batches = args.batches, args.batches or [32, 1024]
        bench_backward(args, report)
        args.batches = batches
    if args.section in ("overhead", "all"):
        args.batches = args.batches or [1, 32]
        bench_overhead(args, report)
    print_compile_times(report["compile"], "first call: trace + C++ build + run; inductor's disk cache shortens re-runs")
    for label, value in report["parity"]:
        print(f"# parity: {label} = {value:.3g}")
    print_footer()
    return report


if __name__ == "__main__":
    main()
