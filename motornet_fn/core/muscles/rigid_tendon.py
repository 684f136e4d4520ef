"""Rigid-tendon Hill muscle of Kistemaker, Wong & Gribble (2010), as in MotorNet's
``RigidTendonHillMuscle``; see :class:`RigidTendonHillMuscle` for the equations.

Kistemaker DA, Wong JD, Gribble PL (2010). The central nervous system does not minimize energy cost
in arm movements. J Neurophysiol 104(6):2985-94. doi:10.1152/jn.00483.2010
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from motornet_fn.core.math import safe_div
from motornet_fn.core.muscles.base import HILL_STATE_NAMES, MuscleModel
from motornet_fn.core.types import Geometry

#: Kistemaker et al. (2010) constants, as used by MotorNet.
S_AS = 0.001  # slope of the eccentric asymptote
F_ISO_N_DEN = 0.66**2  # width of the force-length parabola
K_SE = 1 / (0.04**2)  # tendon stiffness (strain 0.04 at max isometric force)
Q_CRIT = 0.3  # activation below which b_rel depends on activation
MIN_FLCE = 0.01  # floor of the active force-length curve


class HillParams(NamedTuple):
    """Attributes: each (n_muscles,): max_isometric_force (N); tendon_length l0_se (m);
    optimal_muscle_length l0_ce (m); normalized_slack_muscle_length (l0_pe / l0_ce);
    min_activation; tau_activation, tau_deactivation (s)."""

    max_isometric_force: torch.Tensor
    tendon_length: torch.Tensor
    optimal_muscle_length: torch.Tensor
    normalized_slack_muscle_length: torch.Tensor
    min_activation: torch.Tensor
    tau_activation: torch.Tensor
    tau_deactivation: torch.Tensor


class HillState(NamedTuple):
    """Attributes: each (n_muscles,): activation; muscle_length (m); muscle_velocity (m/s);
    flpe (passive force-length, normalized); flce (active force-length); fvce (force-velocity
    factor, Thelen/MuJoCo; for Kistemaker the active force normalized by max force); force (N)."""

    activation: torch.Tensor
    muscle_length: torch.Tensor
    muscle_velocity: torch.Tensor
    flpe: torch.Tensor
    flce: torch.Tensor
    fvce: torch.Tensor
    force: torch.Tensor


def check_slack_length(fields) -> None:
    """k_pe = 1 / (1.66 - l0_pe / l0_ce)^2 needs a normalized slack length below 1.66 (passive force
    reaches the maximum isometric force at 1.66 optimal lengths); at 1.66 it is infinite."""
    slack = fields["normalized_slack_muscle_length"]
    if (slack >= 1.66).any():
        raise ValueError(f"normalized_slack_muscle_length must be < 1.66 for the Kistemaker et al. (2010) passive "
                         f"element, got {slack.tolist()}")


def hill_derived(params):
    """(l0_pe, k_pe, vmax) as MotorNet computes them at build time."""
    l0_ce = params.optimal_muscle_length
    l0_pe = params.normalized_slack_muscle_length * l0_ce
    k_pe = 1 / ((1.66 - l0_pe / l0_ce) ** 2)
    return l0_pe, k_pe, 10 * l0_ce


def b_rel(activation: torch.Tensor) -> torch.Tensor:
    r"""Hill's :math:`b_\mathrm{rel}` as a function of activation (Kistemaker et al. 2010): 5.2, times
    :math:`(1 - 0.9 (a - 0.3) / (0.005 - 0.3))^2` below :math:`a = 0.3`."""
    return torch.where(
        activation < Q_CRIT,
        5.2 * (1 - 0.9 * ((activation - Q_CRIT) / (5e-3 - Q_CRIT))) ** 2,
        5.2,
    )


def active_force_length(len_n: torch.Tensor) -> torch.Tensor:
    r"""Normalized active force-length curve :math:`F_L(\tilde l) = \max(0.01, 1 - (\tilde l - 1)^2 / 0.66^2)`
    of the normalized muscle length ``len_n`` (..., n_muscles)."""
    return torch.clamp(1 + (-(len_n**2) + 2 * len_n - 1) / F_ISO_N_DEN, min=MIN_FLCE)


@dataclass(frozen=True)
class RigidTendonHillMuscle(MuscleModel):
    r"""Hill-type muscle with a rigid tendon, after Kistemaker, Wong & Gribble (2010), as in MotorNet's
    ``RigidTendonHillMuscle``.

    The tendon does not stretch: the muscle takes the musculotendon length :math:`l_{MT}` beyond the
    tendon length :math:`l_{0,SE}` (``tendon_length``) and the whole musculotendon velocity,

    .. math::

        l_m = \max(0, l_{MT} - l_{0,SE}), \qquad v_m = v_{MT},

    .. math::

        \tilde l = l_m / l_{0,CE}, \qquad \tilde v = v_m / v_\max, \quad v_\max = 10\, l_{0,CE},

    with :math:`l_{0,CE}` = ``optimal_muscle_length``. Passive (parallel elastic) force, with slack
    length :math:`l_{0,PE} = s\, l_{0,CE}` (:math:`s` = ``normalized_slack_muscle_length``):

    .. math::

        F_{PE} = k_{PE} \left(\max\!\left(0, \frac{l_m - l_{0,PE}}{l_{0,CE}}\right)\right)^2, \qquad
        k_{PE} = \frac{1}{(1.66 - s)^2},

    so that the passive force reaches the maximal isometric force at 1.66 optimal lengths. Active
    force-length relation:

    .. math::

        F_L = \max\!\left(0.01,\ 1 - \frac{(\tilde l - 1)^2}{0.66^2}\right).

    Force-velocity relation: Hill's hyperbola when shortening, joined at the isometric point to an
    eccentric hyperbola whose asymptote has slope :math:`s_{as} = 0.001`. With

    .. math::

        a_\mathrm{rel} = \begin{cases} 0.41\, F_L & \tilde l > 1 \\ 0.41 & \text{otherwise} \end{cases},
        \qquad
        b_\mathrm{rel} = \begin{cases} 5.2 \left(1 - 0.9\, \frac{a - 0.3}{0.005 - 0.3}\right)^2 & a < 0.3 \\
            5.2 & \text{otherwise} \end{cases},

    .. math::

        d_0 = \frac{a (F_L + a_\mathrm{rel})}{b_\mathrm{rel}}, \quad
        p_1 = -\frac{a F_L / 2}{s_{as} - 2 d_0}, \quad
        p_2 = \frac{(a F_L / 2)^2}{s_{as} - 2 d_0}, \quad
        p_3 = -1.5\, a F_L,

    the active force, normalized by the maximal isometric force, is

    .. math::

        F_A = \max\!\left(0,\ \begin{cases}
            \dfrac{a\, a_\mathrm{rel}\, \tilde v + a F_L\, b_\mathrm{rel}}{b_\mathrm{rel} - \tilde v}
                & \tilde v < 0 \ \text{(shortening)} \\[1.5ex]
            \dfrac{-p_1 p_3 + p_1 s_{as} \tilde v + p_2 - p_3 \tilde v + s_{as} \tilde v^2}{p_1 + \tilde v}
                & \tilde v \ge 0 \ \text{(lengthening)}
        \end{cases}\right),

    both branches equal to :math:`a F_L` at :math:`\tilde v = 0`; :math:`d_0` is the inverse slope of the
    concentric branch there. The muscle force is

    .. math::

        F = (F_A + F_{PE})\, F_\max .

    Activation follows :mod:`~motornet_fn.core.muscles.activation` (defaults :math:`a_\min` = 0.001,
    :math:`\tau_\mathrm{act}` = 15 ms, :math:`\tau_\mathrm{deact}` = 50 ms). Proprioception is normalized
    by :math:`l_{0,CE}` and :math:`v_\max`.

    State (:class:`HillState`, MotorNet's rows): activation, muscle length :math:`l_m` (m), muscle
    velocity :math:`v_m` (m/s), ``flpe`` :math:`F_{PE}`, ``flce`` :math:`F_L`, ``fvce`` :math:`F_A` (here the
    active force, activation included), force :math:`F` (N). Parameters: :class:`HillParams`
    (:math:`s` defaults to 1.4 and must stay below 1.66).

    References:
        Kistemaker DA, Wong JD, Gribble PL (2010). The central nervous system does not minimize energy
        cost in arm movements. J Neurophysiol 104(6):2985-2994. doi:10.1152/jn.00483.2010

        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2023). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591
    """

    name = "RigidTendonHillMuscle"
    state_names = HILL_STATE_NAMES
    build_keys = ("max_isometric_force", "tendon_length", "optimal_muscle_length", "normalized_slack_muscle_length")
    required = ("max_isometric_force", "tendon_length", "optimal_muscle_length")
    defaults = {"normalized_slack_muscle_length": 1.4}
    activation_defaults = {"min_activation": 0.001, "tau_activation": 0.015, "tau_deactivation": 0.05}
    Params = HillParams
    State = HillState

    def proprioception_scales(self, params):
        return params.optimal_muscle_length, 10 * params.optimal_muscle_length

    def validate_params(self, fields):
        super().validate_params(fields)
        check_slack_length(fields)

    def outputs(self, params, ode_vars, geometry: Geometry):
        a = ode_vars.activation
        l0_ce = params.optimal_muscle_length
        l0_pe, k_pe, vmax = hill_derived(params)
        muscle_len = torch.clamp(geometry.length - params.tendon_length, min=0.0)
        muscle_vel = geometry.velocity
        strain = torch.clamp((muscle_len - l0_pe) / l0_ce, min=0.0)
        len_n = muscle_len / l0_ce
        vel_n = muscle_vel / vmax

        flpe = k_pe * (strain**2)
        flce = active_force_length(len_n)
        a_rel = torch.where(len_n > 1.0, 0.41 * flce, 0.41)
        b_rel_st = b_rel(a)
        dfdvcon0 = a * (flce + a_rel) / b_rel_st  # inverse slope at the isometric point, concentric side
        f_x_a = flce * a
        p_nom = f_x_a * 0.5
        p_den = S_AS - dfdvcon0 * 2.0
        p1 = -p_nom / p_den
        p2 = (p_nom**2) / p_den
        p3 = -1.5 * f_x_a
        concentric = vel_n < 0
        nom = torch.where(
            concentric,
            vel_n * a * a_rel + f_x_a * b_rel_st,
            -p1 * p3 + p1 * S_AS * vel_n + p2 - p3 * vel_n + S_AS * vel_n**2,
        )
        den = torch.where(concentric, b_rel_st - vel_n, p1 + vel_n)
        active = torch.clamp(safe_div(nom, den), min=0.0)
        force = (active + flpe) * params.max_isometric_force
        return HillState(a, muscle_len, muscle_vel, flpe, flce, active, force)
