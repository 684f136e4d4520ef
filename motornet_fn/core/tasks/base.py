"""What every task shares: the random draws it asks for, the per-trial task state, and the goal schedule.

A task is a frozen dataclass (its options are its fields, so it is static and hashable). It says which
random numbers a reset needs (:class:`Draw`, in the order they are drawn), and turns those numbers
into a :class:`TaskState` of per-trial tensors. Randomness never happens inside a task: the object
layer draws the numbers from numpy in MotorNet's order, the trainer from a seeded torch generator.

Every task shares one schedule (:func:`goal_at`): the start position is shown until ``target_step``,
the target afterwards; the endpoint should stay at the start until ``go_step`` (never in catch trials,
whose ``go_step`` is infinite), and reach the target afterwards.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, NamedTuple

import torch

from motornet_fn.core.types import JointState


class Draw(NamedTuple):
    """One block of random numbers a reset needs.

    Attributes:
        name: key of the block in the draws mapping.
        kind: ``"uniform"`` (U[0, 1)), ``"integers"`` (uniform integers in [low, high)) or ``"normal"`` (N(0, 1)).
        shape: shape of the block.
        low, high: bounds of ``"integers"``.
    """

    name: str
    kind: str
    shape: tuple
    low: int = 0
    high: int = 1


class TaskState(NamedTuple):
    """Per-trial task data (float leaves, so it packs, vmaps and compiles with the rest of the state).

    Attributes:
        start: (space_dim,) endpoint position at the start of the trial (m).
        target: (space_dim,) target position (m).
        target_step: () step from which the target is shown (before it, the start is shown).
        go_step: () step of the go cue; ``inf`` in catch trials (no cue, hold at the start).
        load: (space_dim,) constant endpoint load of the trial (N).
    """

    start: torch.Tensor
    target: torch.Tensor
    target_step: torch.Tensor
    go_step: torch.Tensor
    load: torch.Tensor


class GoalView(NamedTuple):
    """What the task shows and asks for at one step.

    Attributes:
        shown: (space_dim,) goal position in the observation (m).
        desired: (space_dim,) where the endpoint should be (m).
        cue: (1,) go cue, 0 or 1.
    """

    shown: torch.Tensor
    desired: torch.Tensor
    cue: torch.Tensor


def goal_at(task: TaskState, t: torch.Tensor) -> GoalView:
    """The goal schedule at step ``t`` (...,) (any float or int tensor broadcasting to the batch)."""
    t = t.to(task.target.dtype)
    visible = (t >= task.target_step).unsqueeze(-1)
    go = (t >= task.go_step).unsqueeze(-1)
    return GoalView(torch.where(visible, task.target, task.start), torch.where(go, task.target, task.start),
                    go.to(task.target.dtype))


def uniform_joint_positions(skeleton_params: Any, u: torch.Tensor) -> torch.Tensor:
    """MotorNet's ``draw_random_uniform_states``: positions (..., dof) = upper + (lower - upper) * u for
    u (..., dof) in [0, 1)."""
    lower, upper = skeleton_params.pos_lower_bound, skeleton_params.pos_upper_bound
    return (lower - upper) * u.to(upper.dtype) + upper


def option_help(task_cls: type, name: str) -> str:
    """The help text of option ``name`` of a task class (its field metadata)."""
    return next(f.metadata.get("help", "") for f in dataclasses.fields(task_cls) if f.name == name)


def option(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's keyword
    """A task option: a dataclass field with a default and a help text (units included)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Task:
    """Base class of tasks. Subclasses set ``name`` and the class flags, declare their options as
    dataclass fields (with :func:`option`), and implement :meth:`draws` and :meth:`init`.

    Attributes:
        name: registry key (the CLI's ``--task`` choice).
        go_cue: the observation ends with the go cue (one extra entry).
        has_load: trials carry a constant endpoint load.
        reset_options: keys a reset of this task accepts besides the common ones.
        random_start: trials start at random postures (drawn before the task's own draws); otherwise
            :meth:`fixed_start` gives the start posture.
    """

    name: ClassVar[str] = ""
    go_cue: ClassVar[bool] = False
    has_load: ClassVar[bool] = False
    reset_options: ClassVar[tuple[str, ...]] = ()
    random_start: ClassVar[bool] = True

    # ---------------------------------------------------------------- to implement
    def fixed_start(self, effector_spec, effector_params) -> torch.Tensor | None:
        """(dof,) start joint positions shared by every trial (tasks without :attr:`random_start`)."""
        raise NotImplementedError

    def draws(self, effector_spec, batch_size: int, options: Mapping[str, Any]) -> tuple[Draw, ...]:
        """The random numbers :meth:`init` needs, in drawing order (after the start posture's)."""
        return ()

    def init(self, effector_spec, effector_params, start: JointState, draws: Mapping[str, torch.Tensor],
             options: Mapping[str, Any]) -> TaskState:
        """The per-trial task state of a batch whose start state is ``start`` (B, dof)."""
        raise NotImplementedError

    def check(self, n_steps: int, dt: float) -> None:
        """Validate the options against an episode of ``n_steps`` steps of ``dt`` s (ValueError)."""

    # ---------------------------------------------------------------- shared helpers
    def reach(self, effector_spec, effector_params, start: JointState, target: torch.Tensor,
              load: torch.Tensor | None = None) -> TaskState:
        """A task state whose target (B, space_dim) is shown and required from step 0."""
        tip = effector_spec.skeleton.forward_kinematics(effector_params.skeleton, start).pos
        zero = tip.new_zeros(tip.shape[:-1])
        return TaskState(tip, target.to(tip), zero, zero, torch.zeros_like(tip) if load is None else load.to(tip))


def steps(seconds: float, dt: float) -> int:
    """A duration in s as a whole number of steps of ``dt``."""
    return int(round(seconds / dt))


def check_probability(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def check_positive(name: str, value: Any, unit: str = "", kind: type = float, allow_zero: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number (an int if ``kind`` is int) > 0 (or >= 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0) and (kind is float or isinstance(value, int))
    if not ok:
        bound = (">= 0" if allow_zero else "> 0") if kind is float else (">= 0" if allow_zero else ">= 1")
        what = "an int " if kind is int else ""
        raise ValueError(f"{name} must be {what}{bound}{' ' + unit if unit else ''}, got {value!r}")
