"""MotorNet's effector classes on the functional core.

An :class:`Effector` holds a skeleton, a (vectorized) muscle, the muscle paths or prebuilt geometry,
the current ``states`` dict in MotorNet's layouts, and a numpy RNG:

* ``states["joint"]`` (batch, 2 * dof), ``["cartesian"]`` (batch, 2 * space_dim),
  ``["muscle"]`` (batch, n_muscle_states, n_muscles), ``["geometry"]`` (batch, 2 + dof, n_muscles),
  ``["fingertip"]`` (batch, space_dim).

When the muscle, the skeleton and the effector use their stock methods, :meth:`Effector.step` converts
the states to core pytrees once and calls :func:`motornet_fn.core.effector.step`. When a subclass
overrides one of MotorNet's hooks, stepping falls back to MotorNet's scheme built from the objects'
methods (``ode``, ``integration_step``, ``get_geometry``, each of which calls the core unless
overridden), so user hooks run exactly where MotorNet calls them.

Integration methods: ``"euler"``; ``"rk4"`` (and MotorNet's aliases) reproduces MotorNet's chained
Runge-Kutta scheme, which is first order, and warns once; ``"rk4-classic"`` is the textbook
fourth-order method on the continuous ODE (stock classes only).
"""
from __future__ import annotations

import importlib
import warnings
from typing import Any, Sequence

import numpy as np
import torch
from gymnasium.utils import seeding

from motornet_fn._module import CACHE_PREFIX, RecordedModule
from motornet_fn.core import effector as core_effector
from motornet_fn.core import build
from motornet_fn.core.build import resolve_integrator
from motornet_fn.core.checks import finite_checks, raise_non_finite
from motornet_fn.core.geometry import ARM26_A0_COMPLIANT, ARM26_A0_RIGID, ARM26_A1, ARM26_A2, ARM26_A3
from motornet_fn.core.skeletons import ARM26_SKELETON
from motornet_fn.core.geometry import (
    ConstantMomentArmGeometry, ConstantMomentArmParams, PathGeometry, PathParams, PolynomialGeometry, PolynomialParams,
)
from motornet_fn.core.types import (
    EffectorState, Loads, PointKinematics, geometry_from_tensor, geometry_to_tensor, joint_from_tensor,
    joint_to_tensor, muscle_to_tensor,
)
from motornet_fn.muscle import CompliantTendonHillMuscle, Muscle, ReluMuscle
from motornet_fn.skeleton import PointMass, Skeleton, TwoDofArm

#: hooks whose override makes an object leave the core fast path
MUSCLE_HOOKS = ("integrate", "_integrate", "ode", "_ode", "activation_ode", "clip_activation",
                "get_initial_muscle_state", "_get_initial_muscle_state", "_normalized_muscle_vel")
SKELETON_HOOKS = ("ode", "_ode", "integrate", "_integrate", "joint2cartesian", "_joint2cartesian",
                  "path2cartesian", "_path2cartesian", "clip_velocity", "clip_position", "clip_method", "clip")
PATH_HOOKS = ("path2cartesian", "_path2cartesian")
EFFECTOR_HOOKS = ("ode", "integration_step", "integrate", "_integrate", "_euler", "_rungekutta4",
                  "get_geometry", "_get_geometry")

_ARM26_BOUNDS = tuple(list(np.deg2rad(b)) for b in build.ARM26_BOUNDS_DEG)  # shoulder, elbow (rad)


def _with_defaults(kwargs: dict, skeleton, default_skeleton, bounds) -> dict:
    """Effector keyword arguments of a prebuilt effector: ``kwargs`` with the skeleton and position
    bounds filled in where the caller gave none (``default_skeleton`` builds the skeleton)."""
    lower = kwargs.pop("pos_lower_bound", bounds[0])
    upper = kwargs.pop("pos_upper_bound", bounds[1])
    return {**kwargs, "skeleton": default_skeleton() if skeleton is None else skeleton,
            "pos_lower_bound": lower, "pos_upper_bound": upper}
_rk4_warned = False


class FirstOrderRK4Warning(UserWarning):
    """MotorNet's "rk4" is a chained scheme of first order; "rk4-classic" is the textbook method."""


class ShapeError(ValueError, RuntimeError):
    """A tensor argument has the wrong shape. Also a RuntimeError: the type MotorNet's own failure
    (a torch broadcasting error) raised for the same input."""


class NotAComponentError(TypeError, AttributeError):
    """A skeleton or muscle argument is not a Skeleton / Muscle instance. Also an AttributeError: the type
    MotorNet's own failure (calling a method the argument lacks) raised for the same input."""


class MissingMuscleParameterError(TypeError, RuntimeError):
    """A muscle parameter required by the muscle type was not given. A TypeError as in MotorNet's
    ``add_muscle``; also a RuntimeError, the type MotorNet's prebuilt effectors raised."""


def resolve_integration_method(method: str) -> str:
    """Core integrator name of a MotorNet ``integration_method`` (case-insensitive).

    Raises:
        ValueError: unknown method, listing the valid names.
    """
    global _rk4_warned
    if not isinstance(method, str):
        raise ValueError(f"integration_method must be a string such as 'euler' or 'rk4', got {method!r}")
    name = resolve_integrator(method.casefold())
    if name == "rk4_motornet" and not _rk4_warned:
        _rk4_warned = True
        warnings.warn(
            f"integration_method={method!r} reproduces MotorNet's chained Runge-Kutta scheme, which is first order "
            "(its stages are chained and its position update uses the old velocity). Pass "
            "integration_method='rk4-classic' for the textbook fourth-order Runge-Kutta method.",
            FirstOrderRK4Warning, stacklevel=3)
    return name


_stock_classes: dict = {}


def _is_stock_class(cls: type, hooks: tuple) -> bool:
    """Whether ``cls`` inherits every one of ``hooks`` from its nearest stock (core-backed) ancestor."""
    key = (cls, hooks)
    if key not in _stock_classes:
        stock = next((c for c in cls.__mro__ if c.__dict__.get("_core_class") is not None), None)
        _stock_classes[key] = stock is not None and all(
            getattr(cls, h, None) is getattr(stock, h, None) for h in hooks)
    return _stock_classes[key]


def stock_core_model(obj: torch.nn.Module, hooks: Sequence[str]):
    """The core model behind ``obj`` if it is a stock muscle/skeleton class (or a subclass overriding
    none of ``hooks``, on the class or the instance), else None."""
    hooks = tuple(hooks)
    if not _is_stock_class(type(obj), hooks) or any(h in obj.__dict__ for h in hooks):
        return None
    return getattr(obj, "core_model", None)


class _PathHooks:
    """Core skeleton interface for path geometry over a skeleton object's ``path2cartesian`` hook."""

    def __init__(self, skeleton: Skeleton):
        self.skeleton = skeleton

    def fixation_points(self, params, joint, coordinates, bodies, motornet_velocity=True) -> PointKinematics:
        body = torch.tensor(bodies, dtype=coordinates.dtype, device=coordinates.device).reshape(1, 1, -1)
        xy, dxy_dt, dxy_dq = self.skeleton.path2cartesian(coordinates[None], body, joint_to_tensor(joint))
        return PointKinematics(xy, dxy_dt, dxy_dq)


class Effector(RecordedModule):
    """A skeleton actuated by muscles (MotorNet's ``Effector``).

    Args:
        skeleton: a :class:`motornet_fn.skeleton.Skeleton`.
        muscle: a :class:`motornet_fn.muscle.Muscle`; every :meth:`add_muscle` call adds one muscle of
            this type.
        name: name of the instance.
        n_ministeps: integration sub-steps per timestep (the action is held constant).
        timestep: timestep (s).
        integration_method: ``"euler"``, ``"rk4"`` (MotorNet's chained, first-order scheme; also
            ``"rungekutta4"``, ``"runge-kutta4"``, ``"runge-kutta-4"``) or ``"rk4-classic"``.
        damping: joint damping (N m s/rad), subtracted as ``damping * joint velocity``.
        pos_lower_bound, pos_upper_bound, vel_lower_bound, vel_upper_bound: joint bounds, scalars or
            (dof,); None takes the skeleton's.
        compile: run :meth:`step` compiled (same numbers to float rounding, a one-off compilation of a few
            seconds per batch size); None reads the environment variable ``MOTORNET_FN_COMPILE``. Beyond
            MotorNet.
    """

    def __init__(self, skeleton: Skeleton, muscle: Muscle, name: str = "Effector", n_ministeps: int = 1,
                 timestep: float = 0.01, integration_method: str = "euler", damping: float = 0.0,
                 pos_lower_bound=None, pos_upper_bound=None, vel_lower_bound=None, vel_upper_bound=None, *,
                 compile: bool | None = None):
        super().__init__()
        from motornet_fn.environment import compile_default

        self._compile = compile_default(compile)
        _check_instance("skeleton", skeleton, Skeleton, "mn.skeleton.TwoDofArm()")
        _check_instance("muscle", muscle, Muscle, "mn.muscle.RigidTendonHillMuscle()")
        _check_positive_int("n_ministeps", n_ministeps)
        _check_positive_float("timestep", timestep)
        self._device = torch.device("cpu")
        self.__name__ = name
        self.register_buffer("damping", torch.tensor(_as_float("damping", damping), dtype=torch.float32))
        self.skeleton = skeleton.to(self.device)
        self.dof = self.skeleton.dof
        self.space_dim = self.skeleton.space_dim
        self.state_dim = self.skeleton.state_dim
        self.output_dim = self.skeleton.output_dim
        self.n_ministeps = n_ministeps
        self.dt = timestep
        self._integrator = resolve_integration_method(integration_method)
        self.integration_method = integration_method.casefold()
        self._np_random = None
        self.seed = None

        bounds = {}
        given = {"pos": (pos_lower_bound, pos_upper_bound), "vel": (vel_lower_bound, vel_upper_bound)}
        for kind, (lower, upper) in given.items():
            lower = getattr(self.skeleton, kind + "_lower_bound") if lower is None else lower
            upper = getattr(self.skeleton, kind + "_upper_bound") if upper is None else upper
            bounds[kind] = self._set_state_limit_bounds(lb=lower, ub=upper)
        for kind, b in bounds.items():
            self.register_buffer(kind + "_upper_bound", torch.tensor(b[:, 1], dtype=torch.float32))
            self.register_buffer(kind + "_lower_bound", torch.tensor(b[:, 0], dtype=torch.float32))
        for kind, b in bounds.items():
            self.register_buffer(kind + "_range_bound", torch.tensor(b[:, 0] - b[:, 1], dtype=torch.float32))
        self.skeleton.build(timestep=self.dt, pos_upper_bound=self.pos_upper_bound,
                            pos_lower_bound=self.pos_lower_bound, vel_upper_bound=self.vel_upper_bound,
                            vel_lower_bound=self.vel_lower_bound)

        self.muscle = muscle.to(self.device)
        self.force_index = self.muscle.state_name.index("force")
        self.MusclePaths = []
        self.n_muscles = 0
        self.input_dim = 0
        self.muscle_name = []
        self.muscle_state_dim = self.muscle.state_dim
        self.geometry_state_dim = 2 + self.dof
        self.geometry_state_name = ["musculotendon length", "musculotendon velocity"] + [
            "moment for joint " + str(d) for d in range(self.dof)]
        self.tobuild__muscle = self.muscle.to_build_dict
        self.tobuild__default = self.muscle.to_build_dict_default

        # numpy copies of the paths, concatenated over muscles along the last axis
        self._path_fixation_body = np.empty((1, 1, 0)).astype("float32")
        self._path_coordinates = np.empty((1, self.skeleton.space_dim, 0)).astype("float32")
        self._muscle_index = np.empty(0).astype("float32")
        self._muscle_transitions = None
        self._row_splits = None
        for buffer in ("path_fixation_body", "path_coordinates", "muscle_index", "muscle_transitions", "row_splits"):
            self.register_buffer(buffer, None)
        self.section_splits = None
        self._muscle_config_is_empty = True
        self._add_muscle_calls = []
        self._path_geometry = None

        self.register_buffer("default_endpoint_load", torch.zeros((1, self.skeleton.space_dim)))
        self.register_buffer("default_joint_load", torch.zeros((1, self.skeleton.dof)))
        self.states = {key: None for key in ["joint", "cartesian", "muscle", "geometry", "fingertip"]}

    @property
    def minidt(self) -> float:
        """Integration sub-step (s): ``dt / n_ministeps`` (the timestep is held once, in ``dt``)."""
        return self.dt / self.n_ministeps

    @property
    def half_minidt(self) -> float:
        """Half an integration sub-step (s)."""
        return self.minidt / 2

    # ================================================================== stepping
    def step(self, action: torch.Tensor | np.ndarray, **kwargs) -> None:
        """Advance the effector by one timestep (``n_ministeps`` integration steps).

        Args:
            action: (batch, n_muscles) or (n_muscles,) excitation, clipped to [min_activation, 1].
            **kwargs: ``endpoint_load`` (batch or 1, space_dim) in N and ``joint_load`` (batch or 1,
                dof), held constant over the step; other keys are ignored, as in MotorNet.

        Raises:
            ShapeError: ``action`` does not end in n_muscles or its batch does not match the states.
            RuntimeError: :meth:`reset` was never called.
        """
        endpoint_load = kwargs.get("endpoint_load", self.default_endpoint_load)
        joint_load = kwargs.get("joint_load", self.default_joint_load)
        action = self._check_action(action)
        core = self._core_spec_params()
        if core is not None:
            spec, params = core
            loads = Loads(endpoint_load, joint_load)
            if self._compile:
                self._compiled_step(spec, params, action, loads)
                return
            new = core_effector.step(spec, params, self._to_core(self.states, spec.muscle), action, loads)
            self._set_core_state(new)
            return
        a = self.muscle.clip_activation(action)
        for _ in range(self.n_ministeps):
            self.integrate(a, endpoint_load, joint_load)

    def _compiled_step(self, spec, params, action: torch.Tensor, loads: Loads) -> None:
        """One compiled core step on MotorNet's state layouts (the conversions are compiled too)."""
        states = self.states
        batch = states["joint"].shape[0]
        joint, cartesian, muscle, geometry = compiled_layout_step(spec)(
            params, states["joint"], states["muscle"], states["geometry"], action.expand(batch, -1),
            loads.endpoint.expand(batch, -1), loads.joint.expand(batch, -1))
        self.set_layout_states(None, joint, cartesian, muscle, geometry)

    def set_layout_states(self, core_state: EffectorState | None, joint, cartesian, muscle, geometry) -> None:
        """Set ``states`` from MotorNet-layout tensors (computed with the core state ``core_state``, if
        known: the next core step then starts from it without converting the layouts)."""
        states = self.states
        states["joint"], states["cartesian"], states["muscle"], states["geometry"] = joint, cartesian, muscle, geometry
        states["fingertip"] = cartesian[..., : self.skeleton.space_dim]
        self.__dict__[_LAST_CORE] = None if core_state is None else (core_state, _tensor_keys(states))

    def integrate(self, action: torch.Tensor, endpoint_load: torch.Tensor, joint_load: torch.Tensor) -> None:
        """One integration step of ``minidt`` with the configured method; updates ``states``.

        Args:
            action: (batch, n_muscles) clipped excitation.
            endpoint_load: (batch or 1, space_dim) endpoint force (N).
            joint_load: (batch or 1, dof) generalized joint load.
        """
        self._integrate(action, endpoint_load, joint_load)

    def _integrate(self, action, endpoint_load, joint_load):
        if self._integrator == "euler":
            self._euler(action, endpoint_load, joint_load)
        elif self._integrator == "rk4_motornet":
            self._rungekutta4(action, endpoint_load, joint_load)
        else:
            self._rungekutta4_classic(action, endpoint_load, joint_load)

    def _euler(self, action, endpoint_load, joint_load):
        core = self._core_spec_params()
        if core is not None:
            self._core_substep(core_effector.euler_step, core, action, endpoint_load, joint_load)
            return
        derivative = self.ode(action, self.states, endpoint_load, joint_load)
        self._set_state(self.integration_step(self.minidt, state_derivative=derivative, states=self.states))

    def _rungekutta4(self, action, endpoint_load, joint_load):
        core = self._core_spec_params()
        if core is not None:
            self._core_substep(core_effector.rk4_motornet_step, core, action, endpoint_load, joint_load)
            return
        states = core_effector.chained_rk4(
            lambda s: self.ode(action, states=s, endpoint_load=endpoint_load, joint_load=joint_load),
            lambda s, k, h: self.integration_step(h, state_derivative=k, states=s),
            {key: self.states[key] for key in ("joint", "muscle", "geometry")}, self.minidt)
        self._set_state(states)

    def _rungekutta4_classic(self, action, endpoint_load, joint_load):
        core = self._core_spec_params()
        if core is None:
            raise NotImplementedError(
                "integration_method='rk4-classic' integrates the continuous ODE of the stock muscle and skeleton "
                f"classes; {type(self.muscle).__name__}/{type(self.skeleton).__name__}/{type(self).__name__} override "
                "MotorNet hooks, so use 'euler' or 'rk4'.")
        self._core_substep(core_effector.rk4_step, core, action, endpoint_load, joint_load)

    def _core_substep(self, integrator, core, action, endpoint_load, joint_load):
        spec, params = core
        state = self._to_core(self.states, spec.muscle)
        new = integrator(spec, params, state, action, Loads(endpoint_load, joint_load), self.minidt)
        self._set_core_state(new)

    def integration_step(self, dt: float, state_derivative: dict, states: dict) -> dict:
        """MotorNet's update: muscle state from the old geometry, skeleton Euler step, new geometry.

        Args:
            dt: step (s).
            state_derivative: ``{"muscle": ..., "joint": ...}`` from :meth:`ode`.
            states: ``{"joint", "muscle", "geometry"}`` tensors.

        Returns:
            The new ``{"muscle", "joint", "geometry"}``.
        """
        new_states = {
            "muscle": self.muscle.integrate(dt, state_derivative["muscle"], states["muscle"], states["geometry"]),
            "joint": self.skeleton.integrate(dt, state_derivative["joint"], states["joint"]),
        }
        new_states["geometry"] = self.get_geometry(new_states["joint"])
        return new_states

    def ode(self, action: torch.Tensor, states: dict, endpoint_load: torch.Tensor, joint_load: torch.Tensor) -> dict:
        """Derivatives of the muscle and joint states.

        Generalized forces: ``-sum(force * moment_arm) + joint_load - damping * joint_velocity``.

        Returns:
            ``{"muscle": muscle.ode(...), "joint": skeleton.ode(...)}``.
        """
        geometry = geometry_from_tensor(states["geometry"])
        force = states["muscle"][:, self.force_index, :]
        damping_only = core_effector.EffectorParams(None, None, None, self.damping)
        torque = core_effector.generalized_force(damping_only, force, geometry, joint_from_tensor(states["joint"]),
                                                 joint_load)
        return {
            "muscle": self.muscle.ode(action, states["muscle"]),
            "joint": self.skeleton.ode(torque, states["joint"], endpoint_load=endpoint_load),
        }

    # ================================================================== core view
    @property
    def spec(self) -> core_effector.EffectorSpec | None:
        """The core :class:`~motornet_fn.core.effector.EffectorSpec` (static structure) of this effector;
        None when a MotorNet hook is overridden (the object's methods then have no core equivalent)."""
        core = self._core_spec_params()
        return None if core is None else core[0]

    def params(self) -> core_effector.EffectorParams | None:
        """The core parameter pytree (this module's buffers), or None like :attr:`spec`."""
        core = self._core_spec_params()
        return None if core is None else core[1]

    def core_state(self) -> EffectorState:
        """The current ``states`` as a core :class:`~motornet_fn.core.types.EffectorState`, so that
        ``core.step(effector.spec, effector.params(), effector.core_state(), action)`` is one step."""
        spec = self.spec
        if spec is None:
            raise TypeError(f"{type(self).__name__} overrides MotorNet hooks: its state has no core equivalent")
        return self._to_core(self.states, spec.muscle)

    def _core_spec_params(self):
        """(spec, params) for the core fast path, or None when a MotorNet hook is overridden (built
        once, rebuilt when this effector, its muscle or its skeleton changes)."""
        return self.memo("core", self._build_core_spec_params, self.muscle, self.skeleton)

    def _build_core_spec_params(self):
        muscle_model = stock_core_model(self.muscle, MUSCLE_HOOKS)
        skeleton_model = stock_core_model(self.skeleton, SKELETON_HOOKS)
        if muscle_model is None or skeleton_model is None or _overrides(self, Effector, EFFECTOR_HOOKS):
            return None
        geometry, geometry_params = self._geometry_core()
        spec = core_effector.EffectorSpec(skeleton_model, muscle_model, geometry, float(self.dt), self.n_ministeps,
                                          self._integrator, tuple(self.muscle_name))
        params = core_effector.EffectorParams(self.skeleton.params(), self.muscle.params(), geometry_params,
                                              self.damping)
        return spec, params

    def _geometry_core(self):
        """(core geometry model, its params) of this effector's muscle paths."""
        if self._path_geometry is None:
            raise RuntimeError(f"{type(self).__name__} has no muscles: call add_muscle() before using it")
        return self._path_geometry, PathParams(self.path_coordinates[0])

    def _to_core(self, states: dict, muscle_model) -> EffectorState:
        if states["joint"] is None:
            raise RuntimeError(f"{type(self).__name__}.reset() must be called before stepping")
        last = self.__dict__.get(_LAST_CORE)
        if last is not None and _unchanged(states, last[1]):
            return last[0]
        return EffectorState(joint_from_tensor(states["joint"]), muscle_model.State(*states["muscle"].unbind(1)),
                             geometry_from_tensor(states["geometry"]))

    def _check_action(self, action) -> torch.Tensor:
        like = self.damping
        if not torch.is_tensor(action):
            action = torch.tensor(np.asarray(action), dtype=like.dtype, device=like.device)
        elif action.dtype != like.dtype:  # e.g. float64 numpy actions: compute in the effector's dtype
            action = action.to(like.dtype)
        if self.states["joint"] is None:
            raise RuntimeError(f"{type(self).__name__}.reset() must be called before step()")
        action = check_action_shape(action, self.n_muscles, self.states["joint"].shape[0])
        if finite_checks():
            raise_non_finite(action, "action")
            raise_non_finite(self.states, "states")
        return action

    # ================================================================== geometry
    def get_geometry(self, joint_state: torch.Tensor) -> torch.Tensor:
        """Geometry state (batch, 2 + dof, n_muscles) = [musculotendon length, velocity, moment arms
        per joint] of a joint state (batch, 2 * dof)."""
        return self._get_geometry(joint_state)

    def _get_geometry(self, joint_state):
        geometry, geometry_params = self._geometry_core()
        skeleton = stock_core_model(self.skeleton, PATH_HOOKS)
        if skeleton is None:
            skeleton, skeleton_params = _PathHooks(self.skeleton), None
        else:
            skeleton_params = self.skeleton.params()
        return geometry_to_tensor(geometry(skeleton, skeleton_params, geometry_params, joint_from_tensor(joint_state)))

    def _set_core_state(self, state: EffectorState) -> None:
        """Set ``states`` from a core state, remembered so that the next step skips converting back."""
        self._set_state(_from_core(state))
        self.__dict__[_LAST_CORE] = (state, _tensor_keys(self.states))

    def _set_state(self, states: dict) -> None:
        for key, val in states.items():
            self.states[key] = val
        self.states["cartesian"] = self.joint2cartesian(joint_state=states["joint"])
        self.states["fingertip"] = self.states["cartesian"].chunk(2, dim=-1)[0]

    def joint2cartesian(self, joint_state: torch.Tensor) -> torch.Tensor:
        """Endpoint state (batch, 2 * space_dim) of a joint state (batch, 2 * dof)."""
        return self.skeleton.joint2cartesian(joint_state=joint_state)

    # ================================================================== muscles
    def add_muscle(self, path_fixation_body: list, path_coordinates: list, name: str | None = None, **kwargs) -> None:
        """Add one muscle along a path of fixation points.

        Args:
            path_fixation_body: (n_points,) body of each fixation point (0 = world; PointMass: 1 = the
                mass; TwoDofArm: 1 = upper arm, 2 = forearm).
            path_coordinates: (n_points, space_dim) coordinates in each point's body frame (m); a
                bone's first axis runs along it.
            name: muscle name; default ``"muscle_<m>"``.
            **kwargs: the muscle type's parameters (``max_isometric_force``, ``tendon_length``, ...);
                keys the muscle type does not use are ignored with a warning.

        Raises:
            TypeError: a parameter required by the muscle type is missing.
            ValueError: the path is malformed (inconsistent shapes, fewer than 2 points, a body the skeleton
                does not have, non-finite coordinates) or a muscle parameter is invalid.

        A failed call changes nothing: the effector and its muscle are as before it.
        """
        label = name if name is not None else "muscle_" + str(self.n_muscles + 1)
        skeleton_model = self.skeleton.core_model
        bodies, xy = build.check_path(f"add_muscle({label!r})", path_fixation_body, path_coordinates,
                                      self.skeleton.space_dim,
                                      None if skeleton_model is None else build.max_body(skeleton_model))
        self._check_muscle_kwargs(label, kwargs)
        try:
            call = _jsonable({"path_fixation_body": path_fixation_body, "path_coordinates": path_coordinates,
                              "name": name, **kwargs}, "add_muscle arguments")
        except TypeError as err:
            call = {"__error__": str(err)}
        n_muscles, n_points = self.n_muscles + 1, len(bodies)
        to_build = {}
        for key, values in self.tobuild__muscle.items():
            to_build[key] = [*values, kwargs[key]] if key in kwargs else list(values)
            if len(to_build[key]) < n_muscles:
                to_build[key].append(self.tobuild__default[key])
        paths = [self._path_fixation_body[0, 0, self._muscle_index == m + 1].astype(int).tolist()
                 for m in range(self.n_muscles)] + [bodies]
        geometry = PathGeometry.from_paths(paths)
        try:
            self._build_muscle_or_restore(self.minidt, to_build)
        except (TypeError, ValueError) as err:
            if type(err) not in (TypeError, ValueError):
                raise
            raise type(err)(f"add_muscle({label!r}): {err}") from err

        # the muscle is built: commit (nothing below can fail on validated input)
        for key, values in to_build.items():
            self.tobuild__muscle[key][:] = values
        self.n_muscles = n_muscles
        self.input_dim += self.muscle.input_dim
        body = np.array(bodies, dtype="float32").reshape((1, 1, -1))
        self._path_fixation_body = np.concatenate([self._path_fixation_body, body], axis=-1)
        self._path_coordinates = np.concatenate([self._path_coordinates, xy.astype("float32").T[np.newaxis]], axis=-1)
        self._muscle_index = np.hstack([self._muscle_index, np.tile(np.max(n_muscles), [n_points])])
        self._muscle_transitions = np.diff(self._muscle_index.reshape((1, 1, -1))) == 1.0
        n_total_points = np.array([len(self._muscle_index)])
        self._row_splits = np.concatenate([np.zeros(1), np.diff(self._muscle_index).nonzero()[0] + 1,
                                           n_total_points - 1])
        device = self.damping.device
        f32 = dict(dtype=torch.float32, device=device)
        self.register_buffer("path_fixation_body", torch.tensor(self._path_fixation_body, **f32))
        self.register_buffer("path_coordinates", torch.tensor(self._path_coordinates, **f32))
        self.register_buffer("muscle_index", torch.tensor(self._muscle_index, **f32))
        self.register_buffer("muscle_transitions", torch.tensor(self._muscle_transitions, device=device))
        self.register_buffer("row_splits", torch.tensor(self._row_splits, dtype=torch.float32, device=device))
        self.section_splits = np.diff(self._row_splits).astype(int).tolist()
        self.muscle_name.append(label)
        self._muscle_config_is_empty = False
        self._path_geometry = geometry
        self._add_muscle_calls.append(call)
        self.touch()

    def _build_muscle_or_restore(self, timestep: float, to_build: dict) -> None:
        """``muscle.build(timestep, **to_build)``; if it raises, the muscle is put back as it was."""
        muscle = self.muscle
        saved = {key: dict(getattr(muscle, key)) for key in ("_buffers", "_parameters", "_modules")}
        saved_dict = dict(muscle.__dict__)
        try:
            muscle.build(timestep=timestep, **to_build)
        except BaseException:
            muscle.__dict__.clear()
            muscle.__dict__.update(saved_dict)
            for key, value in saved.items():
                getattr(muscle, key).clear()
                getattr(muscle, key).update(value)
            raise

    def _check_muscle_kwargs(self, label: str, kwargs: dict) -> None:
        missing = [k for k in self.tobuild__muscle if k not in kwargs and k not in self.tobuild__default]
        if missing:
            required = [k for k in self.tobuild__muscle if k not in self.tobuild__default]
            raise MissingMuscleParameterError(
                f"add_muscle({label!r}): missing keyword argument(s) {missing}; {type(self.muscle).__name__} needs "
                f"{required} (optional, with defaults: {self.tobuild__default})")
        unknown = sorted(set(kwargs) - set(self.tobuild__muscle))
        if unknown:
            warnings.warn(f"add_muscle({label!r}): {type(self.muscle).__name__} does not use {unknown}; ignored "
                          f"(it takes {list(self.tobuild__muscle)})", UserWarning, stacklevel=3)

    def _merge_muscle_kwargs(self, muscle_kwargs: dict) -> None:
        """Append ``muscle_kwargs`` (one value or list per parameter) to the build dictionary, then the
        muscle type's defaults for parameters still empty.

        Raises:
            KeyError: a key the muscle type does not take.
        """
        for key, val in muscle_kwargs.items():
            if key not in self.tobuild__muscle:
                raise KeyError(f"Unexpected key {key!r} in muscle_kwargs argument: {type(self.muscle).__name__} takes "
                               f"{list(self.tobuild__muscle)}")
            self.tobuild__muscle[key].append(val)
        for key, val in self.tobuild__muscle.items():
            if len(val) == 0 and key in self.tobuild__default:
                val.append(self.tobuild__default[key])

    def _build_muscle(self, timestep: float) -> None:
        """Build the muscle from the build dictionary (prebuilt effectors)."""
        missing = [k for k, v in self.tobuild__muscle.items() if len(v) == 0]
        if missing:
            raise MissingMuscleParameterError(
                f"{type(self).__name__}: muscle_kwargs lacks {missing}, required by {type(self.muscle).__name__} "
                f"(given: {sorted(k for k, v in self.tobuild__muscle.items() if v)})")
        self.muscle.build(timestep=timestep, **self.tobuild__muscle)

    def get_muscle_cfg(self) -> dict:
        """Wrapping configuration of the muscles added with :meth:`add_muscle`: per muscle name, the
        number of fixation points, their bodies and coordinates, and the muscle parameters."""
        cfg = {}
        bodies = self._path_fixation_body.reshape(-1)
        coords = self._path_coordinates[0]
        for m in range(self.n_muscles):
            ix = np.where(self._muscle_index == (m + 1))[0]
            d = {
                "n_fixation_points": len(ix),
                "fixation body": [int(k) for k in bodies[ix].tolist()],
                "coordinates": [coords[:, k].tolist() for k in ix],
            }
            if not self._muscle_config_is_empty:
                for param, value in self.tobuild__muscle.items():
                    d[param] = value[m]
            cfg[self.muscle_name[m]] = d
        if not cfg:
            cfg = {"Placeholder Message": "No muscles were added using the `add_muscle` method."}
        return cfg

    def print_muscle_wrappings(self) -> None:
        """Print :meth:`get_muscle_cfg` in a readable format."""
        cfg = self.get_muscle_cfg()
        if self._muscle_config_is_empty:
            print(cfg)
            return
        for muscle, params in cfg.items():
            print("MUSCLE NAME: " + muscle)
            print("-" * (13 + len(muscle)))
            for key, param in params.items():
                print(key + ": ", param)
            print("\n")

    # ================================================================== reset and initial states
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Set joint, cartesian, muscle and geometry states consistent with each other.

        Args:
            seed: reseeds :attr:`np_random` when given (gymnasium semantics).
            options: ``batch_size`` (default 1) and ``joint_state``: None (drawn uniformly within the
                position bounds, zero velocity), or (batch or 1, 2 * dof) / (batch or 1, dof)
                positions [and velocities], as a tensor, numpy array or nested list.

        Raises:
            ValueError: ``joint_state`` has the wrong number of columns or lies out of bounds.
        """
        if seed is not None:
            self._np_random, self.seed = seeding.np_random(seed)
        options = {} if options is None else options
        batch_size = check_batch_size(options.get("batch_size", 1))
        joint_state = options.get("joint_state", None)
        if joint_state is not None:
            joint_state = _as_joint_array(joint_state)
            if joint_state.shape[0] > 1:
                batch_size = joint_state.shape[0]
        joint0 = self._parse_initial_joint_state(joint_state=joint_state, batch_size=batch_size)
        geometry0 = self.get_geometry(joint0)
        muscle0 = self.muscle.get_initial_muscle_state(batch_size=batch_size, geometry_state=geometry0)
        self._set_state({"joint": joint0, "muscle": muscle0, "geometry": geometry0})

    @property
    def np_random(self) -> np.random.Generator:
        """The effector's numpy Generator (seeded from entropy on first use if never seeded)."""
        if self._np_random is None:
            self._np_random, _ = seeding.np_random()
        return self._np_random

    @np_random.setter
    def np_random(self, rng: np.random.Generator) -> None:
        self._np_random = rng

    def draw_random_uniform_states(self, batch_size: int) -> torch.Tensor:
        """(batch_size, 2 * dof) joint states: positions uniform within the bounds, zero velocity.

        Draws one (batch_size, dof) uniform sample from :attr:`np_random`.
        """
        shape = (batch_size, self.dof)
        device = self.pos_range_bound.device
        rnd = torch.tensor(self.np_random.uniform(size=shape), dtype=torch.float32).to(device)
        pos = self.pos_range_bound * rnd + self.skeleton.pos_upper_bound
        return torch.cat([pos, torch.zeros(shape, device=device, dtype=pos.dtype)], dim=1)

    def _parse_initial_joint_state(self, joint_state, batch_size):
        if joint_state is None:
            return self.draw_random_uniform_states(batch_size=batch_size)
        joint_state = _as_joint_array(joint_state)
        if joint_state.shape[0] > 1:
            batch_size = 1
        n_state = joint_state.shape[1]
        if n_state == self.state_dim:
            position, velocity = np.split(joint_state, 2, axis=-1)
            return self.draw_fixed_states(position=position, velocity=velocity, batch_size=batch_size)
        if n_state == int(self.state_dim / 2):
            return self.draw_fixed_states(position=joint_state, batch_size=batch_size)
        raise ValueError(f"joint_state must have {self.state_dim} columns (positions and velocities) or "
                         f"{self.state_dim // 2} (positions), got shape {joint_state.shape}")

    def draw_fixed_states(self, batch_size: int, position, velocity=None) -> torch.Tensor:
        """(batch_size * n, 2 * dof) joint states tiling given positions (and velocities, default 0).

        Args:
            batch_size: number of repeats.
            position: (n, dof) or (dof,) positions.
            velocity: like ``position``; None means zero.

        Raises:
            ValueError: shapes disagree or a value lies outside the effector's bounds.
        """
        pos = position.cpu().detach().numpy() if torch.is_tensor(position) else np.array(position)
        if velocity is None:
            velocity = np.zeros_like(pos)
        vel = velocity.cpu().detach().numpy() if torch.is_tensor(velocity) else np.array(velocity)
        pos = pos.reshape((1, -1)) if pos.ndim == 1 else pos
        vel = vel.reshape((1, -1)) if vel.ndim == 1 else vel
        if pos.shape != vel.shape:
            raise ValueError(f"position and velocity must have the same shape, got {pos.shape} and {vel.shape}")
        if pos.ndim != 2 or pos.shape[1] != self.dof:
            raise ValueError(f"position must have shape (batch_size, dof={self.dof}), got {pos.shape}")
        for what, x in (("position", pos), ("velocity", vel)):
            lower = getattr(self, what[:3] + "_lower_bound").cpu().numpy()
            upper = getattr(self, what[:3] + "_upper_bound").cpu().numpy()
            for side, bad, bound in (("below lower", ~(x >= lower), lower), ("above upper", ~(x <= upper), upper)):
                if bad.any():
                    row, col = (int(i) for i in np.argwhere(bad)[0])
                    raise ValueError(
                        f"joint_state {what} {side} bound: row {row}, joint {col} is {float(x[row, col])!r}, bound is "
                        f"{float(bound[col])!r} ({what[:3]}_lower_bound={lower.tolist()}, "
                        f"{what[:3]}_upper_bound={upper.tolist()})")
        device = self.pos_lower_bound.device
        states = torch.cat([torch.tensor(pos, dtype=torch.float32), torch.tensor(vel, dtype=torch.float32)], dim=1)
        return states.to(device).repeat(batch_size, 1)

    def _set_state_limit_bounds(self, lb, ub) -> np.ndarray:
        """(dof, 2) float32 array of [lower, upper] bounds, broadcasting scalars."""
        lb = np.array(_numpy(lb)).reshape((-1, 1)).astype(np.float32)
        ub = np.array(_numpy(ub)).reshape((-1, 1)).astype(np.float32)
        try:
            return np.hstack((lb, ub)) * np.ones((self.dof, 2)).astype(np.float32)
        except ValueError as err:
            raise ValueError(f"joint bounds must be scalars or have dof={self.dof} entries, got lower "
                             f"{lb.ravel().tolist()} and upper {ub.ravel().tolist()}") from err

    # ================================================================== configuration
    def get_save_config(self) -> dict:
        """MotorNet's configuration dict (muscle, skeleton, timesteps, muscle names and wrappings), plus
        a ``"motornet_fn"`` entry holding the recipe :meth:`from_config` rebuilds the effector from."""
        cfg = {"muscle": self.muscle.get_save_config(),
               "skeleton": self.skeleton.get_save_config(),
               "dt": self.dt, "n_ministeps": self.n_ministeps,
               "minidt": self.minidt, "half_minidt": self.half_minidt,
               "muscle_names": self.muscle_name,
               "n_muscles": self.n_muscles,
               "muscle_wrapping_cfg": self.get_muscle_cfg()}
        cfg["motornet_fn"] = recipe_entry(self)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Effector":
        """Rebuild an effector from :meth:`get_save_config` output (also after a JSON round trip)."""
        return build_from_recipe_entry(config)

    def setattr(self, name: str, value: Any) -> None:
        """Set attribute ``name`` to ``value``."""
        self.__setattr__(name, value)

    def _move_tensors(self, move):
        self.states = {k: move(v) for k, v in self.states.items()}



class ReluPointMass24(Effector):
    """A planar point mass pulled by 4 :class:`ReluMuscle` s in an X: fixed ends at (+-2, +-2), free
    ends on the mass, which moves in [-1, 1]^2.

    Args:
        timestep: timestep (s).
        max_isometric_force: force of each muscle (N).
        mass: point mass (kg).
        **kwargs: passed to :class:`Effector`.
    """

    def __init__(self, timestep: float = 0.01, max_isometric_force: float = 500, mass: float = 1, **kwargs):
        super().__init__(skeleton=PointMass(space_dim=2, mass=mass), muscle=ReluMuscle(), timestep=timestep, **kwargs)
        for name, corner in build.RELU_POINT_MASS_CORNERS.items():
            self.add_muscle(path_fixation_body=[0, 1], path_coordinates=[list(corner), [0, 0]], name=name,
                            max_isometric_force=max_isometric_force)


class _ConstantMomentArmEffector(Effector):
    """Four muscles with constant moment arms and zero musculotendon length and velocity."""

    #: (muscle names, moment arms (dof, 4)) of the core's prebuilt effector
    _arms: tuple = ((), ())

    def _setup_constant_arms(self, muscle_kwargs: dict) -> None:
        names, moment_arms = self._arms
        self.muscle_state_dim = self.muscle.state_dim
        self.geometry_state_dim = 2 + self.skeleton.dof
        self.n_muscles = len(names)
        self.input_dim = self.n_muscles
        self.muscle_name = list(names)
        if "max_isometric_force" not in muscle_kwargs:
            muscle_kwargs = {**muscle_kwargs, "max_isometric_force": [build.CONSTANT_ARM_FORCE] * self.n_muscles}
        self._merge_muscle_kwargs(muscle_kwargs)
        self._build_muscle(self.dt)
        arms = np.array(moment_arms, dtype=np.float32).reshape((1, self.skeleton.dof, self.n_muscles))
        self.register_buffer("a0", torch.tensor(arms, device=self.damping.device))

    def _geometry_core(self):
        return ConstantMomentArmGeometry(), ConstantMomentArmParams(self.a0[0])


class FreePointMass24(_ConstantMomentArmEffector):
    """A planar point mass driven by 4 muscles pulling right, up, left, down (``r, u, l, d``) through
    constant moment arms; position bounds default to [-0.6, 0.6] m.

    Args:
        muscle: muscle type of the four muscles.
        skeleton: default ``PointMass(space_dim=2, mass=1.0)``.
        timestep: timestep (s).
        muscle_kwargs: muscle parameters (scalars or 4-lists); ``max_isometric_force`` defaults to 1000 N.
        **kwargs: passed to :class:`Effector`.
    """

    _arms = build.FREE_POINT_MASS_ARMS

    def __init__(self, muscle, skeleton=None, timestep=0.01, muscle_kwargs: dict = {}, **kwargs):  # noqa: B006
        lower, upper = build.FREE_POINT_MASS_BOUNDS
        super().__init__(muscle=muscle, timestep=timestep, **_with_defaults(
            kwargs, skeleton, lambda: PointMass(space_dim=2, mass=1.0), ([lower] * 2, [upper] * 2)))
        self._setup_constant_arms(muscle_kwargs)


class Reacher(_ConstantMomentArmEffector):
    """A two-joint arm driven by shoulder/elbow flexors and extensors (``sf, se, ef, ee``) through
    constant moment arms. Default skeleton: the Arm26 ``TwoDofArm`` (Nijhof & Kouwenhoven 2000), limits
    0..135 deg (shoulder) and 0..155 deg (elbow).

    Args:
        muscle: muscle type of the four muscles.
        skeleton: default Arm26 ``TwoDofArm``.
        timestep: timestep (s).
        muscle_kwargs: muscle parameters; ``max_isometric_force`` defaults to 1000 N.
        **kwargs: passed to :class:`Effector`.
    """

    _arms = build.REACHER_ARMS

    def __init__(self, muscle, skeleton=None, timestep=0.01, muscle_kwargs: dict = {}, **kwargs):  # noqa: B006
        super().__init__(muscle=muscle, timestep=timestep, **_with_defaults(
            kwargs, skeleton, lambda: TwoDofArm(**ARM26_SKELETON), _ARM26_BOUNDS))
        self._setup_constant_arms(muscle_kwargs)


class RigidTendonArm26(Effector):
    """Six lumped muscles on a two-joint arm with polynomial moment arms (Nijhof & Kouwenhoven 2000,
    Biomechanics and Neural Control of Posture and Movement, pp. 363-372). Default skeleton: Arm26
    ``TwoDofArm``, limits 0..135 deg (shoulder) and 0..155 deg (elbow).

    Args:
        muscle: muscle type of the six muscles.
        skeleton: default Arm26 ``TwoDofArm``.
        timestep: timestep (s).
        muscle_kwargs: further muscle parameters (max force, tendon and optimal lengths are fixed).
        **kwargs: passed to :class:`Effector`.
    """

    _tendon_length = build.ARM26_TENDON_RIGID
    _a0 = ARM26_A0_RIGID

    def __init__(self, muscle, skeleton=None, timestep=0.01, muscle_kwargs: dict = {}, **kwargs):  # noqa: B006
        super().__init__(muscle=muscle, timestep=timestep, **_with_defaults(
            kwargs, skeleton, lambda: TwoDofArm(**ARM26_SKELETON), _ARM26_BOUNDS))
        self.muscle_state_dim = self.muscle.state_dim
        self.geometry_state_dim = 2 + self.skeleton.dof
        self.n_muscles = 6
        self.input_dim = self.n_muscles
        self.muscle_name = list(build.ARM26_MUSCLE_NAMES)
        self._merge_muscle_kwargs(muscle_kwargs)
        self.tobuild__muscle["max_isometric_force"] = list(build.ARM26_MAX_FORCE)
        self.tobuild__muscle["tendon_length"] = list(self._tendon_length)
        self.tobuild__muscle["optimal_muscle_length"] = list(build.ARM26_OPTIMAL_LENGTH)
        self._build_muscle(self.dt)
        device = self.damping.device
        for name, value, shape in (("a0", self._a0, (1, 1, 6)), ("a1", ARM26_A1, (1, 2, 6)), ("a2", ARM26_A2, (1, 2, 6)),
                                   ("a3", ARM26_A3, (1, 2, 1))):
            self.register_buffer(name, torch.tensor(np.array(value).reshape(shape), dtype=torch.float32, device=device))

    def _geometry_core(self):
        return PolynomialGeometry(), PolynomialParams(self.a0.reshape(-1), self.a1[0], self.a2[0], self.a3.reshape(-1))


class CompliantTendonArm26(RigidTendonArm26):
    """The compliant-tendon version of :class:`RigidTendonArm26` (always
    :class:`CompliantTendonHillMuscle`; default timestep 0.2 ms and ``integration_method="rk4"``).

    Args:
        timestep: timestep (s).
        skeleton: default Arm26 ``TwoDofArm``.
        muscle_kwargs: further muscle parameters.
        **kwargs: passed to :class:`RigidTendonArm26`.
    """

    _tendon_length = build.ARM26_TENDON_COMPLIANT
    _a0 = ARM26_A0_COMPLIANT

    def __init__(self, timestep=0.0002, skeleton=None, muscle_kwargs: dict = {}, **kwargs):  # noqa: B006
        integration_method = kwargs.pop("integration_method", "rk4")
        # MotorNet builds the muscle twice and appends muscle_kwargs a second time, which crashes for any
        # non-empty muscle_kwargs; building once with the compliant values gives its numbers otherwise.
        super().__init__(muscle=CompliantTendonHillMuscle(), skeleton=skeleton, timestep=timestep,
                         integration_method=integration_method, muscle_kwargs=muscle_kwargs, **kwargs)


# ====================================================================== helpers
def check_action_shape(action: torch.Tensor, n_muscles: int, batch_size: int) -> torch.Tensor:
    """``action`` as (batch_size or 1, n_muscles) or (n_muscles,): MotorNet reads an excitation as rows of
    n_muscles, so (batch_size, 1, n_muscles) is (batch_size, n_muscles).

    Raises:
        ShapeError: ``action`` does not end in n_muscles or does not hold 1 or batch_size rows.
    """
    rows = action.numel() // max(n_muscles, 1)
    if action.ndim == 0 or action.shape[-1] != n_muscles or rows not in (1, batch_size):
        raise ShapeError(f"action must have shape (batch_size={batch_size}, n_muscles={n_muscles}) or "
                         f"({n_muscles},), got {tuple(action.shape)}")
    return action.reshape(rows, n_muscles) if action.ndim > 2 else action


_CORE_KEYS = ("joint", "muscle", "geometry")
_LAST_CORE = CACHE_PREFIX + "last_core"  # (core state, _tensor_keys of the states it was converted to)


def _tensor_keys(states: dict) -> tuple | None:
    """The joint, muscle and geometry state tensors with their in-place version counters (None for
    inference-mode tensors, which have no counter)."""
    tensors = [states[k] for k in _CORE_KEYS]
    if any(t.is_inference() for t in tensors):
        return None
    return tuple((t, t._version) for t in tensors)


def _unchanged(states: dict, keys: tuple | None) -> bool:
    """Whether ``states`` holds the very tensors of ``keys``, not edited in place since (e.g. by a
    perturbation ``states["joint"][:, 2] += 1``)."""
    return keys is not None and all(states[k] is t and t._version == v for k, (t, v) in zip(_CORE_KEYS, keys))


def to_layouts(spec, params, state: EffectorState) -> tuple:
    """MotorNet's state layouts of a core state: (joint, cartesian, muscle, geometry)."""
    tip = core_effector.cartesian(spec, params, state.joint)
    return (joint_to_tensor(state.joint), torch.cat([tip.pos, tip.vel], dim=-1), muscle_to_tensor(state.muscle),
            geometry_to_tensor(state.geometry))


def from_layouts(spec, joint: torch.Tensor, muscle: torch.Tensor, geometry: torch.Tensor) -> EffectorState:
    """The core state held in MotorNet's layouts (views)."""
    return EffectorState(joint_from_tensor(joint), spec.muscle.State(*muscle.unbind(-2)), geometry_from_tensor(geometry))


_LAYOUT_STEPS: dict = {}


def compiled_layout_step(spec):
    """The core step of ``spec`` on MotorNet's layouts, compiled
    (:class:`~motornet_fn.core.stepfunction.StepFunction`): ``(params, joint, muscle, geometry, action,
    endpoint_load, joint_load) -> (joint, cartesian, muscle, geometry)``."""
    if spec not in _LAYOUT_STEPS:
        from motornet_fn.core.compiled import step_function

        def step(params, joint, muscle, geometry, action, endpoint_load, joint_load):
            new = core_effector.step(spec, params, from_layouts(spec, joint, muscle, geometry), action,
                                     Loads(endpoint_load, joint_load))
            return to_layouts(spec, params, new)

        _LAYOUT_STEPS[spec] = step_function(step, "effector step", lambda p, joint, *a: (
            f"effector step ({spec.skeleton.name}/{spec.muscle.name}/{spec.integrator}, batch {joint.shape[0]})"),
            spec)
    return _LAYOUT_STEPS[spec]


def _from_core(state: EffectorState) -> dict:
    return {"joint": joint_to_tensor(state.joint), "muscle": muscle_to_tensor(state.muscle),
            "geometry": geometry_to_tensor(state.geometry)}


_overriding_classes: dict = {}


def _overrides(obj: Any, base: type, hooks: tuple) -> bool:
    """Whether ``obj`` (an instance of a ``base`` subclass) overrides any of ``hooks``."""
    key = (type(obj), base, hooks)
    if key not in _overriding_classes:
        _overriding_classes[key] = any(getattr(type(obj), h) is not getattr(base, h) for h in hooks)
    return _overriding_classes[key] or any(h in obj.__dict__ for h in hooks)


def _numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else x


def _as_joint_array(joint_state: Any) -> np.ndarray:
    """A joint state (tensor, array or nested list) as a 2-D numpy array (a 1-D state is one row)."""
    arr = np.asarray(_numpy(joint_state))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"joint_state must be 2-D (batch_size, 2 * dof) or (batch_size, dof), got shape {arr.shape}")
    return arr


def _as_float(name: str, value: Any) -> float:
    try:
        return float(_numpy(value))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number, got {value!r}") from err


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_positive_float(name: str, value: Any) -> None:
    if not (0 < _as_float(name, value) < np.inf):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")


def _check_instance(name: str, value: Any, cls: type, example: str) -> None:
    if not isinstance(value, cls):
        raise NotAComponentError(f"{name} must be a {cls.__name__} instance such as {example}, got {value!r} "
                        f"({type(value).__name__})")


def check_batch_size(value: Any) -> int:
    """``reset``'s ``batch_size`` option as an int.

    Raises:
        TypeError: it is not an integer (MotorNet's type for a float or None); ValueError: it is negative.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"options['batch_size'] must be an integer >= 0, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"options['batch_size'] must be an integer >= 0, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------- construction recipes
def _jsonable(value: Any, where: str = "value") -> Any:
    """A JSON-friendly copy of a constructor argument: numbers, strings, lists, dicts, and nested
    recipes for motornet_fn objects. Raises TypeError for anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _numpy(value).tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if "_init_args" in getattr(value, "__dict__", {}):
        return object_recipe(value)
    raise TypeError(f"cannot record {where}={value!r} ({type(value).__name__}) in a JSON configuration")


def object_recipe(obj: Any) -> dict:
    """JSON-friendly recipe of a motornet_fn object: its class path, constructor arguments and, for
    effectors, the ``add_muscle`` calls made on it."""
    cls = type(obj)
    if "<locals>" in cls.__qualname__:
        raise TypeError(f"{cls.__qualname__} is defined inside a function and cannot be re-imported")
    args, kwargs = obj.__dict__["_init_args"]
    errors = [c["__error__"] for c in getattr(obj, "_add_muscle_calls", []) if "__error__" in c]
    if errors:
        raise TypeError(errors[0])
    recipe = {"__object__": f"{cls.__module__}:{cls.__qualname__}",
              "args": _jsonable(list(args), f"{cls.__name__} args"),
              "kwargs": _jsonable(dict(kwargs), f"{cls.__name__} kwargs")}
    if isinstance(obj, Effector):
        recipe["add_muscle"] = list(obj._add_muscle_calls)
    return recipe


def from_recipe(value: Any) -> Any:
    """Inverse of :func:`_jsonable`: instantiate nested recipes and replay ``add_muscle`` calls."""
    if isinstance(value, list):
        return [from_recipe(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__object__" not in value:
        return {k: from_recipe(v) for k, v in value.items()}
    module, _, qualname = value["__object__"].partition(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    obj = cls(*from_recipe(value.get("args", [])), **from_recipe(value.get("kwargs", {})))
    calls = value.get("add_muscle", [])
    for call in calls[len(getattr(obj, "_add_muscle_calls", [])):]:  # those the constructor did not make
        obj.add_muscle(**call)
    return obj


def recipe_entry(obj: Any) -> dict:
    """The ``"motornet_fn"`` entry of a saved configuration: a recipe, or why none could be made."""
    from motornet_fn import __version__

    try:
        return {"version": __version__, "recipe": object_recipe(obj)}
    except TypeError as err:
        return {"version": __version__, "recipe": None, "error": str(err)}


def build_from_recipe_entry(config: dict) -> Any:
    """Rebuild the object described by a configuration's ``"motornet_fn"`` entry."""
    entry = config.get("motornet_fn") if isinstance(config, dict) else None
    if not entry:
        raise ValueError("config has no 'motornet_fn' entry: pass the output of get_save_config() of motornet_fn")
    if entry.get("recipe") is None:
        raise TypeError(f"this configuration cannot be rebuilt: {entry.get('error')}")
    return from_recipe(entry["recipe"])


__all__ = ["Effector", "ReluPointMass24", "FreePointMass24", "Reacher", "RigidTendonArm26", "CompliantTendonArm26",
           "FirstOrderRK4Warning", "ShapeError", "MissingMuscleParameterError", "NotAComponentError"]
