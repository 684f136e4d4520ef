"""Training loops over the functional core: one policy, or an ensemble of K policies trained in one
vectorised pass (``torch.func.stack_module_state`` + ``functional_call`` + ``vmap``).

Every ensemble member k has its own seed (``seed + k``) driving its weight initialisation and its own
data generator, so member k of an ensemble follows the same trajectory as a single run with that seed.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.func import functional_call, stack_module_state, vmap

from motornet_fn.core import build, tasks
from motornet_fn.core.interventions import no_intervention
from motornet_fn.core.tree import tree_map
from motornet_fn.nn import losses as L
from motornet_fn.nn.episode import TRACE_FIELDS, EpisodeInit, TaskConfig, Trace, draw_noise, run_episode
from motornet_fn.nn.interrupts import finish_before_interrupt
from motornet_fn.nn.policies import POLICIES

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TASKS = ("random_reach", "centre_out", "delayed_reach", "random_reach_loads")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as the run's config.json).

    Defaults reproduce MotorNet's tutorial: ReluPointMass24 + RandomTargetReach, 1 s episodes,
    GRU with 32 units, Adam 1e-3, batch 32, L1 position loss, gradient-norm clipping at 1.
    """

    effector: str = "ReluPointMass24"
    muscle: str | None = None
    task: str = "random_reach"
    n_batches: int = 1000
    batch_size: int = 32
    episode_duration: float = 1.0
    policy: str = "gru"
    hidden_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"
    grad_clip: float | None = 1.0
    loss: str = "l1_position"
    activation_weight: float = 0.0
    hidden_weight: float = 0.0
    truncate_every: int | None = None
    proprio_delay: int = 1
    vision_delay: int = 1
    action_frames: int = 0
    proprio_noise: float = 0.0
    vision_noise: float = 0.0
    action_noise: float = 0.0
    n_targets: int = 8
    reach_radius: float | None = None
    start_posture: list | None = None
    target_on: float = 0.1
    delay_range: list = field(default_factory=lambda: [0.2, 0.4])
    catch_prob: float = 0.2
    max_load: float = 5.0
    curl_gain: float = 0.0
    curl_prob: float = 1.0
    seed: int = 0
    ensemble_size: int = 1
    device: str = "cpu"
    dtype: str = "float32"
    #: run the episode + loss (and its backward) through torch.compile (motornet_fn.nn.compiled); same
    #: numbers to float rounding, a one-off compile on the first batch. A performance switch only: it
    #: may differ between a run and its resumption.
    compile: bool = False

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        from motornet_fn.core.build import PREBUILT

        checks = [
            ("effector", self.effector in PREBUILT, f"one of {sorted(PREBUILT)}"),
            ("task", self.task in TASKS, f"one of {list(TASKS)}"),
            ("policy", self.policy in POLICIES, f"one of {sorted(POLICIES)}"),
            ("loss", self.loss in L.LOSSES, f"one of {sorted(L.LOSSES)}"),
            ("lr_schedule", self.lr_schedule in ("constant", "cosine"), "'constant' or 'cosine'"),
            ("dtype", self.dtype in DTYPES, f"one of {sorted(DTYPES)}"),
            ("n_batches", isinstance(self.n_batches, int) and self.n_batches >= 1, "an int >= 1"),
            ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1, "an int >= 1"),
            ("hidden_size", isinstance(self.hidden_size, int) and self.hidden_size >= 1, "an int >= 1"),
            ("ensemble_size", isinstance(self.ensemble_size, int) and self.ensemble_size >= 1, "an int >= 1"),
            ("lr", isinstance(self.lr, (int, float)) and self.lr > 0, "a number > 0"),
            ("episode_duration", self.episode_duration > 0, "a duration > 0 s"),
            ("n_targets", isinstance(self.n_targets, int) and self.n_targets >= 1, "an int >= 1"),
            ("curl_prob", 0.0 <= self.curl_prob <= 1.0, "a probability in [0, 1]"),
            ("catch_prob", 0.0 <= self.catch_prob <= 1.0, "a probability in [0, 1]"),
            ("max_load", self.max_load >= 0, "a force >= 0 N"),
            ("delay_range", len(self.delay_range) == 2 and 0 <= self.delay_range[0] <= self.delay_range[1],
             "[min, max] seconds with 0 <= min <= max"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")
        if self.compile and self.truncate_every:
            raise ValueError(f"compile=True does not support truncate_every (got {self.truncate_every!r}); "
                             f"set truncate_every=None or compile=False")


@dataclass
class TrainLog:
    """Per-batch records; lists of length n_batches_done, per-member entries are lists of length K."""

    loss: list = field(default_factory=list)
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
    """Holds the policies, optimiser, generators and log of a run; ``fit`` trains it."""

    def __init__(self, config: TrainConfig):
        config.validate()
        self.config = config
        self.dtype = DTYPES[config.dtype]
        self.device = torch.device(config.device)
        self.spec, self.params = build_effector(config)
        n_steps = max(1, int(round(config.episode_duration / self.spec.dt)))
        self.task = TaskConfig(
            self.spec, n_steps, config.proprio_delay, config.vision_delay, config.action_frames,
            config.proprio_noise, config.vision_noise, config.action_noise, go_cue=config.task == "delayed_reach",
        )
        self.seeds = [config.seed + k for k in range(config.ensemble_size)]
        self.models = [self._make_policy(s) for s in self.seeds]
        self.generators = [torch.Generator().manual_seed(s) for s in self.seeds]
        if self.ensemble:
            self.base = copy.deepcopy(self.models[0]).to("meta")
            self.weights, self.buffers = stack_module_state(self.models)
            trainable = list(self.weights.values())
        else:
            trainable = list(self.models[0].parameters())
        self.optimizer = torch.optim.Adam(trainable, lr=config.lr)
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.n_batches)
            if config.lr_schedule == "cosine" else None
        )
        self.step = 0
        self.log = TrainLog()

    # -------------------------------------------------------------------------------- building
    @property
    def ensemble(self) -> bool:
        return self.config.ensemble_size > 1

    def _make_policy(self, seed: int) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            cls = POLICIES[self.config.policy]
            hidden = self.config.hidden_size if self.config.policy == "gru" else (self.config.hidden_size,) * 2
            model = cls(self.task.obs_dim, hidden, self.spec.n_muscles)
        return model.to(device=self.device, dtype=self.dtype)

    def policy(self, k: int = 0) -> torch.nn.Module:
        """Member k as a standalone module holding the current weights."""
        if not self.ensemble:
            return self.models[0]
        model = copy.deepcopy(self.models[0])
        model.load_state_dict({name: w[k].detach() for name, w in {**self.weights, **self.buffers}.items()})
        return model

    # -------------------------------------------------------------------------------- data
    def start_posture(self) -> torch.Tensor:
        """(dof,) centre-out start posture: the configured one, else (45 deg, 90 deg) for arms and the
        origin for point masses."""
        if self.config.start_posture is not None:
            return torch.tensor(self.config.start_posture, dtype=self.dtype)
        if self.spec.skeleton.name == "PointMass":
            return torch.zeros(self.spec.dof, dtype=self.dtype)
        return torch.tensor([math.pi / 4, math.pi / 2], dtype=self.dtype)

    def reach_radius(self) -> float:
        if self.config.reach_radius is not None:
            return self.config.reach_radius
        return 0.5 if self.spec.skeleton.name == "PointMass" else 0.1

    def sample(self, generator: torch.Generator, batch_size: int, evaluation: bool = False):
        """Start states, goals, schedules, interventions and noise for one batch of one member."""
        c, T = self.config, self.task.n_steps
        if c.task == "centre_out":
            index = (torch.arange(batch_size) % c.n_targets if evaluation
                     else torch.randint(c.n_targets, (batch_size,), generator=generator))
            joint, goal = tasks.centre_out(self.spec, self.params, self.start_posture().to(self.params.damping),
                                           self.reach_radius(), c.n_targets, index)
        else:
            joint, goal = tasks.random_reach(self.spec, self.params, batch_size, generator)
        schedule = None
        if c.task == "delayed_reach":
            steps = lambda seconds: int(round(seconds / self.spec.dt))  # noqa: E731
            target_step, go_step, catch = tasks.sample_delays(
                batch_size, T, steps(c.target_on), tuple(steps(x) for x in c.delay_range), c.catch_prob, generator)
            start_xy = self.spec.skeleton.forward_kinematics(self.params.skeleton, joint).pos
            schedule = tasks.delayed_schedule(start_xy, goal, T, target_step, go_step, catch)
        intervention = None
        if c.curl_gain or c.task == "random_reach_loads":
            intervention = no_intervention(self.spec, T, (batch_size,), dtype=goal.dtype)
            if c.curl_gain:
                on = torch.rand(batch_size, generator=generator) < c.curl_prob
                intervention = intervention._replace(curl_gain=c.curl_gain * on.to(goal.dtype))
            if c.task == "random_reach_loads":
                load = tasks.random_endpoint_loads(batch_size, c.max_load, generator, goal.dtype)
                intervention = intervention._replace(endpoint_force=load.expand(T, -1, -1).clone())
        noise = draw_noise(self.task, batch_size, generator, self.dtype)
        cast = lambda tree: None if tree is None else tree_map(  # noqa: E731
            lambda x: x.to(device=self.device, dtype=self.dtype if x.is_floating_point() else x.dtype), tree)
        return EpisodeInit(cast(joint), cast(goal), cast(schedule), cast(intervention)), cast(noise)

    # -------------------------------------------------------------------------------- objective
    def objective(self, trace: Trace) -> torch.Tensor:
        c = self.config
        loss = L.LOSSES[c.loss](trace.fingertip, trace.goal)
        if c.activation_weight:
            loss = loss + c.activation_weight * L.activation_l2(trace.activation)
        if c.hidden_weight:
            loss = loss + c.hidden_weight * L.hidden_activity_l2(trace.hidden)
        return loss

    def trace_fields(self) -> tuple[str, ...]:
        """The :class:`~motornet_fn.nn.episode.Trace` fields :meth:`objective` reads."""
        c = self.config
        return ("fingertip", "goal") + (("activation",) if c.activation_weight else ()) + (
            ("hidden",) if c.hidden_weight else ())

    def episode(self, policy: Callable, init: EpisodeInit, noise, fields: tuple[str, ...] = TRACE_FIELDS) -> Trace:
        """One eager episode of ``policy`` (recording ``fields``; see :func:`~motornet_fn.nn.episode.run_episode`)."""
        h0 = init.goal.new_zeros(init.goal.shape[0], getattr(self.models[0], "hidden_dim", 0))
        return run_episode(self.task, self.params, policy, h0, init, noise, truncate_every=self.config.truncate_every,
                           fields=fields)

    # -------------------------------------------------------------------------------- one batch
    def train_batch(self) -> list[float]:
        """One optimisation step of every member; returns the members' losses."""
        t0 = time.perf_counter()
        batch = [self.sample(g, self.config.batch_size) for g in self.generators]
        self.optimizer.zero_grad(set_to_none=True)
        if self.ensemble:
            losses = self._compiled_losses(batch) if self.config.compile else self._ensemble_losses(batch)
            losses.sum().backward()
            grads = [w.grad for w in self.weights.values()]
            norms = clip_stacked_grads(grads, self.config.grad_clip)
        else:
            model = self.models[0]
            init, noise = batch[0]
            losses = (self._compiled_losses(batch) if self.config.compile
                      else self.objective(self.episode(model, init, noise, self.trace_fields())).unsqueeze(0))
            losses.sum().backward()
            max_norm = self.config.grad_clip if self.config.grad_clip else math.inf
            norms = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_norm).reshape(1)
        self.log.lr.append(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        values = losses.detach().cpu().tolist()
        self.log.loss.append(values)
        self.log.grad_norm.append(norms.detach().cpu().tolist())
        self.log.seconds.append(time.perf_counter() - t0)
        return values

    def _ensemble_losses(self, batch) -> torch.Tensor:
        inits = tree_stack_batch([b[0] for b in batch])
        noises = None if batch[0][1] is None else tree_stack_batch([b[1] for b in batch])

        def member(weights, buffers, init, noise):
            policy = lambda obs, h: functional_call(self.base, (weights, buffers), (obs, h))  # noqa: E731
            return self.objective(self.episode(policy, init, noise, self.trace_fields()))

        optional = lambda x: None if x is None else 0  # noqa: E731  (vmap needs in_dim None for absent parts)
        init_dims = EpisodeInit(0, 0, optional(inits.schedule), optional(inits.intervention))
        in_dims = (0, 0, init_dims, optional(noises))
        return vmap(member, in_dims=in_dims, randomness="error")(self.weights, self.buffers, inits, noises)

    def _compiled_losses(self, batch) -> torch.Tensor:
        """(K,) member losses through the compiled scan episode (built on first use)."""
        from motornet_fn.nn.compiled import compiled_objective

        if getattr(self, "_compiled", None) is None:
            self._compiled = compiled_objective(self)
        if self.ensemble:
            inits = tree_stack_batch([b[0] for b in batch])
            noises = None if batch[0][1] is None else tree_stack_batch([b[1] for b in batch])
            return self._compiled(self.weights, self.buffers, inits, noises)
        model = self.models[0]
        init, noise = batch[0]
        return self._compiled(dict(model.named_parameters()), dict(model.named_buffers()), init, noise)

    # -------------------------------------------------------------------------------- loop
    def fit(self, n_batches: int | None = None, progress: bool = True,
            callback: Callable[["Trainer"], Any] | None = None) -> TrainLog:
        """Train until ``n_batches`` batches in total have been done (default: the config's)."""
        from tqdm.auto import tqdm

        total = self.config.n_batches if n_batches is None else n_batches
        bar = tqdm(total=total, initial=self.step, disable=not progress, unit="batch", dynamic_ncols=True)
        try:
            while self.step < total:
                with finish_before_interrupt():  # Ctrl-C lands between batches: the run stays resumable
                    losses = self.train_batch()
                bar.update(1)
                bar.set_postfix(loss=f"{sum(losses) / len(losses):.4f}")
                if callback is not None:
                    callback(self)
        finally:
            bar.close()
        return self.log

    # -------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Everything needed to resume exactly: weights, optimiser, scheduler, RNGs, step, log."""
        weights = ({k: v.detach().clone() for k, v in {**self.weights, **self.buffers}.items()} if self.ensemble
                   else self.models[0].state_dict())
        return {
            "config": dataclasses.asdict(self.config),
            "step": self.step,
            "weights": weights,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "generators": [g.get_state() for g in self.generators],
            "log": dataclasses.asdict(self.log),
        }

    def load_state_dict(self, state: dict) -> None:
        perf_only = ("compile",)  # switches that do not change the numbers may differ on resumption
        strip = lambda c: {k: v for k, v in c.items() if k not in perf_only}  # noqa: E731
        if strip(state["config"]) != strip(dataclasses.asdict(self.config)):
            raise ValueError("checkpoint config differs from this trainer's config; build the trainer from the checkpoint's config")
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
    def evaluate(self, batch_size: int = 64, seed: int = 12345, k: int = 0) -> Trace:
        """Roll member k on a fixed evaluation batch (its own generator; training RNG untouched)."""
        init, noise = self.sample(torch.Generator().manual_seed(seed), batch_size, evaluation=True)
        return self.episode(self.policy(k), init, noise)


def tree_stack_batch(trees: list) -> Any:
    from motornet_fn.core.tree import tree_stack

    return tree_stack(trees)


def clip_stacked_grads(grads: list[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """Per-member ``clip_grad_norm_`` on gradients stacked along dim 0; returns the (K,) norms."""
    per_param = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])  # (P, K)
    norms = torch.linalg.vector_norm(per_param, dim=0)  # (K,)
    if max_norm:
        coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.reshape(-1, *([1] * (g.ndim - 1))))
    return norms
