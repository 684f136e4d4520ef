"""Small synthetic data sets for the figure tests: a centre-out reach, muscle activations, PCA, eigenvalues."""
from __future__ import annotations

import math

import torch

from motornet_fn.analysis.behaviour import reach_metrics
from motornet_fn.analysis.population import pca
from tests.analysis.reaches import arc, hold_then, minimum_jerk

DT = 0.01


def centre_out(n_targets: int = 8, radius: float = 0.1, bend: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, T, 2) slightly curved reaches from the origin to n_targets on a circle, and (K, 2) targets."""
    start = torch.tensor([0.0, 0.0])
    targets = torch.stack([radius * torch.tensor([math.cos(a), math.sin(a)])
                           for a in torch.arange(n_targets) * 2 * math.pi / n_targets])
    paths = [hold_then(arc(start, g, radius / (2 * math.sin(bend)), minimum_jerk(41 + 4 * k), k % 2 == 0), 20)
             for k, g in enumerate(targets)]  # durations 0.4 to 0.68 s
    steps = max(len(p) for p in paths) + 10
    return torch.stack([torch.cat([p, p[-1:].expand(steps - len(p), 2)]) for p in paths]), targets


def reach_figure_data():
    position, target = centre_out()
    metrics = reach_metrics(position, position[:, 0], target, DT, go_step=10)
    return position, target, metrics


def muscle_activity(trials: int = 5, steps: int = 81, muscles: int = 4) -> torch.Tensor:
    """(trials, steps, muscles) activations in [0, 1]: phase-shifted bursts plus trial-to-trial variation."""
    t = torch.arange(steps) * DT
    gen = torch.Generator().manual_seed(1)
    bursts = [torch.exp(-((t - 0.25 - 0.1 * m) / 0.08) ** 2) for m in range(muscles)]
    base = 0.05 + 0.8 * torch.stack(bursts, -1)
    return (base + 0.03 * torch.randn(trials, steps, muscles, generator=gen)).clamp(0, 1)


def hidden_pca():
    """PCA of rotating 10-unit activity for 8 conditions (targets)."""
    position, _ = centre_out()
    gen = torch.Generator().manual_seed(2)
    mixing = torch.randn(4, 10, generator=gen)
    t = torch.arange(position.shape[1]) * DT
    phase = torch.atan2(position[:, -1, 1], position[:, -1, 0])[:, None]
    latent = torch.stack([torch.cos(8 * t + phase), torch.sin(8 * t + phase),
                          torch.exp(-t / 0.3).expand(8, -1), 0.3 * torch.cos(3 * t + phase)], -1)
    return pca(latent @ mixing, 3, labels=torch.arange(8))


def eigenvalues() -> torch.Tensor:
    """(3, 6) complex eigenvalues of three random stable and unstable maps."""
    gen = torch.Generator().manual_seed(3)
    return torch.stack([torch.linalg.eigvals(s * torch.randn(6, 6, generator=gen) / math.sqrt(6))
                        for s in (0.6, 0.9, 1.3)])


def perturbed_paths():
    """Unperturbed and perturbed (a lateral push from sample 35, peaking at 50) centre-out paths, and the targets."""
    position, target = centre_out(4, bend=1e-3)
    bump = torch.exp(-((torch.arange(position.shape[1]) - 50) / 5.0) ** 2)[:, None]  # ~0 before sample 35
    direction = target / target.norm(dim=-1, keepdim=True)
    push = 0.02 * bump[None] * torch.stack([-direction[:, 1], direction[:, 0]], -1)[:, None]
    push[:, :35] = 0
    return position, position + push, target
