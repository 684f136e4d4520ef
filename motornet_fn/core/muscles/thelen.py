"""Rigid-tendon version of Thelen's (2003) Hill muscle, as in MotorNet's
``RigidTendonHillMuscleThelen``; see :class:`RigidTendonHillMuscleThelen` for the equations.

Thelen DG (2003). Adjustment of muscle mechanics model parameters to simulate dynamic contractions
in older adults. J Biomech Eng 125(1):70-7. doi:10.1115/1.1531112
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from motornet_fn.core.muscles.base import HILL_STATE_NAMES, MuscleModel
from motornet_fn.core.muscles.rigid_tendon import HillParams, HillState
from motornet_fn.core.types import Geometry

PE_K = 5.0
PE_STRAIN = 0.6
CE_GAMMA = 0.45
CE_AF = 0.25
CE_FMLEN = 1.4


@dataclass(frozen=True)
class RigidTendonHillMuscleThelen(MuscleModel):
    r"""Thelen's (2003) Hill-type muscle with a rigid tendon, as in MotorNet's
    ``RigidTendonHillMuscleThelen``.

    With :math:`l_m = \max(0.001, l_{MT} - l_{0,SE})`, :math:`v_m = v_{MT}` (rigid tendon),
    :math:`l_{0,PE} = s\, l_{0,CE}` (:math:`s` = ``normalized_slack_muscle_length``, default 1) and
    :math:`v_\max = 10\, l_{0,CE}`, the passive (Thelen's eq. 3) and active force-length relations
    are

    .. math::

        F_{PE} = \max\!\left(0,\ \frac{\exp\!\left(k_{PE} \dfrac{l_m - l_{0,PE}}{\varepsilon_0\, l_{0,CE}}\right) - 1}
            {\exp(k_{PE}) - 1}\right), \quad k_{PE} = 5,\ \varepsilon_0 = 0.6, \qquad
        F_L = \exp\!\left(-\frac{(l_m / l_{0,CE} - 1)^2}{\gamma}\right), \quad \gamma = 0.45 .

    The force-velocity factor is Thelen's eq. 6 solved for the force, with :math:`A_f = 0.25`,
    :math:`\bar F_\mathrm{len} = 1.4` and :math:`\hat v = v_\max (1 + 3a) / 4`:

    .. math::

        F_V = \max\!\left(0,\ \begin{cases}
            \dfrac{\hat v + v_m}{\hat v - v_m / A_f} & v_m \le 0 \ \text{(shortening)} \\[2ex]
            \dfrac{A_f\, \hat v\, (\bar F_\mathrm{len} - 1) + 2 \bar F_\mathrm{len} (1 + A_f)\, v_m}
                 {A_f\, \hat v\, (\bar F_\mathrm{len} - 1) + 2 (1 + A_f)\, v_m} & v_m > 0 \ \text{(lengthening)}
        \end{cases}\right),

    which is 1 at :math:`v_m = 0`, 0 at :math:`v_m = -\hat v` and tends to :math:`\bar F_\mathrm{len}` when
    lengthening fast (the code evaluates the same fractions with MotorNet's precomputed constants
    ``ce_0`` ... ``ce_5``). The muscle force is

    .. math::

        F = (a\, F_L\, F_V + F_{PE})\, F_\max .

    Activation follows :mod:`~motornet_fn.core.muscles.activation` (Thelen's eqs. 1-2; defaults
    :math:`a_\min` = 0.001, :math:`\tau_\mathrm{act}` = 15 ms, :math:`\tau_\mathrm{deact}` = 50 ms).
    Proprioception is normalized by :math:`l_{0,CE}` and :math:`v_\max`.

    State (:class:`~motornet_fn.core.muscles.rigid_tendon.HillState`): activation, muscle length (m),
    muscle velocity (m/s), ``flpe`` :math:`F_{PE}`, ``flce`` :math:`F_L`, ``fvce`` :math:`F_V`, force (N).
    Parameters: :class:`~motornet_fn.core.muscles.rigid_tendon.HillParams`.

    References:
        Thelen DG (2003). Adjustment of muscle mechanics model parameters to simulate dynamic
        contractions in older adults. J Biomech Eng 125(1):70-77. doi:10.1115/1.1531112

        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2023). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591
    """

    name = "RigidTendonHillMuscleThelen"
    state_names = HILL_STATE_NAMES
    build_keys = ("max_isometric_force", "tendon_length", "optimal_muscle_length", "normalized_slack_muscle_length")
    required = ("max_isometric_force", "tendon_length", "optimal_muscle_length")
    defaults = {"normalized_slack_muscle_length": 1.0}
    activation_defaults = {"min_activation": 0.001, "tau_activation": 0.015, "tau_deactivation": 0.05}
    Params = HillParams
    State = HillState

    def proprioception_scales(self, params):
        return params.optimal_muscle_length, 10 * params.optimal_muscle_length

    def outputs(self, params, ode_vars, geometry: Geometry):
        a = ode_vars.activation
        l0_ce = params.optimal_muscle_length
        const = l0_ce.new_tensor
        # constants evaluated in the parameters' dtype, in MotorNet's order (float32 parity)
        pe_k, af, fmlen = const(PE_K), const(CE_AF), const(CE_FMLEN)
        pe_1 = pe_k / PE_STRAIN
        pe_den = torch.exp(pe_k) - 1
        l0_pe = l0_ce * params.normalized_slack_muscle_length
        vmax = 10 * l0_ce
        ce_0 = 3 * vmax
        ce_1 = af * vmax
        ce_2 = 3 * af * vmax * fmlen - 3.0 * af * vmax
        ce_3 = 8 * af * fmlen + 8.0 * fmlen
        ce_4 = af * fmlen * vmax - ce_1
        ce_5 = 8 * (af + 1.0)

        muscle_len = torch.clamp(geometry.length - params.tendon_length, min=0.001)
        muscle_vel = geometry.velocity
        a3 = a * 3.0
        shortening = muscle_vel <= 0
        nom = torch.where(
            shortening, af * (a * ce_0 + 4.0 * muscle_vel + vmax), ce_2 * a + ce_3 * muscle_vel + ce_4
        )
        den = torch.where(shortening, a3 * ce_1 + ce_1 - 4.0 * muscle_vel, ce_4 * a3 + ce_5 * muscle_vel + ce_4)
        fvce = torch.clamp(nom / den, min=0.0)
        flpe = torch.clamp((torch.exp(pe_1 * (muscle_len - l0_pe) / l0_ce) - 1) / pe_den, min=0.0)
        flce = torch.exp((-(((muscle_len / l0_ce) - 1) ** 2)) / CE_GAMMA)
        force = (a * flce * fvce + flpe) * params.max_isometric_force
        return HillState(a, muscle_len, muscle_vel, flpe, flce, fvce, force)
