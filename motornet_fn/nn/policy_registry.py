"""The trainer's policies: one registry of builders, name -> (environment, hidden size, options) -> policy.

Each builder's keyword-only arguments are that policy's options (``TrainConfig(policy_options=...)``, the
CLI's policy flags); their help texts are in :data:`OPTION_HELP`. Adding a policy is one builder here.

The modular builder turns a few research-level choices (module sizes, Dale's law, a chain of modules,
inter-module delays, which modules see vision, proprioception and the task) into the masks of
:class:`~motornet_fn.nn.modular.ModularGRUPolicy` (MotorNet's development-branch ``ModularPolicyGRU``).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import torch

from motornet_fn.core.env import EnvSpec
from motornet_fn.nn.modular import ModularGRUPolicy
from motornet_fn.nn.policies import GRUPolicy, MLPPolicy
from motornet_fn.nn.rate_rnn import RateRNNPolicy


def observation_parts(spec: EnvSpec) -> dict[str, list[int]]:
    """Observation entries by kind: ``vision`` (delayed fingertip), ``proprio`` (delayed muscle lengths and
    velocities) and ``task`` (goal, past actions, go cue)."""
    d, m = spec.effector.space_dim, spec.effector.n_muscles
    vision = list(range(d, 2 * d))
    proprio = list(range(2 * d, 2 * d + 2 * m))
    task = list(range(d)) + list(range(2 * d + 2 * m, spec.obs_dim))
    return {"vision": vision, "proprio": proprio, "task": task}


def gru(spec: EnvSpec, hidden_size: int, *, input_noise: float = 0.0, hidden_noise: float = 0.0,
        readout_bias: float = -5.0) -> GRUPolicy:
    """MotorNet's PolicyGRU (vmap-able), with optional input and hidden noise."""
    return GRUPolicy(spec.obs_dim, hidden_size, spec.effector.n_muscles, readout_bias, input_noise, hidden_noise)


def mlp(spec: EnvSpec, hidden_size: int, *, layers: int = 2, readout_bias: float = -5.0) -> MLPPolicy:
    """A feed-forward tanh network of ``layers`` hidden layers of ``hidden_size`` units."""
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be an int >= 1, got {layers!r}")
    return MLPPolicy(spec.obs_dim, (hidden_size,) * layers, spec.effector.n_muscles, readout_bias)


def rate(spec: EnvSpec, hidden_size: int, *, tau: float = 0.05, nonlinearity: str = "tanh", input_noise: float = 0.0,
         hidden_noise: float = 0.0, recurrent_gain: float = 1.0) -> RateRNNPolicy:
    """A leaky firing-rate RNN stepped at the effector's dt."""
    return RateRNNPolicy(spec.obs_dim, hidden_size, spec.effector.n_muscles, tau, spec.effector.dt, nonlinearity,
                         input_noise, hidden_noise, recurrent_gain)


def modular(spec: EnvSpec, hidden_size: int, *, modules: Any = None, excitatory: Any = None,
            connectivity: str = "chain", forward_prob: float = 1.0, feedback_prob: float = 0.0, delay: int = 0,
            vision_to: Any = None, proprio_to: Any = None, task_to: Any = None, output_from: Any = None,
            spectral_radius: float | None = None, activation: str = "tanh", noise_std: float = 1e-3,
            output_delay: int = 0, mask_seed: int | None = None) -> ModularGRUPolicy:
    """A modular GRU; see :data:`OPTION_HELP` for the options. Defaults: one module of ``hidden_size`` units;
    with several, a chain 0 -> 1 -> ... (module 0 sees the task and vision, the last module sees
    proprioception and drives the muscles)."""
    sizes = [hidden_size] if modules is None else _int_list("modules", modules)
    n = len(sizes)
    if connectivity not in ("chain", "all"):
        raise ValueError(f"connectivity must be 'chain' or 'all', got {connectivity!r}")
    for name, p in (("forward_prob", forward_prob), ("feedback_prob", feedback_prob)):
        if not (isinstance(p, (int, float)) and 0 <= p <= 1):
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"delay must be an int >= 0 (steps between modules), got {delay!r}")
    conn = np.eye(n)
    delays = np.zeros((n, n), dtype=int)
    for i in range(n):  # [i, j]: from module j to module i
        for j in range(n):
            if i == j:
                continue
            if connectivity == "all":
                conn[i, j] = forward_prob
            elif i == j + 1:
                conn[i, j] = forward_prob
            elif j == i + 1:
                conn[i, j] = feedback_prob
            delays[i, j] = delay if conn[i, j] > 0 else 0
    parts = observation_parts(spec)

    def mask(name, value, default):
        chosen = default if value is None else _int_list(name, value, allow_empty=True)
        bad = [k for k in chosen if not 0 <= k < n]
        if bad:
            raise ValueError(f"{name} must list module indices in 0..{n - 1}, got {chosen}")
        return [1.0 if k in chosen else 0.0 for k in range(n)]

    if excitatory is not None:
        excitatory = [float(excitatory)] * n if isinstance(excitatory, (int, float)) else [float(x) for x in excitatory]
        if len(excitatory) != n or not all(0 < x <= 1 for x in excitatory):
            raise ValueError(f"excitatory must be a fraction in (0, 1] or one per module ({n}), got {excitatory}")
    return ModularGRUPolicy(
        spec.obs_dim, sizes, spec.effector.n_muscles, mask("vision_to", vision_to, [0]),
        mask("proprio_to", proprio_to, [n - 1]), mask("task_to", task_to, [0]), conn,
        mask("output_from", output_from, [n - 1]), parts["vision"], parts["proprio"], parts["task"], delays,
        spectral_scaling=spectral_radius, proportion_excitatory=excitatory, random_seed=mask_seed,
        activation=activation, output_delay=output_delay, noise_std=noise_std)


def _int_list(name: str, value: Any, allow_empty: bool = False) -> list[int]:
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values) \
            or (not values and not allow_empty):
        raise ValueError(f"{name} must be an int or a list of ints, got {value!r}")
    return list(values)


#: name -> builder ``(env_spec, hidden_size, **options) -> policy``
POLICY_BUILDERS: dict[str, Callable[..., torch.nn.Module]] = {"gru": gru, "mlp": mlp, "modular": modular,
                                                              "rate": rate}

#: help texts of the policy options (units included)
OPTION_HELP = {
    "input_noise": "std of Gaussian noise added to the inputs at each step",
    "hidden_noise": "std of Gaussian noise added to the hidden state at each step",
    "readout_bias": "initial bias of the sigmoid readout (-5: actions start near 0)",
    "layers": "number of hidden layers",
    "tau": "time constant of the rate units (s)",
    "nonlinearity": "rate function: tanh, relu, softplus, sigmoid, rect_tanh or linear",
    "recurrent_gain": "std of the initial recurrent weights, times 1/sqrt(units)",
    "modules": "module sizes, e.g. 64,64,32 (default: one module of --hidden-size units)",
    "excitatory": "Dale's law: fraction of excitatory units (one value, or one per module); default off",
    "connectivity": "'chain' (module i -> i+1, feedback i+1 -> i) or 'all' (every pair)",
    "forward_prob": "fraction of a module's units projecting forward (chain) or to every module (all)",
    "feedback_prob": "chain: fraction of a module's units projecting back to the previous module",
    "delay": "delay of the projections between modules (steps)",
    "vision_to": "modules receiving vision (default: the first)",
    "proprio_to": "modules receiving proprioception (default: the last)",
    "task_to": "modules receiving the goal, past actions and go cue (default: the first)",
    "output_from": "modules driving the muscles (default: the last)",
    "spectral_radius": "rescale the recurrent weights to this spectral radius at initialisation",
    "activation": "tanh or rect_tanh",
    "noise_std": "std of the noise on the candidate pre-activation",
    "output_delay": "steps by which the readout lags the hidden state",
    "mask_seed": "seed of the connection masks (default: the member's seed)",
}


def option_names(policy: str) -> tuple[str, ...]:
    """The options of policy ``policy`` (its builder's keyword-only arguments)."""
    return tuple(p.name for p in inspect.signature(policy_builder(policy)).parameters.values()
                 if p.kind is p.KEYWORD_ONLY)


def option_default(policy: str, name: str) -> Any:
    return inspect.signature(policy_builder(policy)).parameters[name].default


def policy_builder(name: str) -> Callable[..., torch.nn.Module]:
    if name not in POLICY_BUILDERS:
        raise ValueError(f"unknown policy {name!r}; valid policies: {sorted(POLICY_BUILDERS)}")
    return POLICY_BUILDERS[name]


def build_policy(name: str, spec: EnvSpec, hidden_size: int, options: dict | None = None) -> torch.nn.Module:
    """Policy ``name`` for environment ``spec``.

    Raises:
        ValueError: unknown policy, or an option it does not take (the valid ones are listed).
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(option_names(name)))
    if unknown:
        raise ValueError(f"policy {name!r} does not take option(s) {unknown}; its options are {list(option_names(name))}")
    return policy_builder(name)(spec, hidden_size, **options)


__all__ = ["POLICY_BUILDERS", "OPTION_HELP", "build_policy", "option_names", "option_default", "observation_parts"]
