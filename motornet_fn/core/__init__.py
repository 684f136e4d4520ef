"""The functional core: pure torch functions over NamedTuple pytrees.

Typical use::

    from motornet_fn import core
    spec, params = core.rigid_tendon_arm26()
    state = core.initial_state(spec, params, core.JointState(pos, vel))
    state = core.step(spec, params, state, action)

Every function takes any number of leading batch dims and composes with ``torch.func``.
"""
from motornet_fn.core.build import (
    PREBUILT, compliant_tendon_arm26, free_point_mass24, path_effector, prebuilt, reacher, relu_point_mass24,
    resolve_integrator, rigid_tendon_arm26,
)
from motornet_fn.core.effector import (
    INTEGRATORS, ContinuousState, EffectorDerivative, EffectorParams, EffectorSpec, cartesian, compute_geometry,
    continuous_derivative, euler_step, from_continuous, generalized_force, initial_state, motornet_derivative,
    motornet_update, rk4_motornet_step, rk4_step, step, to_continuous,
)
from motornet_fn.core.engine import Trace, rollout, run_episode
from motornet_fn.core import env, engine, tasks
from motornet_fn.core import analysis, sweeps
from motornet_fn.core.analysis import (
    Linearisation, MuscleJacobians, MusclePoint, action_names, autodiff_geometry, endpoint_jacobian, linearise,
    moment_arms, muscle_jacobians, muscle_point, muscle_point_of, per_muscle, state_names, state_vector,
)
from motornet_fn.core.checks import check_finite, check_state
from motornet_fn.core.geometry import (
    ConstantMomentArmGeometry, ConstantMomentArmParams, PathGeometry, PathParams, PolynomialGeometry,
    PolynomialParams, arm26_params,
)
from motornet_fn.core.muscles import (
    MUSCLES, CompliantTendonHillMuscle, MujocoHillMuscle, MuscleModel, ReluMuscle, RigidTendonHillMuscle,
    RigidTendonHillMuscleThelen, get_muscle,
)
from motornet_fn.core.skeletons import SKELETONS, PlanarChain, PointMass, SkeletonModel, TwoDofArm, get_skeleton
from motornet_fn.core.sweeps import Variants, sweep, sweep_initial_state, sweep_rollout, sweep_step, vary
from motornet_fn.core.types import (
    CartesianState, EffectorState, Geometry, JointState, Loads, PointKinematics, geometry_from_tensor,
    geometry_to_tensor, joint_from_tensor, joint_to_tensor, muscle_to_tensor,
)

__all__ = [name for name in dir() if not name.startswith("_")]
