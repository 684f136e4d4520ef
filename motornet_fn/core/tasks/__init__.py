"""Tasks: one file per task in this package, each registering itself in :data:`TASKS`.

Adding a task is one new file here (a :class:`~motornet_fn.core.tasks.base.Task` subclass decorated
with :func:`register`) plus its test: the trainer, the CLI's ``--task`` choices and option flags, and
the object layer all read this registry.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from motornet_fn.core.tasks.base import Draw, GoalView, Task, TaskState, goal_at, option_help, uniform_joint_positions

#: name -> task class, filled by :func:`register` as the task modules are imported
TASKS: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator adding a task to :data:`TASKS` under ``cls.name``."""
    if not cls.name or cls.name in TASKS:
        raise ValueError(f"task name {cls.name!r} is empty or already registered")
    TASKS[cls.name] = cls
    return cls


def option_names(name: str) -> tuple[str, ...]:
    """The options (dataclass fields) of task ``name``."""
    return tuple(f.name for f in dataclasses.fields(task_class(name)))


def task_class(name: str) -> type[Task]:
    """The registered class of task ``name`` (ValueError listing the valid names)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {sorted(TASKS)}")
    return TASKS[name]


def get_task(name: str, **options: Any) -> Task:
    """Instantiate task ``name`` with ``options``.

    Raises:
        ValueError: unknown task, or an option the task does not take (the valid ones are listed).
    """
    cls = task_class(name)
    unknown = sorted(set(options) - set(option_names(name)))
    if unknown:
        raise ValueError(f"task {name!r} does not take option(s) {unknown}; its options are "
                         f"{list(option_names(name)) or 'none'}")
    return cls(**options)


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["TASKS", "Task", "TaskState", "GoalView", "Draw", "register", "get_task", "task_class", "option_names",
           "option_help", "goal_at", "uniform_joint_positions"]
