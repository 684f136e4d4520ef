"""MotorNet's muscle classes on the functional core.

One ``Muscle`` object holds all the muscles of an effector, vectorized. MotorNet's layouts: muscle
state (batch, n_states, n_muscles) with rows in ``state_name`` order; geometry state
(batch, 2 + dof, n_muscles) = [musculotendon length, musculotendon velocity, moment arms...];
muscle parameters as (1, 1, n_muscles) buffers (``max_iso_force``, ``l0_ce``, ``l0_se``, ...).

The stock classes keep their parameters as buffers and compute through
:mod:`motornet_fn.core.muscles`: ``build`` validates and stores the core parameter NamedTuple (as
``core_<field>`` buffers), and ``integrate`` / ``ode`` / ``get_initial_muscle_state`` convert the
layouts and call the core. Subclasses override MotorNet's hooks (``_integrate``, ``_ode``,
``_get_initial_muscle_state``, ``activation_ode``) exactly as in MotorNet.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from motornet_fn._module import RecordedModule
from motornet_fn.core import muscles as core_muscles
from motornet_fn.core.muscles.activation import activation_derivative, clip_activation
from motornet_fn.core.muscles.compliant_tendon import normalized_velocity
from motornet_fn.core.muscles.mujoco_hill import bump
from motornet_fn.core.muscles.rigid_tendon import F_ISO_N_DEN, K_SE, MIN_FLCE, Q_CRIT, S_AS, hill_derived
from motornet_fn.core.muscles.thelen import CE_AF, CE_FMLEN, CE_GAMMA, PE_K, PE_STRAIN
from motornet_fn.core.types import geometry_from_tensor, muscle_to_tensor

_ACTIVATION_FIELDS = ("min_activation", "tau_activation", "tau_deactivation")


def _activation_default(model: str, name: str) -> float:
    """A core muscle model's default activation parameter (the constructors' defaults come from the core)."""
    return core_muscles.MUSCLES[model].activation_defaults[name]


def _f32(value: Any) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float32)


def _overrides(muscle: "Muscle", method: str) -> bool:
    """Whether ``muscle`` replaces the base class's ``method``."""
    return method in muscle.__dict__ or getattr(type(muscle), method) is not getattr(Muscle, method)


class Muscle(RecordedModule):
    """Base class of muscles (MotorNet's ``Muscle``).

    Args:
        input_dim: dimension of the drive of one muscle (1: an excitation).
        output_dim: dimension of the output of :meth:`integrate` (usually the number of states).
        min_activation: lower bound of activation (and of the clipped excitation).
        tau_activation: activation time constant (s), Thelen (2003) eq. 1-2.
        tau_deactivation: deactivation time constant (s).

    Attributes:
        core_model: the core muscle model behind a stock class (None for the base class).
    """

    #: core class implementing a stock subclass's physics; None means "no core model".
    _core_class: ClassVar[type | None] = None

    def __init__(self, input_dim: int = 1, output_dim: int = 1,
                 min_activation: float = core_muscles.MuscleModel.activation_defaults["min_activation"],
                 tau_activation: float = core_muscles.MuscleModel.activation_defaults["tau_activation"],
                 tau_deactivation: float = core_muscles.MuscleModel.activation_defaults["tau_deactivation"]):
        super().__init__()
        self._device = torch.device("cpu")
        self.__name__ = type(self).__name__
        self.input_dim = input_dim
        self.state_name = []
        self.output_dim = output_dim
        self.register_buffer("min_activation", _f32(min_activation))
        self.register_buffer("tau_activation", _f32(tau_activation))
        self.register_buffer("tau_deactivation", _f32(tau_deactivation))
        self.dt = None
        self.n_muscles = None
        for name in ("max_iso_force", "vmax", "l0_se", "l0_ce", "l0_pe"):
            self.register_buffer(name, None)
        self.built = False
        self.core_model = None if self._core_class is None else self._core_class()
        # the model's metadata lives in the core model: state names, add_muscle keywords and their defaults
        model = self.core_model
        if model is not None:
            self.state_name = list(model.state_names)
            self.state_dim = len(self.state_name)
        self.to_build_dict = {k: [] for k in (model.build_keys if model else ("max_isometric_force",))}
        self.to_build_dict_default = dict(model.build_defaults) if model else {}

    # ------------------------------------------------------------------ core parameters
    def _core_param_values(self) -> dict:
        """Constructor-level parameters of the core model that are not ``build`` arguments."""
        return {k: float(getattr(self, k)) for k in _ACTIVATION_FIELDS}

    def _store_core_params(self, **build_values) -> Any:
        """Validate the build values through the core (TypeError/ValueError naming the parameter) and
        hold the resulting parameter NamedTuple as ``core_<field>`` buffers. Returns it."""
        params = self.core_model.make_params(self.n_muscles, **build_values, **self._core_param_values())
        like = self.min_activation
        params = type(params)(*(p.to(device=like.device, dtype=like.dtype) for p in params))
        for field, value in zip(params._fields, params):
            self.register_buffer("core_" + field, value)
        return params

    def params(self) -> Any:
        """The core parameter NamedTuple, each field (n_muscles,): views of this module's buffers.

        The activation parameters are read from the live ``min_activation`` / ``tau_*`` buffers, as
        MotorNet reads them at every step. None without a core model or before :meth:`build`.
        """
        if self.core_model is None or not self.built:
            return None
        cls = self.core_model.Params
        return self.memo("params", lambda: cls(*(getattr(self, f).expand(self.n_muscles) if f in _ACTIVATION_FIELDS
                                                 else getattr(self, "core_" + f) for f in cls._fields)))

    # ------------------------------------------------------------------ MotorNet API
    def clip_activation(self, a: torch.Tensor) -> torch.Tensor:
        """Clip an excitation or activation to [min_activation, 1]."""
        return clip_activation(a, self.min_activation)

    def build(self, timestep: float, max_isometric_force: float | list, **kwargs) -> None:
        """Set the timestep and per-muscle parameters (called by the effector's ``add_muscle``).

        Args:
            timestep: integration step (s), used for the initial state.
            max_isometric_force: (n_muscles,) or scalar, maximum isometric force (N).
            **kwargs: further parameters, ignored by the base class.
        """
        max_isometric_force = np.array(max_isometric_force).reshape(1, 1, -1)
        self.n_muscles = max_isometric_force.size
        self.dt = timestep
        self.register_buffer("max_iso_force", _f32(max_isometric_force).to(self.min_activation.device))
        for name in ("vmax", "l0_se", "l0_ce", "l0_pe"):
            self.register_buffer(name, torch.ones((1, 1, self.n_muscles), device=self.min_activation.device))
        if self.core_model is not None:
            self._store_core_params(max_isometric_force=max_isometric_force)
        self.built = True

    def get_initial_muscle_state(self, batch_size: int, geometry_state: torch.Tensor) -> torch.Tensor:
        """Muscle state at rest (minimum activation) matching a geometry state.

        Args:
            batch_size: batch size of ``geometry_state``.
            geometry_state: (batch, 2 + dof, n_muscles).

        Returns:
            (batch, n_states, n_muscles).
        """
        return self._get_initial_muscle_state(batch_size, geometry_state)

    def _get_initial_muscle_state(self, batch_size, geometry_state):
        # as MotorNet: one integration step, of zero derivative, from minimum activation
        if self.core_model is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _get_initial_muscle_state")
        activation = torch.ones_like(geometry_state[:, :1, :]) * self.min_activation
        return self.integrate(self.dt, torch.zeros_like(activation), activation, geometry_state)

    def integrate(self, dt: float, state_derivative: torch.Tensor, muscle_state: torch.Tensor,
                  geometry_state: torch.Tensor) -> torch.Tensor:
        """One explicit Euler step of the muscle state; outputs are evaluated at ``geometry_state``
        (the geometry of the *previous* step, as in MotorNet).

        Args:
            dt: step (s).
            state_derivative: (batch, k, n_muscles) output of :meth:`ode`.
            muscle_state: (batch, n_states, n_muscles); only its first k rows (the integrated
                variables: activation, and muscle length for compliant tendons) are read.
            geometry_state: (batch, 2 + dof, n_muscles).

        Returns:
            (batch, n_states, n_muscles) new muscle state.
        """
        return self._integrate(dt, state_derivative, muscle_state, geometry_state)

    def _integrate(self, dt, state_derivative, muscle_state, geometry_state):
        model = self.core_model
        if model is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _integrate")
        ode_vars = model.Vars(*muscle_state.unbind(1)[: len(model.Vars._fields)])
        derivative = model.Derivative(*state_derivative.unbind(1))
        if _overrides(self, "clip_activation"):  # MotorNet clips the new activation with this hook
            activation = self.clip_activation(ode_vars.activation + derivative.activation * dt)
            ode_vars = ode_vars._replace(activation=activation)
            derivative = derivative._replace(activation=torch.zeros_like(activation))
        new = model.integrate(self.params(), ode_vars, derivative, geometry_from_tensor(geometry_state), dt)
        return muscle_to_tensor(new)

    def ode(self, action: torch.Tensor, muscle_state: torch.Tensor) -> torch.Tensor:
        """Derivative of the integrated muscle variables.

        Args:
            action: (batch, n_muscles) excitation.
            muscle_state: (batch, n_states, n_muscles).

        Returns:
            (batch, k, n_muscles): d(activation)/dt (1/s), and for compliant tendons the normalized
            contraction velocity.
        """
        return self._ode(action, muscle_state)

    def _ode(self, action, muscle_state):
        return self.activation_ode(action, muscle_state[:, :1, :])

    def activation_ode(self, action: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
        """Activation dynamics of Thelen (2003), eqs. 1-2 (also MuJoCo's muscle actuators).

        Args:
            action: excitation, reshaped to (batch, 1, n_muscles).
            activation: (batch, 1, n_muscles).

        Returns:
            (batch, 1, n_muscles) d(activation)/dt (1/s).
        """
        action = torch.reshape(action, (-1, 1, self.n_muscles))
        return activation_derivative(action, activation, self.min_activation, self.tau_activation,
                                     self.tau_deactivation)

    def setattr(self, name: str, value: Any) -> None:
        """Set attribute ``name`` to ``value``."""
        self.__setattr__(name, value)

    def get_save_config(self) -> dict:
        """Name and state names of the muscle."""
        return {"name": str(self.__name__), "state names": self.state_name}



class ReluMuscle(Muscle):
    """Rectified-linear muscle: force = activation * max_isometric_force.

    Args:
        **kwargs: passed to :class:`Muscle`.
    """

    _core_class = core_muscles.ReluMuscle

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.__name__ = "ReluMuscle"

    def _get_initial_muscle_state(self, batch_size, geometry_state):
        # minimum activation but zero force, as MotorNet
        state = self.core_model.initial_state(self.params(), geometry_from_tensor(geometry_state), self.dt)
        return muscle_to_tensor(state)


class MujocoHillMuscle(Muscle):
    """MuJoCo's rigid-tendon Hill muscle (MuJoCo documentation, "Muscle actuators").

    Args:
        min_activation: lower bound of activation.
        passive_forces: scale of the passive force-length contribution.
        tau_activation, tau_deactivation: activation time constants (s).
        **kwargs: passed to :class:`Muscle`.
    """

    _core_class = core_muscles.MujocoHillMuscle

    def __init__(self, min_activation: float = _activation_default("MujocoHillMuscle", "min_activation"),
                 passive_forces: float = core_muscles.MujocoHillMuscle.defaults["passive_forces"],
                 tau_activation: float = _activation_default("MujocoHillMuscle", "tau_activation"),
                 tau_deactivation: float = _activation_default("MujocoHillMuscle", "tau_deactivation"), **kwargs):
        super().__init__(min_activation=min_activation, tau_activation=tau_activation,
                         tau_deactivation=tau_deactivation, **kwargs)
        self.__name__ = "MujocoHillMuscle"
        self._passive_forces = passive_forces

    @property
    def passive_forces(self) -> float:
        """Scale of the passive force; setting it updates the core parameters."""
        return self._passive_forces

    @passive_forces.setter
    def passive_forces(self, value: float) -> None:
        self._passive_forces = value
        if self.built:
            self.core_passive_forces.fill_(float(value))

    def _core_param_values(self) -> dict:
        return {**super()._core_param_values(), "passive_forces": self._passive_forces}

    def build(self, timestep, max_isometric_force, tendon_length, optimal_muscle_length,
              normalized_slack_muscle_length, lmin, lmax, vmax, fvmax):
        """Set the timestep and per-muscle parameters; each may be a scalar or (n_muscles,).

        Args:
            timestep: integration step (s).
            max_isometric_force: maximum isometric force (N).
            tendon_length: tendon slack length (m).
            optimal_muscle_length: optimal fibre length l0_ce (m).
            normalized_slack_muscle_length: passive-force scale (MuJoCo's ``fpmax``-like factor, as
                MotorNet uses it).
            lmin, lmax: operating range of normalized fibre length.
            vmax: shortening velocity at zero force (used on musculotendon velocity, as MotorNet).
            fvmax: force at saturating lengthening velocity, relative to max force.
        """
        self.n_muscles = np.array(tendon_length).size
        values = {"max_isometric_force": max_isometric_force, "tendon_length": tendon_length,
                  "optimal_muscle_length": optimal_muscle_length,
                  "normalized_slack_muscle_length": normalized_slack_muscle_length, "lmin": lmin, "lmax": lmax,
                  "vmax": vmax, "fvmax": fvmax}
        self._store_core_params(**values)
        device = self.min_activation.device
        as_buffer = lambda x: _f32(np.asarray(x, dtype=np.float64)).reshape(1, 1, -1).to(device)  # noqa: E731
        names = {"max_iso_force": max_isometric_force, "l0_pe": normalized_slack_muscle_length,
                 "l0_ce": optimal_muscle_length, "l0_se": tendon_length, "lmin": lmin, "lmax": lmax, "vmax": vmax,
                 "fvmax": fvmax}
        for name, value in names.items():
            self.register_buffer(name, as_buffer(value))
        self.dt = timestep
        # MotorNet's derived constants, kept as attributes (the core recomputes them)
        self.register_buffer("b", 0.5 * (1 + self.lmax))
        self.register_buffer("c", self.fvmax - 1)
        self.register_buffer("p1", self.b - 1)
        self.register_buffer("p2", 0.25 * self.l0_pe)
        self.register_buffer("zero_as_tensor", torch.zeros((), device=device))
        self.register_buffer("mid", 0.5 * (self.lmin + 0.95))
        self.built = True

    def _bump(self, L: torch.Tensor, mid: Any, lmax: Any) -> torch.Tensor:
        """MuJoCo's skewed quadratic-spline bump of normalized length ``L``."""
        return bump(L, self.lmin, mid, lmax)


class RigidTendonHillMuscle(Muscle):
    """Rigid-tendon Hill muscle of Kistemaker, Wong & Gribble (2010), J Neurophysiol 104(6):2985-94.

    Args:
        min_activation: lower bound of activation.
        **kwargs: passed to :class:`Muscle`.
    """

    _core_class = core_muscles.RigidTendonHillMuscle

    def __init__(self, min_activation: float = _activation_default("RigidTendonHillMuscle", "min_activation"), **kwargs):
        super().__init__(min_activation=min_activation, **kwargs)
        self.__name__ = "RigidTendonHillMuscle"
        # model constants (Kistemaker et al. 2010), as MotorNet exposes them
        self.pe_k = 5.0
        self.pe_1 = self.pe_k / 0.66
        self.pe_den = np.exp(self.pe_k) - 1
        self.ce_gamma, self.ce_Af, self.ce_fmlen = 0.45, 0.25, 1.4
        self.register_buffer("musculotendon_slack_len", None)
        self.register_buffer("k_pe", None)
        self.s_as, self.f_iso_n_den, self.k_se, self.q_crit, self.min_flce = S_AS, F_ISO_N_DEN, K_SE, Q_CRIT, MIN_FLCE
        self.b_rel_st_den = 5e-3 - self.q_crit

    def build(self, timestep, max_isometric_force, tendon_length, optimal_muscle_length,
              normalized_slack_muscle_length):
        """Set the timestep and per-muscle parameters.

        Args:
            timestep: integration step (s).
            max_isometric_force: (n_muscles,) maximum isometric force (N).
            tendon_length: (n_muscles,) tendon slack length l0_se (m).
            optimal_muscle_length: (n_muscles,) optimal fibre length l0_ce (m).
            normalized_slack_muscle_length: scalar or (n_muscles,) fibre slack length / l0_ce.
        """
        self.n_muscles = np.array(tendon_length).size
        self.dt = timestep
        p = self._store_core_params(max_isometric_force=max_isometric_force, tendon_length=tendon_length,
                                    optimal_muscle_length=optimal_muscle_length,
                                    normalized_slack_muscle_length=normalized_slack_muscle_length)
        self._register_hill_buffers(p)
        self.built = True

    def _register_hill_buffers(self, p) -> None:
        shape = (1, 1, self.n_muscles)
        l0_pe, k_pe, vmax = hill_derived(p)
        self.register_buffer("max_iso_force", p.max_isometric_force.reshape(shape))
        self.register_buffer("l0_ce", p.optimal_muscle_length.reshape(shape))
        self.register_buffer("l0_se", p.tendon_length.reshape(shape))
        self.register_buffer("l0_pe", l0_pe.reshape(shape))
        self.register_buffer("k_pe", k_pe.reshape(shape))
        self.register_buffer("musculotendon_slack_len", self.l0_pe + self.l0_se)
        self.register_buffer("vmax", vmax.reshape(shape))


class RigidTendonHillMuscleThelen(Muscle):
    """Rigid-tendon version of Thelen's (2003) Hill muscle, J Biomech Eng 125(1):70-7.

    Args:
        min_activation: lower bound of activation.
        **kwargs: passed to :class:`Muscle`.
    """

    _core_class = core_muscles.RigidTendonHillMuscleThelen

    def __init__(self, min_activation: float = _activation_default("RigidTendonHillMuscleThelen", "min_activation"), **kwargs):
        super().__init__(min_activation=min_activation, **kwargs)
        self.__name__ = "RigidTendonHillMuscleThelen"
        self.register_buffer("pe_k", _f32(PE_K))
        self.register_buffer("pe_1", self.pe_k / PE_STRAIN)
        self.register_buffer("pe_den", torch.exp(self.pe_k) - 1)
        self.register_buffer("ce_gamma", _f32(CE_GAMMA))
        self.register_buffer("ce_Af", _f32(CE_AF))
        self.register_buffer("ce_fmlen", _f32(CE_FMLEN))
        for name in ("musculotendon_slack_len", "ce_0", "ce_1", "ce_2", "ce_3", "ce_4", "ce_5"):
            self.register_buffer(name, None)

    def build(self, timestep, max_isometric_force, tendon_length, optimal_muscle_length,
              normalized_slack_muscle_length):
        """Set the timestep and per-muscle parameters (see :meth:`RigidTendonHillMuscle.build`)."""
        self.n_muscles = np.array(tendon_length).size
        self.dt = timestep
        p = self._store_core_params(max_isometric_force=max_isometric_force, tendon_length=tendon_length,
                                    optimal_muscle_length=optimal_muscle_length,
                                    normalized_slack_muscle_length=normalized_slack_muscle_length)
        shape = (1, 1, self.n_muscles)
        self.register_buffer("max_iso_force", p.max_isometric_force.reshape(shape))
        self.register_buffer("l0_ce", p.optimal_muscle_length.reshape(shape))
        self.register_buffer("l0_se", p.tendon_length.reshape(shape))
        self.register_buffer("l0_pe", self.l0_ce * p.normalized_slack_muscle_length.reshape(shape))
        self.register_buffer("musculotendon_slack_len", self.l0_pe + self.l0_se)
        self.register_buffer("vmax", 10 * self.l0_ce)
        # MotorNet's precomputed force-velocity constants, kept as attributes (the core recomputes them)
        af, fmlen, vmax = self.ce_Af, self.ce_fmlen, self.vmax
        self.register_buffer("ce_0", 3 * vmax)
        self.register_buffer("ce_1", af * vmax)
        self.register_buffer("ce_2", 3 * af * vmax * fmlen - 3.0 * af * vmax)
        self.register_buffer("ce_3", 8 * af * fmlen + 8.0 * fmlen)
        self.register_buffer("ce_4", af * fmlen * vmax - self.ce_1)
        self.register_buffer("ce_5", 8 * (af + 1.0))
        self.built = True


class CompliantTendonHillMuscle(RigidTendonHillMuscle):
    """Compliant-tendon Hill muscle of Kistemaker, Wong & Gribble (2010); the fibre length is a state.

    Args:
        min_activation: lower bound of activation.
        **kwargs: passed to :class:`Muscle`.
    """

    _core_class = core_muscles.CompliantTendonHillMuscle

    def __init__(self, min_activation: float = _activation_default("CompliantTendonHillMuscle", "min_activation"), **kwargs):
        super().__init__(min_activation=min_activation, **kwargs)
        self.__name__ = "CompliantTendonHillMuscle"

    def _ode(self, excitation, muscle_state):
        activation = muscle_state[:, 0:1, :]
        d_activation = self.activation_ode(excitation, activation)
        muscle_len_n = muscle_state[:, 1:2, :] / self.l0_ce
        velocity_n = self._normalized_muscle_vel(muscle_len_n, activation, muscle_state[:, 5:6, :])
        return torch.cat([d_activation, velocity_n], dim=1)

    def _get_initial_muscle_state(self, batch_size, geometry_state):
        # as MotorNet: equilibrium fibre length and its velocity, integrated once over dt
        start, derivative = self.core_model.initial_inputs(self.params(), geometry_from_tensor(geometry_state))
        return self.integrate(self.dt, torch.stack(tuple(derivative), 1), torch.stack(tuple(start), 1), geometry_state)

    def _normalized_muscle_vel(self, muscle_len_n: torch.Tensor, activation: torch.Tensor,
                               active_force: torch.Tensor) -> torch.Tensor:
        """Normalized contraction velocity producing ``active_force`` (inverse force-velocity)."""
        return normalized_velocity(muscle_len_n, activation, active_force)


__all__ = ["Muscle", "ReluMuscle", "MujocoHillMuscle", "RigidTendonHillMuscle", "RigidTendonHillMuscleThelen",
           "CompliantTendonHillMuscle"]
