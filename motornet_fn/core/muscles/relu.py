"""Rectified-linear muscle: force = activation x max_isometric_force (MotorNet's ``ReluMuscle``).

See :class:`ReluMuscle` for the equations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from motornet_fn.core.muscles.base import MuscleModel
from motornet_fn.core.types import Geometry


class ReluParams(NamedTuple):
    """Attributes: each (n_muscles,): max_isometric_force (N); min_activation; tau_activation,
    tau_deactivation (s)."""

    max_isometric_force: torch.Tensor
    min_activation: torch.Tensor
    tau_activation: torch.Tensor
    tau_deactivation: torch.Tensor


class ReluState(NamedTuple):
    """Attributes: each (n_muscles,): activation; muscle_length (m) and muscle_velocity (m/s), equal
    to the musculotendon values; force (N)."""

    activation: torch.Tensor
    muscle_length: torch.Tensor
    muscle_velocity: torch.Tensor
    force: torch.Tensor


@dataclass(frozen=True)
class ReluMuscle(MuscleModel):
    r"""A force generator without force-length or force-velocity relations (MotorNet's ``ReluMuscle``,
    Codol et al. 2023): the force is proportional to the activation,

    .. math::

        F = a \, F_\max ,

    with the activation :math:`a` following the first-order dynamics of
    :mod:`~motornet_fn.core.muscles.activation` (defaults :math:`a_\min = 0`, :math:`\tau_\mathrm{act}`
    = 15 ms, :math:`\tau_\mathrm{deact}` = 50 ms) and :math:`F_\max` = ``max_isometric_force`` (N). The
    reported muscle length and velocity are the musculotendon length and velocity of the geometry. The
    state at rest has zero force, whatever ``min_activation`` is (as MotorNet's).

    State (:class:`ReluState`, MotorNet's rows): activation, muscle length (m), muscle velocity (m/s),
    force (N). Parameters: :class:`ReluParams`.

    References:
        Codol O, Michaels JA, Kashefi M, Pruszynski JA, Gribble PL (2024). MotorNet, a Python toolbox
        for controlling differentiable biomechanical effectors with artificial neural networks. eLife
        12:RP88591. doi:10.7554/eLife.88591
    """

    name = "ReluMuscle"
    state_names = ("activation", "muscle length", "muscle velocity", "force")
    Params = ReluParams
    State = ReluState

    def outputs(self, params, ode_vars, geometry: Geometry):
        a = ode_vars.activation
        return ReluState(a, geometry.length, geometry.velocity, a * params.max_isometric_force)

    def initial_state(self, params, geometry: Geometry, dt: float):
        # MotorNet starts with zero force whatever min_activation is.
        state = super().initial_state(params, geometry, dt)
        return state._replace(force=torch.zeros_like(state.force))
