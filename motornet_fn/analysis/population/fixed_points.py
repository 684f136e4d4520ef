"""Fixed and slow points of a recurrent map under a constant input (Sussillo & Barak 2013).

Sussillo D, Barak O (2013) Opening the black box: low-dimensional dynamics in high-dimensional
recurrent neural networks. Neural Computation 25:626-649.

For a map ``h' = F(h, u)`` held at a constant input ``u``, fixed points solve ``F(h, u) = h``; slow
points are local minima of the speed ``q(h) = 0.5 |F(h, u) - h|^2`` with small but non-zero q, where
the dynamics is approximately linear and slow. Every starting state is optimised at once (the
summed q is separable across states): Adam first, then Levenberg-Marquardt steps on the residual
``F(h) - h`` that converge quadratically onto true fixed points and are only accepted where they
lower q. The Jacobian ``dF/dh`` at each point (``torch.func.vmap`` of ``jacrev``) and its
eigenvalues describe the local linear dynamics: ``|lambda| < 1`` decays, ``|lambda| > 1`` grows.
"""
from __future__ import annotations

import numbers
from typing import Callable, NamedTuple

import torch
from torch.func import jacrev, vmap

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class FixedPoints(NamedTuple):
    """Points found from K starting states of an H-unit map.

    Attributes:
        points: (K, H) final states.
        speed: (K,) ``q = 0.5 |F(h, u) - h|^2`` at each point (activity units squared per step).
        jacobians: (K, H, H) dF/dh at each point.
        eigenvalues: (K, H) complex eigenvalues of each Jacobian, by decreasing magnitude.
        is_fixed: (K,) bool, q < tol.
        unique: (U,) long indices into ``points`` of the distinct points (no two closer than
            ``unique_tol``), lowest q first; ``unique[is_fixed[unique]]`` are the distinct fixed points.
    """

    points: torch.Tensor
    speed: torch.Tensor
    jacobians: torch.Tensor
    eigenvalues: torch.Tensor
    is_fixed: torch.Tensor
    unique: torch.Tensor


def policy_step_fn(policy: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> StepFn:
    """``step_fn(h, u)`` of a policy with ``forward(obs, h) -> (action, h)``: the recurrent update
    with the observation ``u`` held constant (the action is dropped).

    Leading dims are flattened to one batch dim around the call, so modules that only take (B, ...)
    inputs work for a single state too (as ``jacrev`` needs).
    """

    def step_fn(h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        lead = h.shape[:-1]
        u = u.expand(*lead, u.shape[-1])
        _, new = policy(u.reshape(-1, u.shape[-1]), h.reshape(-1, h.shape[-1]))
        return new.reshape(*lead, new.shape[-1])

    return step_fn


def _residual(step_fn: StepFn, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """F(h, u) - h, (K, H)."""
    return step_fn(h, u.expand(*h.shape[:-1], u.shape[-1])) - h


def _jacobians(step_fn: StepFn, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(K, H, H) dF/dh at each of the K points (one jacrev per point under vmap)."""
    single = lambda h1, u1: step_fn(h1, u1)  # noqa: E731
    return vmap(jacrev(single), in_dims=(0, 0))(h, u.expand(h.shape[0], u.shape[-1]))


def _adam(step_fn: StepFn, h: torch.Tensor, u: torch.Tensor, n_iter: int, lr: float, tol: float) -> torch.Tensor:
    """Minimise the summed q over the K states with Adam; returns the detached states."""
    h = h.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([h], lr=lr)
    for _ in range(n_iter):
        q = 0.5 * _residual(step_fn, h, u).pow(2).sum(dim=-1)
        if bool((q < tol).all()):
            break
        (h.grad,) = torch.autograd.grad(q.sum(), h)  # not backward(): the map's own parameters get no .grad
        optimiser.step()
    return h.detach()


def _levenberg_marquardt(step_fn: StepFn, h: torch.Tensor, u: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Damped Gauss-Newton steps on g(h) = F(h) - h, each accepted per point only where it lowers q."""
    eye = torch.eye(h.shape[-1], dtype=h.dtype, device=h.device)
    damping = h.new_full((h.shape[0],), 1e-6)
    with torch.no_grad():
        g = _residual(step_fn, h, u)
    for _ in range(n_steps):
        a = _jacobians(step_fn, h, u).detach() - eye
        at = a.transpose(-1, -2)
        system = at @ a + damping[:, None, None] * eye
        delta = -torch.linalg.solve(system, (at @ g[..., None]))[..., 0]
        with torch.no_grad():
            trial = h + delta
            g_trial = _residual(step_fn, trial, u)
        better = g_trial.pow(2).sum(-1) < g.pow(2).sum(-1)
        h = torch.where(better[:, None], trial, h)
        g = torch.where(better[:, None], g_trial, g)
        damping = torch.where(better, damping / 10, damping * 10).clamp(1e-12, 1e6)
    return h


def _distinct(points: torch.Tensor, speed: torch.Tensor, tol: float) -> torch.Tensor:
    """Greedy deduplication: visit points by increasing q, keep one unless a kept point lies within tol."""
    order = torch.argsort(speed)
    kept: list[int] = []
    for i in order.tolist():
        if not kept or bool((torch.linalg.norm(points[kept] - points[i], dim=-1) >= tol).all()):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.long, device=points.device)


def _check_arguments(h_init, u, n_iter, lr, tol, unique_tol, n_newton):
    """Shapes and settings of :func:`fixed_points`."""
    if not isinstance(h_init, torch.Tensor) or h_init.ndim != 2 or not h_init.is_floating_point():
        raise ValueError(f"h_init must be a floating (K, H) tensor of starting states, got "
                         f"{tuple(h_init.shape) if isinstance(h_init, torch.Tensor) else type(h_init).__name__}")
    per_state = isinstance(u, torch.Tensor) and u.ndim == 2 and u.shape[0] in (1, h_init.shape[0])
    if not isinstance(u, torch.Tensor) or not (u.ndim == 1 or per_state):
        raise ValueError(f"u must be a tensor (I,) or (K={h_init.shape[0]}, I) of constant inputs, got "
                         f"{tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__}")
    for name, value in (("n_iter", n_iter), ("n_newton", n_newton)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    for name, value in (("lr", lr), ("tol", tol), ("unique_tol", unique_tol)):
        if not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def fixed_points(step_fn: StepFn, u: torch.Tensor, h_init: torch.Tensor, n_iter: int = 2000, lr: float = 1e-2,
                 tol: float = 1e-10, unique_tol: float = 1e-3, n_newton: int = 20) -> FixedPoints:
    """Find fixed and slow points of ``h' = step_fn(h, u)`` from many starting states at once.

    Args:
        step_fn: ``(h (..., H), u (..., I)) -> h' (..., H)``, any leading dims (a GRU cell, a linear
            map, a modular network; :func:`policy_step_fn` wraps a policy). It must be built from
            plain tensor ops so that ``torch.func.jacrev`` and ``vmap`` go through it.
        u: (I,) constant input shared by all states, or (K, I) one per state.
        h_init: (K, H) starting states, e.g. hidden states sampled from trajectories plus noise.
            The search runs in this dtype (float64 reaches far smaller q than float32).
        n_iter: Adam iterations on the summed q (stops early once every q < tol).
        lr: Adam learning rate (activity units per iteration).
        tol: q below which a point counts as fixed.
        unique_tol: Euclidean distance under which two points count as the same point.
        n_newton: Levenberg-Marquardt refinement steps after Adam (0 to skip).

    Returns:
        :class:`FixedPoints`.

    Raises:
        ValueError: bad shapes or non-positive settings.
    """
    _check_arguments(h_init, u, n_iter, lr, tol, unique_tol, n_newton)
    u = u.detach().to(h_init.dtype)
    h = _adam(step_fn, h_init, u, n_iter, lr, tol)
    h = _levenberg_marquardt(step_fn, h, u, n_newton)
    with torch.no_grad():
        speed = 0.5 * _residual(step_fn, h, u).pow(2).sum(dim=-1)
    jacobians = _jacobians(step_fn, h, u).detach()
    eigenvalues = torch.linalg.eigvals(jacobians)
    order = torch.argsort(eigenvalues.abs(), dim=-1, descending=True)
    eigenvalues = torch.gather(eigenvalues, -1, order)
    return FixedPoints(h, speed, jacobians, eigenvalues, speed < tol, _distinct(h, speed, unique_tol))


__all__ = ["FixedPoints", "StepFn", "fixed_points", "policy_step_fn"]
