"""Live parity with MotorNet 0.3.0 (skipped where ``motornet`` is not importable): the same calls on both
packages give the same signatures, observations, states, config dicts and exception types, for randomized
effectors, muscles, delays, noise levels and seeds."""
from __future__ import annotations

import inspect
import warnings

import matplotlib

matplotlib.use("Agg")

import gymnasium as gym  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import motornet_fn  # noqa: E402
from tests.object_builders import tolerance_units  # noqa: E402

mn0 = pytest.importorskip("motornet")
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

MUSCLES = ["ReluMuscle", "MujocoHillMuscle", "RigidTendonHillMuscle", "RigidTendonHillMuscleThelen",
           "CompliantTendonHillMuscle"]
API = {
    "muscle": ["Muscle", *MUSCLES],
    "skeleton": ["Skeleton", "PointMass", "TwoDofArm"],
    "effector": ["Effector", "ReluPointMass24", "FreePointMass24", "Reacher", "RigidTendonArm26",
                 "CompliantTendonArm26"],
    "environment": ["Environment", "RandomTargetReach"],
    "policy": ["PolicyGRU"],
    "plotor": ["plot_pos_over_time", "plot_2dof_arm_over_time", "compute_limits"],
}


def _own_methods(cls) -> list[str]:
    """Public methods of a MotorNet class that it (or a MotorNet base) defines, not torch/gymnasium."""
    foreign = set(dir(torch.nn.Module)) | set(dir(gym.Env))
    return [m for m in dir(cls) if not m.startswith("_") and callable(getattr(cls, m)) and m not in foreign]


#: keyword-only arguments we add to MotorNet's signatures on purpose (compiled steps)
EXTENSIONS = {"compile"}


def _parameters(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()
            if not (p.kind is p.KEYWORD_ONLY and p.name in EXTENSIONS)]


@pytest.mark.parametrize("module,name", [(m, n) for m, names in API.items() for n in names])
def test_same_public_api_and_signatures(module, name):
    theirs, ours = getattr(getattr(mn0, module), name), getattr(getattr(motornet_fn, module), name)
    if not inspect.isclass(theirs):
        assert _parameters(ours) == _parameters(theirs)
        return
    assert _parameters(ours.__init__) == _parameters(theirs.__init__)
    for method in _own_methods(theirs):
        assert hasattr(ours, method), f"{name}.{method} is missing"
        assert _parameters(getattr(ours, method)) == _parameters(getattr(theirs, method)), f"{name}.{method}"


# ----------------------------------------------------------------------------- random effectors
def _random_muscle_ctor(rng, name: str) -> dict:
    kw = {}
    if rng.random() < 0.5:
        kw["tau_activation"] = float(rng.uniform(0.01, 0.03))
    if rng.random() < 0.5 and name != "CompliantTendonHillMuscle":
        kw["min_activation"] = float(rng.uniform(0.0, 0.05))
    if name == "MujocoHillMuscle" and rng.random() < 0.5:
        kw["passive_forces"] = float(rng.uniform(0.2, 1.5))
    return kw


def _random_paths(rng, skeleton: str, n_muscles: int) -> list[dict]:
    """Paths whose musculotendon lengths are positive and well away from zero."""
    paths = []
    for m in range(n_muscles):
        if skeleton == "PointMass":
            angle = rng.uniform(0, 2 * np.pi)
            anchor = 2.0 * np.array([np.cos(angle), np.sin(angle)])
            if rng.random() < 0.5:
                bodies, coords = [0, 1], [anchor, [0.0, 0.0]]
            else:
                bodies, coords = [0, 0, 1], [anchor, 0.6 * anchor + rng.normal(0, 0.2, 2), [0.0, 0.0]]
        else:
            bodies = [[0, 1], [0, 0, 1], [1, 2], [1, 1, 2], [0, 1, 2]][rng.integers(5)]
            coords = [[rng.uniform(0.05, 0.25), rng.uniform(-0.04, 0.04)] if b else
                      [rng.uniform(-0.15, 0.15), rng.uniform(-0.05, 0.05)] for b in bodies]
        paths.append(dict(path_fixation_body=bodies, path_coordinates=[list(map(float, c)) for c in coords],
                          name=f"m{m}"))
    return paths


def random_effector_recipe(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    skeleton = ["PointMass", "TwoDofArm"][seed % 2]
    muscle = MUSCLES[seed % len(MUSCLES)]  # seeds 0-9 cover every (skeleton, muscle) pair
    n_muscles = int(rng.integers(2, 6))
    compliant = muscle == "CompliantTendonHillMuscle"
    return dict(skeleton=skeleton, skeleton_kwargs={"mass": float(rng.uniform(0.5, 2))} if skeleton == "PointMass" else
                {"m2": float(rng.uniform(1.0, 2.0)), "l2": float(rng.uniform(0.25, 0.35))},
                muscle=muscle, muscle_kwargs=_random_muscle_ctor(rng, muscle),
                effector_kwargs=dict(timestep=0.002 if compliant else 0.01, n_ministeps=int(rng.integers(1, 3)),
                                     integration_method=["euler", "rk4"][rng.integers(2)],
                                     damping=float(rng.uniform(0, 0.5))),
                paths=_random_paths(rng, skeleton, n_muscles), force=rng.uniform(100, 800, n_muscles).tolist(),
                tendon_frac=rng.uniform(0.2, 0.4, n_muscles).tolist(), slack=rng.uniform(1.2, 1.5, n_muscles).tolist())


def build_random_effector(mn, recipe: dict):
    skeleton = getattr(mn.skeleton, recipe["skeleton"])(**recipe["skeleton_kwargs"])
    muscle = getattr(mn.muscle, recipe["muscle"])(**recipe["muscle_kwargs"])
    effector = mn.effector.Effector(skeleton=skeleton, muscle=muscle, **recipe["effector_kwargs"])
    # size each muscle to its path length at mid-range posture (computed with motornet_fn's paths)
    for path, force, tendon_frac, slack in zip(recipe["paths"], recipe["force"], recipe["tendon_frac"],
                                               recipe["slack"]):
        length = _path_length(recipe, path)
        effector.add_muscle(**path, max_isometric_force=force, tendon_length=tendon_frac * length,
                            optimal_muscle_length=(1 - tendon_frac) * length / 1.1,
                            normalized_slack_muscle_length=slack)
    return effector


def _path_length(recipe: dict, path: dict) -> float:
    skeleton = getattr(motornet_fn.skeleton, recipe["skeleton"])(**recipe["skeleton_kwargs"])
    effector = motornet_fn.effector.Effector(skeleton, motornet_fn.muscle.ReluMuscle())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        effector.add_muscle(**path, max_isometric_force=1.0)
    mid = (effector.pos_lower_bound + effector.pos_upper_bound) / 2
    return float(effector.get_geometry(torch.cat([mid, torch.zeros_like(mid)])[None])[0, 0, 0])


def _random_env_kwargs(seed: int, n_muscles: int, dt: float) -> dict:
    rng = np.random.default_rng(1000 + seed)
    return dict(max_ep_duration=0.2, differentiable=bool(seed % 3),
                action_noise=float(rng.choice([0.0, 0.05])), obs_noise=float(rng.choice([0.0, 0.01])),
                proprioception_noise=rng.uniform(0, 0.02, 2 * n_muscles).tolist() if seed % 2 else 0.01,
                vision_noise=rng.uniform(0, 0.02, 2).tolist() if seed % 4 == 1 else float(rng.choice([0.0, 0.02])),
                proprioception_delay=dt * int(rng.integers(1, 4)), vision_delay=dt * int(rng.integers(1, 6)),
                action_frame_stacking=int(rng.integers(0, 3)))


def _as_numpy(x):
    return x.detach().numpy() if torch.is_tensor(x) else np.asarray(x)


def _assert_close(ours, theirs, where: str) -> float:
    ours, theirs = _as_numpy(ours), _as_numpy(theirs)
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
    units = tolerance_units(ours, theirs)
    assert units <= 1.0, f"{where}: off by {units:.3g} tolerance units"
    return units


def _config_without_extras(cfg: dict) -> dict:
    cfg = {k: v for k, v in cfg.items() if k not in ("motornet_fn", "np_random_seed")}
    if isinstance(cfg.get("effector"), dict):
        cfg["effector"] = _config_without_extras(cfg["effector"])
    return cfg


@pytest.mark.parametrize("seed", range(10))
def test_random_environments_give_motornets_observations_states_and_configs(seed):
    """Random effector + random noise/delays/stacking, same seed: both packages draw the same noise from
    the same RNG stream, so observations, actions, goals and states agree step by step."""
    recipe = random_effector_recipe(seed)
    effectors = [build_random_effector(mn, recipe) for mn in (motornet_fn, mn0)]
    env_kwargs = _random_env_kwargs(seed, effectors[0].n_muscles, effectors[0].dt)
    ours, theirs = (mn.environment.RandomTargetReach(e, **env_kwargs) for mn, e in zip((motornet_fn, mn0), effectors))
    assert _config_without_extras(ours.get_save_config()) == _config_without_extras(theirs.get_save_config())

    batch, gen = 3, torch.Generator().manual_seed(seed)
    results = [env.reset(seed=seed, options={"batch_size": batch}) for env in (ours, theirs)]
    for t in range(8):
        (obs, info), (obs0, info0) = results[0][:1] + results[0][-1:], results[1][:1] + results[1][-1:]
        _assert_close(obs, obs0, f"seed {seed} step {t} obs")
        assert info.keys() == info0.keys() and info["states"].keys() == info0["states"].keys()
        for key in info0["states"]:
            _assert_close(info["states"][key], info0["states"][key], f"seed {seed} step {t} {key}")
        for key in ("goal", "noisy action"):
            _assert_close(info[key], info0[key], f"seed {seed} step {t} {key}")
        action = torch.rand(batch, ours.n_muscles, generator=gen)
        results = [env.step(action) for env in (ours, theirs)]
        assert results[0][2] == results[1][2]
        if not env_kwargs["differentiable"]:
            np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(ours.np_random.uniform(size=4), theirs.np_random.uniform(size=4))


PREBUILT = {
    "ReluPointMass24": lambda mn: mn.effector.ReluPointMass24(mass=1.5, max_isometric_force=300),
    "RigidTendonArm26-thelen": lambda mn: mn.effector.RigidTendonArm26(mn.muscle.RigidTendonHillMuscleThelen()),
    "RigidTendonArm26-mujoco": lambda mn: mn.effector.RigidTendonArm26(mn.muscle.MujocoHillMuscle(), damping=0.2),
    "RigidTendonArm26-relu": lambda mn: mn.effector.RigidTendonArm26(mn.muscle.ReluMuscle(), n_ministeps=2),
    "CompliantTendonArm26": lambda mn: mn.effector.CompliantTendonArm26(timestep=0.001),
    "Reacher": lambda mn: mn.effector.Reacher(mn.muscle.ReluMuscle()),
    "FreePointMass24": lambda mn: mn.effector.FreePointMass24(
        mn.muscle.RigidTendonHillMuscle(), muscle_kwargs=dict(tendon_length=[0.0] * 4,
                                                              optimal_muscle_length=[0.1] * 4)),
}


@pytest.mark.parametrize("name", list(PREBUILT))
def test_prebuilt_effectors_match_with_loads(name):
    ours, theirs = PREBUILT[name](motornet_fn), PREBUILT[name](mn0)
    assert _config_without_extras(ours.get_save_config()) == theirs.get_save_config()
    assert {k: v.shape for k, v in ours.state_dict().items() if k in theirs.state_dict()} == {
        k: v.shape for k, v in theirs.state_dict().items() if v is not None}
    for effector in (ours, theirs):
        effector.reset(seed=4, options={"batch_size": 3})
    gen = torch.Generator().manual_seed(4)
    loads = dict(endpoint_load=torch.randn(3, 2, generator=gen), joint_load=torch.randn(3, ours.dof, generator=gen))
    for t in range(6):
        action = torch.rand(3, ours.n_muscles, generator=gen)
        for effector in (ours, theirs):
            effector.step(action, **loads)
        for key in theirs.states:
            _assert_close(ours.states[key], theirs.states[key], f"{name} step {t} {key}")


# ----------------------------------------------------------------------------- muscles and skeletons
@pytest.mark.parametrize("name", MUSCLES)
def test_muscle_buffers_and_methods_match(name):
    rng = np.random.default_rng(MUSCLES.index(name))
    n = 4
    values = dict(max_isometric_force=rng.uniform(100, 900, n).tolist(),
                  tendon_length=rng.uniform(0.05, 0.2, n).tolist(),
                  optimal_muscle_length=rng.uniform(0.08, 0.15, n).tolist(),
                  normalized_slack_muscle_length=rng.uniform(1.2, 1.5, n).tolist())
    if name == "MujocoHillMuscle":
        values.update(lmin=0.5, lmax=rng.uniform(1.5, 1.7, n).tolist(), vmax=1.5, fvmax=1.2)
    if name == "ReluMuscle":
        values = {"max_isometric_force": values["max_isometric_force"]}
    muscles = [getattr(mn.muscle, name)(tau_deactivation=0.04) for mn in (motornet_fn, mn0)]
    for m in muscles:
        m.build(timestep=0.005, **values)
    ours, theirs = muscles
    for buffer_name, value in theirs.named_buffers():
        torch.testing.assert_close(getattr(ours, buffer_name), value, msg=buffer_name)
    assert ours.to_build_dict_default == theirs.to_build_dict_default and ours.state_name == theirs.state_name
    gen = torch.Generator().manual_seed(0)
    geometry = torch.cat([(torch.tensor(values.get("tendon_length", [0.1] * n)) + torch.tensor(
        values.get("optimal_muscle_length", [0.1] * n)) * (0.6 + 0.8 * torch.rand(5, 1, n, generator=gen))),
        torch.randn(5, 1, n, generator=gen) * 0.5, torch.randn(5, 2, n, generator=gen) * 0.03], dim=1)
    states = [m.get_initial_muscle_state(5, geometry) for m in muscles]
    _assert_close(*states, f"{name} initial state")
    action = torch.rand(5, n, generator=gen)
    state = states[1]
    for _ in range(3):  # a few steps at fixed geometry exercise every force branch
        derivatives = [m.ode(action, state) for m in muscles]
        _assert_close(*derivatives, f"{name} ode")
        new = [m.integrate(0.005, derivatives[1], state, geometry) for m in muscles]
        _assert_close(*new, f"{name} integrate")
        state = new[1]


@pytest.mark.parametrize("name", ["PointMass", "TwoDofArm"])
def test_skeleton_methods_match(name):
    kwargs = {"mass": 1.7} if name == "PointMass" else {"m1": 2.0, "l1g": 0.15, "i2": 0.03}
    skeletons = [getattr(mn.skeleton, name)(**kwargs) for mn in (motornet_fn, mn0)]
    bounds = dict(pos_upper_bound=torch.tensor([1.5, 2.0]), pos_lower_bound=torch.tensor([0.1, -0.5]),
                  vel_upper_bound=torch.tensor([5.0, 5.0]), vel_lower_bound=torch.tensor([-5.0, -5.0]))
    for s in skeletons:
        s.build(timestep=0.01, **bounds)
    ours, theirs = skeletons
    assert ours.get_save_config() == theirs.get_save_config()
    gen = torch.Generator().manual_seed(1)
    joint = torch.cat([torch.rand(6, 2, generator=gen) * 2 - 0.3, torch.randn(6, 2, generator=gen) * 4], dim=1)
    torque, load = torch.randn(6, 2, generator=gen), torch.randn(6, 2, generator=gen)
    _assert_close(ours.ode(torque, joint, load), theirs.ode(torque, joint, load), f"{name} ode")
    derivative = theirs.ode(torque, joint, load)
    _assert_close(ours.integrate(0.01, derivative, joint), theirs.integrate(0.01, derivative, joint),
                  f"{name} integrate")
    _assert_close(ours.joint2cartesian(joint), theirs.joint2cartesian(joint), f"{name} joint2cartesian")
    _assert_close(ours.clip_velocity(joint[:, :2], joint[:, 2:]), theirs.clip_velocity(joint[:, :2], joint[:, 2:]),
                  f"{name} clip_velocity")
    coords = torch.randn(1, 2, 5, generator=gen) * 0.1
    bodies = torch.tensor([[[0.0, 1.0, 1.0, 2.0, 2.0]]]) if name == "TwoDofArm" else torch.tensor([[[0.0, 1, 0, 1, 1]]])
    for got, expected in zip(ours.path2cartesian(coords, bodies, joint), theirs.path2cartesian(coords, bodies, joint)):
        _assert_close(got, expected.expand_as(got), f"{name} path2cartesian")


# ----------------------------------------------------------------------------- errors
BAD_INPUTS = {
    "delay not a multiple of dt": lambda mn: mn.environment.RandomTargetReach(mn.effector.ReluPointMass24(),
                                                                             vision_delay=0.015),
    "joint state out of bounds": lambda mn: mn.effector.ReluPointMass24().reset(
        options={"joint_state": torch.tensor([[0.5, 1.5, 0.0, 0.0]])}),
    "joint state width": lambda mn: mn.effector.ReluPointMass24().reset(options={"joint_state": torch.zeros(2, 3)}),
    "action shape": lambda mn: _stepped(mn.effector.ReluPointMass24(), torch.zeros(4, 5)),
    "action batch": lambda mn: _stepped(mn.effector.ReluPointMass24(), torch.zeros(3, 4)),
    "env action shape": lambda mn: _env_stepped(mn, torch.zeros(4, 3), False),
    "env action shape, deterministic": lambda mn: _env_stepped(mn, torch.zeros(4, 3), True),
    "missing add_muscle kwarg": lambda mn: mn.effector.Effector(mn.skeleton.PointMass(), mn.muscle.MujocoHillMuscle())
    .add_muscle([0, 1], [[1, 0], [0, 0]], max_isometric_force=1.0, tendon_length=0.1),
    "missing prebuilt muscle kwarg": lambda mn: mn.effector.FreePointMass24(mn.muscle.RigidTendonHillMuscleThelen()),
    "unexpected muscle_kwargs key": lambda mn: mn.effector.Reacher(mn.muscle.ReluMuscle(), muscle_kwargs={"lmax": 1}),
    "unknown integration method": lambda mn: mn.effector.ReluPointMass24(integration_method="leapfrog"),
    "mujoco parameter size": lambda mn: mn.muscle.MujocoHillMuscle().build(0.01, [1, 1], [0.1, 0.1], [0.1, 0.1], 1.3,
                                                                           [0.5, 0.5, 0.5], 1.6, 1.5, 1.2),
    "path with the wrong dimension": lambda mn: mn.effector.ReluPointMass24().add_muscle(
        [0, 1], [[1, 0, 0], [0, 0, 0]], max_isometric_force=1.0),
    "muscle given by name": lambda mn: mn.effector.RigidTendonArm26("RigidTendonHillMuscle"),
    "negative batch size": lambda mn: mn.effector.ReluPointMass24().reset(options={"batch_size": -1}),
    "fractional batch size": lambda mn: mn.effector.ReluPointMass24().reset(options={"batch_size": 2.5}),
    "batch size None": lambda mn: mn.environment.RandomTargetReach(mn.effector.ReluPointMass24()).reset(
        options={"batch_size": None}),
}


def _stepped(effector, action):
    effector.reset(options={"batch_size": 4})
    effector.step(action)


def _env_stepped(mn, action, deterministic):
    env = mn.environment.RandomTargetReach(mn.effector.ReluPointMass24())
    env.reset(options={"batch_size": 4})
    env.step(action, deterministic=deterministic)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_motornets_exception_type(case):
    with pytest.raises(Exception) as theirs:
        BAD_INPUTS[case](mn0)
    with pytest.raises(type(theirs.value)) as ours:
        BAD_INPUTS[case](motornet_fn)
    assert str(ours.value)


# ----------------------------------------------------------------------------- policy and plots
def test_policy_gru_initializes_and_runs_like_motornets():
    policies = []
    for mn in (motornet_fn, mn0):
        torch.manual_seed(123)
        policies.append(mn.policy.PolicyGRU(input_dim=12, hidden_dim=16, output_dim=4, device="cpu"))
    for (name, p), (_, q) in zip(*(pol.named_parameters() for pol in policies)):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    x = torch.randn(3, 12)
    (u, h), (u0, h0) = (pol(x, pol.init_hidden(3)) for pol in policies)
    torch.testing.assert_close((u, h), (u0, h0))


def test_plot_pos_over_time_draws_motornets_segments():
    traj = np.cumsum(np.random.default_rng(0).normal(size=(4, 7, 2)), axis=1)
    segments = []
    for mn in (motornet_fn, mn0):
        fig, ax = plt.subplots()
        mn.plotor.plot_pos_over_time(traj, ax)
        segments.append(np.array(ax.collections[0].get_segments()))
        plt.close(fig)
    np.testing.assert_array_equal(*segments)
