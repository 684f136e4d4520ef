"""Report figures of reaching behaviour and network activity (matplotlib, Agg backend: no display).

Every function draws into ``out``: a file path (the figure is saved there, closed, and the path
returned) or a matplotlib ``Axes`` (drawn into, not saved; the Axes is returned). Tensors or numpy
arrays are accepted. Every axis is labelled with its unit and every marker explained in a legend.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from motornet_fn.analysis.behaviour import ReachMetrics, speed  # noqa: E402
from motornet_fn.analysis.population import FixedPoints, PCAResult  # noqa: E402

Out = Union[str, Path, Axes]

START = dict(marker="o", ms=5, ls="none")
END = dict(marker="s", ms=4, ls="none")
TARGET = dict(marker="o", ms=13, ls="none", mfc="none", mew=1.5)


def _numpy(x: Any) -> np.ndarray:
    """A tensor or array-like as a numpy array."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _canvas(out: Out, figsize: tuple[float, float]) -> tuple[plt.Figure, Axes]:
    """The Axes given as ``out``, or a new figure for a path."""
    if isinstance(out, Axes):
        return out.figure, out
    if not isinstance(out, (str, Path)):
        raise ValueError(f"out must be a file path or a matplotlib Axes, got {type(out).__name__}")
    return plt.subplots(figsize=figsize)


def _finish(fig: plt.Figure, ax: Axes, out: Out) -> Path | Axes:
    """Save and close the figure if ``out`` is a path (returned), else return the Axes."""
    if isinstance(out, Axes):
        return ax
    fig.savefig(out, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Path(out)


def _check(name: str, array: np.ndarray, ndim: int, last: int | None, shape: str) -> None:
    """array must have ``ndim`` dims (and last dim ``last``); ``shape`` describes it in the error."""
    if array.ndim != ndim or (last is not None and array.shape[-1] != last):
        raise ValueError(f"{name} must be {shape}, got shape {array.shape}")


def _groups(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray, list]:
    """(distinct labels, group index per trial, one colour per group); every trial its own group if None."""
    labels = np.arange(n) if labels is None else _numpy(labels).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"labels must hold one label per trial ({n}), got {len(labels)}")
    distinct, index = np.unique(labels, return_inverse=True)
    cmap = plt.get_cmap("tab10" if len(distinct) <= 10 else "viridis")
    colours = [cmap(k if len(distinct) <= 10 else k / max(len(distinct) - 1, 1)) for k in range(len(distinct))]
    return distinct, index.reshape(-1), colours


def _legend(ax: Axes, handles: list, title: str | None = None) -> None:
    """Legend outside the axes, on the right, so it never hides data."""
    ax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
              fontsize=8, title_fontsize=8)


def _group_handles(distinct: np.ndarray, colours: list, name: str, **style) -> list:
    """One legend line per group colour."""
    return [Line2D([], [], color=c, label=f"{name} {d}", **style) for d, c in zip(distinct, colours)]


def _marker_handles(*entries: tuple[str, dict]) -> list:
    """Grey legend entries explaining marker styles."""
    return [Line2D([], [], color="0.3", label=label, **style) for label, style in entries]


def _draw_paths(ax: Axes, xy: np.ndarray, index: np.ndarray, colours: list, **line) -> None:
    """(K, T, 2) paths in their group colours with start and end markers."""
    for path, k in zip(xy, index):
        ax.plot(path[:, 0], path[:, 1], color=colours[k], lw=1.2, **line)
        ax.plot(*path[0], color=colours[k], **START)
        ax.plot(*path[-1], color=colours[k], **END)


def _draw_targets(ax: Axes, target: np.ndarray, index: np.ndarray, colours: list) -> None:
    """One target marker per group."""
    for k in np.unique(index):
        ax.plot(*target[index == k][0], color=colours[k], **TARGET)


def _planar_axes(ax: Axes, title: str) -> None:
    """Equal-aspect hand x / y axes in m."""
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("hand x (m)")
    ax.set_ylabel("hand y (m)")
    ax.set_title(title)


def plot_hand_paths(position: Any, target: Any, out: Out, labels: Any = None, title: str = "Hand paths") -> Path | Axes:
    """Hand paths coloured by target, with start, end and target markers.

    Args:
        position: (K, T, 2) hand positions (m).
        target: (K, 2) target positions (m).
        out: file path or Axes.
        labels: (K,) target label per trial (colours); default: one group per distinct target position.
        title: axes title.
    """
    xy, target = _numpy(position), _numpy(target)
    _check("position", xy, 3, 2, "(K, T, 2) in m")
    _check("target", target, 2, 2, "(K, 2) in m")
    if labels is None:
        labels = np.unique(target.round(9), axis=0, return_inverse=True)[1].reshape(-1)
    distinct, index, colours = _groups(labels, len(xy))
    fig, ax = _canvas(out, (6.0, 4.5))
    _draw_paths(ax, xy, index, colours)
    _draw_targets(ax, target, index, colours)
    _planar_axes(ax, title)
    _legend(ax, _marker_handles(("start (first sample)", START), ("end (last sample)", END), ("target", TARGET))
            + _group_handles(distinct, colours, "path to target", lw=1.5), title="markers (colour = target)")
    return _finish(fig, ax, out)


def plot_speed_profiles(position: Any, dt: float, out: Out, labels: Any = None, metrics: ReachMetrics | None = None,
                        title: str = "Hand speed") -> Path | Axes:
    """Hand speed against time, one line per trial coloured by target; optional onset/peak/end markers.

    Args:
        position: (K, T, 2) hand positions (m), samples ``dt`` s apart.
        dt: sample interval (s).
        out: file path or Axes.
        labels: (K,) target label per trial (colours).
        metrics: :class:`ReachMetrics` of these trials: marks movement onset, peak speed and end
            (trials that did not move are not marked).
    """
    xy = _numpy(position)
    _check("position", xy, 3, 2, "(K, T, 2) in m")
    v = _numpy(speed(torch.as_tensor(xy), dt))
    t = np.arange(xy.shape[1]) * dt
    distinct, index, colours = _groups(labels, len(xy))
    fig, ax = _canvas(out, (6.5, 3.5))
    for profile, k in zip(v, index):
        ax.plot(t, profile, color=colours[k], lw=1.0)
    handles = _group_handles(distinct, colours, "target", lw=1.5)
    if metrics is not None:
        marks = (("onset_index", "movement onset (threshold crossed)", dict(marker="^", ms=6, ls="none")),
                 ("peak_index", "peak speed", dict(marker="*", ms=8, ls="none")),
                 ("end_index", "movement end (back below threshold)", dict(marker="v", ms=6, ls="none")))
        moved = _numpy(metrics.moved).reshape(-1)
        for field, _, style in marks:
            steps = _numpy(getattr(metrics, field)).reshape(-1)
            for trial in np.nonzero(moved)[0]:
                ax.plot(t[steps[trial]], v[trial, steps[trial]], color=colours[index[trial]], mec="k", mew=0.5, **style)
        handles = _marker_handles(*((label, style) for _, label, style in marks)) + handles
    ax.set_xlabel("time (s)")
    ax.set_ylabel("hand speed (m/s)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    _legend(ax, handles)
    return _finish(fig, ax, out)


def plot_muscle_activations(activation: Any, dt: float, out: Out, muscle_names: Sequence[str] | None = None,
                            title: str = "Muscle activation") -> Path | Axes:
    """Activation of every muscle against time: the mean over trials, with a +-1 SD band for K > 1 trials.

    Args:
        activation: (T, M) or (K, T, M) muscle activations (normalised, 0-1).
        dt: sample interval (s).
        out: file path or Axes.
        muscle_names: M names for the legend (default "muscle 0", ...).
    """
    a = _numpy(activation)
    if a.ndim == 2:
        a = a[None]
    _check("activation", a, 3, None, "(T, M) or (K, T, M)")
    names = [f"muscle {m}" for m in range(a.shape[-1])] if muscle_names is None else list(muscle_names)
    if len(names) != a.shape[-1]:
        raise ValueError(f"muscle_names must name the {a.shape[-1]} muscles, got {len(names)}")
    t = np.arange(a.shape[1]) * dt
    fig, ax = _canvas(out, (6.5, 3.5))
    colours = plt.get_cmap("tab10")
    mean, sd = a.mean(0), a.std(0)
    for m, name in enumerate(names):
        ax.plot(t, mean[:, m], color=colours(m % 10), lw=1.5, label=name)
        if len(a) > 1:
            ax.fill_between(t, mean[:, m] - sd[:, m], mean[:, m] + sd[:, m], color=colours(m % 10), alpha=0.2, lw=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("activation (normalised, 0-1)")
    ax.set_title(title + (f" (mean and +-1 SD over {len(a)} trials)" if len(a) > 1 else ""))
    _legend(ax, ax.get_lines())
    return _finish(fig, ax, out)


def plot_pca_trajectories(result: PCAResult, out: Out, labels: Any = None, components: tuple[int, int] = (0, 1),
                          title: str = "Population trajectories") -> Path | Axes:
    """Trajectories in the plane of two principal components, coloured by target.

    Args:
        result: :class:`PCAResult` whose ``scores`` are (K, T, k) (trials or conditions).
        out: file path or Axes.
        labels: (K,) target label per trajectory; default ``result.conditions`` or one per trajectory.
        components: the two PCs to plot (0-based).
    """
    scores = _numpy(result.scores)
    ratio = _numpy(result.explained_variance_ratio)
    _check("result.scores", scores, 3, None, "(K, T, k)")
    i, j = components
    if not (0 <= i < scores.shape[-1] and 0 <= j < scores.shape[-1]):
        raise ValueError(f"components must index the {scores.shape[-1]} PCs, got {components}")
    if labels is None and result.conditions is not None:
        labels = result.conditions
    distinct, index, colours = _groups(labels, len(scores))
    fig, ax = _canvas(out, (6.0, 4.5))
    _draw_paths(ax, scores[..., [i, j]], index, colours)
    ax.set_xlabel(f"PC{i + 1} score (a.u.; {100 * ratio[i]:.1f}% var)")
    ax.set_ylabel(f"PC{j + 1} score (a.u.; {100 * ratio[j]:.1f}% var)")
    ax.set_title(title)
    _legend(ax, _marker_handles(("start (first sample)", START), ("end (last sample)", END))
            + _group_handles(distinct, colours, "target", lw=1.5), title="markers (colour = target)")
    return _finish(fig, ax, out)


def plot_eigenvalues(eigenvalues: Any, out: Out, title: str = "Jacobian eigenvalues at fixed points") -> Path | Axes:
    """Eigenvalues of the recurrent Jacobian in the complex plane, with the unit circle ``|lambda| = 1``.

    Args:
        eigenvalues: (K, H) or (H,) complex eigenvalues of a discrete map, or :class:`FixedPoints`
            (its distinct fixed points are plotted).
        out: file path or Axes.
    """
    if isinstance(eigenvalues, FixedPoints):
        keep = eigenvalues.unique[eigenvalues.is_fixed[eigenvalues.unique]]
        eigenvalues = eigenvalues.eigenvalues[keep]
    lam = _numpy(eigenvalues).reshape(-1)
    fig, ax = _canvas(out, (5.5, 4.5))
    theta = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(theta), np.sin(theta), "k--", lw=0.8, label="unit circle |λ| = 1")
    inside = np.abs(lam) < 1
    ax.plot(lam.real[inside], lam.imag[inside], "o", ms=5, color="tab:blue", alpha=0.8,
            label="|λ| < 1: decaying mode")
    ax.plot(lam.real[~inside], lam.imag[~inside], "x", ms=7, mew=1.5, color="tab:red",
            label="|λ| ≥ 1: growing / marginal mode")
    ax.axhline(0, color="0.8", lw=0.5, zorder=0)
    ax.axvline(0, color="0.8", lw=0.5, zorder=0)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re(λ) (dimensionless, per step)")
    ax.set_ylabel("Im(λ) (dimensionless, per step)")
    ax.set_title(title)
    _legend(ax, ax.get_lines()[:3])
    return _finish(fig, ax, out)


def plot_perturbed_paths(unperturbed: Any, perturbed: Any, target: Any, out: Out, labels: Any = None,
                         perturbation_step: int | None = None, title: str = "Perturbed vs unperturbed reaches"
                         ) -> Path | Axes:
    """Unperturbed (solid) and perturbed (dashed) hand paths, coloured by target.

    Args:
        unperturbed, perturbed: (K, T, 2) hand positions (m) of the same trials.
        target: (K, 2) target positions (m).
        out: file path or Axes.
        labels: (K,) target label per trial (colours).
        perturbation_step: sample index where the perturbation starts (marked on the perturbed paths).
    """
    base, pert, target = _numpy(unperturbed), _numpy(perturbed), _numpy(target)
    _check("unperturbed", base, 3, 2, "(K, T, 2) in m")
    _check("perturbed", pert, 3, 2, f"(K, T, 2) in m like unperturbed {base.shape}")
    _check("target", target, 2, 2, "(K, 2) in m")
    if pert.shape[0] != base.shape[0]:
        raise ValueError(f"perturbed must hold the same {base.shape[0]} trials as unperturbed, got {pert.shape[0]}")
    distinct, index, colours = _groups(labels, len(base))
    fig, ax = _canvas(out, (6.0, 4.5))
    _draw_paths(ax, base, index, colours)
    _draw_paths(ax, pert, index, colours, ls="--")
    _draw_targets(ax, target, index, colours)
    onset = dict(marker="D", ms=5, ls="none", mec="k")
    handles = [Line2D([], [], color="0.3", lw=1.2, label="unperturbed"),
               Line2D([], [], color="0.3", lw=1.2, ls="--", label="perturbed")]
    handles += _marker_handles(("start (first sample)", START), ("end (last sample)", END), ("target", TARGET))
    if perturbation_step is not None:
        if not 0 <= perturbation_step < pert.shape[1]:
            raise ValueError(f"perturbation_step must be a sample index in [0, {pert.shape[1] - 1}], "
                             f"got {perturbation_step}")
        for path, k in zip(pert, index):
            ax.plot(*path[perturbation_step], color=colours[k], **onset)
        handles += _marker_handles(("perturbation onset", onset))
    _planar_axes(ax, title)
    _legend(ax, handles + _group_handles(distinct, colours, "target", lw=1.5), title="lines and markers")
    return _finish(fig, ax, out)


__all__ = ["plot_hand_paths", "plot_speed_profiles", "plot_muscle_activations", "plot_pca_trajectories",
           "plot_eigenvalues", "plot_perturbed_paths"]
