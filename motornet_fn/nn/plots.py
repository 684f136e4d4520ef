"""Figures of a run: loss curve and reaching trajectories (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from motornet_fn.core.engine import Trace  # noqa: E402


def plot_losses(loss_log: list, path: str | Path, title: str = "") -> None:
    """Per-batch loss of every ensemble member (thin) and their mean (thick), log scale."""
    losses = np.asarray(loss_log, dtype=float)  # (n_batches, K)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    batches = np.arange(1, len(losses) + 1)
    if losses.shape[1] > 1:
        ax.plot(batches, losses, lw=0.5, alpha=0.4)
    ax.plot(batches, losses.mean(axis=1), lw=1.5, color="k", label="mean over members" if losses.shape[1] > 1 else "loss")
    ax.set_yscale("log")
    ax.set_xlabel("batch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_trajectories(trace: Trace, path: str | Path, n: int = 16, title: str = "") -> None:
    """Fingertip paths (start: dot, end: square) and goals (x) of the first ``n`` trials."""
    xy = trace.fingertip.detach().cpu().numpy()[:n]
    goal = trace.goal.detach().cpu().numpy()[:n, 0]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 1, len(xy)))
    for path_xy, g, c in zip(xy, goal, colors):
        ax.plot(path_xy[:, 0], path_xy[:, 1], color=c, lw=1)
        ax.plot(*path_xy[0], "o", color=c, ms=3)
        ax.plot(*path_xy[-1], "s", color=c, ms=3)
        ax.plot(*g, "x", color=c, ms=7, mew=2)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
