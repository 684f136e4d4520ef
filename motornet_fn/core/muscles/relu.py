"""Rectified-linear muscle: force = activation * max_isometric_force (MotorNet's ``ReluMuscle``)."""
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
