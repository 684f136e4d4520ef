"""The background toolchain warm-up (motornet_fn.core.toolchain) does inductor's one-time set-up with inductor's
own arguments, so the compiling thread reuses its results instead of repeating them."""
import json
import os
import subprocess
import sys

import pytest

from motornet_fn.core import compiled

SCRIPT = r"""
import json, torch
import torch._inductor.cpp_builder as cpp_builder
from torch._inductor import codecache, cpu_vec_isa
from motornet_fn.core import compiled, toolchain

compiled.configure_cache()
HEADER = %(header)s
toolchain.start_warmup(header=HEADER).join()
built = []
original = cpp_builder.CppBuilder.build
def build(self):
    built.append(self.get_command_line().split()[1])
    return original(self)
cpp_builder.CppBuilder.build = build

f = compiled.compile_function(lambda x: (x.sin() * 2 + 1).sum(0), %(options)s, name="probe")
x = torch.linspace(0, 1, 64).reshape(8, 8)
max_error = (f(x) - (x.sin() * 2 + 1).sum(0)).abs().max().item()
print(json.dumps({
    "error": toolchain.RESULT["error"],
    "same_thread": toolchain.start_warmup(header=HEADER) is toolchain.start_warmup(header=HEADER),
    "threads": sorted(toolchain._threads),
    "isa_lists_computed": cpu_vec_isa.valid_vec_isa_list.cache_info().misses,
    "headers": codecache._precompile_header.cache_info().currsize,
    "built": built,
    "max_error": max_error,
}))
"""


def _run(tmp_path, header, options):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))  # a cold cache: the probes must build
    script = SCRIPT % {"header": repr(header), "options": options}
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
def test_a_one_file_cpp_loop_compilation_reuses_the_warm_ups_probes(tmp_path):
    """A C++ loop built as one file with its kernels has its own header, so its warm-up probes the instruction
    sets only (rollouts trace for seconds before they need them: the first Arm26 rollout with a cold cache went
    from 13.3 to 9.8 s)."""
    got = _run(tmp_path, header=None, options={"cpp_wrapper": True})
    assert got["error"] is None and got["same_thread"] and got["threads"] == ["isa"]
    assert got["isa_lists_computed"] == 1
    probes = [path for path in got["built"] if path.endswith(".cpp") and not path.endswith(".main.cpp")]
    assert got["built"] and not probes, got["built"]
    assert got["max_error"] < 1e-5


@pytest.mark.parametrize("options, header", [(None, "python"), ({"cpp_wrapper": True}, None),
                                             ({"cpp_wrapper": True, "cpp_wrapper_build_separate": True}, "cpp_loop")])
def test_compile_function_starts_the_warm_up_its_wrapper_needs(monkeypatch, options, header):
    from motornet_fn.core import toolchain

    calls = []
    monkeypatch.setattr(toolchain, "start_warmup", lambda header="python": calls.append(header))
    compiled.compile_function(lambda x: x + 1, options, name="probe")  # nothing compiles before a call
    assert calls == [header] and compiled.warmup_header(options) == header


IMPORT_SCRIPT = r"""
import json, os, sys, torch
from motornet_fn.core import compiled, toolchain
cache = compiled.configure_cache()
toolchain._import_what_the_warmup_imports()
before = set(sys.modules)
toolchain._probe_instruction_sets()
toolchain._build_python_header()
toolchain._build_cpp_loop_headers()
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
