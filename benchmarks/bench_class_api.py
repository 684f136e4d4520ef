"""MotorNet user code on motornet_fn against MotorNet 0.3.0, in one process, timed round-robin.

    python benchmarks/bench_class_api.py --threads 1
    python benchmarks/bench_class_api.py --threads 2 --batches 8

Sections (ms per training batch: episode, L1 loss, backward, gradient clipping, Adam):

* ``tutorial``: MotorNet's tutorial loop (ReluPointMass24 + RandomTargetReach, 1 s = 100 steps, PolicyGRU 32,
  batch 32) verbatim: ``motornet`` runs it on MotorNet 0.3.0, ``fn`` on ``import motornet_fn as mn`` (eager)
  and ``fn_compile`` the same with ``MOTORNET_FN_COMPILE=1`` (the environment step and the PolicyGRU step
  run compiled).
* ``user_env``: a user's own Environment subclass written the MotorNet way (``tests/motornet_style.py``:
  its own reset / step / get_obs / get_proprioception, a curl field through ``endpoint_load``) on Arm26,
  0.3 s episodes, PolicyGRU 64, batch 32; ``fn_compile`` compiles the effector step and the PolicyGRU step
  (the subclass's Python hooks stay Python).

Compilation (the first batches of ``fn_compile``) is timed separately.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import add_run_options, interleaved, mn, print_footer, start  # noqa: E402

import motornet_fn  # noqa: E402
from tests.motornet_style import make_env  # noqa: E402


def l1(x, y):
    return torch.mean(torch.sum(torch.abs(x - y), dim=-1))


class TrainingLoop:
    """MotorNet's tutorial training loop on any package with its API; one call = one batch."""

    def __init__(self, package, env, hidden_size: int, target: str, batch_size: int = 32, seed: int = 0):
        torch.manual_seed(seed)
        self.env, self.target, self.batch_size = env, target, batch_size
        self.env.reset(seed=seed)
        self.policy = package.policy.PolicyGRU(env.observation_space.shape[0], hidden_size, env.n_muscles,
                                               device=torch.device("cpu"))
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=1e-3)

    def __call__(self) -> float:
        h = self.policy.init_hidden(batch_size=self.batch_size)
        obs, info = self.env.reset(options={"batch_size": self.batch_size})
        terminated = False
        xy = [info["states"]["fingertip"][:, None, :]]
        tg = [info[self.target][:, None, :]]
        while not terminated:
            action, h = self.policy(obs, h)
            obs, reward, terminated, truncated, info = self.env.step(action=action)
            xy.append(info["states"]["fingertip"][:, None, :])
            tg.append(info[self.target][:, None, :])
        loss = l1(torch.cat(xy, axis=1), torch.cat(tg, axis=1))
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm=1.0)
        self.optimizer.step()
        return loss.item()


def tutorial(package, compile_: bool | None = None) -> TrainingLoop:
    with compile_env(compile_):  # objects read MOTORNET_FN_COMPILE when built, as in a script run with it set
        env = package.environment.RandomTargetReach(effector=package.effector.ReluPointMass24(), max_ep_duration=1.0)
        return TrainingLoop(package, env, 32, "goal")


def user_env(package, compile_: bool | None = None) -> TrainingLoop:
    with compile_env(compile_):
        env = make_env(package)
        return TrainingLoop(package, env, 64, "desired")


class compile_env:
    """``MOTORNET_FN_COMPILE`` set to 1 (True), 0 (False) or left as it is (None) while objects are built."""

    def __init__(self, value):
        self.value = value

    def __enter__(self):
        self.old = os.environ.get("MOTORNET_FN_COMPILE")
        if self.value is not None:
            os.environ["MOTORNET_FN_COMPILE"] = "1" if self.value else "0"

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("MOTORNET_FN_COMPILE", None)
        else:
            os.environ["MOTORNET_FN_COMPILE"] = self.old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_options(parser)
    parser.add_argument("--section", nargs="+", default=["tutorial", "user_env"], choices=["tutorial", "user_env"])
    parser.add_argument("--batches", type=int, default=6, help="timed batches per implementation")
    args = parser.parse_args()
    start("class API: MotorNet user code on motornet_fn vs MotorNet 0.3.0", args)
    for section in args.section:
        build = {"tutorial": tutorial, "user_env": user_env}[section]
        fns = {"motornet": build(mn)} if mn is not None else {}
        fns["fn"] = build(motornet_fn, False)
        if args.compile:
            fns["fn_compile"] = build(motornet_fn, True)
            t0 = time.perf_counter()
            fns["fn_compile"]()
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            fns["fn_compile"]()
            second = time.perf_counter() - t0
            print(f"\n## {section}: fn_compile first batch {first:.1f} s (compiles), second {second:.2f} s")
        result = interleaved(fns, repeats=args.batches)
        print(f"\n## {section} (ms per batch, median / min of {args.batches})")
        for name, r in result.items():
            ratio = (f"   {result['motornet']['median'] / r['median']:5.2f}x motornet" if "motornet" in result
                     and name != "motornet" else "")
            print(f"{name:12s} {r['median'] * 1e3:9.1f} {r['min'] * 1e3:9.1f}{ratio}")
    print_footer()


if __name__ == "__main__":
    main()
