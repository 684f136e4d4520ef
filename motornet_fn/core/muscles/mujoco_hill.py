"""MuJoCo's rigid-tendon Hill muscle, as in MotorNet's ``MujocoHillMuscle``.

MuJoCo documentation, "Muscle actuators" (https://mujoco.readthedocs.io/en/stable/modeling.html).
With L = muscle length / l0_ce and V = musculotendon velocity / vmax:

    F_L(L): sum of two quadratic-spline bumps (peak at 1 spanning [lmin, lmax], plus 0.15 x a bump
            peaking at 0.5 (lmin + 0.95) spanning [lmin, 0.95]),
    F_V(V): 0 for V <= -1, (V + 1)^2 for V <= 0, fvmax - (c - V)^2 / c for V <= c, fvmax beyond
            (c = fvmax - 1),
    F_P(L): 0 for L <= 1, then a cubic up to b = 0.5 (1 + lmax) and linear beyond, scaled by
            0.25 * normalized_slack_muscle_length (MotorNet's ``p2``),
    force = (a F_L F_V + passive_forces * F_P) * max_isometric_force.

As in MotorNet, ``vmax`` divides the musculotendon velocity directly (no l0_ce factor).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from motornet_fn.core.muscles.base import HILL_STATE_NAMES, MuscleModel
from motornet_fn.core.muscles.rigid_tendon import HillState
from motornet_fn.core.types import Geometry


class MujocoHillParams(NamedTuple):
    """Attributes: each (n_muscles,): max_isometric_force (N); tendon_length (m);
    optimal_muscle_length (m); normalized_slack_muscle_length; lmin, lmax (normalized length range);
    vmax (optimal lengths/s in MuJoCo, used as MotorNet does); fvmax; passive_forces (scale of F_P);
    min_activation; tau_activation, tau_deactivation (s)."""

    max_isometric_force: torch.Tensor
    tendon_length: torch.Tensor
    optimal_muscle_length: torch.Tensor
    normalized_slack_muscle_length: torch.Tensor
    lmin: torch.Tensor
    lmax: torch.Tensor
    vmax: torch.Tensor
    fvmax: torch.Tensor
    passive_forces: torch.Tensor
    min_activation: torch.Tensor
    tau_activation: torch.Tensor
    tau_deactivation: torch.Tensor


def bump(length: torch.Tensor, lmin: torch.Tensor, mid, lmax) -> torch.Tensor:
    """MuJoCo's skewed quadratic-spline bump: 0 outside (lmin, lmax), 1 at ``mid``."""
    left = 0.5 * (lmin + mid)
    right = 0.5 * (mid + lmax)
    zero = torch.zeros_like(length)
    outside = (length <= lmin) | (length >= lmax)
    below_left, below_mid, below_right = length < left, length < mid, length < right
    x = torch.where(
        outside, zero,
        torch.where(below_left, (length - lmin) / (left - lmin),
        torch.where(below_mid, (mid - length) / (mid - left),
        torch.where(below_right, (length - mid) / (right - mid), (lmax - length) / (lmax - right)))))
    half_xx = 0.5 * x * x
    return torch.where(
        outside, zero,
        torch.where(below_left, half_xx, torch.where(below_mid | below_right, 1 - half_xx, half_xx)))


@dataclass(frozen=True)
class MujocoHillMuscle(MuscleModel):
    name = "MujocoHillMuscle"
    state_names = HILL_STATE_NAMES
    build_keys = ("max_isometric_force", "optimal_muscle_length", "tendon_length", "normalized_slack_muscle_length",
                  "lmin", "lmax", "vmax", "fvmax")
    required = ("max_isometric_force", "tendon_length", "optimal_muscle_length")
    defaults = {
        "normalized_slack_muscle_length": 1.3, "lmin": 0.5, "lmax": 1.6, "vmax": 1.5, "fvmax": 1.2,
        "passive_forces": 1.0,
    }
    activation_defaults = {"min_activation": 0.0, "tau_activation": 0.01, "tau_deactivation": 0.04}
    Params = MujocoHillParams
    State = HillState

    def proprioception_scales(self, params):
        return params.optimal_muscle_length, params.vmax

    def outputs(self, params, ode_vars, geometry: Geometry):
        a = ode_vars.activation
        p = params
        b = 0.5 * (1 + p.lmax)
        c = p.fvmax - 1
        p1 = b - 1
        p2 = 0.25 * p.normalized_slack_muscle_length
        mid = 0.5 * (p.lmin + 0.95)
        length = torch.clamp(geometry.length - p.tendon_length, min=0.001) / p.optimal_muscle_length
        vel = geometry.velocity / p.vmax
        zero = torch.zeros_like(length)

        x = torch.where(length <= 1, zero, torch.where(length <= b, (length - 1) / p1, (length - b) / p1))
        flpe = torch.where(length <= 1, zero, torch.where(length <= b, p2 * x**3, p2 * (1 + 3 * x)))
        flce = bump(length, p.lmin, 1, p.lmax) + 0.15 * bump(length, p.lmin, mid, 0.95)
        fvce = torch.where(
            vel <= -1, zero,
            torch.where(vel <= 0.0, (vel + 1) * (vel + 1),
            torch.where(vel <= c, p.fvmax - (c - vel) * (c - vel) / c, p.fvmax.expand_as(vel))))
        force = (a * flce * fvce + p.passive_forces * flpe) * p.max_isometric_force
        return HillState(a, length * p.optimal_muscle_length, vel * p.vmax, flpe, flce, fvce, force)

    def validate_params(self, fields):
        super().validate_params(fields)
        if (fields["lmin"] >= 0.95).any() or (fields["lmax"] <= 1).any():
            raise ValueError(f"need lmin < 0.95 and lmax > 1, got lmin={fields['lmin'].tolist()}, "
                             f"lmax={fields['lmax'].tolist()}")
        if (fields["fvmax"] <= 1).any() or (fields["vmax"] <= 0).any():
            raise ValueError(f"need fvmax > 1 and vmax > 0, got fvmax={fields['fvmax'].tolist()}, "
                             f"vmax={fields['vmax'].tolist()}")
