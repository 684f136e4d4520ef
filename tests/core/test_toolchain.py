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
toolchain.start_warmup().join()
built = []
original = cpp_builder.CppBuilder.build
def build(self):
    built.append(self.get_command_line().split()[1])
    return original(self)
cpp_builder.CppBuilder.build = build

f = compiled.compile_function(lambda x: (x.sin() * 2 + 1).sum(0), name="probe")
x = torch.linspace(0, 1, 64).reshape(8, 8)
max_error = (f(x) - (x.sin() * 2 + 1).sum(0)).abs().max().item()
print(json.dumps({
    "error": toolchain.RESULT["error"],
    "same_thread": toolchain.start_warmup() is toolchain.start_warmup(),
    "isa_lists_computed": cpu_vec_isa.valid_vec_isa_list.cache_info().misses,
    "headers": codecache._precompile_header.cache_info().currsize,
    "built": built,
    "max_error": max_error,
}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not compiled.available(), reason="no scan in this torch")
def test_compilation_after_the_warm_up_reuses_its_probes_and_header(tmp_path):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))  # a cold cache: the probes must build
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["error"] is None and got["same_thread"]
    assert got["isa_lists_computed"] == 1  # the compilation found the warm-up's instruction-set choice
    assert got["headers"] == 1  # ... and its precompiled header (another command line would make a second)
    # what the compilation built itself: its kernels only, no instruction-set probe
    assert got["built"] and all(path.endswith(".main.cpp") for path in got["built"]), got["built"]
    assert got["max_error"] < 1e-5
