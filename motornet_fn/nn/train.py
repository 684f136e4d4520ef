"""Training loops over the engine: one policy, or an ensemble of K policies trained in one vectorised
pass (``torch.func.stack_module_state`` + ``functional_call``; the batch has dims (members, trials) and only
the policy step is vmapped over the members).

Every ensemble member k has its own seed (``seed + k``) driving its weight initialisation and its own
data generator, so member k of an ensemble follows the same trajectory as a single run with that seed.
Batches come from the pure environment (:mod:`motornet_fn.core.env`): a reset per member, with every
random number drawn up front from the member's generator, then one engine run (eager, or compiled:
``compile=True`` / ``"auto"``).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.func import stack_module_state

from motornet_fn.core import build, engine
from motornet_fn.core import env as environment
from motornet_fn.core.compiled import compile_function, warm
from motornet_fn.core.engine import TRACE_FIELDS, StepInputs, Trace
from motornet_fn.core.tasks import TASKS, get_task
from motornet_fn.core.tree import tree_stack
from motornet_fn.nn import losses as L
from motornet_fn.nn.interrupts import finish_before_interrupt
from motornet_fn.nn.objective import Batch, auto_compile, compile_options, member_losses, noise_dim, policy_functions
from motornet_fn.nn.freeze import TRAIN_ONLY, trainable_names
from motornet_fn.nn.policy_registry import POLICY_BUILDERS, build_policy
from motornet_fn.nn.policy_registry import option_names as policy_option_names

log = logging.getLogger("motornet_fn.compile")

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as the run's config.json).

    Defaults reproduce MotorNet's tutorial: ReluPointMass24 + RandomTargetReach, 1 s episodes,
    GRU with 32 units, Adam 1e-3, batch 32, L1 position loss, gradient-norm clipping at 1.
    """

    effector: str = "ReluPointMass24"
    muscle: str | None = None
    task: str = "random_reach"
    #: options of the task (see ``motornet_fn.core.tasks``), e.g. {"n_targets": 8} for centre_out
    task_options: dict = field(default_factory=dict)
    n_batches: int = 1000
    batch_size: int = 32
    episode_duration: float = 1.0
    policy: str = "gru"
    #: options of the policy (see ``motornet_fn.nn.policy_registry``), e.g. {"modules": [64, 64, 32]}
    policy_options: dict = field(default_factory=dict)
    hidden_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"
    grad_clip: float | None = 1.0
    #: the loss: a preset ("tutorial", "five_term", ...), a spec string ("position=1,effort=1e-4"), a dict of
    #: term weights ({"position": 1, "hidden": 1e-5}; see ``motornet_fn.nn.losses.LOSS_TERMS``), or one of the
    #: position losses l1_position / l2_position / clipped_position
    loss: str | dict = "tutorial"
    #: weights added to the loss's "effort" and "hidden" terms (kept for configs of earlier versions)
    activation_weight: float = 0.0
    hidden_weight: float = 0.0
    #: train only part of the network: None (all), "readout", "recurrent", "input", "no_input", "no_readout"
    train_only: str | None = None
    truncate_every: int | None = None
    proprio_delay: int = 1
    vision_delay: int = 1
    action_frames: int = 0
    proprio_noise: float = 0.0
    vision_noise: float = 0.0
    action_noise: float = 0.0
    curl_gain: float = 0.0
    curl_prob: float = 1.0
    seed: int = 0
    ensemble_size: int = 1
    device: str = "cpu"
    dtype: str = "float32"
    #: run the episode + loss (and its backward) through torch.compile: True, False, or "auto" (compile when
    #: the run is long enough to repay the one-off compilation, see motornet_fn.nn.objective.auto_compile).
    #: Same numbers to float rounding; a performance switch only: it may differ between a run and its
    #: resumption.
    compile: bool | str = "auto"

    def validate(self) -> None:
        """Raise ValueError naming the first bad field: its type, then its range, then the device and
        the episode length (checked against the effector's time step, so the effector is built)."""
        import typing

        from motornet_fn.core.build import PREBUILT

        hints = typing.get_type_hints(TrainConfig)
        for f in dataclasses.fields(self):
            value, allowed = getattr(self, f.name), typing.get_args(hints[f.name]) or (hints[f.name],)
            numeric = allowed + ((int,) if float in allowed else ())  # an int is a valid float
            if isinstance(value, bool) and bool not in allowed or not isinstance(value, numeric):
                names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
                raise ValueError(f"{f.name} must be {names}, got {value!r} ({type(value).__name__})")
        checks = [
            ("effector", self.effector in PREBUILT, f"one of {sorted(PREBUILT)}"),
            ("task", self.task in TASKS, f"one of {sorted(TASKS)}"),
            ("policy", self.policy in POLICY_BUILDERS, f"one of {sorted(POLICY_BUILDERS)}"),
            ("train_only", self.train_only is None or self.train_only in TRAIN_ONLY,
             f"None or one of {list(TRAIN_ONLY)}"),
            ("lr_schedule", self.lr_schedule in ("constant", "cosine"), "'constant' or 'cosine'"),
            ("dtype", self.dtype in DTYPES, f"one of {sorted(DTYPES)}"),
            ("n_batches", self.n_batches >= 1, "an int >= 1"),
            ("batch_size", self.batch_size >= 1, "an int >= 1"),
            ("hidden_size", self.hidden_size >= 1, "an int >= 1"),
            ("ensemble_size", self.ensemble_size >= 1, "an int >= 1"),
            ("lr", self.lr > 0, "a number > 0"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "None or a number > 0"),
            ("episode_duration", 0 < self.episode_duration < math.inf, "a finite duration > 0 s"),
            ("curl_prob", 0.0 <= self.curl_prob <= 1.0, "a probability in [0, 1]"),
            ("compile", self.compile in (True, False, "auto"), 'True, False or "auto"'),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")
        if self.compile is True and self.truncate_every:
            raise ValueError(f"compile=True does not support truncate_every (got {self.truncate_every!r}); "
                             f"set truncate_every=None or compile=False")
        get_task(self.task, **self.task_options)  # unknown or bad task options raise, naming them
        unknown = sorted(set(self.policy_options) - set(policy_option_names(self.policy)))
        if unknown:
            raise ValueError(f"policy_options: policy {self.policy!r} does not take {unknown}; its options are "
                             f"{list(policy_option_names(self.policy))}")
        try:
            loss_weights(self)
        except ValueError as err:
            raise ValueError(f"loss {self.loss!r}: {err}") from None
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {self.device!r}") from None
        available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
        if device.type not in available:
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<index>' or 'mps', got {self.device!r}")
        if not available[device.type]:
            raise ValueError(f"device {self.device!r} is not available: this torch ({torch.__version__}) cannot "
                             f"use {device.type} on this machine; use device 'cpu'")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {self.device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
        # An action first moves the fingertip 3 steps later (activation, then velocity, then position;
        # measured on every prebuilt effector): with fewer steps the loss cannot depend on the policy.
        min_steps, dt = 3, build_effector(self)[0].dt
        if int(round(self.episode_duration / dt)) < min_steps:
            raise ValueError(f"episode_duration must be at least {min_steps} time steps of {self.effector}'s "
                             f"dt = {dt:g} s (>= {min_steps * dt:g} s) for an action to reach the fingertip, "
                             f"got {self.episode_duration!r}")
        if self.truncate_every is not None and self.truncate_every < min_steps:
            raise ValueError(f"truncate_every must be None or >= {min_steps} steps (an action reaches the "
                             f"fingertip {min_steps} steps later), got {self.truncate_every!r}")

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        """Build and validate a config from a dict such as a parsed config.json.

        Args:
            data: field name -> value; missing fields take their defaults.
            source: what ``data`` came from, to start error messages with (e.g. the file's path).

        Raises:
            ValueError: ``data`` is not a dict, has a key that is no field, or a bad value; the message
                names the source, the key and the expected type or range.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object of config fields, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [key for key in data if key not in names]
        if unknown:
            raise ValueError(f"{source}: unknown key {unknown[0]!r}; the config's keys are {', '.join(names)}")
        config = cls(**data)
        try:
            config.validate()
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None
        return config


#: the position losses of earlier versions, as loss terms
POSITION_LOSSES = {"l1_position": {"position": 1.0}, "l2_position": {"position_l2": 1.0},
                   "clipped_position": {"position_clipped": 1.0}}


def loss_weights(config: TrainConfig) -> dict[str, float]:
    """The term weights of a config's loss (see :attr:`TrainConfig.loss`).

    Raises:
        ValueError: an unknown term or preset, or a bad weight (naming it).
    """
    loss = config.loss
    if isinstance(loss, dict):
        weights = dict(loss)
        L.CompositeLoss(weights, dt=1.0)  # validates names and weights
    elif loss in POSITION_LOSSES:
        weights = dict(POSITION_LOSSES[loss])
    else:
        weights = L.parse_loss_spec(loss)
    for term, extra in (("effort", config.activation_weight), ("hidden", config.hidden_weight)):
        if extra:
            weights[term] = weights.get(term, 0.0) + extra
    return weights


@dataclass
class TrainLog:
    """Per-batch records; lists of length n_batches_done, per-member entries are lists of length K.
    ``terms`` maps each loss term to its per-batch, per-member unweighted values."""

    loss: list = field(default_factory=list)
    terms: dict = field(default_factory=dict)
    grad_norm: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)


def build_effector(config: TrainConfig):
    """(spec, params) of the configured prebuilt effector."""
    kwargs = {"dtype": DTYPES[config.dtype], "device": config.device}
    if config.muscle is not None:
        if config.effector in ("ReluPointMass24", "CompliantTendonArm26"):
            raise ValueError(f"muscle cannot be chosen for {config.effector}, got muscle={config.muscle!r}")
        kwargs["muscle"] = config.muscle
    if config.effector in ("Reacher", "FreePointMass24"):
        kwargs.setdefault("muscle", "ReluMuscle")
    return build.prebuilt(config.effector, **kwargs)


class Trainer:
    """Holds the policies, optimiser, generators and log of a run; ``fit`` trains it.

    Attributes:
        env_spec, env_params: the environment (static spec, parameter pytree) the policies train in.
        spec, params: its effector's spec and parameters.
        models: one policy module per member (member k's weights live in ``weights`` for ensembles).
        generators: one torch generator per member: all of its data and noise come from it.
    """

    def __init__(self, config: TrainConfig):
        config.validate()
        self.config = config
        self.dtype = DTYPES[config.dtype]
        self.device = torch.device(config.device)
        self.spec, self.params = build_effector(config)
        task = get_task(config.task, **config.task_options)
        self.env_spec = environment.EnvSpec(
            self.spec, task, environment.steps_of(config.episode_duration, self.spec.dt), config.proprio_delay,
            config.vision_delay, config.action_frames, curl=bool(config.curl_gain))
        self.env_params = environment.make_params(self.env_spec, self.params, config.action_noise,
                                                  config.proprio_noise, config.vision_noise)
        self.noise_channels = environment.noisy_channels(self.env_params)
        self.seeds = [config.seed + k for k in range(config.ensemble_size)]
        self.models = [self._make_policy(s) for s in self.seeds]
        self.generators = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.loss = L.CompositeLoss(loss_weights(config), dt=self.spec.dt)
        self.trainable = trainable_names(self.models[0], config.train_only) if config.train_only else [
            name for name, _ in self.models[0].named_parameters()]
        if self.ensemble:
            self.base = copy.deepcopy(self.models[0]).to("meta")
            self.weights, self.buffers = stack_module_state(self.models)
            named = self.weights
        else:
            self.base = self.models[0]
            named = dict(self.models[0].named_parameters())
        for name, weight in named.items():  # frozen parts keep their initial values
            weight.requires_grad_(name in self.trainable)
        self.optimizer = torch.optim.Adam([named[n] for n in self.trainable], lr=config.lr)
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.n_batches)
            if config.lr_schedule == "cosine" else None
        )
        self.step = 0
        self.log = TrainLog()
        self.compiling: bool | None = None  # resolved from config.compile on the first batch (see fit)
        self._compiled = None
        self._remaining: int | None = None  # batches left when fit started (picks the compile options)

    # -------------------------------------------------------------------------------- building
    @property
    def ensemble(self) -> bool:
        return self.config.ensemble_size > 1

    @property
    def n_steps(self) -> int:
        """Steps per episode."""
        return self.env_spec.n_steps

    def _make_policy(self, seed: int) -> torch.nn.Module:
        c = self.config
        options = dict(c.policy_options)
        if c.policy == "modular":
            options.setdefault("mask_seed", seed)  # each member samples its own connection masks
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_policy(c.policy, self.env_spec, c.hidden_size, options)
        return model.to(device=self.device, dtype=self.dtype)

    def check_member(self, k: int, name: str = "member") -> int:
        """``k`` if it is a member of this run, else ValueError naming ``name`` and the valid range."""
        size = self.config.ensemble_size
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < size:
            raise ValueError(f"{name} must be in 0..{size - 1} (the run has {size} polic{'y' if size == 1 else 'ies'}), "
                             f"got {k!r}")
        return k

    def member_title(self, k: int) -> str:
        """How figures name member k: ``member k of K (seed s)``, or ``seed s`` for a single policy."""
        size = self.config.ensemble_size
        return f"member {k} of {size} (seed {self.seeds[k]})" if size > 1 else f"seed {self.seeds[k]}"

    def policy(self, k: int = 0) -> torch.nn.Module:
        """Member k as a standalone module holding the current weights."""
        if not self.ensemble:
            return self.models[0]
        model = copy.deepcopy(self.models[0])
        model.load_state_dict({name: w[k].detach() for name, w in {**self.weights, **self.buffers}.items()})
        return model

    # -------------------------------------------------------------------------------- data
    def sample(self, generator: torch.Generator, batch_size: int, evaluation: bool = False,
               spec: environment.EnvSpec | None = None) -> Batch:
        """One member's batch: a reset of ``batch_size`` trials and every per-step random number, all drawn
        from ``generator`` (evaluation batches of centre_out visit the targets in order). ``spec``: another
        environment of the same effector and observation layout (e.g. another task) instead of the run's."""
        c = self.config
        spec = self.env_spec if spec is None else spec
        T = spec.n_steps
        options = {"batch_size": batch_size}
        if evaluation and "target_index" in spec.task.reset_options:
            options["target_index"] = torch.arange(batch_size) % spec.task.n_targets
        reset_noise = tuple(ch for ch in self.noise_channels if ch != "action")
        draws = environment.sample_draws(environment.reset_draws(spec, batch_size, options, reset_noise), generator,
                                         self.dtype, self.device)
        if c.curl_gain:
            on = torch.rand(batch_size, generator=generator) < c.curl_prob
            options["curl_gain"] = c.curl_gain * on.to(self.dtype)
        state, obs = environment.reset(spec, self.env_params, draws, options)
        noise = environment.sample_draws(environment.step_draws(spec, (batch_size,), self.noise_channels), generator,
                                         self.dtype, self.device, leading=(T,))
        step_draws = environment.StepDraws(**noise) if noise else None
        width = noise_dim(self.models[0])
        policy_noise = (torch.randn(T, batch_size, width, generator=generator, dtype=self.dtype).to(self.device)
                        if width else None)
        return Batch(state, obs, StepInputs(step_draws, policy_noise))

    def batch(self, evaluation: bool = False, batch_size: int | None = None,
              generators: list[torch.Generator] | None = None) -> Batch:
        """Every member's batch, stacked on a leading member dim for ensembles (inputs: on dim 1, after time)."""
        size = self.config.batch_size if batch_size is None else batch_size
        parts = [self.sample(g, size, evaluation) for g in (self.generators if generators is None else generators)]
        if not self.ensemble:
            return parts[0]
        return Batch(tree_stack([p.state for p in parts]), tree_stack([p.obs for p in parts]),
                     tree_stack([p.inputs for p in parts], dim=1))

    # -------------------------------------------------------------------------------- objective
    def objective(self, trace: Trace) -> tuple[torch.Tensor, dict]:
        """(loss, {term: unweighted value}) of one member's episode (``loss``, a CompositeLoss)."""
        return self.loss(trace)

    def trace_fields(self) -> tuple[str, ...]:
        """The :class:`~motornet_fn.core.engine.Trace` fields :meth:`objective` reads."""
        return self.loss.required_fields()

    def weights_and_buffers(self) -> tuple[dict, dict]:
        """The trainable weights and buffers (member-stacked for ensembles)."""
        if self.ensemble:
            return self.weights, self.buffers
        model = self.models[0]
        return dict(model.named_parameters()), dict(model.named_buffers())

    def losses(self, batch: Batch, compiled: bool | None = None) -> torch.Tensor:
        """(K,) member losses of ``batch`` (with gradients), eager or through the compiled engine."""
        return self.losses_and_terms(batch, compiled)[0]

    def losses_and_terms(self, batch: Batch, compiled: bool | None = None) -> tuple[torch.Tensor, dict]:
        """(K,) member losses of ``batch`` and {term: (K,) unweighted values}, eager or compiled."""
        compiled = self.resolve_compile() if compiled is None else compiled
        weights, buffers = self.weights_and_buffers()
        if not compiled:
            return member_losses(self.env_spec, self.env_params, self.base, self.objective, self.trace_fields(),
                                 self.ensemble, weights, buffers, batch, truncate_every=self.config.truncate_every)
        if self._compiled is None:
            def run(weights, buffers, batch):
                return member_losses(self.env_spec, self.env_params, self.base, self.objective, self.trace_fields(),
                                     self.ensemble, weights, buffers, batch, scan=True)

            shape = tuple(batch.obs.shape[:-1])
            remaining = self._remaining if self._remaining is not None else self.config.n_batches - self.step
            options, reason = compile_options(max(remaining, 1), self.n_steps)
            log.info(reason)
            self._compiled = compile_function(run, options, "training episode", lambda *a: (
                f"training episode + loss ({self.config.task}, {self.config.effector}, batch {shape}, "
                f"{self.n_steps} steps)"))
            warm(self.spec, self.params, batch.state.effector, batch.obs.ndim - 1)
        return self._compiled(weights, buffers, batch)

    def resolve_compile(self, remaining_batches: int | None = None) -> bool:
        """Whether batches run compiled: ``config.compile``, with "auto" decided (and logged) once per fit."""
        c = self.config
        if remaining_batches is not None:
            self._remaining = remaining_batches
        if self.compiling is not None:
            return self.compiling
        if c.compile != "auto":
            self.compiling = bool(c.compile)
            return self.compiling
        against = []
        if c.truncate_every:
            against.append("truncate_every needs the eager loop")
        if not engine.scan_available():
            against.append("this torch has no scan")
        remaining = (c.n_batches - self.step) if remaining_batches is None else remaining_batches
        self.compiling, reason = auto_compile(remaining, self.n_steps, against)
        log.info(reason)
        return self.compiling

    # -------------------------------------------------------------------------------- one batch
    def train_batch(self) -> list[float]:
        """One optimisation step of every member; returns the members' losses."""
        t0 = time.perf_counter()
        batch = self.batch()
        self.optimizer.zero_grad(set_to_none=True)
        losses, terms = self.losses_and_terms(batch)
        losses.sum().backward()
        trained = [w for group in self.optimizer.param_groups for w in group["params"]]
        if self.ensemble:
            norms = clip_stacked_grads([w.grad for w in trained], self.config.grad_clip)
        else:
            max_norm = self.config.grad_clip if self.config.grad_clip else math.inf
            norms = torch.nn.utils.clip_grad_norm_(trained, max_norm=max_norm).reshape(1)
        self.log.lr.append(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        values = losses.detach().cpu().tolist()
        self.log.loss.append(values)
        for name, value in terms.items():
            self.log.terms.setdefault(name, []).append(value.detach().cpu().tolist())
        self.log.grad_norm.append(norms.detach().cpu().tolist())
        self.log.seconds.append(time.perf_counter() - t0)
        return values

    # -------------------------------------------------------------------------------- loop
    def fit(self, n_batches: int | None = None, progress: bool = True,
            callback: Callable[["Trainer"], Any] | None = None) -> TrainLog:
        """Train until ``n_batches`` batches in total have been done (default: the config's).

        The trainer only ever stops at a batch boundary. A first Ctrl-C lets the current batch finish;
        if a batch is cut short (a second Ctrl-C, an error) or its loss or gradient norm is not finite,
        the trainer is put back as it was before that batch, then the exception propagates. So after
        ``fit`` returns or raises, :meth:`state_dict` is always one consistent batch boundary.

        Args:
            n_batches: total number of batches to have done (not the number still to do).
            progress: show a tqdm progress bar.
            callback: called with the trainer after every batch (e.g. to save a checkpoint).

        Returns:
            The trainer's log.

        Raises:
            NonFiniteLossError: a loss or gradient norm became NaN or infinite (the message names the
                batch and the members); the trainer holds the state after the last good batch.
        """
        from tqdm.auto import tqdm

        from motornet_fn.nn import batch_guard

        total = self.config.n_batches if n_batches is None else n_batches
        if self.step < total:
            self.resolve_compile(total - self.step)
        bar = tqdm(total=total, initial=self.step, disable=not progress, unit="batch", dynamic_ncols=True)
        boundary = batch_guard.snapshot(self)
        try:
            while self.step < total:
                with finish_before_interrupt():  # a first Ctrl-C lands after the batch and its snapshot
                    try:
                        losses = self.train_batch()
                        batch_guard.check_finite(self)
                    except BaseException:  # a second Ctrl-C, an error, a non-finite loss: undo the batch
                        batch_guard.restore(self, boundary)
                        raise
                    boundary = batch_guard.snapshot(self)
                bar.update(1)
                bar.set_postfix(loss=f"{sum(losses) / len(losses):.4f}")
                if callback is not None:
                    callback(self)
        finally:
            bar.close()
        return self.log

    # -------------------------------------------------------------------------------- state
    def state_dict(self, log: bool = True) -> dict:
        """Everything needed to resume exactly: weights, optimiser, scheduler, RNGs, step, log.

        Tensors may be the trainer's own (copy them to keep this state). ``log=False`` leaves the log
        out (a snapshot of the current batch boundary need not copy a log that only grows).
        """
        weights = ({k: v.detach().clone() for k, v in {**self.weights, **self.buffers}.items()} if self.ensemble
                   else self.models[0].state_dict())
        state = {
            "config": dataclasses.asdict(self.config),
            "step": self.step,
            "weights": weights,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "generators": [g.get_state() for g in self.generators],
        }
        if log:
            state["log"] = dataclasses.asdict(self.log)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Load a :meth:`state_dict` (with its log) saved by a trainer of the same config.

        ``compile`` (a performance switch) and ``n_batches`` (a run may be extended) may differ; fields
        the checkpoint lacks count as their defaults.

        Raises:
            ValueError: the configs differ in another field; the message lists every such field with
                both values. Nothing is loaded then: build the trainer from the checkpoint's config.
        """
        may_differ = ("compile", "n_batches")
        mine = dataclasses.asdict(self.config)
        theirs = {**dataclasses.asdict(TrainConfig()), **state["config"]}
        differ = [k for k in mine if k not in may_differ and mine[k] != theirs[k]]
        differ += [k for k in theirs if k not in mine]
        if differ:
            fields = "; ".join(f"{k}: checkpoint {theirs.get(k)!r}, trainer {mine.get(k)!r}" for k in differ)
            raise ValueError(f"checkpoint config differs from this trainer's config in {fields}")
        if self.ensemble:
            with torch.no_grad():
                for name, value in state["weights"].items():
                    {**self.weights, **self.buffers}[name].copy_(value)
        else:
            self.models[0].load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for g, s in zip(self.generators, state["generators"]):
            g.set_state(s)
        self.step = state["step"]
        self.log = TrainLog(**state["log"])

    # -------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, batch_size: int = 64, seed: int = 12345, k: int = 0,
                 fields: tuple[str, ...] = TRACE_FIELDS) -> Trace:
        """Roll member k on a fixed evaluation batch (its own generator; training RNG untouched)."""
        batch = self.sample(torch.Generator().manual_seed(seed), batch_size, evaluation=True)
        model = self.policy(k)
        step, initial, activity = policy_functions(model, dict(model.named_parameters()), dict(model.named_buffers()))
        trace, _ = engine.run_episode(self.env_spec, self.env_params, step, initial(batch.obs.shape[:-1]), batch.state,
                                      batch.obs, batch.inputs, fields=fields, activity=activity)
        return trace


def clip_stacked_grads(grads: list[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """Per-member ``clip_grad_norm_`` on gradients stacked along dim 0; returns the (K,) norms."""
    per_param = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])  # (P, K)
    norms = torch.linalg.vector_norm(per_param, dim=0)  # (K,)
    if max_norm:
        coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.reshape(-1, *([1] * (g.ndim - 1))))
    return norms
