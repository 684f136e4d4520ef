"""Fixtures for MotorNet 0.3.0's own test suite (its sdist ships ``tests/`` without the conftest).

``tests/test_motornet_suite.py`` copies this file, as ``tests/conftest.py``, next to the extracted MotorNet
tests (it is not named conftest.py here, so our own test run never loads it), which import
``make_geometry_state`` from ``tests.conftest`` and request the fixtures below by name. The parameters are
inferred from what those tests assert (e.g. ``l0_ce == 0.1``, ``l0_pe == 1.4 * l0_ce``, ``vmax == 10 *
l0_ce``), and the file is validated by running the suite against MotorNet 0.3.0 itself. Everything is
imported from ``motornet``; in the motornet_fn run an import shim makes that name resolve to motornet_fn.
"""
import pytest
import torch

from motornet.effector import (
    CompliantTendonArm26,
    FreePointMass24,
    Reacher,
    ReluPointMass24,
    RigidTendonArm26,
)
from motornet.environment import Environment
from motornet.muscle import (
    CompliantTendonHillMuscle,
    MujocoHillMuscle,
    ReluMuscle,
    RigidTendonHillMuscle,
    RigidTendonHillMuscleThelen,
)

#: degrees of freedom of the geometry states built by make_geometry_state (a planar skeleton)
GEOMETRY_DOF = 2


def make_geometry_state(batch_size, length, n_muscles, vel=0.0):
    """A geometry state of shape (batch, 2 + dof, n_muscles): every muscle has musculotendon length
    ``length`` and velocity ``vel``; the moment arms (rows 2:) are zero, since a muscle's own
    ``integrate`` and ``get_initial_muscle_state`` read only rows 0 and 1."""
    state = torch.zeros(batch_size, 2 + GEOMETRY_DOF, n_muscles, dtype=torch.float32)
    state[:, 0, :] = float(length)
    state[:, 1, :] = float(vel)
    return state


# ----------------------------------------------------------------------------------------- muscles
@pytest.fixture
def built_relu_muscle():
    """Two ReLU muscles with different peak forces (the ReluMuscle tests use n_muscles=2)."""
    muscle = ReluMuscle()
    muscle.build(timestep=0.01, max_isometric_force=[100.0, 200.0])
    return muscle


def _one_rigid_tendon_muscle(cls):
    """One muscle with no tendon, optimal length 0.1 m and slack 1.4 (l0_pe = 0.14 m, vmax = 1 m/s)."""
    muscle = cls()
    muscle.build(timestep=0.01, max_isometric_force=[100.0], tendon_length=[0.0],
                 optimal_muscle_length=[0.1], normalized_slack_muscle_length=[1.4])
    return muscle


@pytest.fixture
def built_rigid_tendon_muscle():
    """Kistemaker rigid-tendon muscle: l0_ce 0.1, l0_se 0.0, l0_pe 0.14, vmax 1.0."""
    return _one_rigid_tendon_muscle(RigidTendonHillMuscle)


@pytest.fixture
def built_thelen_muscle():
    """Thelen rigid-tendon muscle with the same parameters as ``built_rigid_tendon_muscle``."""
    return _one_rigid_tendon_muscle(RigidTendonHillMuscleThelen)


@pytest.fixture
def built_mujoco_muscle():
    """One MuJoCo Hill muscle (tendon 0.05 m, optimal length 0.1 m) with MuJoCo's default shape
    parameters (the defaults MotorNet's add_muscle fills in): slack 1.3, lmin 0.5, lmax 1.6,
    vmax 1.5, fvmax 1.2. ``build`` is called directly, so every argument is given."""
    muscle = MujocoHillMuscle()
    muscle.build(timestep=0.01, max_isometric_force=[100.0], tendon_length=[0.05],
                 optimal_muscle_length=[0.1], normalized_slack_muscle_length=[1.3],
                 lmin=[0.5], lmax=[1.6], vmax=[1.5], fvmax=[1.2])
    return muscle


@pytest.fixture
def built_compliant_muscle():
    """One compliant-tendon muscle for a 0.6 m musculotendon (the tests' length) integrated at 0.1 ms:
    tendon slack 0.45 m, optimal length 0.1 m, slack 1.4 (l0_pe 0.14 m). 0.6 m exceeds
    l0_se + l0_pe = 0.59 m, so the initial state is the PE/SE equilibrium and the tendon carries force."""
    muscle = CompliantTendonHillMuscle()
    muscle.build(timestep=0.0001, max_isometric_force=[500.0], tendon_length=[0.45],
                 optimal_muscle_length=[0.1], normalized_slack_muscle_length=[1.4])
    return muscle


# --------------------------------------------------------------------------------------- effectors
@pytest.fixture
def relu_point_mass():
    """MotorNet's tutorial effector with its defaults."""
    return ReluPointMass24()


@pytest.fixture
def thelen_arm26():
    """RigidTendonArm26 driven by Thelen muscles (the class tests it as ``TestRigidTendonArm26``)."""
    return RigidTendonArm26(muscle=RigidTendonHillMuscleThelen())


@pytest.fixture
def compliant_arm26():
    """CompliantTendonArm26 with its defaults (dt 0.2 ms, rk4)."""
    return CompliantTendonArm26()


@pytest.fixture
def free_point_mass():
    """FreePointMass24 with ReLU muscles and the default 1000 N, mass 1 and +-0.6 m workspace."""
    return FreePointMass24(muscle=ReluMuscle())


@pytest.fixture
def reacher():
    """Reacher with ReLU muscles and the default 1000 N."""
    return Reacher(muscle=ReluMuscle())


# ------------------------------------------------------------------------------------ environments
@pytest.fixture
def base_env():
    """The base Environment (differentiable) around the tutorial ReluPointMass24."""
    return Environment(effector=ReluPointMass24())
