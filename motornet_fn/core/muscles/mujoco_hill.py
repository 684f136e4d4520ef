"""MuJoCo's rigid-tendon Hill muscle, as in MotorNet's ``MujocoHillMuscle``; see
:class:`MujocoHillMuscle` for the equations.

MuJoCo documentation, "Muscle actuators" (https://mujoco.readthedocs.io/en/stable/modeling.html).
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
    """MuJoCo's skewed quadratic-spline bump: 0 outside (lmin, lmax), 1 at ``mid`` (see
    :class:`MujocoHillMuscle`)."""
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
    r"""MuJoCo's Hill-type muscle with a rigid tendon, as in MotorNet's ``MujocoHillMuscle``.

    Normalized length and velocity (as in MotorNet, :math:`v_\max` = ``vmax`` divides the musculotendon
    velocity directly, without an optimal-length factor):

    .. math::

        L = \frac{\max(0.001, l_{MT} - l_{T})}{l_0}, \qquad V = \frac{v_{MT}}{v_\max},

    with :math:`l_T` = ``tendon_length`` and :math:`l_0` = ``optimal_muscle_length``. The active
    force-length curve is the sum of two smooth bumps,

    .. math::

        F_L(L) = B(L;\ l_\min, 1, l_\max) + 0.15\, B\!\left(L;\ l_\min, \tfrac{1}{2}(l_\min + 0.95), 0.95\right),

    where :math:`B(L; l_a, m, l_b)` is MuJoCo's quadratic-spline bump, zero outside :math:`(l_a, l_b)` and 1
    at :math:`m`: with :math:`h_1 = \tfrac12 (l_a + m)` and :math:`h_2 = \tfrac12 (m + l_b)`,

    .. math::

        B = \begin{cases}
            \tfrac12 \left(\frac{L - l_a}{h_1 - l_a}\right)^2 & l_a < L < h_1 \\[1ex]
            1 - \tfrac12 \left(\frac{m - L}{m - h_1}\right)^2 & h_1 \le L < m \\[1ex]
            1 - \tfrac12 \left(\frac{L - m}{h_2 - m}\right)^2 & m \le L < h_2 \\[1ex]
            \tfrac12 \left(\frac{l_b - L}{l_b - h_2}\right)^2 & h_2 \le L < l_b \\[1ex]
            0 & \text{otherwise.}
        \end{cases}

    Force-velocity curve, with :math:`c = f_{v,\max} - 1` (:math:`f_{v,\max}` = ``fvmax``):

    .. math::

        F_V(V) = \begin{cases}
            0 & V \le -1 \\
            (V + 1)^2 & -1 < V \le 0 \\
            f_{v,\max} - (c - V)^2 / c & 0 < V \le c \\
            f_{v,\max} & V > c .
        \end{cases}

    Passive force, with :math:`b = \tfrac12 (1 + l_\max)` and :math:`p = 0.25\, s` (:math:`s` =
    ``normalized_slack_muscle_length``, used by MotorNet as the passive-force scale):

    .. math::

        F_P(L) = \begin{cases}
            0 & L \le 1 \\
            p \left(\frac{L - 1}{b - 1}\right)^3 & 1 < L \le b \\
            p \left(1 + 3\, \frac{L - b}{b - 1}\right) & L > b ,
        \end{cases}

    and the muscle force is

    .. math::

        F = \left(a\, F_L(L)\, F_V(V) + k_P\, F_P(L)\right) F_\max ,

    with :math:`k_P` = ``passive_forces`` (1 by default). Activation follows
    :mod:`~motornet_fn.core.muscles.activation` (defaults :math:`a_\min` = 0, :math:`\tau_\mathrm{act}` =
    10 ms, :math:`\tau_\mathrm{deact}` = 40 ms). Defaults: :math:`l_\min` = 0.5, :math:`l_\max` = 1.6,
    :math:`v_\max` = 1.5, :math:`f_{v,\max}` = 1.2, :math:`s` = 1.3.

    State (:class:`~motornet_fn.core.muscles.rigid_tendon.HillState`): activation, muscle length
    :math:`L l_0` (m), muscle velocity :math:`v_{MT}` (m/s), ``flpe`` :math:`F_P`, ``flce`` :math:`F_L`,
    ``fvce`` :math:`F_V`, force :math:`F` (N). Parameters: :class:`MujocoHillParams`.

    References:
        MuJoCo documentation, "Muscle actuators" (https://mujoco.readthedocs.io/en/stable/modeling.html).

        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2023). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591
    """

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
