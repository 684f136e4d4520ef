"""centre_out: targets on a circle around the start fingertip, drawn or given per trial."""
import math

import pytest
import torch

from tests.core.tasks.helpers import reset


def test_targets_lie_on_a_circle_around_the_start_in_order():
    spec, params, state, _ = reset("centre_out", batch_size=8, options={"target_index": torch.arange(8)}, radius=0.1)
    centre = state.task.start
    torch.testing.assert_close(centre, centre[:1].expand(8, 2))  # one start posture: 45 and 90 deg
    torch.testing.assert_close(state.effector.joint.pos, torch.tensor([[math.pi / 4, math.pi / 2]]).expand(8, 2))
    offset = state.task.target - centre
    torch.testing.assert_close(torch.linalg.vector_norm(offset, dim=-1), torch.full((8,), 0.1))
    angles = torch.remainder(torch.atan2(offset[:, 1], offset[:, 0]), 2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8) * (math.pi / 4), atol=1e-5, rtol=0)


def test_drawn_targets_use_every_index_and_the_default_radius():
    _, _, state, _ = reset("centre_out", batch_size=400, seed=2, n_targets=4)
    offset = state.task.target - state.task.start
    torch.testing.assert_close(torch.linalg.vector_norm(offset, dim=-1), torch.full((400,), 0.1))  # arm default
    index = torch.round(torch.remainder(torch.atan2(offset[:, 1], offset[:, 0]), 2 * math.pi) / (math.pi / 2)) % 4
    assert set(index.long().tolist()) == {0, 1, 2, 3}
    _, _, point, _ = reset("centre_out", batch_size=4, effector="relu_point_mass24")
    torch.testing.assert_close(torch.linalg.vector_norm(point.task.target - point.task.start, dim=-1),
                               torch.full((4,), 0.5))  # point-mass default radius


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="radius must be > 0 m, got -1"):
        reset("centre_out", radius=-1)
    with pytest.raises(ValueError, match="n_targets must be an int >= 1, got 0"):
        reset("centre_out", n_targets=0)
    with pytest.raises(ValueError, match=r"start_posture must have dof=2 values, got \[0.5\]"):
        reset("centre_out", start_posture=[0.5])
    with pytest.raises(ValueError, match=r"target_index must lie in 0..7, got \[0, 9\]"):
        reset("centre_out", batch_size=2, options={"target_index": torch.tensor([0, 9])})
