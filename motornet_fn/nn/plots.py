"""Figures of a run: loss curve and reaching trajectories.

Each function draws into a given matplotlib ``Axes`` or into a new ``Figure`` (no pyplot, no display
needed), saves it when given a path, and returns the Figure so that callers and tests can inspect it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from motornet_fn.core.engine import Trace

#: y-axis label of each training loss: its name and unit.
LOSS_LABELS = {
    "l1_position": "L1 position loss (m)",
    "l2_position": "L2 position loss (m²)",
    "clipped_position": "L1 position loss beyond the target radius (m)",
}


def loss_label(config) -> str:
    """The name and unit of a :class:`~motornet_fn.nn.train.TrainConfig`'s loss, with its regularisers."""
    label = LOSS_LABELS.get(config.loss, config.loss)
    terms = [f"{w:g} × {name}" for w, name in ((config.activation_weight, "activation L2"),
                                               (config.hidden_weight, "hidden L2")) if w]
    return " + ".join([label, *terms])


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` entries along axis 0 (fewer at the start)."""
    sums = np.cumsum(np.concatenate([np.zeros((1, *values.shape[1:])), values]), axis=0)
    i = np.arange(1, len(values) + 1)
    lo = np.maximum(0, i - window)
    return (sums[i] - sums[lo]) / (i - lo).reshape(-1, *[1] * (values.ndim - 1))


def _figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots()


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_losses(loss_log: list, path: str | Path | None = None, title: str = "", label: str = "loss",
                window: int | None = None, ax: Axes | None = None) -> Figure:
    """Per-batch loss (thin) and its running mean (thick) on a log axis with plain-number ticks.

    Args:
        loss_log: (n_batches, K) losses of K ensemble members, as in ``TrainLog.loss``.
        path: where to save the figure (PNG by its suffix); not saved if None.
        title: axes title.
        label: y-axis label: the loss's name and unit (see :func:`loss_label`).
        window: batches in the running mean (default: a tenth of the batches, 1 to 50).
        ax: draw into this Axes instead of a new Figure.
    """
    losses = np.asarray(loss_log, dtype=float).reshape(len(loss_log), -1) if len(loss_log) else np.ones((0, 1))
    n, k = losses.shape
    window = window or int(np.clip(n // 10, 1, 50))
    fig, ax = _figure(ax, (6, 4))
    batches = np.arange(1, n + 1)
    if k > 1:
        ax.plot(batches, losses, lw=0.6, alpha=0.35)
        ax.plot([], [], lw=0.6, color="0.5", label=f"each of the {k} members, per batch")
    elif window > 1:
        ax.plot(batches, losses[:, 0], lw=0.6, color="0.6", label="per batch")
    mean = f"mean of the {k} members" if k > 1 else "loss"
    mean += f", running mean over {window} batches" if window > 1 else (", per batch" if k > 1 else " per batch")
    ax.plot(batches, running_mean(losses.mean(axis=1), window), lw=1.8, color="k", label=mean)
    ax.set_yscale("log")
    finite = losses[np.isfinite(losses) & (losses > 0)]
    decades = np.log10(finite.max() / finite.min()) if finite.size else 0.0
    # under a decade, log ticks 1-2-5 would leave one label or none: tick plain numbers instead
    ax.yaxis.set_major_locator(MaxNLocator(6) if decades < 1 else LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("batch")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False, fontsize="small")
    return _finish(fig, path)


def plot_trajectories(trace: Trace, path: str | Path | None = None, n: int = 8, title: str = "",
                      ax: Axes | None = None) -> Figure:
    """Fingertip paths of the first ``n`` trials, each in its own colour: start (dot), end (square)
    and target (cross), explained in a legend.

    Args:
        trace: an evaluation episode (``fingertip`` and ``goal`` of shape (B, T+1, 2), m).
        path: where to save the figure; not saved if None.
        n: trials drawn.
        title: axes title (say which ensemble member it shows).
        ax: draw into this Axes instead of a new Figure.
    """
    xy = trace.fingertip.detach().cpu().numpy()[:n]
    goal = trace.goal.detach().cpu().numpy()[:n, -1]
    fig, ax = _figure(ax, (5, 5.2))
    colors = colormaps["tab10"](np.arange(len(xy)) % 10)
    for path_xy, g, c in zip(xy, goal, colors):
        ax.plot(path_xy[:, 0], path_xy[:, 1], color=c, lw=1)
        ax.plot(*path_xy[0], "o", color=c, ms=4)
        ax.plot(*path_xy[-1], "s", color=c, ms=4)
        ax.plot(*g, "x", color=c, ms=8, mew=2)
    grey = dict(color="0.35", ls="")
    ax.legend(handles=[Line2D([], [], color="0.35", lw=1, label="fingertip path"),
                       Line2D([], [], marker="o", ms=4, label="start", **grey),
                       Line2D([], [], marker="s", ms=4, label="end", **grey),
                       Line2D([], [], marker="x", ms=8, mew=2, label="target", **grey)],
              loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, frameon=False, fontsize="small")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    return _finish(fig, path)
