"""jPCA: rotational structure of population trajectories (Churchland et al. 2012).

Churchland MM, Cunningham JP, Kaufman MT, Foster JD, Nuyujukian P, Ryu SI, Shenoy KV (2012) Neural
population dynamics during reaching. Nature 487:51-56.

The condition-averaged activity is reduced to its top PCs and the dynamics ``dX/dt = X M`` (rows are
samples) is fitted twice by least squares: with M unconstrained and with M skew-symmetric
(``M = -M^T``, a pure rotation). The skew fit is solved in the k(k-1)/2-dimensional space of skew
matrices. The eigenvalues of the skew M are pairs ``+-i omega``; each pair's eigenvectors span a
plane where the states rotate at ``omega`` rad per unit time. Derivatives are forward differences
paired with the midpoint states, ``(X[t+1] - X[t]) / dt`` against ``(X[t+1] + X[t]) / 2``, which is
second-order accurate.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch

from motornet_fn.analysis.population.pca import PCAResult, check_activity, largest_loading_sign, pca


class JPCAResult(NamedTuple):
    """jPCA of C conditions x T samples x N units with k = n_pcs (P = k // 2 planes).

    Attributes:
        M_skew: (k, k) skew-symmetric fit of dX/dt = X M in PC space (per unit of ``dt``: 1/s for dt in s).
        M_full: (k, k) unconstrained least-squares fit.
        r2_skew, r2_full: () fraction of the variance of dX/dt (about its mean) each fit explains.
        planes: (P, 2, N) orthonormal jPC vectors in unit space, fastest rotation first: ``planes[p, 0]``
            is jPC(2p+1), ``planes[p, 1]`` jPC(2p+2). Within each plane the states rotate
            counter-clockwise (jPC1 towards jPC2), and jPC1 points along the largest spread of the
            states at the first sample (its largest-magnitude entry is positive).
        frequencies: (P,) rotation frequency of each plane, omega / (2 pi): cycles per unit of ``dt``
            (Hz when dt is in s).
        projection: (C, T, P, 2) the cross-condition-centred activity projected on each plane.
        pca: the :class:`PCAResult` of the reduction (its scores are (C, T, k)).
    """

    M_skew: torch.Tensor
    M_full: torch.Tensor
    r2_skew: torch.Tensor
    r2_full: torch.Tensor
    planes: torch.Tensor
    frequencies: torch.Tensor
    projection: torch.Tensor
    pca: PCAResult


def skew_basis(k: int, dtype=torch.float64) -> torch.Tensor:
    """(k (k-1) / 2, k, k) basis of skew-symmetric matrices: e_i e_j^T - e_j e_i^T for i < j."""
    i, j = torch.triu_indices(k, k, offset=1)
    basis = torch.zeros(len(i), k, k, dtype=dtype)
    n = torch.arange(len(i))
    basis[n, i, j] = 1.0
    basis[n, j, i] = -1.0
    return basis


def fit_skew(x: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Least-squares skew-symmetric M (k, k) minimising ``|dx - x M|_F`` for x, dx (n, k).

    ``x M`` is linear in M's k(k-1)/2 free entries m: vec(x M) = D m with D's column for basis matrix B
    equal to vec(x B), so m is one ordinary least-squares solve.
    """
    basis = skew_basis(x.shape[-1], x.dtype)
    design = (x @ basis).reshape(len(basis), -1).T  # (n k, k (k-1) / 2)
    m = torch.linalg.lstsq(design, dx.reshape(-1, 1)).solution[:, 0]
    return torch.einsum("p,pij->ij", m, basis)


def _r2(dx: torch.Tensor, fit: torch.Tensor) -> torch.Tensor:
    """1 - SSE / total sum of squares of dx about its mean."""
    total = (dx - dx.mean(dim=0)).pow(2).sum()
    return 1 - (dx - fit).pow(2).sum() / total


def _planes(m_skew: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, k, 2) in-PC-space bases of the rotation planes, fastest first, and their omega (P,).

    ``first`` (C, k) are the states at the first sample, used to orient jPC1 within each plane.
    """
    values, vectors = torch.linalg.eig(m_skew)
    order = torch.argsort(values.imag, descending=True)[: m_skew.shape[-1] // 2]  # one of each +-i omega pair
    bases = []
    for index in order.tolist():
        v = vectors[:, index]
        basis, _ = torch.linalg.qr(torch.stack([v.real, v.imag], dim=-1))  # (k, 2) orthonormal
        # counter-clockwise: in plane coordinates p, d/dt p = p (E^T M E) must be [[0, w], [-w, 0]] with w > 0
        if (basis.T @ m_skew @ basis)[0, 1] < 0:
            basis = basis * torch.tensor([1.0, -1.0], dtype=basis.dtype)
        # rotate within the plane (a proper rotation keeps the direction) so jPC1 lies along the first states' spread
        p = first @ basis
        p = p - p.mean(dim=0)
        angle = 0.5 * torch.atan2(2 * (p[:, 0] * p[:, 1]).sum(), (p[:, 0] ** 2 - p[:, 1] ** 2).sum())
        c, s = torch.cos(angle), torch.sin(angle)
        basis = basis @ torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
        bases.append(basis)
    return torch.stack(bases), values.imag[order]


def jpca(activity: torch.Tensor, n_pcs: int = 6, dt: float = 1.0, subtract_condition_mean: bool = True) -> JPCAResult:
    """jPCA (Churchland et al. 2012) of condition-averaged population activity.

    Args:
        activity: (C, T, N) activity of N units for C conditions (e.g. condition-averaged hidden
            states over the movement epoch); extra leading dims are flattened into conditions.
        n_pcs: number of PCs k to reduce to (>= 2; Churchland et al. used 6).
        dt: sample interval (s gives frequencies in Hz and M in 1/s).
        subtract_condition_mean: subtract the cross-condition mean at each sample first (as in the
            paper), so that only condition-dependent structure is fitted.

    Returns:
        :class:`JPCAResult`. Computed in float64 and returned in the input dtype.

    Raises:
        ValueError: bad shapes, n_pcs out of [2, min(C T, N)] or non-positive dt.
    """
    check_activity(activity, min_steps=2)
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not dt > 0:
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    x = activity.reshape(-1, *activity.shape[-2:]).double()
    limit = min(x.shape[0] * x.shape[1], x.shape[2])
    if isinstance(n_pcs, bool) or not isinstance(n_pcs, int) or not 2 <= n_pcs <= limit:
        raise ValueError(f"n_pcs must be an int in [2, {limit}] (min(conditions x time, units)), got {n_pcs!r}")
    if subtract_condition_mean:
        x = x - x.mean(dim=0, keepdim=True)
    reduced = pca(x, n_pcs)
    scores = reduced.scores  # (C, T, k)
    dx = ((scores[:, 1:] - scores[:, :-1]) / dt).reshape(-1, n_pcs)
    mid = ((scores[:, 1:] + scores[:, :-1]) / 2).reshape(-1, n_pcs)
    m_full = torch.linalg.lstsq(mid, dx).solution
    m_skew = fit_skew(mid, dx)
    bases, omega = _planes(m_skew, scores[:, 0])  # (P, k, 2)
    planes = torch.einsum("pkj,kn->pjn", bases, reduced.components)
    planes = planes * largest_loading_sign(planes[:, 0])[:, None]  # a half turn keeps the rotation's direction
    projection = torch.einsum("ctn,pjn->ctpj", x - reduced.mean, planes)
    out = lambda t: t.to(activity.dtype)  # noqa: E731
    return JPCAResult(out(m_skew), out(m_full), out(_r2(dx, mid @ m_skew)), out(_r2(dx, mid @ m_full)), out(planes),
                      out(omega / (2 * math.pi)), out(projection), PCAResult(*(out(t) for t in reduced[:5])))


__all__ = ["JPCAResult", "fit_skew", "jpca", "skew_basis"]
