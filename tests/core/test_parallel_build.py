"""core.parallel_build: a C++ loop built apart from its kernels compiles its two object files at once, then links."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from motornet_fn.core import compiled, parallel_build


class StubBuilder:
    """Stands in for inductor's CppBuilder: 'compiling' writes the target file after a pause, and logs when."""

    def __init__(self, path, log, seconds=0.2, fail=False):
        self.path, self.log, self.seconds, self.fail = str(path), log, seconds, fail

    def get_target_file_path(self):
        return self.path

    def build(self):
        start = time.perf_counter()
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError(f"cannot compile {os.path.basename(self.path)}")
        with open(self.path, "w") as f:
            f.write("built")
        self.log.append((os.path.basename(self.path), start, time.perf_counter(), threading.current_thread().name))


@pytest.fixture
def installed():
    from torch._inductor import codecache

    before = codecache._worker_compile_cpp
    parallel_build.install()
    parallel_build.install()  # idempotent: the original stays the one to fall back to
    assert parallel_build._original is before or before is parallel_build._compile_side_by_side
    yield codecache
    codecache._worker_compile_cpp = before


def test_the_loop_and_its_kernels_compile_at_once_then_link(installed, tmp_path):
    log = []
    loop, kernels, linker = (StubBuilder(tmp_path / name, log) for name in ("x.main.o", "x.optimized.o", "x.so"))
    installed._worker_compile_cpp(str(tmp_path / "x.lock"), (loop, kernels, linker))
    spans = {name: (start, end, thread) for name, start, end, thread in log}
    assert set(spans) == {"x.main.o", "x.optimized.o", "x.so"}
    (loop_start, loop_end, loop_thread), (kernels_start, kernels_end, kernels_thread) = (
        spans["x.main.o"], spans["x.optimized.o"])
    assert loop_start < kernels_end and kernels_start < loop_end  # they overlapped
    assert loop_thread == "motornet_fn-build-loop" and kernels_thread == threading.current_thread().name
    assert spans["x.so"][0] >= max(loop_end, kernels_end)  # the link waits for both


def test_only_missing_files_are_built(installed, tmp_path):
    log = []
    loop, kernels, linker = (StubBuilder(tmp_path / name, log) for name in ("y.main.o", "y.optimized.o", "y.so"))
    (tmp_path / "y.optimized.o").write_text("from an earlier build")
    installed._worker_compile_cpp(str(tmp_path / "y.lock"), (loop, kernels, linker))
    assert [name for name, *_ in log] == ["y.main.o", "y.so"]
    assert (tmp_path / "y.optimized.o").read_text() == "from an earlier build"
    log.clear()
    installed._worker_compile_cpp(str(tmp_path / "y.lock"), (loop, kernels, linker))
    assert log == []


def test_a_failed_loop_compilation_raises_in_the_caller_and_nothing_is_linked(installed, tmp_path):
    log = []
    loop = StubBuilder(tmp_path / "z.main.o", log, fail=True)
    kernels, linker = StubBuilder(tmp_path / "z.optimized.o", log), StubBuilder(tmp_path / "z.so", log)
    with pytest.raises(RuntimeError, match="cannot compile z.main.o"):
        installed._worker_compile_cpp(str(tmp_path / "z.lock"), (loop, kernels, linker))
    assert [name for name, *_ in log] == ["z.optimized.o"] and not (tmp_path / "z.so").exists()
    # the next attempt (the loop fixed) builds what is missing
    loop.fail = False
    installed._worker_compile_cpp(str(tmp_path / "z.lock"), (loop, kernels, linker))
    assert [name for name, *_ in log] == ["z.optimized.o", "z.main.o", "z.so"]


def test_a_single_build_goes_to_inductors_own_step(installed, tmp_path):
    log = []
    only = StubBuilder(tmp_path / "w.so", log)
    installed._worker_compile_cpp(str(tmp_path / "w.lock"), (only,))
    assert [(name, thread) for name, _, _, thread in log] == [("w.so", threading.current_thread().name)]


SCRIPT = r"""
import json, threading, torch
import torch._inductor.cpp_builder as cpp_builder
from motornet_fn.core import compiled
from motornet_fn.nn.objective import CPP_LOOP_OPTIONS

compiled.configure_cache()
threads = {}
original = cpp_builder.CppBuilder.build
def build(self):
    threads[self.get_target_file_path().rsplit("/", 1)[-1]] = threading.current_thread().name
    return original(self)
cpp_builder.CppBuilder.build = build

def scanned(xs):
    def body(c, x):
        c = torch.tanh(c * 0.5 + x)
        return c, c.sum()
    return torch._higher_order_ops.scan(body, torch.zeros(4), xs)

f = compiled.compile_function(scanned, dict(CPP_LOOP_OPTIONS), name="probe")
xs = torch.linspace(-1, 1, 40).reshape(10, 4)
got, want = f(xs), scanned(xs)
print(json.dumps({"threads": threads, "error": max((g - w).abs().max().item() for g, w in zip(
    torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(want)))}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_a_compiled_cpp_loop_built_apart_compiles_its_loop_in_the_second_thread(tmp_path):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))  # a cold cache: everything builds
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["error"] < 1e-6
    threads = got["threads"]
    # the function's module, linked in the compiling thread (the warm-up links its own probe in a thread of its own)
    linked = [name for name, thread in threads.items() if name.endswith(".main.so") and thread == "MainThread"]
    assert len(linked) == 1, threads
    assert threads[linked[0].replace(".main.so", ".main.o")] == "motornet_fn-build-loop", threads
    kernels = [name for name, thread in threads.items() if name.endswith(".optimized.o") and thread == "MainThread"]
    assert len(kernels) == 1, threads
