"""Shared helpers of the benchmark scripts: interleaved timing, machine facts, memory high-water marks."""
from __future__ import annotations

import gc
import os
import platform
import random
import statistics
import time
from typing import Callable

import torch

try:
    import motornet as mn  # MotorNet 0.3.0, for side-by-side runs
except ImportError:  # pragma: no cover - optional
    mn = None


def setup(threads: int) -> dict:
    """Fix the thread count and return the facts printed in every report header."""
    torch.set_num_threads(threads)
    return {
        "torch": torch.__version__,
        "motornet": getattr(mn, "__version__", "0.3.0") if mn is not None else "not installed",
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": threads,
        "cuda": torch.cuda.is_available(),
        "loadavg_start": os.getloadavg(),
    }


def tune_malloc() -> bool:
    """``motornet_fn.memory.retain_freed_memory()``: glibc keeps freed blocks for reuse (no mmap/munmap
    and page faults for every large buffer). Applies to the whole process, MotorNet included."""
    from motornet_fn.memory import retain_freed_memory

    return retain_freed_memory()


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, inner: int = 1, warmup: int = 1) -> dict:
    """Median / min seconds per call of each function, timed round-robin so that load changes hit
    every implementation alike, in a new (seeded) order each round, so none always runs right after the same
    one (a call after a slow eager one pays its cold caches and freed memory: 2.4 ms of an 8.6 ms compiled Arm26
    rollout + backward). ``inner`` calls per timed sample."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    gc.collect()
    samples = {name: [] for name in fns}
    names = list(fns)
    order = random.Random(0)
    for _ in range(repeats):
        order.shuffle(names)
        for name in names:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: {"median": statistics.median(v), "min": min(v), "n": len(v)} for name, v in samples.items()}


def back_to_back(fns: dict[str, Callable[[], object]], repeats: int, seconds: float = 1.0, warmup: int = 1) -> dict:
    """Median / min seconds per call of each function called again and again (warm caches: what a loop calling
    one function sees), at least ``repeats`` times and up to ``seconds`` of calls (1000 at most)."""
    results = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        gc.collect()
        n = max(repeats, min(1000, int(seconds / max(first_call(fn), 1e-9))))
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        results[name] = {"median": statistics.median(samples), "min": min(samples), "n": n}
    return results


def first_call(fn: Callable[[], object]) -> float:
    """Seconds of one call (compile time when it is the first call of a compiled function)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tensor_peak_bytes(fn: Callable[[], object]) -> int:
    """Peak of live tensor memory while ``fn`` runs, above the level before it, from the profiler's
    allocation events (``profile_memory=True``) in time order. Exact for eager code; buffers that
    inductor-generated C++ allocates and frees internally (per-step temporaries of a compiled loop)
    do not reach the profiler, only those the compiled graph returns or saves for backward."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def saved_tensor_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the distinct storages autograd keeps for the backward pass while ``fn`` runs (through
    ``torch.autograd.graph.saved_tensors_hooks``; compiled graphs save their residuals the same way).
    This activation memory is what grows with batch size and episode length; weights and optimiser
    state are the same for every implementation."""
    storages: dict = {}

    def pack(t):
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f}"


def add_run_options(parser) -> None:
    """The options every compiled-vs-MotorNet benchmark takes: --threads, --no-compile, --malloc."""
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--malloc", action="store_true", help="glibc mallopt: keep freed memory (see README)")


def start(title: str, args) -> dict:
    """Apply ``args.threads`` and ``args.malloc`` and print the report header; returns the facts."""
    facts = setup(args.threads)
    facts["malloc_tuned"] = tune_malloc() if args.malloc else False
    print_header(title, facts)
    return facts


def print_compile_times(entries: list, what: str) -> None:
    """The (label, seconds) first-call timings of the compiled paths, if any."""
    if entries:
        print(f"\n## compile times ({what})")
        for label, seconds in entries:
            print(f"{label:60s} {seconds:8.1f} s")


def print_header(title: str, facts: dict) -> None:
    print(f"# {title}")
    print("# " + ", ".join(f"{k}={v}" for k, v in facts.items()))


def print_footer() -> None:
    print(f"# loadavg_end={os.getloadavg()}")
