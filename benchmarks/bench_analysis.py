"""Benchmark of the analysis toolkit (run by hand, not in the tests).

    python benchmarks/bench_analysis.py [--variants-per-axis 4] [--steps 20] [--batch 16] [--points 64]
                                        [--states 4096] [--threads N]

Prints, in one run:
1. a rollout of every arm geometry of a 4 x 4 x 4 x 4 grid (256 variants of a TwoDofArm with six
   MotorNet add_muscle paths): one vmapped call (``sweeps.sweep_rollout``) against a Python loop over the
   same variants, with the largest difference between the two;
2. the A and B matrices of one effector step at a batch of operating points: jacrev and jacfwd
   (``analysis.linearise``) against central finite differences, both vectorised over all perturbations
   in one call and as a Python loop over points and coordinates;
3. muscle force sensitivities (to activation, length, velocity and all 7 parameters) at a batch of
   states: jacrev and jacfwd (``analysis.muscle_jacobians``) against vectorised central differences.
Timings are the best of ``--repeat`` runs after one warm-up run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from motornet_fn import core
from motornet_fn.core import analysis as an
from motornet_fn.core import sweeps
from motornet_fn.core.autodiff import central_difference

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "twodofarm_paths.npz"


def best_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def path_arm(dtype):
    """TwoDofArm with the six add_muscle paths of the reference recording (rigid-tendon Hill muscles)."""
    with np.load(DATA) as f:
        config = json.loads(str(f["config"]))
    skeleton = core.TwoDofArm()
    paths = [dict(m) for m in config["add_muscle"]]
    return core.path_effector(skeleton, "RigidTendonHillMuscle", paths, skeleton.make_params(dtype=dtype), dtype=dtype)


def operating_points(n, n_muscles, dtype, seed):
    """Joint states and activations in the interior of the arm's range, and excitations."""
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=dtype)  # noqa: E731
    pos = torch.stack([u(0.4, 1.6, n), u(0.6, 2.0, n)], -1)
    vel = u(-0.5, 0.5, n, 2)
    return pos, vel, u(0.05, 0.9, n, n_muscles), u(0.05, 0.9, n, n_muscles)


def bench_sweep(args):
    spec, params = path_arm(torch.float32)
    k = args.variants_per_axis
    scale = lambda s: (lambda base: base * s)  # noqa: E731
    v = sweeps.grid(params, {
        "skeleton.l1": np.linspace(0.28, 0.34, k).tolist(),
        "skeleton.m2": np.linspace(1.2, 1.8, k).tolist(),
        "muscle.optimal_muscle_length": [scale(s) for s in np.linspace(0.9, 1.2, k)],
        "muscle.tendon_length": [scale(s) for s in np.linspace(0.95, 1.05, k)],
    })
    n = sweeps.n_variants(v.params)
    pos, vel, _, _ = operating_points(args.batch, spec.n_muscles, torch.float32, 0)
    joint = core.JointState(pos, vel)
    actions = torch.rand(args.steps, args.batch, spec.n_muscles, generator=torch.Generator().manual_seed(1))

    def vmapped():
        return sweeps.sweep_rollout(spec, v.params, sweeps.sweep_initial_state(spec, v.params, joint), actions)

    def loop():
        out = []
        for i in range(n):
            p = sweeps.select_variant(v.params, i)
            out.append(core.rollout(spec, p, core.initial_state(spec, p, joint), actions))
        return out

    t_vmap, t_loop = best_time(vmapped, args.repeat), best_time(loop, max(1, args.repeat // 3))
    diff = max(float((vmapped().joint.pos[i] - traj.joint.pos).abs().max()) for i, traj in enumerate(loop()))
    print(f"[sweep] {n} geometries x {args.batch} states x {args.steps} steps (float32, {spec.n_muscles} path muscles)")
    print(f"  vmapped sweep_rollout : {t_vmap * 1e3:9.1f} ms")
    print(f"  Python loop           : {t_loop * 1e3:9.1f} ms")
    print(f"  speed-up loop / vmap  : {t_loop / t_vmap:9.1f} x   (max |joint pos difference| {diff:.1e})")


def max_rel_error(approx, exact):
    return float(((approx - exact).abs() / (exact.abs() + 1e-6 * exact.abs().max())).max())


def bench_linearise(args):
    dtype = torch.float64
    spec, params = path_arm(dtype)
    pos, vel, act, exc = operating_points(args.points, spec.n_muscles, dtype, 2)
    x = torch.cat([pos, vel, act], -1)
    n_x, n_u = x.shape[-1], exc.shape[-1]
    z = torch.cat([x, exc], -1)
    eps = 1e-6 * z.abs().clamp(min=0.1)

    def flat(zz):
        return an.flat_step(spec, params, zz[..., :n_x], zz[..., n_x:])

    def fd_vectorised():
        return central_difference(flat, z, eps)

    def fd_loop():
        out = torch.empty(args.points, n_x, n_x + n_u, dtype=dtype)
        for p in range(args.points):
            for j in range(n_x + n_u):
                dz = torch.zeros(n_x + n_u, dtype=dtype)
                dz[j] = eps[p, j]
                out[p, :, j] = (flat(z[p] + dz) - flat(z[p] - dz)) / (2 * eps[p, j])
        return out

    rev = lambda: an.linearise(spec, params, x, exc, mode="rev")  # noqa: E731
    fwd = lambda: an.linearise(spec, params, x, exc, mode="fwd")  # noqa: E731
    times = {name: best_time(fn, args.repeat) for name, fn in
             (("jacrev", rev), ("jacfwd", fwd), ("FD vectorised", fd_vectorised))}
    times["FD loop"] = best_time(fd_loop, 1)
    lin = rev()
    exact = torch.cat([lin.A, lin.B], -1)
    print(f"[linearise] A ({n_x}x{n_x}) and B ({n_x}x{n_u}) of one step at {args.points} operating points (float64)")
    for name, t in times.items():
        print(f"  {name:14s}: {t * 1e3:9.1f} ms   ({t / times['jacrev']:6.2f} x jacrev)")
    print(f"  jacfwd vs jacrev max |diff| {float((torch.cat([fwd().A, fwd().B], -1) - exact).abs().max()):.1e}; "
          f"FD vs jacrev max rel. error {max_rel_error(fd_vectorised(), exact):.1e}")


def bench_muscle(args):
    dtype = torch.float64
    model = core.RigidTendonHillMuscle()
    spec, arm = core.rigid_tendon_arm26(dtype=dtype)
    params = arm.muscle
    pos, vel, act, _ = operating_points(args.states, spec.n_muscles, dtype, 3)
    geometry = core.compute_geometry(spec, arm, core.JointState(pos, vel))
    point = an.muscle_point(model, act, geometry.length, geometry.velocity)
    m = spec.n_muscles
    leaves = list(params)
    z = torch.cat([act, geometry.length, geometry.velocity] + [leaf.expand(args.states, m) for leaf in leaves], -1)
    eps = 1e-6 * z.abs().clamp(min=0.01)

    def flat(zz):
        parts = zz.split(m, dim=-1)
        p = type(params)(*parts[3:])
        g = core.Geometry(parts[1], parts[2], parts[1].unsqueeze(-2))
        return model.outputs(p, model.Vars(parts[0]), g).force

    wrt = ("vars", "length", "velocity", "params")
    rev = lambda: an.muscle_jacobians(model, params, point, wrt=wrt, mode="rev")  # noqa: E731
    fwd = lambda: an.muscle_jacobians(model, params, point, wrt=wrt, mode="fwd")  # noqa: E731
    fd = lambda: central_difference(flat, z, eps)  # noqa: E731
    times = {name: best_time(fn, args.repeat) for name, fn in (("jacrev", rev), ("jacfwd", fwd), ("FD vectorised", fd))}
    j = rev()
    exact = torch.cat([j.vars.activation, j.length, j.velocity] + list(j.params), -1)
    print(f"[muscle] d force / d (activation, length, velocity, 7 params) of {m} Hill muscles at {args.states} states "
          f"(float64, {m} x {10 * m} per state)")
    for name, t in times.items():
        print(f"  {name:14s}: {t * 1e3:9.1f} ms   ({t / times['jacrev']:6.2f} x jacrev)")
    approx = fd()
    nonzero = exact.abs() > 1e-9 * exact.abs().max()
    rel = ((approx - exact).abs() / exact.abs())[nonzero]
    print(f"  FD vs jacrev on the {int(nonzero.sum())} non-zero entries: median rel. error {float(rel.median()):.1e}, "
          f"{float((rel < 1e-6).double().mean()) * 100:.2f}% within 1e-6")
    print("  (random states: entries off by more than 1e-6 would sit within one FD step of a force-curve kink)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants-per-axis", type=int, default=4, help="grid values per axis (4 axes)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16, help="joint states per variant")
    parser.add_argument("--points", type=int, default=64, help="operating points to linearise")
    parser.add_argument("--states", type=int, default=4096, help="muscle states for the sensitivities")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_sweep(args)
    bench_linearise(args)
    bench_muscle(args)


if __name__ == "__main__":
    main()
