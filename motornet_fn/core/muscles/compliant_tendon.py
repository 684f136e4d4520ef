"""Compliant-tendon Hill muscle of Kistemaker, Wong & Gribble (2010), as in MotorNet's
``CompliantTendonHillMuscle``; see :class:`CompliantTendonHillMuscle` for the equations.

Kistemaker DA, Wong JD, Gribble PL (2010). The central nervous system does not minimize energy cost
in arm movements. J Neurophysiol 104(6):2985-94. doi:10.1152/jn.00483.2010
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from motornet_fn.core.math import safe_sqrt
from motornet_fn.core.muscles.base import MuscleModel
from motornet_fn.core.muscles.rigid_tendon import (
    K_SE, S_AS, HillParams, active_force_length, b_rel, check_slack_length, hill_derived,
)
from motornet_fn.core.types import Geometry


class CompliantState(NamedTuple):
    """Attributes: each (n_muscles,): activation; muscle_length (m); muscle_velocity (v_n * vmax);
    flpe (passive force-length); flse (tendon force, normalized); active_force (normalized);
    force (N)."""

    activation: torch.Tensor
    muscle_length: torch.Tensor
    muscle_velocity: torch.Tensor
    flpe: torch.Tensor
    flse: torch.Tensor
    active_force: torch.Tensor
    force: torch.Tensor


class CompliantDerivative(NamedTuple):
    """MotorNet's compliant-muscle derivative.

    Attributes:
        activation: (n_muscles,) da/dt (1/s).
        velocity_n: (n_muscles,) normalized contraction velocity v_n; d(l_m / l0_ce)/dt = v_n.
    """

    activation: torch.Tensor
    velocity_n: torch.Tensor


class CompliantVars(NamedTuple):
    """Attributes: activation (n_muscles,); muscle_length (n_muscles,) in m."""

    activation: torch.Tensor
    muscle_length: torch.Tensor


def normalized_velocity(len_n: torch.Tensor, activation: torch.Tensor, active_force: torch.Tensor) -> torch.Tensor:
    """Contraction velocity :math:`\\tilde v` (normalized) at which the contractile element produces
    ``active_force`` :math:`F_A` at normalized length ``len_n`` and activation ``activation`` (each
    (..., n_muscles)).

    Inverts the Kistemaker et al. (2010) force-velocity relation: the concentric Hill hyperbola when
    :math:`F_A < a F_L`, otherwise the eccentric branch (the root of a quadratic); see
    :class:`CompliantTendonHillMuscle`.
    """
    flce = active_force_length(len_n)
    a_rel = torch.where(len_n < 1.0, 0.41 * flce, 0.41)
    b_rel_st = b_rel(activation)
    f_x_a = flce * activation
    dfdvcon0 = (f_x_a + activation * a_rel) / b_rel_st
    p1 = -f_x_a * 0.5 / (S_AS - dfdvcon0 * 2.0)
    p3 = -1.5 * f_x_a
    p2_term = (4 * ((f_x_a * 0.5) ** 2) * (-S_AS)) / (S_AS - dfdvcon0 * 2)
    f = active_force
    disc = (
        f**2 + 2 * f * p1 * S_AS + 2 * f * p3 + p1**2 * S_AS**2 + 2 * p1 * p3 * S_AS + p2_term + p3**2
    )
    concentric = f < f_x_a
    nom = torch.where(concentric, b_rel_st * (f - f_x_a), -f + p1 * S_AS - p3 - safe_sqrt(disc))
    den = torch.where(concentric, f + activation * a_rel, -2 * S_AS)
    return nom / den


@dataclass(frozen=True)
class CompliantTendonHillMuscle(MuscleModel):
    r"""Hill-type muscle with a compliant tendon, after Kistemaker, Wong & Gribble (2010), as in
    MotorNet's ``CompliantTendonHillMuscle``.

    The muscle (fibre) length :math:`l_m` is a state variable; the tendon takes the rest of the
    musculotendon length :math:`l_{MT}`. Tendon (series elastic) and parallel elastic forces, normalized
    by the maximal isometric force, with :math:`l_{0,SE}` = ``tendon_length`` (slack length),
    :math:`l_{0,CE}` = ``optimal_muscle_length`` and :math:`l_{0,PE} = s\, l_{0,CE}`:

    .. math::

        F_{SE} = \min\!\left(1,\ k_{SE} \left(\max\!\left(0, \frac{l_{MT} - l_m - l_{0,SE}}{l_{0,SE}}\right)\right)^2\right),
        \quad k_{SE} = \frac{1}{0.04^2}, \qquad
        F_{PE} = k_{PE} \left(\max\!\left(0, \frac{l_m - l_{0,PE}}{l_{0,CE}}\right)\right)^2,
        \quad k_{PE} = \frac{1}{(1.66 - s)^2}

    (the tendon reaches the maximal isometric force at 4 % strain). In equilibrium the contractile
    element carries the difference,

    .. math::

        F_A = \max(0,\ F_{SE} - F_{PE}),

    and the normalized contraction velocity :math:`\tilde v` is found by inverting the force-velocity
    relation of :class:`~motornet_fn.core.muscles.rigid_tendon.RigidTendonHillMuscle` at
    :math:`\tilde l = l_m / l_{0,CE}` (same :math:`F_L`, :math:`b_\mathrm{rel}`, :math:`d_0`, :math:`p_1`,
    :math:`p_2`, :math:`p_3`, :math:`s_{as}`; here :math:`a_\mathrm{rel} = 0.41 F_L` when :math:`\tilde l < 1`,
    else 0.41, as in MotorNet):

    .. math::

        \tilde v = \begin{cases}
            \dfrac{b_\mathrm{rel} (F_A - a F_L)}{F_A + a\, a_\mathrm{rel}} & F_A < a F_L \ \text{(shortening)} \\[2ex]
            \dfrac{F_A - p_1 s_{as} + p_3 + \sqrt{(F_A + p_1 s_{as} + p_3)^2 - 4 s_{as} p_2}}{2 s_{as}}
                & \text{otherwise (lengthening).}
        \end{cases}

    The integrated variables are the activation (:mod:`~motornet_fn.core.muscles.activation`; defaults
    :math:`a_\min` = 0.01, :math:`\tau_\mathrm{act}` = 15 ms, :math:`\tau_\mathrm{deact}` = 50 ms) and the
    fibre length, which changes at the rate MotorNet integrates,

    .. math::

        \frac{\mathrm{d} l_m}{\mathrm{d} t} = \tilde v\, l_{0,CE},

    while the reported ``muscle_velocity`` is :math:`\tilde v\, v_\max` with :math:`v_\max = 10\, l_{0,CE}`,
    as MotorNet reports it. The muscle force is the tendon force,

    .. math::

        F = F_{SE}\, F_\max .

    In MotorNet's discrete scheme (:meth:`integrate`) the forces come from the fibre length before the
    update. The state at rest starts from the fibre length at which passive muscle and tendon forces
    balance (:meth:`equilibrium_length`) and is integrated once over ``dt``, as MotorNet does.

    State (:class:`CompliantState`, MotorNet's rows): activation, muscle length :math:`l_m` (m), muscle
    velocity :math:`\tilde v\, v_\max`, ``flpe`` :math:`F_{PE}`, ``flse`` :math:`F_{SE}`, ``active_force``
    :math:`F_A`, force :math:`F` (N). Parameters: :class:`~motornet_fn.core.muscles.rigid_tendon.HillParams`
    (``tendon_length`` must be > 0).

    References:
        Kistemaker DA, Wong JD, Gribble PL (2010). The central nervous system does not minimize energy
        cost in arm movements. J Neurophysiol 104(6):2985-2994. doi:10.1152/jn.00483.2010

        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2023). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591
    """

    name = "CompliantTendonHillMuscle"
    state_names = (
        "activation", "muscle length", "muscle velocity", "force-length PE", "force-length SE",
        "active force", "force",
    )
    required = ("max_isometric_force", "tendon_length", "optimal_muscle_length")
    defaults = {"normalized_slack_muscle_length": 1.4}
    build_keys = ("max_isometric_force", "tendon_length", "optimal_muscle_length", "normalized_slack_muscle_length")
    activation_defaults = {"min_activation": 0.01, "tau_activation": 0.015, "tau_deactivation": 0.05}
    Params = HillParams
    State = CompliantState
    Vars = CompliantVars
    Derivative = CompliantDerivative

    def proprioception_scales(self, params):
        return params.optimal_muscle_length, 10 * params.optimal_muscle_length

    def validate_params(self, fields):
        super().validate_params(fields)
        check_slack_length(fields)
        if (fields["tendon_length"] <= 0).any():
            raise ValueError(f"tendon_length must be > 0 for a compliant tendon, got {fields['tendon_length'].tolist()}")

    def _forces(self, params, muscle_len, musculotendon_len, cap_passive: bool):
        l0_ce, l0_se = params.optimal_muscle_length, params.tendon_length
        l0_pe, k_pe, _ = hill_derived(params)
        tendon_strain = torch.clamp((musculotendon_len - muscle_len - l0_se) / l0_se, min=0.0)
        muscle_strain = torch.clamp((muscle_len - l0_pe) / l0_ce, min=0.0)
        flse = torch.clamp(K_SE * (tendon_strain**2), max=1.0)
        flpe = k_pe * (muscle_strain**2)
        if cap_passive:
            flpe = torch.clamp(flpe, max=1.0)
        return flse, flpe, torch.clamp(flse - flpe, min=0.0)

    # continuous ODE -----------------------------------------------------------------
    def ode_vars(self, state):
        return CompliantVars(state.activation, state.muscle_length)

    def outputs(self, params, ode_vars, geometry: Geometry):
        a, lm = ode_vars
        flse, flpe, active = self._forces(params, lm, geometry.length, cap_passive=False)
        vel_n = normalized_velocity(lm / params.optimal_muscle_length, a, active)
        _, _, vmax = hill_derived(params)
        return CompliantState(a, lm, vel_n * vmax, flpe, flse, active, flse * params.max_isometric_force)

    def ode_rhs(self, params, ode_vars, action, geometry: Geometry):
        a, lm = ode_vars
        _, _, active = self._forces(params, lm, geometry.length, cap_passive=False)
        vel_n = normalized_velocity(lm / params.optimal_muscle_length, a, active)
        return CompliantVars(self.activation_rhs(params, action, a), vel_n * params.optimal_muscle_length)

    # MotorNet's discrete scheme ---------------------------------------------------------
    def derivative(self, params, state, action):
        len_n = state.muscle_length / params.optimal_muscle_length
        vel_n = normalized_velocity(len_n, state.activation, state.active_force)
        return CompliantDerivative(self.activation_rhs(params, action, state.activation), vel_n)

    def integrate(self, params, state, derivative, geometry: Geometry, dt: float):
        # Forces come from the length *before* the update (MotorNet's lagged scheme).
        l0_ce = params.optimal_muscle_length
        flse, flpe, active = self._forces(params, state.muscle_length, geometry.length, cap_passive=False)
        activation = self.clip_activation(params, state.activation + derivative.activation * dt)
        new_len = (state.muscle_length / l0_ce + dt * derivative.velocity_n) * l0_ce
        _, _, vmax = hill_derived(params)
        return CompliantState(
            activation, new_len, derivative.velocity_n * vmax, flpe, flse, active,
            flse * params.max_isometric_force,
        )

    def equilibrium_length(self, params, musculotendon_len):
        """Muscle length (m) at which passive muscle and tendon forces balance (MotorNet's initial
        guess): all slack to the tendon below l0_se, all extra length to the muscle up to its slack
        length, then the root of k_pe x_m^2 = k_se x_t^2. Negative musculotendon length gives -1."""
        l0_ce, l0_se = params.optimal_muscle_length, params.tendon_length
        l0_pe, k_pe, _ = hill_derived(params)
        lmt = musculotendon_len
        stretched = (
            k_pe * l0_pe * l0_se**2 - K_SE * (l0_ce**2) * lmt + K_SE * l0_ce**2 * l0_se
            - l0_ce * l0_se * torch.sqrt(k_pe * K_SE) * (-lmt + l0_pe + l0_se)
        ) / (k_pe * l0_se**2 - K_SE * l0_ce**2)
        return torch.where(
            lmt < 0.0, torch.full_like(lmt, -1.0),
            torch.where(lmt < l0_se, (0.001 * l0_ce).expand_as(lmt),
            torch.where(lmt < l0_se + l0_pe, lmt - l0_se, stretched)))

    def initial_inputs(self, params, geometry: Geometry) -> tuple[CompliantVars, CompliantDerivative]:
        """The (variables, derivative) MotorNet integrates once, over ``dt``, into the state at rest:
        minimum activation, the equilibrium fibre length, and its normalized velocity."""
        lmt = geometry.length
        a = params.min_activation.expand_as(lmt)
        lm = self.equilibrium_length(params, lmt)
        _, _, active = self._forces(params, lm, lmt, cap_passive=True)
        vel_n = normalized_velocity(lm / params.optimal_muscle_length, a, active)
        return CompliantVars(a, lm), CompliantDerivative(torch.zeros_like(a), vel_n)

    def initial_state(self, params, geometry: Geometry, dt: float):
        start, derivative = self.initial_inputs(params, geometry)
        return self.integrate(params, start, derivative, geometry, dt)
