"""The background toolchain warm-up (motornet_fn.core.toolchain) does inductor's one-time set-up with inductor's
own arguments, so the compiling thread reuses its results instead of repeating them."""
import json
import os
import subprocess
import sys

import pytest
import torch

from motornet_fn.core import compiled

SCRIPT = r"""
import json, torch
import torch._inductor.cpp_builder as cpp_builder
from torch._inductor import codecache, cpu_vec_isa
from motornet_fn.core import compiled, toolchain

compiled.configure_cache()
HEADER, SIMDLEN = %(header)s, %(simdlen)s
toolchain.start_warmup(header=HEADER, simdlen=SIMDLEN).join()
built = []
original = cpp_builder.CppBuilder.build
commands = []
def build(self):
    built.append(self.get_command_line().split()[1])
    commands.append(self.get_command_line())
    return original(self)
cpp_builder.CppBuilder.build = build

f = compiled.compile_function(lambda x: (x.sin() * 2 + 1).sum(0), %(options)s, name="probe")
x = torch.linspace(0, 1, 64).reshape(8, 8)
max_error = (f(x) - (x.sin() * 2 + 1).sum(0)).abs().max().item()
print(json.dumps({
    "error": toolchain.RESULT["error"],
    "same_thread": (toolchain.start_warmup(header=HEADER, simdlen=SIMDLEN)
                    is toolchain.start_warmup(header=HEADER, simdlen=SIMDLEN)),
    "threads": sorted(toolchain._threads),
    "isa_lists_computed": cpu_vec_isa.valid_vec_isa_list.cache_info().misses,
    "headers": codecache._precompile_header.cache_info().currsize,
    "built": built,
    "commands": commands,
    "max_error": max_error,
}))
"""


def _run(tmp_path, header, options, simdlen=None):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))  # a cold cache: the probes must build
    script = SCRIPT % {"header": repr(header), "options": options, "simdlen": simdlen}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_compilation_after_the_warm_up_reuses_its_probes_and_header(tmp_path):
    got = _run(tmp_path, header="python", options=None)
    assert got["threads"] == ["isa", "python"]
    assert got["error"] is None and got["same_thread"]
    assert got["isa_lists_computed"] == 1  # the compilation found the warm-up's instruction-set choice
    assert got["headers"] == 1  # ... and its precompiled header (another command line would make a second)
    # what the compilation built itself: its kernels only, no instruction-set probe
    assert got["built"] and all(path.endswith(".main.cpp") for path in got["built"]), got["built"]
    assert got["max_error"] < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_a_cpp_loop_built_apart_reuses_the_warm_ups_probes_and_both_its_headers(tmp_path):
    """The trainer's C++ loop, built apart from its kernels, needs two headers (the loop's and the kernels'):
    the warm-up builds both with inductor's own command lines, so the compilation builds neither."""
    from motornet_fn.nn.objective import CPP_LOOP_OPTIONS

    got = _run(tmp_path, header="cpp_loop", options=dict(CPP_LOOP_OPTIONS))
    assert got["error"] is None and got["same_thread"] and got["threads"] == ["cpp_loop", "isa"]
    assert got["isa_lists_computed"] == 1 and got["headers"] == 2
    built = [path.rsplit("/", 1)[-1] for path in got["built"]]
    assert built and all(name.endswith((".main.cpp", ".optimized.cpp", ".main.o")) for name in built), built  # + link
    assert got["max_error"] < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
@pytest.mark.skipif(not torch.backends.cpu.get_cpu_capability().startswith("AVX512"), reason="needs an AVX-512 CPU")
def test_the_warm_up_builds_the_headers_of_narrower_training_kernels(tmp_path):
    """The trainer's episode on an AVX-512 CPU compiles AVX2 kernels (nn.objective.training_vector_options): the
    warm-up builds that build's two headers, with AVX2's flags, so the compilation builds neither; the kernels are
    compiled for AVX2, not AVX-512."""
    from motornet_fn.nn.objective import CPP_LOOP_OPTIONS, training_vector_options

    options = {**CPP_LOOP_OPTIONS, **training_vector_options()}
    assert options["cpp.simdlen"] == 256
    got = _run(tmp_path, header="cpp_loop", options=options, simdlen=256)
    assert got["error"] is None and got["same_thread"] and got["threads"] == ["cpp_loop@256", "isa"]
    assert got["isa_lists_computed"] == 1 and got["headers"] == 2
    built = [path.rsplit("/", 1)[-1] for path in got["built"]]
    assert built and all(name.endswith((".main.cpp", ".optimized.cpp", ".main.o")) for name in built), built
    kernels = [c for c, name in zip(got["commands"], built) if name.endswith(".optimized.cpp")]
    assert kernels and all("-mavx2" in c and "-mavx512f" not in c for c in kernels), kernels
    assert got["max_error"] < 1e-5


def test_the_warm_up_rejects_a_bad_simdlen():
    from motornet_fn.core import toolchain

    for bad in (0, -256, 25.6, True, "256"):
        with pytest.raises(ValueError, match="simdlen must be a positive number of bits"):
            toolchain.start_warmup(header="python", simdlen=bad)


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_a_one_file_cpp_loop_reuses_the_warm_ups_probes_and_its_header(tmp_path):
    """A C++ loop built as one file with its kernels (rollouts) includes the C++ wrapper's header, built with the
    vectorised kernels' flags: the warm-up builds it, so the compilation builds its module only."""
    got = _run(tmp_path, header="cpp_file", options={"cpp_wrapper": True})
    assert got["error"] is None and got["same_thread"] and got["threads"] == ["cpp_file", "isa"]
    assert got["isa_lists_computed"] == 1 and got["headers"] == 1
    assert got["built"] and all(path.endswith(".main.cpp") for path in got["built"]), got["built"]
    assert got["max_error"] < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_a_stack_loop_reuses_the_warm_ups_probes_and_its_header(tmp_path):
    """compiled.NO_GRAD_OPTIONS' loop wrapper (core.stack_loop) includes another header than inductor's: the
    warm-up builds that one, with the same command line."""
    from torch._inductor import codecache, config

    with config.patch({"aot_inductor.allow_stack_allocation": True}):
        assert codecache._get_cpp_wrapper_header("cpu") == "torch/csrc/inductor/cpp_wrapper/array_ref.h"
    got = _run(tmp_path, header="stack_file", options="compiled.NO_GRAD_OPTIONS")
    assert got["error"] is None and got["same_thread"] and got["threads"] == ["isa", "stack_file"]
    assert got["isa_lists_computed"] == 1 and got["headers"] == 1
    assert got["built"] and all(path.endswith(".main.cpp") for path in got["built"]), got["built"]
    assert got["max_error"] < 1e-5


PROBES_SCRIPT = r"""
import json, os, threading, time, torch
import torch._inductor.cpp_builder as cpp_builder
from motornet_fn.core import compiled, toolchain

compiled.configure_cache()
spans, niceness = [], []
original = cpp_builder.CppBuilder.build
def build(self):
    niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))  # what g++ inherits
    start = time.perf_counter()
    try:
        return original(self)
    finally:
        spans.append((start, time.perf_counter()))
cpp_builder.CppBuilder.build = build
toolchain.start_warmup(header=None).join()
print(json.dumps({"spans": spans, "niceness": niceness, "caller": os.getpriority(os.PRIO_PROCESS, 0),
                  "candidates": len(toolchain._candidate_instruction_sets())}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_instruction_set_probes_build_side_by_side_at_a_lower_priority(tmp_path):
    """Each probe compiles against ATen's vector headers (about 1.5 s): they build at once, not one after the
    other, and below the compiling thread's priority (the compilers they start inherit the thread's nice)."""
    from motornet_fn.core import toolchain

    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))  # a cold cache: every probe builds
    run = subprocess.run([sys.executable, "-c", PROBES_SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(got["spans"]) >= got["candidates"]  # a probe or more per candidate
    starts, ends = zip(*got["spans"])
    # one build per candidate started before the first build ended (one after the other: one)
    assert sum(start < min(ends) for start in starts) == got["candidates"], got["spans"]
    expected = min(got["caller"] + toolchain.WARMUP_NICENESS, 19)
    assert got["niceness"] and set(got["niceness"]) == {expected}, got


def test_the_candidates_are_the_instruction_sets_inductor_may_keep():
    """The probes run for every instruction set inductor would probe, so its own list finds them all cached."""
    import platform

    from torch._inductor import cpu_vec_isa

    from motornet_fn.core import toolchain

    candidates = toolchain._candidate_instruction_sets()
    if platform.machine() in ("x86_64", "AMD64"):
        assert set(map(str, cpu_vec_isa.valid_vec_isa_list())) <= set(map(str, candidates))
    else:
        assert candidates == []


@pytest.mark.parametrize("options, header", [(None, "python"), ({"cpp_wrapper": True}, "cpp_file"),
                                             (compiled.NO_GRAD_OPTIONS, "stack_file"),
                                             ({"cpp_wrapper": True, "cpp_wrapper_build_separate": True}, "cpp_loop")])
def test_compile_function_starts_the_warm_up_its_wrapper_needs(monkeypatch, options, header):
    from motornet_fn.core import toolchain

    calls = []
    monkeypatch.setattr(toolchain, "start_warmup", lambda header="python", simdlen=None: calls.append((header, simdlen)))
    compiled.compile_function(lambda x: x + 1, options, name="probe")  # nothing compiles before a call
    compiled.compile_function(lambda x: x + 1, {**(options or {}), "cpp.simdlen": 256}, name="probe")
    assert calls == [(header, None), (header, 256)] and compiled.warmup_header(options) == header


IMPORT_SCRIPT = r"""
import json, os, sys, torch
from motornet_fn.core import compiled, toolchain
cache = compiled.configure_cache()
toolchain._import_what_the_warmup_imports()
before = set(sys.modules)
toolchain._probe_instruction_sets()
toolchain._build_python_header()
toolchain._build_cpp_loop_headers()
toolchain._build_cpp_file_header()
toolchain._build_stack_file_header()
new = sorted(name for name in set(sys.modules) - before
             if not (getattr(sys.modules[name], "__file__", None) or "").startswith(cache))  # not generated code
print(json.dumps(new))
"""


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_the_warm_up_thread_imports_nothing_the_calling_thread_has_not(tmp_path):
    """A module first imported by the warm-up thread races the compiling thread's own imports (setuptools edits
    sys.meta_path), so start_warmup imports them all before it starts the thread."""
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
