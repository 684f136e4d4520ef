"""Plots of trajectories (MotorNet's ``plotor``): colour encodes time, dark early, bright late."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection


class PlotInputError(ValueError, AssertionError):
    """Bad plotting input. Also an AssertionError, which MotorNet raised for the same input."""


def compute_limits(data: np.ndarray, margin: float = 0.1) -> tuple[float, float]:
    """Axis limits covering ``data`` plus ``margin`` times its range on each side.

    Args:
        data: values to show.
        margin: fraction of the data range added below and above (0.2 on data in [0, 10] gives
            (-2, 12)).

    Returns:
        (lower, upper).
    """
    data = np.asarray(data)
    pad = np.ptp(data) * margin
    return np.min(data) - pad, np.max(data) + pad


def _add_time_coloured_lines(axis, segments: np.ndarray, times: np.ndarray, n_colours: int, cmap="viridis",
                             linewidth: float = 1) -> LineCollection:
    """Draw (n_lines, 2, dim) segments coloured by their time index ``times`` (n_lines,), with a
    'timestep' colorbar spanning [0, n_colours]."""
    lines = LineCollection(segments, cmap=cmap, norm=plt.Normalize(0, n_colours))
    lines.set_array(np.asarray(times))
    lines.set_linewidth(linewidth)
    axis.add_collection(lines)
    colorbar = axis.get_figure().colorbar(lines, ax=axis)
    colorbar.set_label("timestep")
    return lines


def plot_pos_over_time(cart_results: np.ndarray, axis, cmap="viridis") -> None:
    """Plot trajectories with colour running from dark (early) to bright (late).

    Args:
        cart_results: (batch, n_timesteps, space_dim) positions.
        axis: matplotlib axis.
        cmap: matplotlib colormap.
    """
    results = np.asarray(cart_results)
    batch, n_timesteps = results.shape[:2]
    segments = np.stack([results[:, :-1], results[:, 1:]], axis=2).reshape(-1, 2, results.shape[-1])
    _add_time_coloured_lines(axis, segments, np.tile(np.arange(n_timesteps - 1), batch), n_timesteps - 1, cmap=cmap)
    axis.set_xlabel("cartesian x")
    axis.set_ylabel("cartesian y")
    axis.set_aspect("equal", adjustable="box")
    axis.margins(0.05)


def plot_2dof_arm_over_time(axis, arm, joint_state: np.ndarray, cmap: str = "viridis", linewidth: int = 1) -> None:
    """Draw a two-link arm at every time step, dark (early) to bright (late).

    Args:
        axis: matplotlib axis.
        arm: a :class:`motornet_fn.skeleton.TwoDofArm` (its ``L1`` and ``L2`` are used).
        joint_state: (1, n_timesteps, 2 * dof) joint states of one simulation.
        cmap: matplotlib colormap.
        linewidth: line width.

    Raises:
        PlotInputError: more than one simulation in ``joint_state``.
    """
    joint_state = np.asarray(joint_state)
    if joint_state.shape[0] != 1:
        raise PlotInputError(
            f"joint_state must hold one simulation, shape (1, n_timesteps, 4); got {joint_state.shape}")
    n_timesteps = joint_state.shape[1]
    shoulder, elbow = joint_state[0, :, 0], joint_state[0, :, 1]
    elbow_xy = np.stack([arm.L1 * np.cos(shoulder), arm.L1 * np.sin(shoulder)], axis=-1)
    hand_xy = elbow_xy + np.stack([arm.L2 * np.cos(shoulder + elbow), arm.L2 * np.sin(shoulder + elbow)], axis=-1)
    upper_arm = np.stack([np.zeros_like(elbow_xy), elbow_xy], axis=1)
    forearm = np.stack([elbow_xy, hand_xy], axis=1)
    segments = np.concatenate([upper_arm, forearm], axis=0)  # (2 * n_timesteps, 2, 2)
    _add_time_coloured_lines(axis, segments, np.tile(np.arange(n_timesteps), 2), n_timesteps, cmap=cmap,
                             linewidth=linewidth)
    axis.set_xlim(compute_limits(segments[:, :, 0]))
    axis.set_ylim(compute_limits(segments[:, :, 1]))
    axis.set_xlabel("cartesian x")
    axis.set_ylabel("cartesian y")
    axis.set_aspect("equal", adjustable="box")


__all__ = ["compute_limits", "plot_pos_over_time", "plot_2dof_arm_over_time"]
