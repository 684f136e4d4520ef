"""MotorNet's skeleton classes (``Skeleton``, ``PointMass``, ``TwoDofArm``) on the functional core.

Every stock method that computes physics (``ode``, ``integrate``, ``joint2cartesian``,
``path2cartesian``, ``clip_velocity``) converts MotorNet's tensor layouts to the core's pytrees, calls
:mod:`motornet_fn.core.skeletons` and converts back. Subclasses override MotorNet's hooks (``_ode``,
``_integrate``, ``_joint2cartesian``, ``_path2cartesian``) exactly as in MotorNet; an effector then
calls those methods instead of the core's fast path.

MotorNet layouts: joint state (batch, 2 * dof) = [positions..., velocities...]; cartesian state
(batch, 2 * space_dim); fixation points (batch, space_dim, n_points).
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Union

import numpy as np
import torch

from motornet_fn._module import RecordedModule
from motornet_fn.core import skeletons as core_skeletons
from motornet_fn.core.skeletons.base import as_vector, check_bounds, clip_joint
from motornet_fn.core.types import JointState, joint_from_tensor

Bound = Union[float, list, tuple, np.ndarray, torch.Tensor]
_ARM = core_skeletons.TWO_DOF_ARM_DEFAULTS  # MotorNet's TwoDofArm defaults, held by the core model
_CLIP_METHODS = ("clip", "clip_method", "clip_position", "clip_velocity")
_DIM_KWARGS = ("input_dim", "state_dim", "output_dim")  # the keyword arguments every skeleton takes


class Skeleton(RecordedModule):
    """Base class of skeletons (MotorNet's ``Skeleton``).

    Args:
        dof: number of degrees of freedom (joints).
        space_dim: dimension of the world space (2 for a plane).
        name: name of the instance.
        pos_lower_bound, pos_upper_bound: joint position bounds, scalar or (dof,) (rad or m).
        vel_lower_bound, vel_upper_bound: joint velocity bounds, scalar or (dof,) (rad/s or m/s).
        **kwargs: ``input_dim`` (default dof), ``state_dim`` (default 2 * dof), ``output_dim``
            (default state_dim).

    Raises:
        TypeError: a keyword argument the class does not take (MotorNet ignores it silently).

    Attributes:
        core_model: the core skeleton model behind a stock class (None for the base class).
    """

    #: core class implementing a stock subclass's physics; None means "no core model".
    _core_class: ClassVar[type | None] = None

    def __init__(self, dof: int, space_dim: int, name: str = "skeleton", pos_lower_bound: Bound = -1.0,
                 pos_upper_bound: Bound = +1.0, vel_lower_bound: Bound = -1000.0, vel_upper_bound: Bound = +1000.0,
                 **kwargs):
        unknown = sorted(set(kwargs) - set(_DIM_KWARGS))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {unknown}; besides its named "
                            f"arguments it takes {list(_DIM_KWARGS + getattr(self, '_aliases', ()))}")
        super().__init__()
        self._device = torch.device("cpu")
        self.__name__ = name
        self.dof = dof
        self.space_dim = space_dim
        self.input_dim = kwargs.get("input_dim", self.dof)
        self.state_dim = kwargs.get("state_dim", self.dof * 2)
        self.output_dim = kwargs.get("output_dim", self.state_dim)
        self.geometry_state_dim = 2 + self.dof
        self.register_buffer("default_endpoint_load", torch.zeros((1, self.space_dim)), persistent=False)
        self.pos_lower_bound = pos_lower_bound
        self.pos_upper_bound = pos_upper_bound
        self.vel_lower_bound = vel_lower_bound
        self.vel_upper_bound = vel_upper_bound
        self.dt = None
        self.init = False
        self.built = False
        self.core_model = None if self._core_class is None else self._make_core_model()

    # ------------------------------------------------------------------ core parameters
    def _make_core_model(self):
        return self._core_class()

    def _core_kwargs(self) -> dict:
        """Keyword arguments of the core model's ``make_params`` other than the bounds."""
        return {}

    def _store_core_params(self) -> None:
        """(Re)build the core parameter NamedTuple from the current attributes and hold its leaves as
        buffers ``core_<field>``, so ``.to()`` moves them and ``params()`` needs no host copies."""
        if self.core_model is None:
            return
        bounds = {k: _as_numpy(getattr(self, k)) for k in
                  ("pos_lower_bound", "pos_upper_bound", "vel_lower_bound", "vel_upper_bound")}
        like = self.default_endpoint_load
        params = self.core_model.make_params(**self._core_kwargs(), **bounds)
        for field, value in zip(params._fields, params):
            self.register_buffer("core_" + field, value.to(device=like.device, dtype=like.dtype))

    def params(self):
        """The core parameter NamedTuple (views of this module's buffers); None without a core model."""
        if self.core_model is None:
            return None
        cls = self.core_model.Params
        return self.memo("params", lambda: cls(*(getattr(self, "core_" + f) for f in cls._fields)))

    # ------------------------------------------------------------------ MotorNet API
    @staticmethod
    def clip(x: torch.Tensor, lb: torch.Tensor, ub: torch.Tensor) -> torch.Tensor:
        """Element-wise ``min(max(x, lb), ub)``."""
        return torch.minimum(torch.maximum(x, lb), ub)

    _clip = clip

    def clip_method(self, x: torch.Tensor) -> torch.Tensor:
        """Clip joint positions to the position bounds."""
        return self.clip(x, self.pos_lower_bound, self.pos_upper_bound)

    def clip_position(self, x: torch.Tensor) -> torch.Tensor:
        """Clip joint positions (through :meth:`clip_method`)."""
        return self.clip_method(x)

    def detach(self, x: Any) -> Any:
        """Tensors to CPU numpy arrays; anything else unchanged."""
        return x.cpu().detach().numpy() if torch.is_tensor(x) else x

    def build(self, timestep: float, pos_upper_bound: Bound, pos_lower_bound: Bound, vel_upper_bound: Bound,
              vel_lower_bound: Bound) -> None:
        """Fix the timestep and joint bounds (called by the effector at construction).

        Args:
            timestep: effector timestep (s).
            pos_upper_bound, pos_lower_bound, vel_upper_bound, vel_lower_bound: scalars or (dof,)
                bounds, stored as (1, dof) float32 buffers.
        """
        values = {"pos_upper_bound": pos_upper_bound, "pos_lower_bound": pos_lower_bound,
                  "vel_upper_bound": vel_upper_bound, "vel_lower_bound": vel_lower_bound}
        for name, value in values.items():
            vec = as_vector(name, _as_numpy(value), self.dof, torch.float32)
            self.__dict__.pop(name, None)
            self.register_buffer(name, vec.reshape(1, -1).to(self._device))
        check_bounds(self.pos_lower_bound, self.pos_upper_bound, "pos")
        check_bounds(self.vel_lower_bound, self.vel_upper_bound, "vel")
        self.dt = timestep
        self.built = True
        self._store_core_params()

    def path2cartesian(self, path_coordinates: torch.Tensor, path_fixation_body: torch.Tensor,
                       joint_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """World kinematics of muscle fixation points (Sherman, Seth & Delp 2013).

        Args:
            path_coordinates: (1, space_dim, n_points) coordinates in each point's body frame (m).
            path_fixation_body: (1, 1, n_points) body index of each point (0 = world).
            joint_state: (batch, 2 * dof).

        Returns:
            Positions (batch, space_dim, n_points), velocities (batch, space_dim, n_points) and
            d(position)/d(joint) (batch, space_dim, dof, n_points).
        """
        return self._path2cartesian(path_coordinates, path_fixation_body, joint_state)

    def _path2cartesian(self, path_coordinates, path_fixation_body, joint_state):
        if self.core_model is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _path2cartesian")
        bodies = tuple(int(b) for b in path_fixation_body.reshape(-1).tolist())
        points = self.core_model.fixation_points(self.params(), joint_from_tensor(joint_state),
                                                 path_coordinates.reshape(self.space_dim, -1), bodies)
        return points.pos, points.vel, points.jacobian

    def integrate(self, dt: float, state_derivative: torch.Tensor, joint_state: torch.Tensor) -> torch.Tensor:
        """One explicit Euler step of the joint state, then MotorNet's joint limits.

        Args:
            dt: step (s); the Runge-Kutta scheme passes half steps.
            state_derivative: (batch, dof) output of :meth:`ode`.
            joint_state: (batch, 2 * dof).

        Returns:
            (batch, 2 * dof) new joint state.
        """
        return self._integrate(dt, state_derivative, joint_state)

    def _integrate(self, dt, state_derivative, joint_state):
        if self.core_model is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _integrate")
        params = self.params()
        joint = joint_from_tensor(joint_state)
        acceleration = self._acceleration(params, joint, state_derivative)
        if any(method in self.__dict__ or getattr(type(self), method) is not getattr(Skeleton, method)
               for method in _CLIP_METHODS):
            # a subclass's joint limits: MotorNet's Euler step, clipping through its hooks
            pos = joint.pos + joint.vel * dt
            vel = self.clip_velocity(pos, joint.vel + acceleration * dt)
            return torch.cat([self.clip_position(pos), vel], dim=-1)
        new = self.core_model.euler_update(params, joint, acceleration, dt)
        return torch.cat([new.pos, new.vel], dim=-1)

    def _acceleration(self, params, joint: JointState, state_derivative: torch.Tensor) -> torch.Tensor:
        """Joint accelerations from the output of :meth:`ode` (the identity unless a subclass's ``ode``
        returns something else, like PointMass's net force)."""
        return state_derivative

    def joint2cartesian(self, joint_state: torch.Tensor) -> torch.Tensor:
        """Endpoint state (batch, 2 * space_dim) = [position, velocity] from (batch, 2 * dof)."""
        return self._joint2cartesian(joint_state)

    def _joint2cartesian(self, joint_state):
        if self.core_model is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _joint2cartesian")
        cart = self.core_model.forward_kinematics(self.params(), joint_from_tensor(joint_state))
        return torch.cat([cart.pos, cart.vel], dim=-1)

    def ode(self, inputs: torch.Tensor, joint_state: torch.Tensor, endpoint_load: torch.Tensor) -> torch.Tensor:
        """Derivative of the joint velocities.

        Args:
            inputs: (batch, dof) generalized forces (N m or N).
            joint_state: (batch, 2 * dof).
            endpoint_load: (batch or 1, space_dim) force at the endpoint (N).

        Returns:
            (batch, dof) accelerations (PointMass: net force, divided by the mass in :meth:`integrate`).
        """
        return self._ode(inputs, joint_state, endpoint_load)

    def _ode(self, inputs, joint_state, endpoint_load):
        if self.core_model is None:
            raise NotImplementedError(f"{type(self).__name__} must implement _ode")
        return self.core_model.acceleration(self.params(), joint_from_tensor(joint_state), inputs, endpoint_load)

    def clip_velocity(self, pos: torch.Tensor, vel: torch.Tensor) -> torch.Tensor:
        """Clip velocities to their bounds, and zero those pushing a position at or past its bound.

        Args:
            pos: (batch, dof) positions (not yet clipped).
            vel: (batch, dof) velocities.
        """
        limits = _Bounds(*(torch.as_tensor(getattr(self, k), dtype=vel.dtype, device=vel.device)
                           for k in _Bounds._fields))
        return clip_joint(limits, pos, vel).vel

    def get_base_config(self) -> dict:
        """Configuration entries shared by all skeletons: dof, dt (as a string) and space_dim."""
        return {"dof": self.dof, "dt": str(self.dt), "space_dim": self.space_dim}

    def get_save_config(self) -> dict:
        """The skeleton's configuration (subclasses add their own entries)."""
        return self.get_base_config()

    def setattr(self, name: str, value: Any) -> None:
        """Set attribute ``name`` to ``value``."""
        self.__setattr__(name, value)



class _Bounds(NamedTuple):
    """Joint bounds as :func:`clip_joint` reads them. Attributes: each broadcastable to (dof,)."""

    pos_lower_bound: torch.Tensor
    pos_upper_bound: torch.Tensor
    vel_lower_bound: torch.Tensor
    vel_upper_bound: torch.Tensor


class PointMass(Skeleton):
    """A point mass moving freely in ``space_dim`` dimensions; its joint state is its position.

    Body 0 is the world, body 1 the mass. As in MotorNet, :meth:`ode` returns the net force and
    :meth:`integrate` divides it by the mass.

    Args:
        space_dim: dimension of the space (also the number of degrees of freedom).
        mass: mass (kg).
        name: name of the instance.
        **kwargs: passed to :class:`Skeleton` (bounds, dims).
    """

    _core_class = core_skeletons.PointMass

    def __init__(self, space_dim: int = 2, mass: float = 1.0, name: str = "point_mass", **kwargs):
        self._mass = mass
        super().__init__(dof=space_dim, space_dim=space_dim, name=name, **kwargs)
        dpos_ddof = torch.eye(self.dof, dtype=torch.float32)[None, :, :, None]
        self.register_buffer("dpos_ddof", dpos_ddof)
        self._store_core_params()

    def _make_core_model(self):
        return core_skeletons.PointMass(self.space_dim)

    def _core_kwargs(self) -> dict:
        return {"mass": self._mass}

    @property
    def mass(self) -> float:
        """Mass (kg); setting it updates the core parameters, as MotorNet reads it at every step."""
        return self._mass

    @mass.setter
    def mass(self, value: float) -> None:
        self._mass = value
        if "core_mass" in self._buffers:
            self._store_core_params()

    def _ode(self, inputs, joint_state, endpoint_load):
        return inputs + endpoint_load  # MotorNet's point-mass derivative is the net force

    def _acceleration(self, params, joint, state_derivative):
        return self.core_model.acceleration(params, joint, state_derivative, state_derivative.new_zeros(()))

    def get_save_config(self) -> dict:
        """Base configuration plus the mass."""
        cfg = self.get_base_config()
        cfg["mass"] = self.mass
        return cfg


class TwoDofArm(Skeleton):
    """Planar two-link arm (shoulder, elbow). Bodies: 0 world, 1 upper arm, 2 forearm.

    Args:
        name: name of the instance.
        m1, m2: link masses (kg).
        l1g, l2g: distance of each link's centre of mass from its proximal joint (m).
        i1, i2: link inertias about their centres of mass (kg m^2).
        l1, l2: link lengths (m).
        viscosity: joint viscosity (N m s/rad).
        **kwargs: passed to :class:`Skeleton`; MotorNet's capitalized aliases ``L1g``, ``L2g``,
            ``I1``, ``I2``, ``L1``, ``L2`` override the lower-case arguments. Position bounds default
            to 0..140 deg (shoulder) and 0..160 deg (elbow).
    """

    _core_class = core_skeletons.TwoDofArm
    _aliases = ("L1g", "L2g", "I1", "I2", "L1", "L2")  # MotorNet's capitalized keyword aliases

    def __init__(self, name: str = "two_dof_arm", m1: float = _ARM["m1"], m2: float = _ARM["m2"],
                 l1g: float = _ARM["l1g"], l2g: float = _ARM["l2g"], i1: float = _ARM["i1"], i2: float = _ARM["i2"],
                 l1: float = _ARM["l1"], l2: float = _ARM["l2"], viscosity: float = _ARM["viscosity"], **kwargs):
        lower = kwargs.pop("pos_lower_bound", list(np.deg2rad(core_skeletons.TWO_DOF_ARM_BOUNDS_DEG[0])))
        upper = kwargs.pop("pos_upper_bound", list(np.deg2rad(core_skeletons.TWO_DOF_ARM_BOUNDS_DEG[1])))
        self.m1, self.m2 = m1, m2
        self.L1g, self.L2g = kwargs.pop("L1g", l1g), kwargs.pop("L2g", l2g)
        self.I1, self.I2 = kwargs.pop("I1", i1), kwargs.pop("I2", i2)
        self.L1, self.L2 = kwargs.pop("L1", l1), kwargs.pop("L2", l2)
        self._viscosity = viscosity
        super().__init__(dof=2, space_dim=2, pos_lower_bound=lower, pos_upper_bound=upper, name=name, **kwargs)
        self.l1g, self.l2g, self.i1, self.i2, self.l1, self.l2 = self.L1g, self.L2g, self.I1, self.I2, self.L1, self.L2
        self._store_core_params()
        # MotorNet's precomputed mass-matrix terms (float64, then float32), kept as attributes
        p64 = self.core_model.make_params(dtype=torch.float64, **self._core_kwargs())
        c11, c12, m11, m12 = (float(x) for x in self.core_model.mass_matrix_terms(p64))
        self.register_buffer("inertia_c", torch.tensor([[[c11, c12], [c12, c12]]], dtype=torch.float32))
        self.register_buffer("inertia_m", torch.tensor([[[m11, m12], [m12, 0.0]]], dtype=torch.float32))
        self.coriolis_1 = -self.m2 * self.L1 * self.L2g
        self.coriolis_2 = self.m2 * self.L1 * self.L2g

    def _core_kwargs(self) -> dict:
        return {"m1": self.m1, "m2": self.m2, "l1g": self.L1g, "l2g": self.L2g, "i1": self.I1, "i2": self.I2,
                "l1": self.L1, "l2": self.L2, "viscosity": self._viscosity}

    @property
    def c_viscosity(self) -> float:
        """Joint viscosity (N m s/rad); setting it updates the core parameters."""
        return self._viscosity

    @c_viscosity.setter
    def c_viscosity(self, value: float) -> None:
        self._viscosity = value
        if "core_viscosity" in self._buffers:
            self._store_core_params()

    def _joint2cartesian(self, joint_state):
        # MotorNet flattens any leading dims of the joint state into one batch dim
        return super()._joint2cartesian(torch.reshape(joint_state, (-1, self.state_dim)))

    def get_save_config(self) -> dict:
        """Base configuration plus the arm's inertial and geometric parameters."""
        cfg = self.get_base_config()
        for key in ("I1", "I2", "L1", "L2", "L1g", "L2g", "c_viscosity", "coriolis_1", "coriolis_2", "m1", "m2"):
            cfg[key] = self.detach(getattr(self, key))
        return cfg


def _as_numpy(value: Any) -> Any:
    """Tensors to numpy (for validation helpers that go through float64); anything else unchanged."""
    return value.detach().cpu().numpy() if torch.is_tensor(value) else value



__all__ = ["Skeleton", "PointMass", "TwoDofArm"]
