"""random_reach and random_reach_loads: MotorNet's random targets; bounded isotropic loads."""
import torch

from motornet_fn.core import env as E
from tests.core.tasks.helpers import reset


def test_random_reach_targets_are_reachable_fingertip_positions_of_in_bound_postures():
    spec, params, state, _ = reset("random_reach", batch_size=256, seed=1)
    sp = params.effector.skeleton
    reach = torch.linalg.vector_norm(state.task.target, dim=-1)
    assert torch.all(reach <= sp.l1 + sp.l2 + 1e-6) and torch.all(reach >= (sp.l1 - sp.l2).abs() - 1e-6)
    pos = state.effector.joint.pos
    assert torch.all(pos >= sp.pos_lower_bound) and torch.all(pos <= sp.pos_upper_bound)
    assert torch.all(state.task.target_step == 0) and torch.all(state.task.go_step == 0)


def test_random_reach_follows_motornets_uniform_formula():
    """Start = upper + (lower - upper) * u with the generator's first (B, dof) block, target posture likewise
    with the second (MotorNet's draw_random_uniform_states, in its order)."""
    spec, params, state, _ = reset("random_reach", batch_size=4, seed=5)
    g = torch.Generator().manual_seed(5)
    u_start, u_target = torch.rand(4, 2, generator=g), torch.rand(4, 2, generator=g)
    sp = params.effector.skeleton
    posture = lambda u: (sp.pos_lower_bound - sp.pos_upper_bound) * u + sp.pos_upper_bound  # noqa: E731
    torch.testing.assert_close(state.effector.joint.pos, posture(u_start))
    target = spec.effector.skeleton.forward_kinematics(sp, E.JointState(posture(u_target), torch.zeros(4, 2))).pos
    torch.testing.assert_close(state.task.target, target)


def test_random_loads_are_bounded_isotropic_and_act_on_the_endpoint():
    spec, params, state, _ = reset("random_reach_loads", batch_size=4000, seed=4, effector="relu_point_mass24",
                                   max_load=5.0)
    norm = torch.linalg.vector_norm(state.task.load, dim=-1)
    assert norm.max() <= 5.0 and norm.max() > 4.9 and state.task.load.mean(0).abs().max() < 0.1
    # a passive point mass accelerates along its load: a = F / m after one step (Euler: velocity first)
    new, _, _ = E.step(spec, params, state, torch.zeros(4000, 4))
    torch.testing.assert_close(new.effector.joint.vel, state.task.load * spec.effector.dt / params.effector.skeleton.mass,
                               rtol=1e-4, atol=1e-6)
