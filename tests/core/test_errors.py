"""Bad input is rejected eagerly, at build time (or by ``check_state``), with a ValueError/TypeError whose
message names the argument, the value received and what was expected."""
from __future__ import annotations

import re

import pytest
import torch

from motornet_fn import core

RIGID = core.get_muscle("RigidTendonHillMuscle")
HILL = dict(max_isometric_force=100.0, tendon_length=0.1, optimal_muscle_length=0.1)
PM = core.PointMass(2)


def path(**kw):
    return dict(dict(path_fixation_body=[0, 1], path_coordinates=[[1.5, 1.5], [0.0, 0.0]], max_isometric_force=10.0), **kw)


# ------------------------------------------------------------------------------------ unknown names
@pytest.mark.parametrize("call,pattern", [
    (lambda: core.get_muscle("HillMuscle"), r"unknown muscle 'HillMuscle'; valid names: \[.*'RigidTendonHillMuscle'"),
    (lambda: core.get_skeleton("ThreeDofArm"), r"unknown skeleton 'ThreeDofArm'; valid names: \[.*'TwoDofArm'"),
    (lambda: core.prebuilt("Arm26"), r"unknown prebuilt effector 'Arm26'; valid names: \[.*'RigidTendonArm26'"),
    (lambda: core.resolve_integrator("midpoint"), r"unknown integration method 'midpoint'; valid names: \[.*'euler'"),
    (lambda: core.rigid_tendon_arm26(integrator="heun"), r"unknown integrator 'heun'; valid names: \['euler', 'rk4', 'rk4_motornet'\]"),
    (lambda: core.EffectorSpec(PM, RIGID, None, integrator="rk5"), r"unknown integrator 'rk5'; valid names: \['euler'"),
    (lambda: core.path_effector(PM, "Foo", [path()]), r"unknown muscle 'Foo'"),
])
def test_unknown_names_list_the_valid_ones(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_motornet_integrator_aliases_resolve():
    assert core.resolve_integrator("RK4") == "rk4_motornet"  # MotorNet's "rk4" is its chained scheme
    assert core.resolve_integrator("runge-kutta-4") == "rk4_motornet"
    assert core.resolve_integrator("rk4-classic") == "rk4"
    assert core.resolve_integrator("Euler") == "euler"


# ------------------------------------------------------------------------------ muscle parameters
def test_missing_muscle_parameters_are_named():
    with pytest.raises(TypeError, match=r"RigidTendonHillMuscle: missing muscle parameter\(s\) \['tendon_length', "
                                        r"'optimal_muscle_length'\] \(required: \['max_isometric_force'"):
        RIGID.make_params(2, max_isometric_force=1.0)
    with pytest.raises(TypeError, match=r"muscle 'biceps': missing keyword argument 'tendon_length' required by "
                                        r"RigidTendonHillMuscle"):
        core.path_effector(PM, "RigidTendonHillMuscle", [path(name="biceps", optimal_muscle_length=0.1)])
    with pytest.raises(TypeError, match=r"missing muscle parameter\(s\) \['tendon_length', 'optimal_muscle_length'\]"):
        core.reacher()  # Hill muscles on Reacher need their lengths, as in MotorNet


def test_unknown_muscle_parameters_are_named():
    with pytest.raises(TypeError, match=r"unknown muscle parameter\(s\) \['tendon_slack'\]; expected some of \[.*"
                                        r"'tendon_length'"):
        RIGID.make_params(1, tendon_slack=0.1, **HILL)
    with pytest.raises(TypeError, match=r"muscle 'm': unknown parameter\(s\) \['tendon_length'\] for ReluMuscle"):
        core.path_effector(PM, "ReluMuscle", [path(name="m", tendon_length=0.1)])
    with pytest.raises(TypeError, match=r"unknown muscle parameter\(s\) \['foo'\]"):
        core.rigid_tendon_arm26(muscle_kwargs={"foo": 1.0})


@pytest.mark.parametrize("kw,exc,pattern", [
    (dict(max_isometric_force=[1.0, 2.0]), ValueError,
     r"muscle parameter 'max_isometric_force' must be a scalar or have n_muscles=3 elements, "
     r"got shape \(2,\): \[1.0, 2.0\]"),
    (dict(tendon_length=[[0.1, 0.1, 0.1, 0.1]]), ValueError, r"'tendon_length' .* n_muscles=3 .* got shape \(1, 4\)"),
    (dict(max_isometric_force=float("nan")), ValueError,
     r"muscle parameter 'max_isometric_force' must be finite, got \[nan, nan, nan\]"),
    (dict(optimal_muscle_length=[0.1, float("inf"), 0.1]), ValueError,
     r"'optimal_muscle_length' must be finite, got \[0.1.*, inf, 0.1.*\]"),
    (dict(tau_activation=float("-inf")), ValueError, r"'tau_activation' must be finite, got \[-inf"),
    (dict(max_isometric_force="strong"), TypeError,
     r"'max_isometric_force' must be a number or a sequence of numbers, got 'strong'"),
    (dict(max_isometric_force=-5.0), ValueError, r"max_isometric_force must be > 0, got \[-5.0"),
    (dict(optimal_muscle_length=0.0), ValueError, r"optimal_muscle_length must be > 0, got \[0.0"),
    (dict(tendon_length=-0.1), ValueError, r"tendon_length must be >= 0, got \[-0.1"),
    (dict(min_activation=1.0), ValueError, r"min_activation must lie in \[0, 1\), got \[1.0"),
    (dict(tau_deactivation=0.0), ValueError, r"tau_deactivation must be > 0, got \[0.0"),
    (dict(normalized_slack_muscle_length=1.66), ValueError,
     r"normalized_slack_muscle_length must be < 1.66 .* got \[1.6(6|59)"),
    (dict(normalized_slack_muscle_length=-1.0), ValueError, r"normalized_slack_muscle_length must be > 0, got \[-1.0"),
])
def test_bad_muscle_parameter_values(kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        RIGID.make_params(3, **{**HILL, **kw})


def test_model_specific_parameter_ranges():
    with pytest.raises(ValueError, match=r"need lmin < 0.95 and lmax > 1, got lmin=\[0.99.*\], lmax=\[1.6"):
        core.get_muscle("MujocoHillMuscle").make_params(1, lmin=0.99, **HILL)
    with pytest.raises(ValueError, match=r"need fvmax > 1 and vmax > 0, got fvmax=\[0.(9|899).*\], vmax=\[1.5"):
        core.get_muscle("MujocoHillMuscle").make_params(1, fvmax=0.9, **HILL)
    with pytest.raises(ValueError, match=r"tendon_length must be > 0 for a compliant tendon, got \[0.0\]"):
        core.get_muscle("CompliantTendonHillMuscle").make_params(1, **{**HILL, "tendon_length": 0.0})
    with pytest.raises(ValueError, match=r"normalized_slack_muscle_length must be < 1.66"):
        core.get_muscle("CompliantTendonHillMuscle").make_params(1, normalized_slack_muscle_length=1.7, **HILL)
    with pytest.raises(ValueError, match=r"n_muscles must be a positive int, got 0"):
        RIGID.make_params(0, **HILL)


# ---------------------------------------------------------------------------- skeleton parameters
@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: PM.make_params(mass=float("nan")), ValueError, r"mass must be finite and > 0, got nan"),
    (lambda: PM.make_params(mass=0.0), ValueError, r"mass must be finite and > 0, got 0.0"),
    (lambda: PM.make_params(mass="heavy"), TypeError, r"mass must be a number, got 'heavy'"),
    (lambda: PM.make_params(pos_lower_bound=[0.0, 0.0, 0.0]), ValueError,
     r"pos_lower_bound must be a scalar or have 2 elements, got 3: \[0.0, 0.0, 0.0\]"),
    (lambda: PM.make_params(vel_upper_bound=[1.0, float("nan")]), ValueError,
     r"vel_upper_bound must not contain NaN, got \[1.0, nan\]"),
    (lambda: PM.make_params(pos_lower_bound=2.0), ValueError,
     r"pos_lower_bound must be <= pos_upper_bound, got \[2.0, 2.0\] > \[1.0, 1.0\]"),
    (lambda: core.TwoDofArm().make_params(m3=1.0), TypeError,
     r"TwoDofArm: unknown parameter\(s\) \['m3'\]; expected \[.*'m2'"),
    (lambda: core.TwoDofArm().make_params(l1=float("inf")), ValueError, r"l1 must be finite and > 0, got inf"),
    (lambda: core.TwoDofArm().make_params(viscosity=-0.1), ValueError, r"viscosity must be finite and >= 0, got -0.1"),
    (lambda: core.PointMass(0), ValueError, r"space_dim must be a positive int, got 0"),
])
def test_bad_skeleton_parameters(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ---------------------------------------------------------------------------- effector structure
@pytest.mark.parametrize("kw,exc,pattern", [
    (dict(dt=float("inf")), ValueError, r"dt must be a finite number of seconds > 0, got inf"),
    (dict(dt=float("nan")), ValueError, r"dt must be a finite number of seconds > 0, got nan"),
    (dict(dt=-0.01), ValueError, r"dt must be a finite number of seconds > 0, got -0.01"),
    (dict(dt="fast"), TypeError, r"dt must be a number of seconds, got 'fast'"),
    (dict(init_dt=0.0), ValueError, r"init_dt must be a finite number of seconds > 0, got 0.0"),
    (dict(n_ministeps=0), ValueError, r"n_ministeps must be a positive int, got 0"),
    (dict(n_ministeps=2.0), ValueError, r"n_ministeps must be a positive int, got 2.0"),
])
def test_bad_effector_spec(kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        core.EffectorSpec(PM, RIGID, None, **kw)


@pytest.mark.parametrize("builder", [core.rigid_tendon_arm26, core.relu_point_mass24, core.compliant_tendon_arm26])
def test_bad_prebuilt_arguments(builder):
    with pytest.raises(ValueError, match=r"damping must be finite and >= 0, got nan"):
        builder(damping=float("nan"))
    with pytest.raises(ValueError, match=r"dt must be a finite number of seconds > 0, got 0.0"):
        builder(dt=0.0)


@pytest.mark.parametrize("paths,exc,pattern", [
    ([], ValueError, r"paths must hold at least one muscle"),
    ([path(path_coordinates=[[0, 0, 0], [1, 1, 1]])], ValueError,
     r"muscle 'muscle_1': path_coordinates must have shape \(n_points, space_dim=2\), got \(2, 3\)"),
    ([path(), path(path_fixation_body=[0, 1, 1])], ValueError,
     r"muscle 'muscle_2': path_coordinates has 2 points but path_fixation_body has 3"),
    ([path(path_fixation_body=[1], path_coordinates=[[0, 0]])], ValueError,
     r"a path needs at least 2 fixation points, got 1"),
    ([path(name="x", path_fixation_body=[0, 2])], ValueError,
     r"muscle 'x': path_fixation_body entries must be integers in 0\.\.1, got \[0.0, 2.0\]"),
    ([path(path_fixation_body=[0, 0.5])], ValueError, r"path_fixation_body entries must be integers"),
    ([path(path_coordinates=[[0.0, float("nan")], [1.0, 1.0]])], ValueError,
     r"path_coordinates must be finite, got \[\[0.0, nan\], \[1.0, 1.0\]\]"),
    ([{"path_coordinates": [[0, 0], [1, 1]], "max_isometric_force": 1.0, "name": "y"}], TypeError,
     r"muscle 'y': missing keyword argument\(s\) \['path_fixation_body'\]"),
])
def test_bad_muscle_paths(paths, exc, pattern):
    with pytest.raises(exc, match=pattern):
        core.path_effector(PM, "ReluMuscle", paths)


def test_arm_paths_accept_bodies_up_to_the_forearm():
    spec, _ = core.path_effector(core.TwoDofArm(), "ReluMuscle", [path(path_fixation_body=[0, 2])])
    assert spec.geometry.bodies == (0, 2)
    with pytest.raises(ValueError, match=r"path_fixation_body entries must be integers in 0\.\.2, got \[0.0, 3.0\]"):
        core.path_effector(core.TwoDofArm(), "ReluMuscle", [path(path_fixation_body=[0, 3])])


def test_path_geometry_structure_is_validated():
    with pytest.raises(ValueError, match=r"every muscle needs >= 2 consecutive fixation points; "
                                         r"points per muscle: \[2, 1\]"):
        core.PathGeometry((0, 1, 0), (0, 0, 1), 2)
    with pytest.raises(ValueError, match=r"bodies has 3 entries but muscle_of_point has 2"):
        core.PathGeometry((0, 1, 0), (0, 0), 1)


# ---------------------------------------------------------------------------------- check_state
@pytest.fixture
def arm():
    spec, params = core.rigid_tendon_arm26()
    state = core.initial_state(spec, params, core.JointState(torch.tensor([[0.5, 1.0], [1.0, 2.0]]), torch.zeros(2, 2)))
    core.check_state(spec, params, state)  # a good state passes
    return spec, params, state


def test_check_state_joint_out_of_bounds(arm):
    spec, params, state = arm
    bad = state._replace(joint=core.JointState(torch.tensor([[0.5, 1.0], [3.0, 2.0]]), torch.zeros(2, 2)))
    with pytest.raises(ValueError, match=r"joint position out of bounds: got values in \[0.5, 3\], bounds are "
                                         r"\[0.0, 0.0\] \.\. \[2.356.*, 2.705.*\]"):
        core.check_state(spec, params, bad)
    bad = state._replace(joint=core.JointState(state.joint.pos, torch.tensor([[0.0, 0.0], [0.0, -2000.0]])))
    with pytest.raises(ValueError, match=r"joint velocity out of bounds: got values in \[-2000, 0\], bounds are "
                                         r"\[-1000.0, -1000.0\] \.\. \[1000.0, 1000.0\]"):
        core.check_state(spec, params, bad)
    with pytest.raises(ValueError, match=r"joint position out of bounds"):
        spec.skeleton.check_joint(params.skeleton, core.JointState(torch.tensor([-0.01, 0.0]), torch.zeros(2)))


def test_check_state_shapes_and_non_finite_values(arm):
    spec, params, state = arm
    with pytest.raises(ValueError, match=r"joint position must have dof=2 entries in its last dim, got shape \(2, 3\)"):
        core.check_state(spec, params, state._replace(joint=core.JointState(torch.ones(2, 3), torch.zeros(2, 3))))
    with pytest.raises(ValueError, match=r"joint velocity must be finite, got \[\[0.0, nan\], \[0.0, 0.0\]\]"):
        core.check_state(spec, params, state._replace(
            joint=core.JointState(state.joint.pos, torch.tensor([[0.0, float("nan")], [0.0, 0.0]]))))
    with pytest.raises(ValueError, match=r"muscle state field 'force' must end in n_muscles=6, got shape \(2, 5\)"):
        core.check_state(spec, params, state._replace(muscle=state.muscle._replace(force=state.muscle.force[:, :5])))
    force = state.muscle.force.clone()
    force[1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"muscle state field 'force' must be finite, got non-finite values \[inf\] "
                                         r"\(of shape \(2, 6\)\)"):
        core.check_state(spec, params, state._replace(muscle=state.muscle._replace(force=force)))
    with pytest.raises(ValueError, match=r"geometry field 'moment_arm' must end in n_muscles=6, got shape \(2, 2, 4\)"):
        core.check_state(spec, params, state._replace(
            geometry=state.geometry._replace(moment_arm=state.geometry.moment_arm[..., :4])))
    length = state.geometry.length.clone()
    length[0, 0] = float("nan")
    with pytest.raises(ValueError, match=re.escape("geometry field 'length' must be finite, got non-finite values [nan]")):
        core.check_state(spec, params, state._replace(geometry=state.geometry._replace(length=length)))
