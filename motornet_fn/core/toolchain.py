"""Inductor's one-time C++ toolchain set-up, started in a background thread.

Before it generates its first CPU kernel, inductor (torch 2.13) does two things once per cache, in the
thread that compiles, and waits for them:

* it compiles and loads a probe program per vector instruction set the CPU advertises (AVX-512, AVX2, ...)
  to pick the one to generate code for (about 6 s on a 2-core machine with a cold cache);
* it builds a precompiled header of its kernel prelude (``cpp_prefix.h``; about 5.5 s, once per machine).

Both are independent of the function being compiled, so :func:`start_warmup` runs them in another thread
while Dynamo and AOTAutograd trace (about 3 s for a rollout, 6-10 s for the trainer's episode), using inductor's
own functions with the same arguments. The compiling thread then finds their results on disk (each step is
guarded by inductor's file locks, so a step the warm-up has not finished is waited for, never done twice at
once). The generated code is unchanged: this only moves work earlier. The probes build side by side, and the
warm-up thread (with the compilers it starts) runs at a lower priority (:data:`WARMUP_NICENESS`), so on a
machine with few cores it takes what tracing leaves instead of slowing it down.

:func:`~motornet_fn.core.compiled.compile_function` starts it for every compilation, with the header that
compilation will include (:func:`~motornet_fn.core.compiled.warmup_header`):

* a Python wrapper's kernels (``"python"``): the main job's first batch went from 33.8 to 24.5 s;
* the trainer's C++ loop built apart from its kernels (``"cpp_loop"``, ``nn.objective.CPP_LOOP_OPTIONS``): two
  headers, the loop's and the kernels', built with the command lines inductor uses for that build;
* a loop built as one file with its kernels (``"cpp_file"``: rollouts, very long training runs): the C++
  wrapper's header with the vectorised kernels' flags. A first Arm26 rollout (B = 32) with a cold cache:
  13.3 s with no warm-up, 9.8 s with the probes one after the other, 8.6 s now; 14.1 -> 11.6 s where the
  header was not built yet either (a fresh ``TMPDIR``);
* the same with :mod:`~motornet_fn.core.stack_loop`'s wrapper (``"stack_file"``, ``compiled.NO_GRAD_OPTIONS``),
  which includes ``array_ref.h`` instead (about 8 s to build, once per machine).

The object layer's steps (:mod:`motornet_fn.core.stepfunction`) are traced in about a second, leaving nothing
to overlap: there the warm-up only competed for the second core (MotorNet's tutorial loop, first batch 29.0 s
with it against 25.6 s without), so they do without it.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time

log = logging.getLogger("motornet_fn.compile")

#: a kernel with the calling convention of inductor's Python-bound CPU kernels; building it builds the header
_PROBE_KERNEL = 'extern "C" void kernel(float* out_ptr0) { out_ptr0[0] = 1.0f; }\n'
#: a C++ loop built as one file with its kernels; building it builds that build's header
_PROBE_FILE = ('#include <torch/csrc/inductor/cpp_wrapper/cpu.h>\n'
               'void inductor_entry_impl(AtenTensorHandle* input_handles, AtenTensorHandle* output_handles) {}\n')
#: a C++ loop wrapper and its kernel file, laid out as inductor lays out a loop built apart from its kernels
#: (``cpp_wrapper_build_separate``); building them builds both of that build's headers
_PROBE_LOOP = _PROBE_FILE + 'extern "C" void motornet_fn_probe(float* out_ptr0);\n'
_PROBE_LOOP_KERNEL = ('#include <torch/csrc/inductor/cpp_prefix.h>\n'
                      'extern "C" void motornet_fn_probe(float* out_ptr0) { out_ptr0[0] = 1.0f; }\n')
#: the headers :func:`start_warmup` can build: the Python wrapper's kernels', a C++ loop's built apart from its
#: kernels, a C++ loop's built as one file, or the same with :mod:`~motornet_fn.core.stack_loop`'s wrapper
HEADERS = ("python", "cpp_loop", "cpp_file", "stack_file")

#: how much lower than the compiling thread the warm-up runs (``nice`` increment)
WARMUP_NICENESS = 10

_lock = threading.Lock()
#: the warm-up threads started: {"isa": the instruction-set probes, a name of :data:`HEADERS`: that header's build,
#: "name@bits": that header's build for kernels of that ``cpp.simdlen``}
_threads: dict[str, threading.Thread] = {}
#: what the warm-up did: {"seconds": float, "error": str | None}, filled in when its last step ends
RESULT: dict = {}


def _run(step, after: threading.Thread | None = None) -> None:
    _lower_priority()
    if after is not None:
        after.join()
    start = time.perf_counter()
    error = None
    try:
        step()
    except Exception as exc:  # the compiling thread repeats the step and reports a real failure itself
        error = f"{type(exc).__name__}: {exc}"
        log.debug("toolchain warm-up failed (%s); inductor will set itself up when it compiles", error)
    RESULT.update(seconds=RESULT.get("seconds", 0.0) + time.perf_counter() - start,
                  error=RESULT.get("error") or error)


def _candidate_instruction_sets() -> list:
    """The vector instruction sets inductor will probe on this machine: on x86, those whose flags the CPU
    advertises (the filter ``valid_vec_isa_list`` applies before probing each); elsewhere none (one at most)."""
    import platform

    from torch._inductor import cpu_vec_isa

    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    advertised = cpu_vec_isa.x86_isa_checker()
    return [isa for isa in cpu_vec_isa.supported_vec_isa_list
            if all(flag in advertised for flag in str(isa).split())]


def _lower_priority() -> None:
    """Lower the calling thread's scheduling priority (and that of the compilers it starts, which inherit it), so
    the warm-up takes what the compiling thread leaves of the CPU instead of slowing it down (Linux: a thread
    has its own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WARMUP_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: the warm-up runs at the same priority
        pass


def _probe_instruction_sets() -> None:
    from torch._inductor import cpu_vec_isa

    # each probe compiles a file against ATen's vector headers (about 1.5 s): run them side by side, then let
    # inductor make its list, which finds every probe's answer cached (``VecISA.__bool__`` caches per ISA)
    probes = [threading.Thread(target=bool, args=(isa,), name=f"motornet_fn-toolchain-{isa}", daemon=True)
              for isa in _candidate_instruction_sets()]
    for probe in probes:
        probe.start()
    for probe in probes:
        probe.join()
    cpu_vec_isa.valid_vec_isa_list()


def _build_python_header() -> None:
    from torch._inductor.codecache import CppPythonBindingsCodeCache

    CppPythonBindingsCodeCache.load_pybinding(["float*"], _PROBE_KERNEL, device_type="cpu", num_outputs=0)


def _build_cpp_loop_headers() -> None:
    from torch._inductor.codecache import CppWrapperCodeCache

    # the arguments inductor's generated module passes for a loop built apart from its kernels
    CppWrapperCodeCache.load_pybinding(argtypes=["std::vector<AtenTensorHandle>"], main_code=_PROBE_LOOP,
                                       device_type="cpu", needs_vec_isa=False, kernel_needs_vec_isa=True,
                                       num_outputs=0, kernel_code=_PROBE_LOOP_KERNEL, extra_flags=())


def _build_cpp_file_header(cache=None) -> None:
    from torch._inductor.codecache import CppWrapperCodeCache

    # the arguments inductor's generated module passes for a loop built as one file with vectorised kernels
    (cache or CppWrapperCodeCache).load_pybinding(
        argtypes=["std::vector<AtenTensorHandle>"], main_code=_PROBE_FILE, device_type="cpu", needs_vec_isa=True,
        kernel_needs_vec_isa=None, num_outputs=0, kernel_code=None, extra_flags=())


def _build_stack_file_header() -> None:
    from torch._inductor.codecache import CppWrapperCodeCache

    class StackLoopCodeCache(CppWrapperCodeCache):
        """Inductor's module cache with the header it picks under ``aot_inductor.allow_stack_allocation`` (that
        option is global, so this thread cannot set it while another compiles)."""

        cache: dict = {}

        @classmethod
        def _get_uncompiled_header(cls, device: str) -> str:
            return "torch/csrc/inductor/cpp_wrapper/array_ref.h"

    _build_cpp_file_header(StackLoopCodeCache)


_BUILDERS = {"python": _build_python_header, "cpp_loop": _build_cpp_loop_headers, "cpp_file": _build_cpp_file_header,
             "stack_file": _build_stack_file_header}


def _start(name: str, step, after: threading.Thread | None = None) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(step, after), name=f"motornet_fn-toolchain-{name}", daemon=True)
    thread.start()
    # a process that ends mid-build waits for the compiler, so no half-written file is left behind
    atexit.register(thread.join)
    _threads[name] = thread
    return thread


def _import_what_the_warmup_imports() -> None:
    """Import, on the calling thread, every module the warm-up's steps import. Two threads importing one package
    can deadlock, and ``torch.utils.cpp_extension`` pulls in setuptools, whose import inserts a finder into
    ``sys.meta_path``: done in the warm-up thread while Dynamo imported its own modules, it once made the main
    thread's import fail ("No module named 'torch._functorch.aot_autograd'"). tests/core/test_toolchain.py
    checks the steps import nothing else."""
    import torch._inductor.codecache  # noqa: F401
    import torch._inductor.cpp_builder  # noqa: F401
    import torch._inductor.cpu_vec_isa  # noqa: F401
    import torch.utils.cpp_extension  # noqa: F401


def _with_simdlen(step, simdlen: int | None):
    """``step`` run under inductor's ``cpp.simdlen`` = ``simdlen`` (None: as configured). Inductor's config
    overrides are per thread, so this leaves the compiling thread's configuration alone."""
    if simdlen is None:
        return step

    def patched() -> None:
        from torch._inductor import config

        with config.patch({"cpp.simdlen": simdlen}):
            step()

    return patched


def start_warmup(header: str | None = "python", simdlen: int | None = None) -> threading.Thread:
    """Start the warm-up once per process: the instruction-set probes, then the precompiled ``header`` (one
    of :data:`HEADERS`; None: the probes only) for kernels of ``simdlen`` bits (inductor's ``cpp.simdlen``
    option of the compilation; None: inductor's choice). Returns the thread doing the last step asked for;
    later calls return the same threads (a header asked for later is built after the probes). Call it after
    the compile cache directory is configured (the probes are written there)."""
    if header is not None and header not in HEADERS:
        raise ValueError(f"header must be one of {HEADERS} or None, got {header!r}")
    if simdlen is not None and (isinstance(simdlen, bool) or not isinstance(simdlen, int) or simdlen <= 0):
        raise ValueError(f"simdlen must be a positive number of bits or None, got {simdlen!r}")
    with _lock:
        if "isa" not in _threads:
            _import_what_the_warmup_imports()

            _start("isa", _probe_instruction_sets)
        if header is None:
            return _threads["isa"]
        name = header if simdlen is None else f"{header}@{simdlen}"
        if name not in _threads:
            _start(name, _with_simdlen(_BUILDERS[header], simdlen), after=_threads["isa"])
        return _threads[name]


__all__ = ["start_warmup", "RESULT", "HEADERS"]
