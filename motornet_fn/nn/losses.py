"""Losses used to train motor policies.

Trajectory tensors have time on dim -2: (..., T, features); every loss returns a scalar (mean over the
leading dims and time of a sum over features) unless stated otherwise.

Composable losses: a loss is a weighted sum of named terms from one registry, :data:`LOSS_TERMS`
(name -> :class:`LossTerm` with its definition, unit and the record fields it reads). Terms read a
trajectory record (a mapping or an object with attributes; batch dims first, time on -2):

=================  ===============  ==========================================================
field              shape            meaning
=================  ===============  ==========================================================
``fingertip``      (..., T+1, 2)    fingertip position (m)
``fingertip_vel``  (..., T+1, 2)    fingertip velocity (m/s); if absent, ``diff(fingertip) / dt``
``goal``           (..., T+1, 2)    target position (m)
``activation``     (..., T+1, M)    muscle activation (0-1)
``force``          (..., T+1, M)    muscle force (N)
``hidden``         (..., T, units)  the policy's ``activity`` after each step
=================  ===============  ==========================================================

``parse_loss_spec("position=1,effort=1e-4,hidden=1e-5")`` gives the weights, :class:`CompositeLoss`
evaluates them, :data:`PRESETS` holds published set-ups. Time derivatives are per second (finite
differences divided by ``dt``), so a weight means the same penalty at any time step.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple

import torch


# ------------------------------------------------------------------------------------ plain functions
def l1_position(position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """MotorNet tutorial's loss: mean over batch and time of ``sum_xy |position - goal|`` (m)."""
    return torch.mean(torch.sum(torch.abs(position - goal), dim=-1))


def l2_position(position: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Mean squared Euclidean distance to the goal (m^2)."""
    return sum_squares(position - goal)


def clipped_position(position: torch.Tensor, goal: torch.Tensor, radius: float = 0.01) -> torch.Tensor:
    """Mean L1 distance beyond a target radius (m): no penalty inside the target."""
    return torch.mean(torch.clamp(torch.sum(torch.abs(position - goal), dim=-1) - radius, min=0.0))


def sum_squares(x: torch.Tensor) -> torch.Tensor:
    """Mean over leading dims and time of sum_features x^2."""
    return torch.mean(torch.sum(x**2, dim=-1))


def time_derivative(x: torch.Tensor, dt: float = 1.0, order: int = 1) -> torch.Tensor:
    """Finite-difference derivative along time (dim -2): (..., T, F) -> (..., T - order, F), per dt^order."""
    return torch.diff(x, n=order, dim=-2) / dt**order


def activation_l2(activation: torch.Tensor) -> torch.Tensor:
    """Muscle effort: mean over batch and time of sum_muscles activation^2."""
    return sum_squares(activation)


def activation_derivative_l2(activation: torch.Tensor, dt: float = 1.0) -> torch.Tensor:
    """Smoothness: mean of sum_muscles (d activation / dt)^2 by finite differences along time."""
    return sum_squares(time_derivative(activation, dt))


def hidden_activity_l2(hidden: torch.Tensor) -> torch.Tensor:
    """Recurrent activity regulariser: mean of sum_units h^2."""
    return sum_squares(hidden)


def hidden_derivative_l2(hidden: torch.Tensor) -> torch.Tensor:
    """Recurrent dynamics regulariser: mean of sum_units (h_t - h_{t-1})^2 (per step, not per second)."""
    return sum_squares(time_derivative(hidden))


LOSSES = {
    "l1_position": l1_position,
    "l2_position": l2_position,
    "clipped_position": clipped_position,
}


# ------------------------------------------------------------------------------------ term registry
class Trajectory:
    """Read access to a record's fields, with the fingertip velocity derived when it is absent."""

    def __init__(self, record: Any, dt: float):
        self.record, self.dt = record, dt

    def get(self, name: str) -> torch.Tensor | None:
        if isinstance(self.record, Mapping):
            return self.record.get(name)
        return getattr(self.record, name, None)

    def __getitem__(self, name: str) -> torch.Tensor:
        value = self.velocity() if name == "fingertip_vel" else self.get(name)
        if value is None:
            raise KeyError(f"the trajectory record has no {name!r} field, which this loss reads")
        return value

    def velocity(self) -> torch.Tensor:
        """(..., T+1, 2) recorded velocity, else (..., T, 2) finite differences of the fingertip (m/s)."""
        vel = self.get("fingertip_vel")
        return vel if vel is not None else time_derivative(self["fingertip"], self.dt)


class LossTerm(NamedTuple):
    """One named loss term.

    Attributes:
        fn: (trajectory, options) -> scalar; options holds ``dt`` (s) and ``radius`` (m).
        fields: record fields read (``fingertip_vel`` may be replaced by ``fingertip``, see module doc).
        unit: unit of the unweighted value.
        doc: definition.
    """

    fn: Callable[[Trajectory, dict], torch.Tensor]
    fields: tuple[str, ...]
    unit: str
    doc: str


def _term(fields: tuple[str, ...], unit: str, doc: str):
    def register(fn):
        return LossTerm(fn, fields, unit, doc)
    return register


@_term(("fingertip", "goal"), "m", "mean_t sum_xy |fingertip - goal| (L1; MotorNet's tutorial loss)")
def _position(tr, o):
    return l1_position(tr["fingertip"], tr["goal"])


@_term(("fingertip", "goal"), "m^2", "mean_t sum_xy (fingertip - goal)^2")
def _position_l2(tr, o):
    return l2_position(tr["fingertip"], tr["goal"])


@_term(("fingertip", "goal"), "m", "mean_t max(sum_xy |fingertip - goal| - radius, 0) (radius: CompositeLoss's)")
def _position_clipped(tr, o):
    return clipped_position(tr["fingertip"], tr["goal"], o["radius"])


@_term(("fingertip_vel",), "m^2/s^2", "mean over the batch of sum_xy v^2 at the last step")
def _final_velocity(tr, o):
    return torch.mean(torch.sum(tr["fingertip_vel"][..., -1, :] ** 2, dim=-1))


@_term(("fingertip_vel",), "m^2/s^2", "mean_t sum_xy v^2")
def _speed(tr, o):
    return sum_squares(tr["fingertip_vel"])


@_term(("fingertip_vel",), "m^2/s^6", "mean_t sum_xy (d^2 v / dt^2)^2 (squared jerk)")
def _jerk(tr, o):
    return sum_squares(time_derivative(tr["fingertip_vel"], o["dt"], order=2))


@_term(("activation",), "1", "mean_t sum_muscles activation^2 (muscle activation effort)")
def _effort(tr, o):
    return activation_l2(tr["activation"])


@_term(("activation",), "1/s^2", "mean_t sum_muscles (d activation / dt)^2")
def _effort_derivative(tr, o):
    return activation_derivative_l2(tr["activation"], o["dt"])


@_term(("force",), "N", "mean_t sum_muscles force (muscle force effort, linear as in Michaels' research code)")
def _force(tr, o):
    return torch.mean(torch.sum(tr["force"], dim=-1))


@_term(("force",), "N^2/s^2", "mean_t sum_muscles (d force / dt)^2")
def _force_derivative(tr, o):
    return sum_squares(time_derivative(tr["force"], o["dt"]))


@_term(("hidden",), "1", "mean_t sum_units activity^2")
def _hidden(tr, o):
    return hidden_activity_l2(tr["hidden"])


@_term(("hidden",), "1/s^2", "mean_t sum_units (d activity / dt)^2")
def _hidden_derivative(tr, o):
    return sum_squares(time_derivative(tr["hidden"], o["dt"]))


#: the named loss terms, name -> :class:`LossTerm` (reads, unit, formula); a loss spec weights some of them
LOSS_TERMS: dict[str, LossTerm] = {
    "position": _position, "position_l2": _position_l2, "position_clipped": _position_clipped,
    "final_velocity": _final_velocity, "speed": _speed, "jerk": _jerk,
    "effort": _effort, "effort_derivative": _effort_derivative,
    "force": _force, "force_derivative": _force_derivative,
    "hidden": _hidden, "hidden_derivative": _hidden_derivative,
}

_STEP = 0.01  # s: the time step of the research code the presets copy
#: Named weight sets. The research code penalised per-step differences; its weights w become w * dt^2
#: here (per-second derivatives) at its dt = 0.01 s. Starting points, not tuned optima.
PRESETS: dict[str, dict[str, float]] = {
    # MotorNet's tutorial: L1 fingertip-to-goal distance only
    "tutorial": {"position": 1.0},
    # J. Michaels' loss in MotorNet research scripts: position, muscle force and its derivative, hidden
    # activity and its derivative
    "five_term": {"position": 1.0, "force": 1e-4, "force_derivative": 1e-4 * _STEP**2,
                  "hidden": 5e-5, "hidden_derivative": 3e-2 * _STEP**2},
    # five_term plus speed and jerk penalties. Their weights are our choice: for a minimum-jerk 10 cm
    # reach in 0.5 s, speed = 0.057 m^2/s^2 and jerk = 461 m^2/s^6, so each adds ~5e-4 (a few % of a
    # position term of a few cm)
    "seven_term": {"position": 1.0, "speed": 1e-2, "jerk": 1e-6, "force": 1e-4,
                   "force_derivative": 1e-4 * _STEP**2, "hidden": 5e-5, "hidden_derivative": 3e-2 * _STEP**2},
}


def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for name, w in weights.items():
        if name not in LOSS_TERMS:
            raise ValueError(f"unknown loss term {name!r}; valid terms: {', '.join(LOSS_TERMS)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf:
            raise ValueError(f"weight of loss term {name!r} must be a finite number >= 0, got {w!r}")
        out[name] = float(w)
    return out


def parse_loss_spec(spec: str) -> dict[str, float]:
    """Weights from a spec string: comma-separated ``term=weight`` entries and preset names, later
    entries overriding earlier ones (``"five_term,hidden=0"``).

    Raises:
        ValueError: an unknown term or preset (listing the valid ones) or a bad weight (naming its term).
    """
    weights: dict[str, float] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        if "=" not in entry:
            if entry not in PRESETS:
                raise ValueError(f"unknown loss preset {entry!r} (write term=weight for a term); presets: "
                                 f"{', '.join(PRESETS)}; terms: {', '.join(LOSS_TERMS)}")
            weights.update(PRESETS[entry])
            continue
        name, _, text = (part.strip() for part in entry.partition("="))
        if name not in LOSS_TERMS:
            raise ValueError(f"unknown loss term {name!r}; valid terms: {', '.join(LOSS_TERMS)}")
        try:
            weight = float(text)
        except ValueError:
            raise ValueError(f"weight of loss term {name!r} must be a number, got {text!r}") from None
        weights.update(_check_weights({name: weight}))
    if not weights:
        raise ValueError(f"loss spec {spec!r} names no term; e.g. 'position=1,effort=1e-4'")
    return weights


class CompositeLoss:
    """Weighted sum of registry terms.

    Args:
        weights: term name -> weight (>= 0); terms with weight 0 are not computed.
        dt: time step of the record (s), for velocities and derivatives.
        radius: target radius of ``position_clipped`` (m).

    Calling it on a trajectory record returns ``(total, terms)``: the weighted sum (scalar) and each
    computed term's unweighted value.
    """

    def __init__(self, weights: Mapping[str, float] | str, dt: float, radius: float = 0.01):
        if isinstance(weights, str):
            weights = parse_loss_spec(weights)
        if not isinstance(dt, (int, float)) or not 0 < dt < math.inf:
            raise ValueError(f"dt must be a time step > 0 s, got {dt!r}")
        if not isinstance(radius, (int, float)) or not 0 <= radius < math.inf:
            raise ValueError(f"radius must be a distance >= 0 m, got {radius!r}")
        self.weights = _check_weights(weights)
        if not self.active:
            raise ValueError(f"weights must give at least one loss term a weight > 0, got {dict(weights)!r}")
        self.options = {"dt": float(dt), "radius": float(radius)}

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(n for n, w in self.weights.items() if w > 0)

    def required_fields(self) -> tuple[str, ...]:
        """Record fields the active terms read, in the record's order. A record without
        ``fingertip_vel`` must hold ``fingertip`` (the velocity is then derived)."""
        needed = {f for n in self.active for f in LOSS_TERMS[n].fields}
        order = ("fingertip", "fingertip_vel", "goal", "activation", "force", "hidden")
        return tuple(f for f in order if f in needed)

    def __call__(self, record: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        trajectory = Trajectory(record, self.options["dt"])
        terms = {n: LOSS_TERMS[n].fn(trajectory, self.options) for n in self.active}
        total = sum(self.weights[n] * v for n, v in terms.items())
        return total, terms

    def __repr__(self) -> str:
        return f"CompositeLoss({','.join(f'{n}={w:g}' for n, w in self.weights.items())}, dt={self.options['dt']:g})"
