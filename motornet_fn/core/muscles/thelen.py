"""Rigid-tendon version of Thelen's (2003) Hill muscle, as in MotorNet's
``RigidTendonHillMuscleThelen``.

Thelen DG (2003). Adjustment of muscle mechanics model parameters to simulate dynamic contractions
in older adults. J Biomech Eng 125(1):70-7. doi:10.1115/1.1531112

    F_PE = max(0, (exp(k_PE (l_m - l0_pe) / (l0_ce e0_M)) - 1) / (exp(k_PE) - 1)),  k_PE = 5, e0_M = 0.6
    F_CE = exp(-(l_m / l0_ce - 1)^2 / gamma),                                       gamma = 0.45
    F_V from Thelen's eq. 6 solved for force (A_f = 0.25, F_len = 1.4, vmax = 10 l0_ce),
    force = (a F_CE F_V + F_PE) * max_isometric_force.
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
