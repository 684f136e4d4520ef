"""Principal component analysis of population activity, single-trial or condition-averaged."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch


class PCAResult(NamedTuple):
    """Principal components of activity (k = number of components, N = units).

    Attributes:
        components: (k, N) orthonormal rows, by decreasing variance; each row's largest-magnitude
            loading is positive (a deterministic sign).
        explained_variance: (k,) variance along each component (activity units squared; sample
            variance over the C*T or trials*T samples, ddof 1).
        explained_variance_ratio: (k,) fraction of the total variance.
        mean: (N,) the mean that was subtracted.
        scores: the fitted activity projected on the components: (C, T, k) for condition averages
            (conditions in the order of ``conditions``), else (..., T, k) like the input.
        conditions: (C,) numpy array of the sorted distinct labels when condition-averaged, else None.
    """

    components: torch.Tensor
    explained_variance: torch.Tensor
    explained_variance_ratio: torch.Tensor
    mean: torch.Tensor
    scores: torch.Tensor
    conditions: Any = None


def check_activity(activity: Any, name: str = "activity", min_steps: int = 1) -> None:
    """activity must be a floating tensor (..., T, N) with at least ``min_steps`` samples."""
    if not isinstance(activity, torch.Tensor) or not activity.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch tensor (..., T, N), got {type(activity).__name__}")
    if activity.ndim < 2 or activity.shape[-2] < min_steps or activity.shape[-1] < 1:
        raise ValueError(f"{name} must be (..., T, N) with T >= {min_steps} and N >= 1, got shape "
                         f"{tuple(activity.shape)}")


def condition_average(activity: torch.Tensor, labels: Any) -> tuple[torch.Tensor, np.ndarray]:
    """Average the trials that share a label.

    Args:
        activity: (..., T, N) single trials.
        labels: (...,) one label per trial (numbers or strings; array, list or tensor).

    Returns:
        (means (C, T, N) in the order of ``conditions``, conditions (C,) sorted distinct labels).

    Raises:
        ValueError: the labels' shape is not the trials' leading shape.
    """
    check_activity(activity)
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if labels.shape != activity.shape[:-2]:
        raise ValueError(f"labels must have the trials' shape {tuple(activity.shape[:-2])}, got {labels.shape}")
    conditions, inverse = np.unique(labels.reshape(-1), return_inverse=True)
    trials = activity.reshape(-1, *activity.shape[-2:])
    index = torch.as_tensor(inverse.reshape(-1), device=activity.device)
    sums = trials.new_zeros(len(conditions), *trials.shape[1:]).index_add_(0, index, trials)
    counts = torch.bincount(index, minlength=len(conditions)).to(trials.dtype)
    return sums / counts[:, None, None], conditions


def largest_loading_sign(rows: torch.Tensor) -> torch.Tensor:
    """(k, 1) signs that make each of the (k, N) rows' largest-magnitude entry positive."""
    largest = torch.gather(rows, 1, rows.abs().argmax(dim=1, keepdim=True))
    return torch.where(largest < 0, -1.0, 1.0).to(rows.dtype)


def pca(activity: torch.Tensor, n_components: int | None = None, labels: Any = None) -> PCAResult:
    """PCA of population activity over all samples (trials or conditions x time).

    Args:
        activity: (..., T, N) activity of N units (e.g. ``trace.hidden`` (B, T, H)), any leading dims.
        n_components: number of components k (default min(samples, N)).
        labels: optional (...,) condition label per trial: the trials sharing a label are averaged
            first (condition-averaged PCA, as is usual for comparing with recorded PSTHs).

    Returns:
        :class:`PCAResult`. Computed in float64 (SVD of the centred data), returned in the input dtype.

    Raises:
        ValueError: bad activity shape, fewer than 2 samples, or n_components out of [1, min(samples, N)].
    """
    check_activity(activity)
    conditions = None
    if labels is not None:
        activity, conditions = condition_average(activity, labels)
    x = activity.reshape(-1, activity.shape[-1]).double()
    n_samples, n_units = x.shape
    if n_samples < 2:
        raise ValueError(f"pca needs at least 2 samples (trials x time), got {n_samples}")
    limit = min(n_samples, n_units)
    if n_components is None:
        n_components = limit
    if isinstance(n_components, bool) or not isinstance(n_components, int) or not 1 <= n_components <= limit:
        raise ValueError(f"n_components must be an int in [1, {limit}] (min(samples, units)), got {n_components!r}")
    mean = x.mean(dim=0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    components = vh[:n_components] * largest_loading_sign(vh[:n_components])
    variance = s**2 / (n_samples - 1)
    total = variance.sum()
    ratio = torch.where(total > 0, variance / torch.where(total > 0, total, 1.0), 0.0)
    scores = (x - mean) @ components.T
    out = lambda t: t.to(activity.dtype)  # noqa: E731
    return PCAResult(out(components), out(variance[:n_components]), out(ratio[:n_components]), out(mean),
                     out(scores).reshape(*activity.shape[:-1], n_components), conditions)


def project(result: PCAResult, activity: torch.Tensor) -> torch.Tensor:
    """Project activity (..., N) (e.g. single trials on condition-averaged PCs) -> (..., k) scores."""
    if activity.shape[-1] != result.components.shape[-1]:
        raise ValueError(f"activity must have N = {result.components.shape[-1]} units in its last dim, got shape "
                         f"{tuple(activity.shape)}")
    return (activity - result.mean) @ result.components.T


__all__ = ["PCAResult", "condition_average", "pca", "project"]
