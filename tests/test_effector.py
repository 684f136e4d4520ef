"""The object layer's effectors (``motornet_fn.effector``): MotorNet parity on the reference recordings,
the fast core path against the hook-by-hook fallback, extension points, errors, pickling, configs, devices."""
from __future__ import annotations

import copy
import json
import pickle
import warnings

import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn import core
from motornet_fn.effector import FirstOrderRK4Warning, MissingMuscleParameterError, ShapeError
from tests.object_builders import build_effector, set_recorded_state, states_numpy, tolerance_units
from tests.reference import EFFECTOR_CASES, FLOAT32_SENSITIVE, load_case

STATE_KEYS = ("joint", "cartesian", "muscle", "geometry", "fingertip")
WELL_CONDITIONED = [c for c in EFFECTOR_CASES if c not in FLOAT32_SENSITIVE]

pytestmark = pytest.mark.filterwarnings("ignore::motornet_fn.effector.FirstOrderRK4Warning")


def recorded_effector(name: str):
    """(effector reset to the recorded initial state, arrays, step kwargs) of a reference case."""
    config, arrays = load_case(name)
    effector = build_effector(mn, config)
    effector.reset(options={"joint_state": torch.tensor(arrays["joint_init"], dtype=torch.float32)})
    loads = {}
    if "endpoint_load" in arrays:
        loads = {k: torch.tensor(arrays[k], dtype=torch.float32) for k in ("endpoint_load", "joint_load")}
    return effector, arrays, loads


def assert_states_match(effector, arrays: dict, t, where: str) -> None:
    for key, value in states_numpy(effector.states).items():
        expected = arrays[key][t]
        assert value.shape == expected.shape, f"{where}: {key} shape {value.shape} != {expected.shape}"
        units = tolerance_units(value, expected)
        assert units <= 1.0, f"{where}: {key} off by {units:.3g} tolerance units"


# ----------------------------------------------------------------------------- reference recordings
@pytest.mark.parametrize("name", EFFECTOR_CASES)
def test_reset_matches_reference(name):
    effector, arrays, _ = recorded_effector(name)
    assert_states_match(effector, arrays, 0, f"{name} reset")


@pytest.mark.parametrize("name", WELL_CONDITIONED)
def test_rollout_matches_reference(name):
    """Free-running rollout through ``Effector.step`` over every recorded step."""
    effector, arrays, loads = recorded_effector(name)
    for t, action in enumerate(torch.tensor(arrays["actions"], dtype=torch.float32)):
        effector.step(action, **loads)
        assert_states_match(effector, arrays, t + 1, f"{name} step {t + 1}")


@pytest.mark.parametrize("name", EFFECTOR_CASES)
def test_one_step_from_recorded_states_matches_reference(name):
    """Teacher forcing: every recorded state t, stepped once with actions[t], gives state t + 1. All T
    states go in as one (T * B) batch (the effector accepts any batch)."""
    effector, arrays, loads = recorded_effector(name)
    n_steps, batch = arrays["actions"].shape[:2]
    flat = {k: arrays[k][:n_steps].reshape(n_steps * batch, *arrays[k].shape[2:]) for k in STATE_KEYS}
    set_recorded_state(effector, {k: v[None] for k, v in flat.items()}, 0)
    loads = {k: v.repeat(n_steps, 1) for k, v in loads.items()}
    effector.step(torch.tensor(arrays["actions"], dtype=torch.float32).reshape(n_steps * batch, -1), **loads)
    expected = {k: arrays[k][1:].reshape(n_steps * batch, *arrays[k].shape[2:]) for k in STATE_KEYS}
    assert_states_match(effector, {k: v[None] for k, v in expected.items()}, 0, f"{name} one-step")


def test_resolved_facts_match_reference():
    """Names, layouts and parameters MotorNet resolved for each case are the objects' attributes."""
    for name in EFFECTOR_CASES:
        config, _ = load_case(name)
        effector, resolved = build_effector(mn, config), config["resolved"]
        assert effector.muscle_name == resolved["muscle_names"], name
        assert effector.muscle.state_name == resolved["muscle_state_names"], name
        assert effector.geometry_state_name == resolved["geometry_state_names"], name
        assert type(effector.muscle).__name__ == resolved["muscle_type"], name
        assert type(effector.skeleton).__name__ == resolved["skeleton_type"], name
        assert (effector.n_muscles, effector.dof, effector.n_ministeps) == (
            resolved["n_muscles"], resolved["dof"], resolved["n_ministeps"]), name
        np.testing.assert_allclose(effector.muscle.max_iso_force.reshape(-1), resolved["muscle_max_iso_force"])
        for field in ("pos_lower_bound", "pos_upper_bound", "vel_lower_bound", "vel_upper_bound"):
            np.testing.assert_allclose(getattr(effector, field), resolved[field], err_msg=f"{name} {field}")


# ----------------------------------------------------------------------------- fast path vs MotorNet hooks
class HookedMuscle(mn.muscle.RigidTendonHillMuscle):
    """Overrides MotorNet's muscle hooks (delegating to the stock ones): forces the fallback path."""

    calls = 0

    def _integrate(self, dt, state_derivative, muscle_state, geometry_state):
        HookedMuscle.calls += 1
        return super()._integrate(dt, state_derivative, muscle_state, geometry_state)


class HookedCompliantMuscle(mn.muscle.CompliantTendonHillMuscle):
    def _ode(self, excitation, muscle_state):
        return super()._ode(excitation, muscle_state)


class HookedArm(mn.skeleton.TwoDofArm):
    calls = 0

    def _path2cartesian(self, path_coordinates, path_fixation_body, joint_state):
        HookedArm.calls += 1
        return super()._path2cartesian(path_coordinates, path_fixation_body, joint_state)


class HookedPointMass(mn.skeleton.PointMass):
    def _integrate(self, dt, state_derivative, joint_state):
        return super()._integrate(dt, state_derivative, joint_state)


def _arm_paths(effector) -> None:
    effector.add_muscle([0, 1], [[-0.15, 0.03], [0.094, 0.017]], name="pec", max_isometric_force=838.,
                        tendon_length=0.039, optimal_muscle_length=0.134)
    effector.add_muscle([0, 0, 1], [[0.14, 0.0], [0.05, 0.0], [0.153, 0.0]], name="delt", max_isometric_force=1207.,
                        tendon_length=0.066, optimal_muscle_length=0.14)
    effector.add_muscle([1, 2], [[0.23, 0.001], [0.231, 0.01]], name="brd", max_isometric_force=1422.,
                        tendon_length=0.172, optimal_muscle_length=0.092)
    effector.add_muscle([1, 1, 2], [[0.03, 0.0], [0.138, -0.019], [-0.04, -0.017]], name="tri",
                        max_isometric_force=1549., tendon_length=0.187, optimal_muscle_length=0.093)


def _pair(kind: str, integration_method: str, n_ministeps: int = 1):
    """(stock effector, effector whose muscle/skeleton override MotorNet hooks), same physics."""
    def make(hooked: bool):
        kw = dict(integration_method=integration_method, n_ministeps=n_ministeps)
        if kind == "arm_paths":
            effector = mn.effector.Effector((HookedArm if hooked else mn.skeleton.TwoDofArm)(),
                                            (HookedMuscle if hooked else mn.muscle.RigidTendonHillMuscle)(), **kw)
            _arm_paths(effector)
            return effector
        if kind == "compliant":
            muscle = HookedCompliantMuscle() if hooked else mn.muscle.CompliantTendonHillMuscle()
            return mn.effector.RigidTendonArm26(muscle, timestep=0.002, **kw)
        skeleton = (HookedPointMass if hooked else mn.skeleton.PointMass)(space_dim=2, mass=2.0)
        effector = mn.effector.Effector(skeleton, mn.muscle.MujocoHillMuscle(), **kw)
        for corner in ([2, 2], [-2, 2], [2, -2], [-2, -2]):
            effector.add_muscle([0, 1], [corner, [0, 0]], max_isometric_force=500., tendon_length=0.2,
                                optimal_muscle_length=2.6)
        return effector
    return make(False), make(True)


@pytest.mark.parametrize("kind", ["arm_paths", "compliant", "point_mass"])
@pytest.mark.parametrize("method,n_ministeps", [("euler", 1), ("rk4", 1), ("euler", 3)])
def test_hook_fallback_matches_core_fast_path(kind, method, n_ministeps):
    """An effector whose muscle/skeleton override MotorNet hooks (calling the stock ones) runs MotorNet's
    scheme from the objects' methods; it must give the fast core path's numbers."""
    stock, hooked = _pair(kind, method, n_ministeps)
    assert stock._core_spec_params() is not None and hooked._core_spec_params() is None
    gen = torch.Generator().manual_seed(0)
    mid = stock.pos_lower_bound + 0.3 * (stock.pos_upper_bound - stock.pos_lower_bound)
    joint = stock.draw_fixed_states(position=mid, batch_size=3)
    for effector in (stock, hooked):
        effector.reset(options={"joint_state": joint})
    for _ in range(5):
        action = torch.rand(3, stock.n_muscles, generator=gen)
        stock.step(action)
        hooked.step(action)
    for key in STATE_KEYS:
        torch.testing.assert_close(hooked.states[key], stock.states[key], rtol=1e-6, atol=1e-7, msg=key)


def test_overridden_hooks_are_called():
    HookedMuscle.calls = HookedArm.calls = 0
    _, hooked = _pair("arm_paths", "euler")
    hooked.reset(options={"batch_size": 2})
    hooked.step(torch.full((2, 4), 0.3))
    assert HookedMuscle.calls >= 2 and HookedArm.calls >= 2  # initial state + step; reset + step geometry


class CubicMuscle(mn.muscle.Muscle):
    """A user muscle written against MotorNet's base class only: force = activation^3 * max force."""

    def __init__(self):
        super().__init__()
        self.__name__ = "CubicMuscle"
        self.state_name = ["activation", "force"]
        self.state_dim = 2

    def _get_initial_muscle_state(self, batch_size, geometry_state):
        activation = torch.ones_like(geometry_state[:, :1, :]) * self.min_activation
        return torch.cat([activation, activation ** 3 * self.max_iso_force], dim=1)

    def _integrate(self, dt, state_derivative, muscle_state, geometry_state):
        activation = self.clip_activation(muscle_state[:, :1, :] + state_derivative * dt)
        return torch.cat([activation, activation ** 3 * self.max_iso_force], dim=1)


def test_custom_base_muscle_subclass_runs_motornets_scheme():
    effector = mn.effector.Effector(mn.skeleton.PointMass(space_dim=2), CubicMuscle())
    effector.add_muscle([0, 1], [[1.0, 0.0], [0.0, 0.0]], max_isometric_force=10.)
    effector.add_muscle([0, 1], [[-1.0, 0.0], [0.0, 0.0]], max_isometric_force=10.)
    effector.reset(options={"joint_state": torch.zeros(1, 4)})
    for _ in range(20):
        effector.step(torch.tensor([[1.0, 0.0]]))
    activation = effector.states["muscle"][0, 0]
    # activation ode via the stock activation_ode; the first muscle pulls towards +x
    assert effector.states["muscle"].shape == (1, 2, 2)
    assert 0.9 < activation[0] <= 1.0 and activation[1] == 0
    assert effector.states["joint"][0, 0] > 0 and effector.states["joint"][0, 1] == 0


class ConstantArmEffector(mn.effector.Effector):
    """A user effector with its own geometry hook (MotorNet's way of writing Reacher-like effectors)."""

    def __init__(self, muscle, **kwargs):
        arm = mn.skeleton.TwoDofArm(m1=1.82, m2=1.43, l1g=.135, l2g=.165, i1=.051, i2=.057, l1=.309, l2=.333)
        super().__init__(arm, muscle, pos_lower_bound=[0.0, 0.0], pos_upper_bound=list(np.deg2rad([135, 155])),
                         **kwargs)
        self.n_muscles, self.input_dim, self.muscle_name = 4, 4, ["sf", "se", "ef", "ee"]
        self._merge_muscle_kwargs({"max_isometric_force": [1000] * 4})
        self.muscle.build(timestep=self.dt, **self.tobuild__muscle)
        self.register_buffer("arms", torch.tensor([[[-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.0]]]))

    def _get_geometry(self, joint_state):
        batch = joint_state.shape[0]
        return torch.cat([torch.zeros(batch, 2, 4), self.arms.expand(batch, -1, -1)], dim=1)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_effector_subclass_with_its_own_geometry_hook(method):
    custom = ConstantArmEffector(mn.muscle.ReluMuscle(), integration_method=method)
    reacher = mn.effector.Reacher(mn.muscle.ReluMuscle(), integration_method=method)
    assert custom._core_spec_params() is None and reacher._core_spec_params() is not None
    for effector in (custom, reacher):
        effector.reset(options={"joint_state": torch.tensor([[0.5, 1.0, 0.2, -0.1]])})
        for _ in range(10):
            effector.step(torch.tensor([[0.6, 0.1, 0.2, 0.9]]))
    for key in STATE_KEYS:
        torch.testing.assert_close(custom.states[key], reacher.states[key], msg=key)


# ----------------------------------------------------------------------------- integration methods
def test_rk4_warns_once_naming_the_textbook_option(monkeypatch):
    monkeypatch.setattr(mn.effector, "_rk4_warned", False)
    with pytest.warns(FirstOrderRK4Warning, match="first order.*rk4-classic"):
        mn.effector.ReluPointMass24(integration_method="RK4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mn.effector.ReluPointMass24(integration_method="runge-kutta-4")
        mn.effector.ReluPointMass24(integration_method="rk4-classic")


def test_rk4_classic_is_the_cores_textbook_scheme_and_differs_from_motornets():
    """'rk4-classic' steps with core.rk4_step; MotorNet's 'rk4' does not."""
    results = {}
    for method in ("rk4", "rk4-classic"):
        effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle(), integration_method=method)
        effector.reset(options={"joint_state": torch.tensor([[0.8, 1.2, 0.5, -0.4]])})
        start = {k: v.clone() for k, v in effector.states.items()}
        effector.step(torch.full((1, 6), 0.4))
        results[method] = effector.states["joint"]
    spec, params = effector._core_spec_params()
    state = effector._to_core(start, spec.muscle)
    loads = core.effector.default_loads(spec, state.joint.pos)
    expected = core.rk4_step(spec, params, state, torch.full((1, 6), 0.4), loads, 0.01)
    torch.testing.assert_close(results["rk4-classic"], core.joint_to_tensor(expected.joint))
    assert not torch.allclose(results["rk4"], results["rk4-classic"], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- bad input
def test_joint_state_out_of_bounds_names_value_and_bound():
    effector = mn.effector.ReluPointMass24()
    with pytest.raises(ValueError, match=r"position above upper bound: row 1, joint 0 is 2\.0.*bound is 1\.0"):
        effector.reset(options={"joint_state": torch.tensor([[0.0, 0.0, 0, 0], [2.0, 0.0, 0, 0]])})
    with pytest.raises(ValueError, match=r"must have 4 columns .* or 2 \(positions\), got shape \(2, 3\)"):
        effector.reset(options={"joint_state": torch.zeros(2, 3)})


def test_wrong_action_shape_is_a_runtime_and_value_error():
    effector = mn.effector.ReluPointMass24()
    effector.reset(options={"batch_size": 4})
    for bad in (torch.zeros(4, 5), torch.zeros(5, 4), torch.zeros(4, 3)):
        with pytest.raises(RuntimeError, match=r"action must have shape \(batch_size=4, n_muscles=4\)"):
            effector.step(bad)
    assert issubclass(ShapeError, ValueError)
    effector.step(torch.zeros(4))  # one action for the whole batch broadcasts, as in MotorNet


def test_missing_muscle_kwarg_is_a_type_error_naming_it_and_leaves_the_effector_intact():
    effector = mn.effector.Effector(mn.skeleton.PointMass(), mn.muscle.RigidTendonHillMuscle())
    with pytest.raises(TypeError, match=r"add_muscle\('m1'\): missing keyword argument\(s\) \['tendon_length'\]"):
        effector.add_muscle([0, 1], [[1, 0], [0, 0]], name="m1", max_isometric_force=10., optimal_muscle_length=1.)
    assert effector.n_muscles == 0 and effector.muscle_name == []
    with pytest.raises(RuntimeError, match=r"muscle_kwargs lacks \['tendon_length', 'optimal_muscle_length'\]"):
        mn.effector.Reacher(mn.muscle.RigidTendonHillMuscle())
    assert issubclass(MissingMuscleParameterError, TypeError)
    with pytest.raises(KeyError, match="Unexpected key 'foo'"):
        mn.effector.Reacher(mn.muscle.ReluMuscle(), muscle_kwargs={"foo": 1})


def test_unknown_add_muscle_kwarg_warns_and_is_ignored():
    effector = mn.effector.ReluPointMass24()
    with pytest.warns(UserWarning, match=r"does not use \['tendon_length'\]"):
        effector.add_muscle([0, 1], [[1, 0], [0, 0]], max_isometric_force=10., tendon_length=0.1)
    assert effector.n_muscles == 5


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="unknown integration method 'foo'"):
        mn.effector.ReluPointMass24(integration_method="foo")
    with pytest.raises(ValueError, match="n_ministeps must be a positive integer, got 0"):
        mn.effector.ReluPointMass24(n_ministeps=0)
    with pytest.raises(ValueError, match="path_coordinates has 3 points but path_fixation_body has 2"):
        mn.effector.ReluPointMass24().add_muscle([0, 1], [[1, 0], [0, 0], [1, 1]], max_isometric_force=1.)
    with pytest.raises(RuntimeError, match="reset"):
        mn.effector.ReluPointMass24().step(torch.zeros(1, 4))


def test_compliant_arm26_takes_muscle_kwargs():
    """MotorNet appends muscle_kwargs twice here and crashes; the values must reach the muscle."""
    effector = mn.effector.CompliantTendonArm26(muscle_kwargs={"normalized_slack_muscle_length": 1.5})
    torch.testing.assert_close(effector.muscle.l0_pe, 1.5 * effector.muscle.l0_ce)
    torch.testing.assert_close(effector.muscle.l0_se[0, 0, :2], torch.tensor([0.07, 0.07]))


def test_numpy_and_list_joint_states_are_accepted():
    """MotorNet crashes on non-tensor joint states; they give the tensor's numbers here."""
    ref = mn.effector.ReluPointMass24()
    ref.reset(options={"joint_state": torch.tensor([[0.1, -0.2, 0.0, 0.3]])})
    for value in (np.array([[0.1, -0.2, 0.0, 0.3]]), [0.1, -0.2, 0.0, 0.3], np.array([0.1, -0.2])):
        effector = mn.effector.ReluPointMass24()
        effector.reset(options={"joint_state": value})
        expected = ref.states["joint"] if len(np.ravel(value)) == 4 else torch.tensor([[0.1, -0.2, 0.0, 0.0]])
        torch.testing.assert_close(effector.states["joint"], expected)


# ----------------------------------------------------------------------------- seeding
def test_reset_seeding_and_uniform_draws_follow_np_random():
    effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle())
    effector.reset(seed=7, options={"batch_size": 5})
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7)))
    u = torch.tensor(rng.uniform(size=(5, 2)), dtype=torch.float32)
    lower, upper = np.deg2rad([0, 0]), np.deg2rad([135, 155])
    expected = torch.tensor(lower - upper, dtype=torch.float32) * u + torch.tensor(upper, dtype=torch.float32)
    torch.testing.assert_close(effector.states["joint"][:, :2], expected)
    assert effector.seed == 7 and (effector.states["joint"][:, 2:] == 0).all()


# ----------------------------------------------------------------------------- configuration, pickling, devices
def _custom_effector():
    effector = mn.effector.Effector(mn.skeleton.TwoDofArm(m1=2.0), mn.muscle.MujocoHillMuscle(passive_forces=0.5),
                                    timestep=0.005, n_ministeps=2, damping=0.1)
    _arm_paths(effector)
    return effector


def _trajectory(effector, seed=3, n=6):
    effector.reset(seed=seed, options={"batch_size": 2})
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        effector.step(torch.rand(2, effector.n_muscles, generator=gen))
        out.append(effector.states["joint"].clone())
    return torch.stack(out)


@pytest.mark.parametrize("make", [_custom_effector, lambda: mn.effector.ReluPointMass24(max_isometric_force=300),
                                  lambda: mn.effector.CompliantTendonArm26(timestep=0.001),
                                  lambda: mn.effector.Reacher(mn.muscle.RigidTendonHillMuscleThelen(),
                                                              muscle_kwargs=dict(tendon_length=[0.0] * 4,
                                                                                 optimal_muscle_length=0.1))])
def test_from_config_and_pickle_reproduce_the_trajectory(make):
    original = make()
    config = json.loads(json.dumps(original.get_save_config()))
    rebuilt = mn.effector.Effector.from_config(config)
    assert type(rebuilt) is type(original)
    assert {k: v for k, v in rebuilt.get_save_config().items()} == config
    clone = pickle.loads(pickle.dumps(original))
    expected = _trajectory(original)
    torch.testing.assert_close(_trajectory(rebuilt), expected, rtol=0, atol=0)
    torch.testing.assert_close(_trajectory(clone), expected, rtol=0, atol=0)


def test_get_muscle_cfg_reports_the_paths_and_parameters(capsys):
    effector = _custom_effector()
    cfg = effector.get_muscle_cfg()
    assert list(cfg) == ["pec", "delt", "brd", "tri"]
    assert cfg["delt"]["n_fixation_points"] == 3 and cfg["delt"]["fixation body"] == [0, 0, 1]
    np.testing.assert_allclose(cfg["tri"]["coordinates"], [[0.03, 0.0], [0.138, -0.019], [-0.04, -0.017]], rtol=1e-6)
    assert cfg["brd"]["max_isometric_force"] == 1422. and cfg["brd"]["lmin"] == 0.5
    effector.print_muscle_wrappings()
    assert "MUSCLE NAME: tri" in capsys.readouterr().out
    prebuilt = mn.effector.Reacher(mn.muscle.ReluMuscle()).get_muscle_cfg()
    assert prebuilt["sf"] == {"n_fixation_points": 0, "fixation body": [], "coordinates": []}


def test_to_moves_every_tensor_including_states():
    effector = _custom_effector()
    effector.reset(options={"batch_size": 2})
    effector.to(torch.float64)
    assert all(t.dtype == torch.float64 for t in effector.buffers() if t.is_floating_point())
    assert all(v.dtype == torch.float64 for v in effector.states.values())
    effector.step(torch.rand(2, 4, dtype=torch.float64))
    assert effector.states["joint"].dtype == torch.float64
    effector.to("meta")
    assert effector.device == torch.device("meta") and effector.muscle.device == torch.device("meta")
    assert all(t.device.type == "meta" for t in effector.buffers())
    assert all(v.device.type == "meta" for v in effector.states.values())


def test_states_are_differentiable_through_the_classes():
    effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle())
    effector.reset(options={"joint_state": torch.tensor([[0.8, 1.2, 0.0, 0.0]])})
    action = torch.full((1, 6), 0.3, requires_grad=True)
    for _ in range(5):
        effector.step(action)
    effector.states["fingertip"].sum().backward()
    assert torch.isfinite(action.grad).all() and action.grad.abs().sum() > 0


def test_core_view_steps_like_the_object():
    effector = _custom_effector()
    effector.reset(seed=0, options={"batch_size": 2})
    action = torch.rand(2, 4, generator=torch.Generator().manual_seed(0))
    new = core.step(effector.spec, effector.params(), effector.core_state(), action)
    effector.step(action)
    torch.testing.assert_close(effector.core_state(), new, rtol=0, atol=0)
    assert effector.spec.integrator == "euler" and effector.spec.n_ministeps == 2
    assert effector.params().muscle.passive_forces.eq(0.5).all()
    _, hooked = _pair("arm_paths", "euler")
    assert hooked.spec is None and hooked.params() is None


def test_deepcopy_and_state_dict_roundtrip():
    effector = mn.effector.ReluPointMass24()
    effector.reset(options={"batch_size": 1})
    twin = copy.deepcopy(effector)
    twin.load_state_dict(effector.state_dict())
    for e in (effector, twin):
        e.step(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(twin.states["joint"], effector.states["joint"])


# ---------------------------------------------------------------- caches of the class layer
def _arm(**kwargs):
    effector = mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscle(), **kwargs)
    effector.reset(options={"joint_state": torch.tensor([[0.8, 1.2, 0.0, 0.0], [0.5, 1.0, 0.1, 0.0]])})
    return effector


def test_in_place_perturbation_of_the_states_is_stepped_from():
    action = torch.full((2, 6), 0.2)
    perturbed, replaced, untouched = _arm(), _arm(), _arm()
    for e in (perturbed, replaced, untouched):
        e.step(action)
    perturbed.states["joint"][:, 2:] += 1.0  # in place, as a mid-movement perturbation
    joint = replaced.states["joint"].clone()
    joint[:, 2:] += 1.0
    replaced.states["joint"] = joint  # the same perturbation as a new tensor
    for e in (perturbed, replaced, untouched):
        e.step(action)
    torch.testing.assert_close(perturbed.states["joint"], replaced.states["joint"], rtol=0, atol=0)
    assert not torch.allclose(perturbed.states["joint"], untouched.states["joint"])


def test_parameters_changed_between_steps_are_used():
    action = torch.full((2, 6), 0.2)
    changed, reference = _arm(), _arm(damping=5.0)
    changed.step(action)  # builds and caches the core view with the default damping
    changed.damping = torch.full_like(changed.damping, 5.0)
    reference.states = {k: (None if v is None else v.clone()) for k, v in changed.states.items()}
    changed.muscle.tau_activation = changed.muscle.tau_activation * 2
    reference.muscle.tau_activation = reference.muscle.tau_activation * 2
    for e in (changed, reference):
        e.step(action)
    torch.testing.assert_close(changed.states["muscle"], reference.states["muscle"], rtol=0, atol=0)
    torch.testing.assert_close(changed.states["joint"], reference.states["joint"], rtol=0, atol=0)
    assert changed.params().damping.eq(5.0).all()


def test_core_view_is_built_once_and_rebuilt_after_a_change():
    effector = _arm()
    first = effector._core_spec_params()
    assert effector._core_spec_params() is first
    effector.step(torch.zeros(2, 6))
    assert effector._core_spec_params() is first
    effector.skeleton.touch()
    assert effector._core_spec_params() is not first
    assert "_memo_last_core" in effector.__dict__
    assert pickle.loads(pickle.dumps(effector)).__dict__.get("_memo_last_core") is None
