"""The object layer's muscles (``motornet_fn.muscle``): MotorNet layouts and attributes over the core models."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import motornet_fn as mn
from motornet_fn import core
from motornet_fn.core.types import Geometry, muscle_to_tensor

N = 3
HILL_BUILD = dict(max_isometric_force=[300.0, 500.0, 800.0], tendon_length=[0.05, 0.1, 0.2],
                  optimal_muscle_length=[0.1, 0.12, 0.15], normalized_slack_muscle_length=[1.3, 1.4, 1.5])
MUJOCO_BUILD = dict(HILL_BUILD, lmin=0.5, lmax=1.6, vmax=[1.5, 1.2, 1.8], fvmax=1.2)
BUILDS = {
    "ReluMuscle": dict(max_isometric_force=[300.0, 500.0, 800.0]),
    "MujocoHillMuscle": MUJOCO_BUILD,
    "RigidTendonHillMuscle": HILL_BUILD,
    "RigidTendonHillMuscleThelen": HILL_BUILD,
    "CompliantTendonHillMuscle": HILL_BUILD,
}


def built(name: str, **ctor):
    muscle = getattr(mn.muscle, name)(**ctor)
    muscle.build(timestep=0.01, **BUILDS[name])
    return muscle


def core_params(name: str, muscle):
    """The same parameters built directly by the core (constructor defaults read off the object)."""
    extra = {"passive_forces": muscle.passive_forces} if name == "MujocoHillMuscle" else {}
    return core.get_muscle(name).make_params(N, **BUILDS[name], min_activation=float(muscle.min_activation),
                                             tau_activation=float(muscle.tau_activation),
                                             tau_deactivation=float(muscle.tau_deactivation), **extra)


def random_geometry(gen, batch=4, dof=2) -> torch.Tensor:
    """(batch, 2 + dof, N) geometry: musculotendon lengths near optimal + tendon, any velocities."""
    length = torch.tensor([0.15, 0.22, 0.35]) * (0.8 + 0.5 * torch.rand(batch, N, generator=gen))
    velocity = torch.randn(batch, N, generator=gen) * 0.3
    moments = torch.randn(batch, dof, N, generator=gen) * 0.02
    return torch.cat([length[:, None], velocity[:, None], moments], dim=1)


@pytest.mark.parametrize("name", list(BUILDS))
def test_stock_methods_are_the_core_model_in_motornets_layout(name):
    """integrate / ode / get_initial_muscle_state equal the core functions on the same parameters,
    with MotorNet's (batch, n_states, n_muscles) layout."""
    gen = torch.Generator().manual_seed(1)
    muscle = built(name)
    model, params = core.get_muscle(name), core_params(name, muscle)
    for field, value in zip(params._fields, muscle.params()):
        torch.testing.assert_close(value, getattr(params, field), msg=field)
    geometry = random_geometry(gen)
    g = Geometry(geometry[:, 0], geometry[:, 1], geometry[:, 2:])

    initial = muscle.get_initial_muscle_state(4, geometry)
    assert initial.shape == (4, len(model.state_names), N) and muscle.state_name == list(model.state_names)
    torch.testing.assert_close(initial, muscle_to_tensor(model.initial_state(params, g, 0.01)))

    state = muscle_to_tensor(model.integrate(params, model.ode_vars(model.initial_state(params, g, 0.01)),
                                             model.Derivative(*torch.rand(len(model.Derivative._fields), 4, N,
                                                                          generator=gen)), g, 0.01))
    action = torch.rand(4, N, generator=gen)
    derivative = muscle.ode(action, state)
    expected = model.derivative(params, model.State(*state.unbind(1)), action)
    torch.testing.assert_close(derivative, torch.stack(tuple(expected), 1))
    new = muscle.integrate(0.01, derivative, state, geometry)
    torch.testing.assert_close(new, muscle_to_tensor(model.integrate(params, model.State(*state.unbind(1)),
                                                                     expected, g, 0.01)))


@pytest.mark.parametrize("name,ratio", [("ReluMuscle", 4 / 3), ("MujocoHillMuscle", 2.0)])
def test_first_activation_step_overshoots_as_motornet(name, ratio):
    """Explicit Euler with tau = tau_act (0.5 + 1.5 a): from a = 0, one 10 ms step gives u * dt / (0.5 tau_act),
    i.e. 4/3 u (tau_act = 15 ms) or 2 u (MuJoCo's 10 ms) before clipping to 1."""
    muscle = built(name, min_activation=0.0)
    geometry = random_geometry(torch.Generator().manual_seed(0), batch=1)
    state = muscle.get_initial_muscle_state(1, geometry)
    u = torch.tensor([[0.1, 0.3, 0.7]])
    new = muscle.integrate(0.01, muscle.ode(u, state), state, geometry)
    torch.testing.assert_close(new[:, 0], torch.clamp(ratio * u, max=1.0))


def test_overridden_clip_activation_bounds_the_integrated_activation():
    class Capped(mn.muscle.RigidTendonHillMuscle):
        def clip_activation(self, a):
            return torch.clamp(a, self.min_activation, 0.5)

    muscles = [cls() for cls in (Capped, mn.muscle.RigidTendonHillMuscle)]
    geometry = random_geometry(torch.Generator().manual_seed(2))
    for m in muscles:
        m.build(timestep=0.01, **HILL_BUILD)
    state = muscles[1].get_initial_muscle_state(4, geometry)
    new = [m.integrate(0.01, m.ode(torch.ones(4, N), state), state, geometry) for m in muscles]
    assert torch.all(new[0][:, 0] == 0.5) and torch.all(new[1][:, 0] > 0.5)
    capped_state = new[1].clone()
    capped_state[:, 0] = 0.5  # same outputs as the stock muscle at the capped activation
    torch.testing.assert_close(new[0], muscles[1].integrate(0.01, torch.zeros(4, 1, N), capped_state, geometry))


def test_hill_buffers_follow_kistemaker_definitions():
    muscle = built("RigidTendonHillMuscle")
    l0_ce = torch.tensor(HILL_BUILD["optimal_muscle_length"])
    slack = torch.tensor(HILL_BUILD["normalized_slack_muscle_length"])
    assert muscle.max_iso_force.shape == muscle.l0_ce.shape == (1, 1, N) and muscle.n_muscles == N
    torch.testing.assert_close(muscle.l0_pe[0, 0], slack * l0_ce)
    torch.testing.assert_close(muscle.vmax[0, 0], 10 * l0_ce)
    torch.testing.assert_close(muscle.k_pe[0, 0], 1 / (1.66 - slack) ** 2)
    tendon = torch.tensor(HILL_BUILD["tendon_length"])
    torch.testing.assert_close(muscle.musculotendon_slack_len[0, 0], slack * l0_ce + tendon)
    assert muscle.to_build_dict_default == {"normalized_slack_muscle_length": 1.4}
    assert (muscle.min_activation, muscle.tau_activation, muscle.tau_deactivation) == (
        pytest.approx(0.001), pytest.approx(0.015), pytest.approx(0.05))


def test_mujoco_scalar_parameters_broadcast_and_bad_sizes_name_the_parameter():
    muscle = built("MujocoHillMuscle")
    assert muscle.lmin.shape == (1, 1, 1) and muscle.params().lmin.shape == (N,)
    assert muscle.l0_pe.shape == (1, 1, N)  # MotorNet keeps the normalized slack length in l0_pe here
    with pytest.raises(ValueError, match=r"muscle parameter 'vmax' must be a scalar or have n_muscles=3"):
        mn.muscle.MujocoHillMuscle().build(0.01, **dict(MUJOCO_BUILD, vmax=[1.0, 2.0]))


def test_live_parameter_changes_reach_the_physics():
    """MotorNet reads min_activation and passive_forces at every step; so do the core parameters."""
    muscle = built("MujocoHillMuscle")
    muscle.min_activation = torch.tensor(0.2)
    assert float(muscle.clip_activation(torch.zeros(1))) == pytest.approx(0.2)
    assert torch.all(muscle.params().min_activation == 0.2)
    geometry = random_geometry(torch.Generator().manual_seed(3)) * torch.tensor([2.0, 1, 1, 1])[:, None]
    before = muscle.get_initial_muscle_state(4, geometry)
    muscle.passive_forces = 0.0
    after = muscle.get_initial_muscle_state(4, geometry)
    assert (before[:, 3] > 0).any()  # stretched: passive force-length is active
    torch.testing.assert_close(after[:, 6], before[:, 0] * before[:, 4] * before[:, 5] * muscle.max_iso_force[0])


def test_base_muscle_requires_hooks_and_reports_config():
    muscle = mn.muscle.Muscle()
    muscle.build(0.01, max_isometric_force=[1.0, 2.0])
    assert muscle.n_muscles == 2 and muscle.vmax.shape == (1, 1, 2) and muscle.params() is None
    with pytest.raises(NotImplementedError, match="_integrate"):
        muscle.integrate(0.01, torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), torch.zeros(1, 4, 2))
    derivative = muscle.ode(torch.ones(1, 2), torch.zeros(1, 1, 2))
    torch.testing.assert_close(derivative, torch.full((1, 1, 2), 1 / (0.015 * 0.5)))
    assert muscle.get_save_config() == {"name": "Muscle", "state names": []}
    assert built("CompliantTendonHillMuscle").get_save_config() == {
        "name": "CompliantTendonHillMuscle",
        "state names": ["activation", "muscle length", "muscle velocity", "force-length PE", "force-length SE",
                        "active force", "force"]}


def test_thelen_constants_are_buffers():
    muscle = built("RigidTendonHillMuscleThelen")
    torch.testing.assert_close(muscle.pe_1, torch.tensor(5.0 / 0.6))
    torch.testing.assert_close(muscle.ce_0, 3 * muscle.vmax)
    muscle.to(torch.float64)
    assert muscle.ce_5.dtype == torch.float64 and muscle.params().max_isometric_force.dtype == torch.float64


def test_nonfinite_or_missing_build_values_are_rejected():
    with pytest.raises(TypeError, match="missing"):
        mn.muscle.RigidTendonHillMuscle().build(0.01, max_isometric_force=[1.0], tendon_length=[0.1],
                                               optimal_muscle_length=[0.1])
    with pytest.raises(ValueError, match="optimal_muscle_length.*finite"):
        mn.muscle.RigidTendonHillMuscle().build(0.01, [1.0], [0.1], [np.nan], 1.4)
