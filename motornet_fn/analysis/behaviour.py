"""Per-trial reach kinematics from hand trajectories: speed, peak velocity, angular error, lateral
deviation, endpoint error, reaction and movement time.

Conventions (all functions):

* ``position`` is (..., T, D) with any leading batch dims: T samples ``dt`` seconds apart (sample k is
  at time ``k * dt``), positions in m, so speeds are in m/s and times in s.
* Signed planar quantities (D == 2) are positive **counter-clockwise / to the left** of the straight
  line from ``start`` to ``target``: an angular error of +0.1 rad means the hand moved 0.1 rad
  counter-clockwise of the target direction; a positive lateral deviation lies on the left of the line.
* Trials that never move (or reaches with ``start == target``) give finite values and finite
  gradients: square roots, divisions and angles use the double-``where`` pattern
  (:mod:`motornet_fn.core.math`). Angles and deviations are 0 there.
* Movement onset and end use a speed threshold per trial: ``max(fraction * peak_speed, min_speed)``
  (defaults 5 % of the peak speed, at least 0.01 m/s). A trial *moved* if its speed exceeds the
  threshold after the go cue. For trials that did not move, onset = end = the go step and reaction
  and movement times are **0 s** (a sentinel, never NaN): mask with ``moved`` before averaging
  (:func:`summarise` does).
* No Python branching on tensor values and no ``.item()``: the functions compose with ``torch.func``.
"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np
import torch

from motornet_fn.analysis.table import Table
from motornet_fn.core.math import safe_div, safe_norm

#: default onset/offset threshold as a fraction of each trial's peak speed
DEFAULT_FRACTION = 0.05
#: default absolute floor of the threshold (m/s): a trial slower than this everywhere did not move
DEFAULT_MIN_SPEED = 0.01


class MovementTiming(NamedTuple):
    """Movement onset and end of each trial.

    Attributes:
        onset_index: (...,) long, first sample at or after the go step whose speed exceeds the threshold
            (the go step where the trial did not move).
        end_index: (...,) long, first sample after the peak whose speed is back at or below the threshold
            (the last sample if the hand is still moving at the end; the go step if it never moved).
        reaction_time: (...,) s from the go step to onset; 0 where ``moved`` is False.
        movement_time: (...,) s from onset to end; 0 where ``moved`` is False.
        moved: (...,) bool, the speed exceeded the threshold after the go step.
        stopped: (...,) bool, the trial moved and its speed fell back to the threshold before the last sample.
    """

    onset_index: torch.Tensor
    end_index: torch.Tensor
    reaction_time: torch.Tensor
    movement_time: torch.Tensor
    moved: torch.Tensor
    stopped: torch.Tensor


class ReachMetrics(NamedTuple):
    """Per-trial reach metrics, every field (...,) with the trajectories' leading dims.

    Attributes:
        reaction_time: s from the go step to movement onset (0 where not ``moved``).
        movement_time: s from movement onset to movement end (0 where not ``moved``).
        peak_speed: m/s, largest speed at or after the go step.
        peak_time: s from the start of the trial to the peak speed.
        angular_error: rad, signed angle of the velocity at peak speed from the start->target
            direction (positive counter-clockwise); 0 where not ``moved`` (the direction of a
            sub-threshold jitter means nothing).
        max_lateral_deviation: m, signed perpendicular distance from the start->target line at the
            sample farthest from it (positive left of the line).
        endpoint_error: m, distance from the target at the last sample.
        path_length: m, length of the whole sampled path.
        moved: bool, the trial moved after the go step (see :class:`MovementTiming`).
        stopped: bool, the trial moved and came back to rest before the last sample.
        onset_index, peak_index, end_index: long, sample indices of onset, peak speed and end.
    """

    reaction_time: torch.Tensor
    movement_time: torch.Tensor
    peak_speed: torch.Tensor
    peak_time: torch.Tensor
    angular_error: torch.Tensor
    max_lateral_deviation: torch.Tensor
    endpoint_error: torch.Tensor
    path_length: torch.Tensor
    moved: torch.Tensor
    stopped: torch.Tensor
    onset_index: torch.Tensor
    peak_index: torch.Tensor
    end_index: torch.Tensor


#: the float metrics that :func:`summarise` averages
SUMMARY_FIELDS = ("reaction_time", "movement_time", "peak_speed", "peak_time", "angular_error",
                  "max_lateral_deviation", "endpoint_error", "path_length")
#: the unit of each metric in :data:`SUMMARY_FIELDS`
METRIC_UNITS = {"reaction_time": "s", "movement_time": "s", "peak_speed": "m/s", "peak_time": "s",
                "angular_error": "rad", "max_lateral_deviation": "m", "endpoint_error": "m", "path_length": "m"}


# ------------------------------------------------------------------------------------ validation
def _check_position(position: torch.Tensor, planar: bool = False) -> None:
    """position must be a floating (..., T >= 2, D) tensor (D == 2 when ``planar``)."""
    if not isinstance(position, torch.Tensor) or not position.is_floating_point():
        raise ValueError(f"position must be a floating-point torch tensor (..., T, D), got {type(position).__name__}"
                         + (f" of dtype {position.dtype}" if isinstance(position, torch.Tensor) else ""))
    if position.ndim < 2 or position.shape[-2] < 2:
        raise ValueError(f"position must be (..., T, D) with T >= 2 samples, got shape {tuple(position.shape)}")
    if planar and position.shape[-1] != 2:
        raise ValueError(f"position must be planar (..., T, 2) for signed angles and deviations, "
                         f"got shape {tuple(position.shape)}")


def _check_point(point: torch.Tensor, name: str, position: torch.Tensor) -> None:
    """A start/target point must be (..., D) with leading dims broadcastable against position's."""
    if not isinstance(point, torch.Tensor) or point.ndim < 1 or point.shape[-1] != position.shape[-1]:
        shape = tuple(point.shape) if isinstance(point, torch.Tensor) else type(point).__name__
        raise ValueError(f"{name} must be a tensor (..., {position.shape[-1]}) like position's last dim, got {shape}")
    _check_broadcast(f"{name} leading dims", point.shape[:-1], position)


def _check_broadcast(what: str, shape: torch.Size, position: torch.Tensor) -> None:
    """``shape`` must broadcast against position's leading dims."""
    try:
        torch.broadcast_shapes(shape, position.shape[:-2])
    except RuntimeError:
        raise ValueError(f"{what} {tuple(shape)} do not broadcast against position's leading dims "
                         f"{tuple(position.shape[:-2])}") from None


def _check_reach(position: torch.Tensor, start: torch.Tensor, target: torch.Tensor) -> None:
    """Planar position (..., T, 2) with start and target (..., 2)."""
    _check_position(position, planar=True)
    _check_point(start, "start", position)
    _check_point(target, "target", position)


def _check_dt(dt: Any) -> None:
    """dt must be a positive Python number (s)."""
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not dt > 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")


def _is_concrete(t: torch.Tensor) -> bool:
    """Whether t holds values (not a tensor traced by torch.func or torch.compile)."""
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", lambda _: False)
    return not wrapped(t) and not torch.compiler.is_compiling()


def _go_tensor(go_step: Any, position: torch.Tensor) -> torch.Tensor:
    """go_step as a long tensor broadcastable to position's leading dims; 0 when None.

    Raises:
        ValueError: not an integer / integer tensor, leading dims that do not broadcast, or a value
            outside [0, T - 1] (checked whenever the values are known, i.e. outside transforms).
    """
    n = position.shape[-2]
    if go_step is None:
        return torch.zeros((), dtype=torch.long, device=position.device)
    if isinstance(go_step, bool) or not isinstance(go_step, (numbers.Integral, torch.Tensor, np.ndarray, list, tuple)):
        raise ValueError(f"go_step must be an int or an integer tensor (...,) of sample indices, got {go_step!r}")
    go = torch.as_tensor(go_step, device=position.device)
    if go.dtype.is_floating_point or go.dtype.is_complex or go.dtype == torch.bool:
        raise ValueError(f"go_step must hold integer sample indices, got dtype {go.dtype}")
    _check_broadcast("go_step dims", go.shape, position)
    if _is_concrete(go) and bool(((go < 0) | (go >= n)).any()):
        raise ValueError(f"go_step must lie in [0, {n - 1}] (the position samples), got values "
                         f"{go.min().tolist()}..{go.max().tolist()}")
    return go.long()


def _check_threshold(fraction: Any, min_speed: Any) -> None:
    """fraction in (0, 1), min_speed >= 0 (m/s)."""
    if not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise ValueError(f"fraction must be a number in (0, 1) (of the peak speed), got {fraction!r}")
    if not isinstance(min_speed, numbers.Real) or not min_speed >= 0:
        raise ValueError(f"min_speed must be a number >= 0 (m/s), got {min_speed!r}")


# ------------------------------------------------------------------------------------ helpers
def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[..., index, :] for x (..., T, D) and index (...,) (leading dims broadcast) -> (..., D)."""
    lead = torch.broadcast_shapes(x.shape[:-2], index.shape)
    index = index.expand(lead)[..., None, None].expand(*lead, 1, x.shape[-1])
    return torch.gather(x.expand(*lead, *x.shape[-2:]), -2, index)[..., 0, :]


def _first(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the first True along the last dim (0 if none), whether there is one)."""
    return torch.argmax(mask.to(torch.uint8), dim=-1), mask.any(dim=-1)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """z component of the planar cross product a x b; > 0 when b is counter-clockwise of a."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _signed_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle (rad, in (-pi, pi]) from a to b, positive counter-clockwise; 0 (finite gradient) if either is 0."""
    y, x = _cross(a, b), torch.sum(a * b, dim=-1)
    ok = (y != 0) | (x != 0)
    return torch.where(ok, torch.atan2(torch.where(ok, y, 0.0), torch.where(ok, x, 1.0)), 0.0)


def _after_go(values: torch.Tensor, go: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """values (..., T) with samples before the go step replaced by ``fill``."""
    samples = torch.arange(values.shape[-1], device=values.device)
    return torch.where(samples >= go[..., None], values, fill)


def _peak(speed_: torch.Tensor, go: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(peak speed, its sample index) at or after the go step."""
    after = _after_go(speed_, go)
    return after.amax(dim=-1), after.argmax(dim=-1)


def _timing(speed_: torch.Tensor, dt: float, go: torch.Tensor, fraction: float, min_speed: float) -> MovementTiming:
    """:class:`MovementTiming` from speed (..., T); see :func:`movement_timing`."""
    peak, peak_index = _peak(speed_, go)
    threshold = torch.clamp(fraction * peak.detach(), min=min_speed)[..., None]
    samples = torch.arange(speed_.shape[-1], device=speed_.device)
    onset, moved = _first((speed_ > threshold) & (samples >= go[..., None]))
    end, stopped = _first((speed_ <= threshold) & (samples > peak_index[..., None]))
    stopped = stopped & moved
    go = go.expand(onset.shape)
    onset = torch.where(moved, onset, go)
    end = torch.where(stopped, end, torch.where(moved, speed_.shape[-1] - 1, go))
    seconds = lambda steps: torch.where(moved, steps.to(speed_.dtype) * dt, 0.0)  # noqa: E731
    return MovementTiming(onset, end, seconds(onset - go), seconds(end - onset), moved, stopped)


# ------------------------------------------------------------------------------------ kinematics
def velocity(position: torch.Tensor, dt: float) -> torch.Tensor:
    """Velocity by finite differences: central inside, one-sided at the first and last sample.

    Args:
        position: (..., T, D) positions (m), T >= 2.
        dt: sample interval (s).

    Returns:
        (..., T, D) velocity (m/s).
    """
    _check_position(position)
    _check_dt(dt)
    inner = (position[..., 2:, :] - position[..., :-2, :]) / (2 * dt)
    first = (position[..., 1:2, :] - position[..., :1, :]) / dt
    last = (position[..., -1:, :] - position[..., -2:-1, :]) / dt
    return torch.cat([first, inner, last] if position.shape[-2] > 2 else [first, last], dim=-2)


def speed(position: torch.Tensor, dt: float) -> torch.Tensor:
    """Speed ``|velocity|`` (m/s), (..., T, D) -> (..., T); zero gradient (not NaN) where the hand is still."""
    return safe_norm(velocity(position, dt))


def peak_speed(position: torch.Tensor, dt: float, go_step: Any = None) -> torch.Tensor:
    """Largest speed (m/s) at or after ``go_step`` (a sample index, int or (...,) tensor; default 0). -> (...,)"""
    return _peak(speed(position, dt), _go_tensor(go_step, position))[0]


def peak_velocity_index(position: torch.Tensor, dt: float, go_step: Any = None) -> torch.Tensor:
    """Sample index (long, (...,)) of the peak speed at or after ``go_step``; the first such sample on ties."""
    return _peak(speed(position, dt), _go_tensor(go_step, position))[1]


def angular_error_at_peak_velocity(position: torch.Tensor, start: torch.Tensor, target: torch.Tensor, dt: float,
                                   go_step: Any = None) -> torch.Tensor:
    """Signed angle between the velocity at peak speed and the straight start->target direction.

    Args:
        position: (..., T, 2) hand positions (m).
        start, target: (..., 2) start and target positions (m).
        dt: sample interval (s).
        go_step: the peak is searched at or after this sample (int or (...,) long tensor; default 0).

    Returns:
        (...,) angle in rad, in (-pi, pi], positive when the velocity points counter-clockwise of the
        target direction; 0 for trials that never move or whose start equals the target.
    """
    _check_reach(position, start, target)
    vel = velocity(position, dt)
    index = _peak(safe_norm(vel), _go_tensor(go_step, position))[1]
    return _signed_angle(target - start, _take(vel, index))


def lateral_deviation(position: torch.Tensor, start: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Signed perpendicular distance of every sample from the straight start->target line.

    Args:
        position: (..., T, 2) hand positions (m).
        start, target: (..., 2) positions (m).

    Returns:
        (..., T) distance in m, positive on the left of the line (counter-clockwise side); 0 where
        ``start == target``.
    """
    _check_reach(position, start, target)
    direction = (target - start)[..., None, :]
    return safe_div(_cross(direction, position - start[..., None, :]), safe_norm(direction))


def max_lateral_deviation(position: torch.Tensor, start: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Signed lateral deviation (m) at the sample farthest from the start->target line, (...,).

    The sign says on which side the path bulges (positive: left / counter-clockwise side).
    """
    deviation = lateral_deviation(position, start, target)
    return torch.gather(deviation, -1, deviation.abs().argmax(dim=-1, keepdim=True))[..., 0]


def endpoint_error(position: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distance (m) between the last sample and the target: (..., T, D), (..., D) -> (...,)."""
    _check_position(position)
    _check_point(target, "target", position)
    return safe_norm(position[..., -1, :] - target)


def path_length(position: torch.Tensor) -> torch.Tensor:
    """Length (m) of the polyline through the samples: (..., T, D) -> (...,)."""
    _check_position(position)
    return safe_norm(position[..., 1:, :] - position[..., :-1, :]).sum(dim=-1)


def movement_timing(position: torch.Tensor, dt: float, go_step: Any = None, fraction: float = DEFAULT_FRACTION,
                    min_speed: float = DEFAULT_MIN_SPEED) -> MovementTiming:
    """Movement onset and end from a speed threshold ``max(fraction * peak_speed, min_speed)``.

    Onset is the first sample at or after ``go_step`` whose speed exceeds the threshold; the end is
    the first sample after the peak whose speed is back at or below it. See :class:`MovementTiming`
    for the sentinels of trials that never move or never stop.

    Args:
        position: (..., T, D) positions (m).
        dt: sample interval (s).
        go_step: sample index of the go cue (int or (...,) long tensor); default 0 (reaction times
            then count from the start of the trial).
        fraction: threshold as a fraction of each trial's peak speed, in (0, 1).
        min_speed: absolute floor of the threshold (m/s), >= 0.
    """
    _check_threshold(fraction, min_speed)
    return _timing(speed(position, dt), dt, _go_tensor(go_step, position), fraction, min_speed)


def reaction_time(position: torch.Tensor, dt: float, go_step: Any = None, fraction: float = DEFAULT_FRACTION,
                  min_speed: float = DEFAULT_MIN_SPEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(reaction time (...,) s from the go step to movement onset, moved (...,) bool); the time is
    0 where ``moved`` is False. Arguments as :func:`movement_timing`."""
    timing = movement_timing(position, dt, go_step, fraction, min_speed)
    return timing.reaction_time, timing.moved


def movement_time(position: torch.Tensor, dt: float, go_step: Any = None, fraction: float = DEFAULT_FRACTION,
                  min_speed: float = DEFAULT_MIN_SPEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(movement time (...,) s from onset to end, moved (...,) bool); the time is 0 where ``moved``
    is False and runs to the last sample where the hand never stops. Arguments as :func:`movement_timing`."""
    timing = movement_timing(position, dt, go_step, fraction, min_speed)
    return timing.movement_time, timing.moved


# ------------------------------------------------------------------------------------ all metrics
def reach_metrics(position: torch.Tensor, start: torch.Tensor, target: torch.Tensor, dt: float, go_step: Any = None,
                  fraction: float = DEFAULT_FRACTION, min_speed: float = DEFAULT_MIN_SPEED) -> ReachMetrics:
    """Every per-trial reach metric in one pass (velocity computed once).

    Args:
        position: (..., T, 2) hand positions (m), samples ``dt`` s apart.
        start, target: (..., 2) start and target positions (m).
        dt: sample interval (s).
        go_step: sample index of the go cue (int or (...,) long tensor); speed-based metrics (peak,
            angular error, onset, end) only look at samples from it on. Default 0.
        fraction, min_speed: the onset/end threshold, ``max(fraction * peak_speed, min_speed)``.

    Returns:
        :class:`ReachMetrics` of (...,) tensors.
    """
    _check_reach(position, start, target)
    _check_threshold(fraction, min_speed)
    go = _go_tensor(go_step, position)
    vel = velocity(position, dt)
    speed_ = safe_norm(vel)
    peak, peak_index = _peak(speed_, go)
    timing = _timing(speed_, dt, go, fraction, min_speed)
    return ReachMetrics(
        reaction_time=timing.reaction_time,
        movement_time=timing.movement_time,
        peak_speed=peak,
        peak_time=peak_index.to(speed_.dtype) * dt,
        angular_error=torch.where(timing.moved, _signed_angle(target - start, _take(vel, peak_index)), 0.0),
        max_lateral_deviation=max_lateral_deviation(position, start, target),
        endpoint_error=endpoint_error(position, target),
        path_length=path_length(position),
        moved=timing.moved,
        stopped=timing.stopped,
        onset_index=timing.onset_index,
        peak_index=peak_index,
        end_index=timing.end_index,
    )


def metrics_from_trace(trace: Any, dt: float, go_step: Any = None, **threshold: float) -> ReachMetrics:
    """:func:`reach_metrics` of an episode record (any object with ``fingertip`` and ``goal`` fields,
    e.g. :class:`motornet_fn.core.engine.Trace`).

    The start is the first fingertip sample and the target the last desired position:
    ``start = trace.fingertip[..., 0, :]``, ``target = trace.goal[..., -1, :]``.

    Args:
        trace: fingertip (..., T+1, 2) m and goal (..., T+1, 2) m.
        dt: the episode's time step (s).
        go_step, threshold: as :func:`reach_metrics` (``fraction=``, ``min_speed=``).

    Raises:
        ValueError: the trace has no fingertip or goal record.
    """
    for name in ("fingertip", "goal"):
        if getattr(trace, name, None) is None:
            raise ValueError(f"trace.{name} is missing: record it in the episode to compute reach metrics")
    position = trace.fingertip
    return reach_metrics(position, position[..., 0, :], trace.goal[..., -1, :], dt, go_step, **threshold)


# ------------------------------------------------------------------------------------ tables
def metrics_table(metrics: ReachMetrics, **labels: Any) -> Table:
    """One row per trial: a ``trial`` column (flat index over the leading dims), the labels, then
    every :class:`ReachMetrics` field.

    Args:
        metrics: per-trial metrics with leading dims (...,).
        **labels: per-trial labels (e.g. ``target=target_index``, ``condition=["curl"] * B``),
            arrays broadcastable to the metrics' leading dims.

    Raises:
        ValueError: a label clashes with a metric name or does not broadcast to the trials.
    """
    batch = tuple(metrics.peak_speed.shape)
    columns = {"trial": np.arange(int(np.prod(batch, dtype=np.int64)))}
    for name, values in labels.items():
        if name in ReachMetrics._fields or name == "trial":
            raise ValueError(f"label {name!r} clashes with a metrics column; rename it")
        values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        try:
            columns[name] = np.broadcast_to(values, batch).reshape(-1)
        except ValueError:
            raise ValueError(f"label {name!r} has shape {values.shape}, which does not broadcast to the "
                             f"trials' shape {batch}") from None
    for name, value in zip(ReachMetrics._fields, metrics):
        columns[name] = value.detach().cpu().numpy().reshape(-1)
    return Table(columns)


def summarise(metrics: ReachMetrics, groups: dict[str, Any] | None = None, only_moved: bool = True) -> Table:
    """Per-group mean and std of the reach metrics (e.g. per target and condition).

    Args:
        metrics: per-trial metrics with leading dims (...,).
        groups: label name -> per-trial labels broadcastable to (...,), e.g.
            ``{"target": target_index, "condition": condition}``; empty or None: one row for all trials.
        only_moved: average only trials that moved (their timing metrics are 0-s sentinels otherwise).

    Returns:
        :class:`Table` with one row per group (sorted by the labels): the labels, ``n_trials``,
        ``fraction_moved``, ``n`` (trials averaged) and ``<metric>_mean`` / ``<metric>_std`` (sample
        std) for every metric in :data:`SUMMARY_FIELDS`. Groups where no trial moved have NaN
        means (with ``only_moved``).
    """
    groups = dict(groups or {})
    trials = metrics_table(metrics, **groups)
    by = list(groups)
    counts = trials.group_mean(by, columns=["moved"])
    stats = trials.group_mean(by, columns=SUMMARY_FIELDS, where="moved" if only_moved else None)
    columns = {name: stats[name] for name in by}
    columns.update(n_trials=counts["n"], fraction_moved=counts["moved_mean"])
    columns.update({name: stats[name] for name in stats.columns if name not in by})
    return Table(columns)


__all__ = [
    "DEFAULT_FRACTION", "DEFAULT_MIN_SPEED", "METRIC_UNITS", "MovementTiming", "ReachMetrics", "SUMMARY_FIELDS",
    "velocity", "speed",
    "peak_speed", "peak_velocity_index", "angular_error_at_peak_velocity", "lateral_deviation",
    "max_lateral_deviation", "endpoint_error", "path_length", "movement_timing", "reaction_time", "movement_time",
    "reach_metrics", "metrics_from_trace", "metrics_table", "summarise",
]
