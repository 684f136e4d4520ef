"""Population analyses against planted structure: PCA of known variances and directions, fixed points
of linear and 2-unit tanh maps (closed form and grid search), jPCA of planted rotations and decays."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from motornet_fn.analysis.population import (
    condition_average, fit_skew, fixed_points, jpca, pca, policy_step_fn, project, skew_basis,
)


def orthonormal(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """(n, k) random orthonormal columns."""
    return torch.linalg.qr(torch.randn(n, k, generator=gen))[0]


def whitened(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """(n, k) columns with sample mean exactly 0, sample variance exactly 1 (ddof 1) and no correlation."""
    z = torch.randn(n, k, generator=gen)
    return torch.linalg.qr(z - z.mean(0))[0] * math.sqrt(n - 1)


def subspace_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between the row spaces of a (k, N) and b (k, N) (orthonormal rows)."""
    return torch.linalg.svdvals(a @ b.T)


# ------------------------------------------------------------------------------------------- PCA
VARIANCES = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)


def planted(gen, trials=10, steps=20, units=5):
    """Activity (trials, steps, units) with variances VARIANCES along known orthonormal directions."""
    directions = orthonormal(units, 3, gen).T  # (3, N)
    mean = torch.randn(units, generator=gen)
    z = whitened(trials * steps, 3, gen) * VARIANCES.sqrt().to(torch.get_default_dtype())
    return (z @ directions + mean).reshape(trials, steps, units), directions, mean


def test_pca_recovers_planted_variances_and_directions(float64, gen):
    activity, directions, mean = planted(gen)
    result = pca(activity)
    assert torch.allclose(result.explained_variance[:3], VARIANCES, atol=1e-12)
    assert torch.allclose(result.explained_variance[3:], torch.zeros(2), atol=1e-12)
    assert torch.allclose(result.explained_variance_ratio[:3], VARIANCES / VARIANCES.sum(), atol=1e-12)
    assert torch.allclose(result.mean, mean, atol=1e-12)
    # each component is +-its planted direction (distinct variances), with the largest loading positive
    assert torch.allclose((result.components[:3] * directions).sum(1).abs(), torch.ones(3), atol=1e-10)
    largest = result.components.gather(1, result.components.abs().argmax(1, keepdim=True))
    assert (largest > 0).all()
    assert result.scores.shape == (10, 20, 5) and result.conditions is None
    assert torch.allclose(result.scores.reshape(-1, 5).var(0)[:3], VARIANCES, atol=1e-12)
    assert torch.allclose(project(result, activity), result.scores)
    two = pca(activity, n_components=2)
    assert two.components.shape == (2, 5) and torch.allclose(two.components, result.components[:2])


def test_pca_float32_in_float32_out(gen):
    activity = planted(gen)[0].float()
    result = pca(activity, 3)
    assert all(t.dtype == torch.float32 for t in result[:5])
    assert torch.allclose(result.explained_variance, VARIANCES.float(), rtol=1e-4, atol=1e-5)


def test_condition_averaged_pca_equals_pca_of_the_condition_means(float64, gen):
    means, _, _ = planted(gen, trials=4)  # 4 conditions
    names = np.array(["d", "b", "a", "c"])  # conditions sort as a, b, c, d
    reps = 5
    noise = torch.randn(4, reps, 20, 5, generator=gen)
    noise = noise - noise.mean(1, keepdim=True)  # averages out exactly within each condition
    trials = (means[:, None] + noise).reshape(4 * reps, 20, 5)
    labels = np.repeat(names, reps)
    averaged, conditions = condition_average(trials, labels)
    order = np.argsort(names)
    assert list(conditions) == ["a", "b", "c", "d"]
    assert torch.allclose(averaged, means[order])
    result = pca(trials, 3, labels=labels)
    reference = pca(means[order], 3)
    assert torch.allclose(result.components, reference.components)
    assert torch.allclose(result.explained_variance, reference.explained_variance)
    assert result.scores.shape == (4, 20, 3) and list(result.conditions) == list(conditions)
    # labels with the trials' leading shape (2, 10)
    grid = pca(trials.reshape(2, 10, 20, 5), 3, labels=labels.reshape(2, 10))
    assert torch.allclose(grid.components, result.components)


@pytest.mark.parametrize("call, match", [
    (lambda a: pca(a[0, 0]), r"activity must be \(..., T, N\)"),
    (lambda a: pca(a.long()), "floating-point"),
    (lambda a: pca(a, n_components=6), r"n_components must be an int in \[1, 5\]"),
    (lambda a: pca(a[:1, :1]), "at least 2 samples"),
    (lambda a: pca(a, labels=[0, 1]), r"labels must have the trials' shape \(10,\)"),
    (lambda a: project(pca(a), a[..., :3]), "N = 5 units"),
])
def test_pca_errors(call, match, gen):
    with pytest.raises(ValueError, match=match):
        call(planted(gen)[0].float())


# ------------------------------------------------------------------------------------------- fixed points
def test_fixed_point_of_a_linear_map(float64, gen):
    a = 0.4 * torch.randn(4, 4, generator=gen)
    b = torch.randn(4, generator=gen)
    result = fixed_points(lambda h, u: h @ a.T + u, b, torch.randn(12, 4, generator=gen), n_iter=300)
    expected = torch.linalg.solve(torch.eye(4) - a, b)
    assert result.is_fixed.all() and len(result.unique) == 1
    assert torch.allclose(result.points, expected.expand(12, 4), atol=1e-10)
    assert torch.allclose(result.jacobians, a.expand(12, 4, 4))
    eigenvalues = torch.linalg.eigvals(a)
    expected_eigs = eigenvalues[torch.argsort(eigenvalues.abs(), descending=True)]
    assert torch.allclose(result.eigenvalues[0].abs(), expected_eigs.abs())
    assert torch.allclose(torch.sort(result.eigenvalues[0].real).values, torch.sort(eigenvalues.real).values)


W = torch.tensor([[1.8, 0.3], [-0.2, 1.6]], dtype=torch.float64)
B = torch.tensor([0.05, -0.1], dtype=torch.float64)


def tanh_map(h, u):
    return torch.tanh(h @ W.T + u)


def grid_minima(spacing: float = 1e-3, below: float = 1e-2) -> np.ndarray:
    """Local minima of |F(h) - h| on a grid over [-1.1, 1.1]^2 (the map's range is (-1, 1))."""
    x = np.arange(-1.1, 1.1 + spacing / 2, spacing)
    h1, h2 = np.meshgrid(x, x, indexing="ij")
    w, b = W.numpy(), B.numpy()
    r = np.hypot(np.tanh(w[0, 0] * h1 + w[0, 1] * h2 + b[0]) - h1, np.tanh(w[1, 0] * h1 + w[1, 1] * h2 + b[1]) - h2)
    inner = r[1:-1, 1:-1]
    is_min = inner < below
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= inner < r[1 + di:r.shape[0] - 1 + di, 1 + dj:r.shape[1] - 1 + dj]
    i, j = np.nonzero(is_min)
    return np.stack([x[i + 1], x[j + 1]], -1)


def test_fixed_points_of_a_tanh_network_match_a_grid_search(float64, gen):
    expected = grid_minima()
    assert len(expected) >= 5  # stable nodes and saddles of the coupled bistable units
    starts = 2 * torch.rand(200, 2, generator=gen) - 1
    result = fixed_points(tanh_map, B, starts, n_iter=1500, lr=2e-2)
    found = result.points[result.unique[result.is_fixed[result.unique]]].numpy()
    distance = np.linalg.norm(found[:, None] - expected[None], axis=-1)
    assert len(found) == len(expected)
    assert distance.min(1).max() < 2e-3 and distance.min(0).max() < 2e-3
    # Jacobian of tanh(W h + b) at a fixed point h = F(h): diag(1 - h^2) W
    for k in result.unique[result.is_fixed[result.unique]].tolist():
        h = result.points[k]
        assert torch.allclose(result.jacobians[k], (1 - h**2)[:, None] * W, atol=1e-10)
    assert (result.speed[result.is_fixed] < 1e-20).all()


class GRUCellPolicy(nn.Module):
    """A policy with forward(obs, h) -> (action, h) around torch.nn.GRUCell (which takes (B, ...) inputs)."""

    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.cell = nn.GRUCell(n_in, n_hidden)
        self.readout = nn.Linear(n_hidden, n_out)

    def forward(self, obs, h):
        h = self.cell(obs, h)
        return torch.sigmoid(self.readout(h)), h


def test_policy_step_fn_finds_a_gru_fixed_point(float64, gen):
    torch.manual_seed(0)
    policy = GRUCellPolicy(3, 6, 2).double()
    step = policy_step_fn(policy)
    obs = torch.tensor([0.1, -0.2, 0.3])
    result = fixed_points(step, obs, 0.5 * torch.randn(16, 6, generator=gen), n_iter=500)
    best = result.unique[0]
    h = result.points[best]
    assert result.is_fixed[best]
    _, h_next = policy(obs[None], h[None])
    assert torch.allclose(h_next[0], h, atol=1e-9)
    # the Jacobian against central differences
    eps = 1e-6
    columns = [(step(h + eps * e, obs) - step(h - eps * e, obs)) / (2 * eps) for e in torch.eye(6)]
    assert torch.allclose(result.jacobians[best], torch.stack(columns, -1), atol=1e-7)
    assert all(p.grad is None for p in policy.parameters())  # the search does not touch the network's gradients


@pytest.mark.parametrize("kwargs, match", [
    ({"h_init": torch.zeros(4)}, r"h_init must be a floating \(K, H\)"),
    ({"u": torch.zeros(3, 2)}, r"u must be a tensor \(I,\) or \(K=5, I\)"),
    ({"n_iter": -1}, "n_iter must be an int >= 0"),
    ({"lr": 0.0}, "lr must be a positive number"),
    ({"unique_tol": -1.0}, "unique_tol must be a positive number"),
])
def test_fixed_points_errors(kwargs, match):
    arguments = {"u": B, "h_init": torch.zeros(5, 2, dtype=torch.float64), **kwargs}
    with pytest.raises(ValueError, match=match):
        fixed_points(tanh_map, **arguments)


# ------------------------------------------------------------------------------------------- jPCA
def rotating_conditions(gen, frequencies=(2.0, 0.5), amplitudes=(1.0, 0.6), conditions=8, steps=60, dt=0.01,
                        units=6, noise=1e-3):
    """(C, T, N) activity rotating in orthonormal planes at known frequencies (Hz), plus small noise."""
    basis = orthonormal(units, units, gen)
    t = torch.arange(steps) * dt
    latents = []
    for p, (f, a) in enumerate(zip(frequencies, amplitudes)):
        phase = 2 * math.pi * torch.arange(conditions) / conditions * (p + 1) + p
        amplitude = a * (1 + 0.3 * torch.arange(conditions) / conditions)[:, None]
        angle = 2 * math.pi * f * t + phase[:, None]
        latents += [amplitude * torch.cos(angle), amplitude * torch.sin(angle)]
    latent = torch.stack(latents, -1)  # (C, T, 2 P)
    activity = latent @ basis[:, : latent.shape[-1]].T + noise * torch.randn(conditions, steps, units, generator=gen)
    planes = [basis[:, 2 * p: 2 * p + 2].T for p in range(len(frequencies))]
    return activity, planes


def test_jpca_recovers_planted_rotations(float64, gen):
    activity, planes = rotating_conditions(gen)
    result = jpca(activity, n_pcs=4, dt=0.01)
    assert torch.allclose(result.M_skew, -result.M_skew.T)
    assert result.r2_skew > 0.999 and result.r2_full > 0.999
    assert torch.allclose(result.frequencies, torch.tensor([2.0, 0.5]), rtol=0.02)
    for p in range(2):
        cosines = subspace_cosines(result.planes[p], planes[p])
        assert math.degrees(math.acos(min(float(cosines.min()), 1.0))) < 1.0
    flat = result.planes.reshape(4, 6)
    assert torch.allclose(flat @ flat.T, torch.eye(4), atol=1e-12)
    # counter-clockwise in (jPC1, jPC2): the angle of the projection grows with time
    p = result.projection[:, :, 0]  # (C, T, 2)
    turn = p[:, :-1, 0] * p[:, 1:, 1] - p[:, :-1, 1] * p[:, 1:, 0]
    assert (turn > 0).all()
    assert result.projection.shape == (8, 60, 2, 2) and result.pca.scores.shape == (8, 60, 4)


def test_jpca_of_pure_decay_has_no_rotation(float64, gen):
    t = torch.arange(50) * 0.01
    activity = torch.randn(8, 1, 6, generator=gen) * torch.exp(-t / 0.2)[None, :, None]
    result = jpca(activity, n_pcs=6, dt=0.01)
    # dX/dt = -X / tau: the best skew fit is M = 0 (the data's symmetric dynamics are orthogonal to every rotation)
    assert abs(float(result.r2_skew)) < 1e-8
    assert result.r2_full > 1 - 1e-8
    assert torch.allclose(result.M_full, -torch.eye(6) * 2 / 0.01 * math.tanh(0.01 / 0.2 / 2), atol=1e-8)


def test_skew_fit_solves_exact_rotations(float64, gen):
    m = torch.einsum("p,pij->ij", torch.randn(10, generator=gen), skew_basis(5))
    x = torch.randn(40, 5, generator=gen)
    assert torch.allclose(fit_skew(x, x @ m), m)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_pcs": 1}, r"n_pcs must be an int in \[2, 6\]"),
    ({"n_pcs": 7}, r"n_pcs must be an int in \[2, 6\]"),
    ({"dt": 0}, "dt must be a positive number"),
    ({"activity": torch.zeros(3, 1, 6)}, r"T >= 2"),
])
def test_jpca_errors(kwargs, match):
    arguments = {"activity": torch.randn(4, 10, 6), **kwargs}
    with pytest.raises(ValueError, match=match):
        jpca(**arguments)
