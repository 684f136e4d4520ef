"""The muscle-model interface and the machinery shared by all models.

A muscle model is a frozen dataclass (static structure) whose methods are pure functions of a
parameter NamedTuple and state NamedTuples. Two schemes are offered:

* MotorNet's discrete scheme, kept for exact parity: ``derivative`` (MotorNet's ``ode``) evaluates
  the derivative from the stored state, and ``integrate`` advances it by ``dt`` using the geometry
  of the *previous* step (MotorNet computes the muscle state at t+1 from the geometry at t).
* The continuous ODE, for textbook integrators: ``ode_vars`` extracts the integrated variables
  (activation, and muscle length for compliant tendons), ``ode_rhs`` gives their time derivative and
  ``outputs`` the full muscle state at a given geometry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from motornet_fn.core.muscles.activation import activation_derivative, clip_activation
from motornet_fn.core.types import Geometry


class ActivationDerivative(NamedTuple):
    """Derivative of a rigid-tendon muscle state.

    Attributes:
        activation: (n_muscles,) da/dt (1/s).
    """

    activation: torch.Tensor


class ActivationVars(NamedTuple):
    """Integrated variables of a rigid-tendon muscle.

    Attributes:
        activation: (n_muscles,) activation in [min_activation, 1].
    """

    activation: torch.Tensor


def as_muscle_param(name: str, value: Any, n_muscles: int, dtype: torch.dtype, device=None) -> torch.Tensor:
    """Validate a per-muscle parameter (scalar or length-n_muscles) and return it as a (n_muscles,) tensor."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"muscle parameter {name!r} must be a number or a sequence of numbers, got {value!r}") from err
    if t.numel() == 1:
        t = t.reshape(()).expand(n_muscles)
    elif t.numel() != n_muscles:
        raise ValueError(
            f"muscle parameter {name!r} must be a scalar or have n_muscles={n_muscles} elements, "
            f"got shape {tuple(t.shape)}: {t.tolist()}"
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"muscle parameter {name!r} must be finite, got {t.tolist()}")
    return t.reshape(n_muscles).to(dtype=dtype, device=device).clone()


#: MotorNet's state names of the Hill-type muscles with a force-velocity term (MuJoCo, Kistemaker, Thelen)
HILL_STATE_NAMES = ("activation", "muscle length", "muscle velocity", "force-length PE", "force-length CE",
                    "force-velocity CE", "force")


@dataclass(frozen=True)
class MuscleModel:
    """Base class of muscle models. Subclasses set the class attributes and implement ``outputs``."""

    name: ClassVar[str] = "Muscle"
    state_names: ClassVar[tuple[str, ...]] = ()
    #: parameters every muscle needs (names follow MotorNet's ``add_muscle`` keywords)
    required: ClassVar[tuple[str, ...]] = ("max_isometric_force",)
    #: optional per-muscle parameters with their defaults
    defaults: ClassVar[dict[str, float]] = {}
    #: MotorNet's ``add_muscle`` keywords of this model, in MotorNet's order (its ``to_build_dict``)
    build_keys: ClassVar[tuple[str, ...]] = ("max_isometric_force",)
    #: activation parameters, overridable at construction (MotorNet's ``Muscle.__init__`` keywords)
    activation_defaults: ClassVar[dict[str, float]] = {
        "min_activation": 0.0,
        "tau_activation": 0.015,
        "tau_deactivation": 0.05,
    }
    Params: ClassVar[type] = NamedTuple
    State: ClassVar[type] = NamedTuple
    Vars: ClassVar[type] = ActivationVars
    Derivative: ClassVar[type] = ActivationDerivative

    # ------------------------------------------------------------------ parameters
    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.Params._fields)

    @property
    def build_defaults(self) -> dict[str, float]:
        """Defaults of the :attr:`build_keys` that have one (MotorNet's ``to_build_dict_default``)."""
        return {k: self.defaults[k] for k in self.build_keys if k in self.defaults}

    def make_params(self, n_muscles: int, dtype: torch.dtype = torch.float32, device=None, **kwargs) -> Any:
        """Build the parameter NamedTuple, each field (n_muscles,).

        Raises:
            TypeError: a required parameter is missing or a keyword is unknown.
            ValueError: a parameter has the wrong size or is not finite.
        """
        if not isinstance(n_muscles, int) or n_muscles < 1:
            raise ValueError(f"n_muscles must be a positive int, got {n_muscles!r}")
        known = set(self.Params._fields)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"{self.name}: unknown muscle parameter(s) {unknown}; expected some of {sorted(known)}")
        values = {**self.activation_defaults, **self.defaults, **kwargs}
        missing = [k for k in self.Params._fields if k not in values]
        if missing:
            raise TypeError(f"{self.name}: missing muscle parameter(s) {missing} (required: {list(self.required)})")
        fields = {k: as_muscle_param(k, values[k], n_muscles, dtype, device) for k in self.Params._fields}
        self.validate_params(fields)
        return self.Params(**fields)

    def validate_params(self, fields: dict[str, torch.Tensor]) -> None:
        """Range checks on freshly built parameters (eager, outside transforms)."""
        lo = fields["min_activation"]
        if ((lo < 0) | (lo >= 1)).any():
            raise ValueError(f"min_activation must lie in [0, 1), got {lo.tolist()}")
        for k in ("tau_activation", "tau_deactivation", "max_isometric_force"):
            if (fields[k] <= 0).any():
                raise ValueError(f"{k} must be > 0, got {fields[k].tolist()}")
        for k in ("optimal_muscle_length", "normalized_slack_muscle_length"):
            if k in fields and (fields[k] <= 0).any():
                raise ValueError(f"{k} must be > 0, got {fields[k].tolist()}")
        if "tendon_length" in fields and (fields["tendon_length"] < 0).any():
            raise ValueError(f"tendon_length must be >= 0, got {fields['tendon_length'].tolist()}")

    # ------------------------------------------------------------------ activation
    def clip_activation(self, params: Any, x: torch.Tensor) -> torch.Tensor:
        """Clip an excitation or activation (..., n_muscles) to [min_activation, 1]."""
        return clip_activation(x, params.min_activation)

    def activation_rhs(self, params: Any, action: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
        """da/dt (..., n_muscles)."""
        return activation_derivative(
            action, activation, params.min_activation, params.tau_activation, params.tau_deactivation
        )

    # ------------------------------------------------------------------ continuous ODE
    def outputs(self, params: Any, ode_vars: Any, geometry: Geometry) -> Any:
        """Full muscle state from the integrated variables and the current geometry."""
        raise NotImplementedError

    def ode_vars(self, state: Any) -> Any:
        """The integrated variables held in a full state."""
        return self.Vars(state.activation)

    def ode_rhs(self, params: Any, ode_vars: Any, action: torch.Tensor, geometry: Geometry) -> Any:
        """Time derivative of the integrated variables (continuous ODE)."""
        return self.Vars(self.activation_rhs(params, action, ode_vars.activation))

    def project_vars(self, params: Any, ode_vars: Any) -> Any:
        """Map integrated variables back onto their admissible set (activation clipping)."""
        return ode_vars._replace(activation=self.clip_activation(params, ode_vars.activation))

    # ------------------------------------------------------------------ MotorNet's discrete scheme
    def initial_state(self, params: Any, geometry: Geometry, dt: float) -> Any:
        """State at rest (activation = min_activation) matching ``geometry``."""
        a0 = params.min_activation.expand_as(geometry.length)
        return self.outputs(params, self.Vars(a0), geometry)

    def derivative(self, params: Any, state: Any, action: torch.Tensor) -> Any:
        """MotorNet's ``Muscle.ode``: derivative from the stored state and the excitation."""
        return self.Derivative(self.activation_rhs(params, action, state.activation))

    def integrate(self, params: Any, state: Any, derivative: Any, geometry: Geometry, dt: float) -> Any:
        """MotorNet's ``Muscle.integrate``: explicit Euler on activation, outputs at ``geometry``."""
        activation = self.clip_activation(params, state.activation + derivative.activation * dt)
        return self.outputs(params, self.Vars(activation), geometry)

    # ------------------------------------------------------------------ helpers
    def proprioception_scales(self, params: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(length_scale, velocity_scale), each (n_muscles,): MotorNet's ``l0_ce`` and ``vmax``
        buffers, which normalize proprioceptive feedback. Ones for models without them."""
        ones = torch.ones_like(params.max_isometric_force)
        return ones, ones

    def state_index(self, name: str) -> int:
        """Row of ``name`` in MotorNet's (n_states, n_muscles) layout."""
        return self.state_names.index(name)
