"""A training batch's losses as one pure function of the policy weights, run by the engine eagerly or
compiled.

:func:`member_losses` runs the episode of one policy (or of an ensemble of K policies whose weights are
stacked on a leading dim: the batch then has dims (K, trials) and only the policy step is vmapped over
the members) and returns the (K,) losses. The same function runs eagerly (a Python loop over steps) or,
with ``scan=True``, inside :func:`motornet_fn.core.compiled.compile_function` (one ``scan``, traced once).

Policies follow the contract of :mod:`motornet_fn.nn.policies`: ``forward(obs, h[, noise])``, and,
where they have them, ``initial_hidden(batch_shape)``, ``activity(h)``, ``state_dim``, ``noise_dim``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch.func import functional_call, vmap

from motornet_fn.core import engine
from motornet_fn.core.compiled import DEFAULT_OPTIONS
from motornet_fn.core.engine import StepInputs, Trace
from motornet_fn.core.env import EnvParams, EnvSpec, EnvState
from motornet_fn.nn.policies import functional_method

class Batch(NamedTuple):
    """One batch of trials: reset states and observations, and the per-step inputs (time first).

    Attributes:
        state: the environment state after reset, batch dims (B,) or (K, B).
        obs: (…, obs_dim) the first observation.
        inputs: :class:`~motornet_fn.core.engine.StepInputs` with a leading time dim T.
    """

    state: EnvState
    obs: torch.Tensor
    inputs: StepInputs


def state_dim(policy: torch.nn.Module) -> int:
    """Width of the policy's recurrent state ``h``."""
    return int(getattr(policy, "state_dim", getattr(policy, "hidden_dim", 0)))


def noise_dim(policy: torch.nn.Module) -> int:
    """Width of the standard-normal noise the policy takes per step (0: none)."""
    return int(getattr(policy, "noise_dim", 0))


def policy_functions(base: torch.nn.Module, weights: dict, buffers: dict) -> tuple[Callable, Callable, Callable]:
    """(step, initial, activity) of a policy module evaluated with ``weights`` and ``buffers``:
    ``step(obs, h[, noise])``, ``initial(batch_shape)``, ``activity(h)``."""
    def method(name, *args):
        return functional_method(base, (weights, buffers), name, *args)

    def step(obs, h, noise=None):
        args = (obs, h) if noise is None else (obs, h, noise)
        return functional_call(base, (weights, buffers), args)

    def initial(batch_shape):
        if hasattr(base, "initial_hidden"):
            return method("initial_hidden", tuple(batch_shape))
        any_weight = next(iter(weights.values()))
        return torch.zeros(*batch_shape, state_dim(base), dtype=any_weight.dtype, device=any_weight.device)

    def activity(h):
        return method("activity", h) if hasattr(base, "activity") else h

    return step, initial, activity


def policy_readout(base: torch.nn.Module, weights: dict, buffers: dict) -> Callable | None:
    """``readout(h_new) -> action`` of a policy module evaluated with ``weights`` and ``buffers``; None where
    the policy has none (see :mod:`motornet_fn.nn.policies`)."""
    if getattr(base, "readout", None) is None:
        return None
    return lambda h: functional_method(base, (weights, buffers), "readout", h)


def member_losses(spec: EnvSpec, params: EnvParams, base: torch.nn.Module, objective: Callable[[Trace], tuple],
                  fields: tuple[str, ...], stacked: bool, weights: dict, buffers: dict, batch: Batch, *,
                  scan: bool = False, truncate_every: int | None = None) -> tuple[torch.Tensor, dict]:
    """(K,) losses and {term: (K,)} loss terms of one batch: the policy (or, with ``stacked``, the K policies
    of an ensemble whose weights and batch carry a leading member dim) rolled through the episode, then
    ``objective`` (``trace -> (loss, {term: value})``)."""
    state, obs, inputs = batch
    if not stacked:
        step, initial, activity = policy_functions(base, weights, buffers)
        trace, _ = engine.run_episode(spec, params, step, initial(obs.shape[:-1]), state, obs, inputs, fields=fields,
                                      scan=scan, truncate_every=truncate_every, activity=activity)
        loss, terms = objective(trace)
        return loss.unsqueeze(0), {name: value.unsqueeze(0) for name, value in terms.items()}

    def member(name):  # one member's policy function, vmapped over the stacked weights below
        def call(w, b, *args):
            step, initial, activity = policy_functions(base, w, b)
            return {"step": step, "initial": initial, "activity": activity}[name](*args)
        return call

    def policy(obs, h, noise=None):
        if noise is None:
            return vmap(member("step"))(weights, buffers, obs, h)
        return vmap(member("step"))(weights, buffers, obs, h, noise)

    trials = obs.shape[1:-1]
    h0 = vmap(member("initial"), in_dims=(0, 0, None))(weights, buffers, trials)
    activity = lambda h: vmap(member("activity"))(weights, buffers, h)  # noqa: E731
    # per-step inputs are (T, K, B, ...): time leads, members next, as the engine expects
    trace, _ = engine.run_episode(spec, params, policy, h0, state, obs, inputs, fields=fields, scan=scan,
                                  truncate_every=truncate_every, activity=activity)
    member_dims = Trace(*(None if f is None else 0 for f in trace))  # unrecorded fields are None
    return vmap(objective, in_dims=(member_dims,))(trace)


#: compile="auto": compile when the run has at least this many episode steps left to train (at a saving of
#: about 1 ms per step against a one-off compilation of 10-40 s, measured on a 2-core CPU)
AUTO_COMPILE_MIN_STEPS = 40_000


def auto_compile(remaining_batches: int, n_steps: int, reasons_against: list[str]) -> tuple[bool, str]:
    """The ``compile="auto"`` decision: (compile?, one line saying why).

    Deterministic (no timing), so the same command always makes the same choice: compile when the steps
    left to train (batches x steps per episode) reach :data:`AUTO_COMPILE_MIN_STEPS`."""
    steps = remaining_batches * n_steps
    if reasons_against:
        return False, f"compile=auto: running eagerly ({'; '.join(reasons_against)})"
    if steps >= AUTO_COMPILE_MIN_STEPS:
        return True, (f"compile=auto: compiling the episode ({remaining_batches} batches x {n_steps} steps = "
                      f"{steps} steps to train >= {AUTO_COMPILE_MIN_STEPS}); the first batch includes the compilation")
    return False, (f"compile=auto: running eagerly (run too short to repay a compilation: {remaining_batches} "
                   f"batches x {n_steps} steps = {steps} < {AUTO_COMPILE_MIN_STEPS} steps)")


#: inductor options of every compiled training episode: the time loop generated in C++ (``cpp_wrapper``: the
#: loop calls each step's kernels from C++, not from Python), built apart from its kernels (the loop at -O1,
#: the kernels at -O3). Measured on a 2-core CPU, 2026-12-02, fresh caches, against the Python loop wrapper:
#: 17.9 -> 12.0 ms per tutorial batch (first batch 20.4 -> 18.4 s) and 20.2 -> 17.6 ms per Arm26 batch (first
#: batch 22.3 -> 24.5 s); the same losses bit for bit.
CPP_LOOP_OPTIONS = {"cpp_wrapper": True, "cpp_wrapper_build_separate": True}

#: a compiled run with at least this many episode steps left builds its C++ loop and kernels as one file
#: (-O3 throughout): 15.5 instead of 17.6 ms per Arm26 batch and 11.7 instead of 12.0 ms per tutorial batch,
#: for 17.2 s (41.7 s in all) and 8.3 s (26.7 s) more compilation with a fresh cache: it repays them from
#: about 8 200 Arm26 and 28 000 tutorial batches of 100 steps.
ONE_FILE_MIN_STEPS = 1_000_000


#: the vector width (bits, inductor's ``cpp.simdlen``) of a training episode's kernels on a CPU whose ATen
#: kernels use AVX-512: AVX2's. The step's feature dims are small (2 to 7 in the tutorial), and the batch-last
#: carry makes inductor tile kernels that mix layouts in 16 x 16 blocks, each partial block transposed through
#: a zeroed 16 x 16 buffer; AVX2's 8 x 8 blocks waste less. Measured on a 2-core AVX-512 CPU, 2026-12-03, two
#: trainers in one process, batches alternating, 41 rounds: tutorial 26.93 -> 18.51 ms per batch, Arm26 26.89
#: -> 25.91 ms. Rollouts were measured too and keep inductor's choice: no-grad B = 1024 13.25 -> 13.75 ms,
#: B = 32 1.41 -> 1.45 ms; rollout + backward unchanged (2.27 / 2.26 ms at B = 32).
TRAINING_SIMDLEN = 256


def training_vector_options() -> dict:
    """``{"cpp.simdlen": TRAINING_SIMDLEN}`` where the CPU's ATen kernels use AVX-512 (every such CPU has
    AVX2), else ``{}``: elsewhere inductor's own choice is already that width or narrower (AVX2, ARM's NEON),
    and ``ATEN_CPU_CAPABILITY=avx2`` or ``default`` keeps its meaning."""
    if torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return {"cpp.simdlen": TRAINING_SIMDLEN}
    return {}


def compile_options(remaining_batches: int, n_steps: int) -> tuple[dict, str]:
    """Inductor options of the trainer's compiled episode for a run with ``remaining_batches`` batches of
    ``n_steps`` steps left, and one line saying why (deterministic, like :func:`auto_compile`)."""
    steps = remaining_batches * n_steps
    vectors = training_vector_options()
    if steps >= ONE_FILE_MIN_STEPS:
        return {**DEFAULT_OPTIONS, **vectors}, (f"compiling the time loop into C++ as one file with its kernels "
                                                f"({steps} steps to train >= {ONE_FILE_MIN_STEPS}: repays its "
                                                f"longer compilation)")
    return {**CPP_LOOP_OPTIONS, **vectors}, (f"compiling the time loop into C++, built apart from its kernels "
                                             f"({steps} steps to train < {ONE_FILE_MIN_STEPS}: one file would not "
                                             f"repay its longer compilation)")


__all__ = ["Batch", "member_losses", "policy_functions", "policy_readout", "state_dim", "noise_dim", "auto_compile",
           "AUTO_COMPILE_MIN_STEPS", "CPP_LOOP_OPTIONS", "ONE_FILE_MIN_STEPS", "TRAINING_SIMDLEN",
           "training_vector_options", "compile_options"]
