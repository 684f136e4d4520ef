"""``motornet_fn.plotor``: limits, trajectory and arm plots (matplotlib Agg backend)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import motornet_fn as mn  # noqa: E402


@pytest.fixture
def axis():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_compute_limits_adds_the_margin_on_both_sides():
    assert mn.plotor.compute_limits(np.array([0.0, 4.0, 10.0]), margin=0.2) == pytest.approx((-2.0, 12.0))
    assert mn.plotor.compute_limits(np.array([[1.0, 3.0]])) == pytest.approx((0.8, 3.2))


def test_plot_pos_over_time_draws_one_segment_per_step_coloured_by_time(axis):
    gen = np.random.default_rng(0)
    traj = np.cumsum(gen.normal(size=(3, 6, 2)), axis=1)
    mn.plotor.plot_pos_over_time(traj, axis)
    lines = axis.collections[0]
    segments = np.array(lines.get_segments())
    assert segments.shape == (3 * 5, 2, 2)
    np.testing.assert_allclose(segments[:5, 0], traj[0, :-1])  # batch element 0, steps 0..4
    np.testing.assert_allclose(segments[:5, 1], traj[0, 1:])
    np.testing.assert_array_equal(lines.get_array(), np.tile(np.arange(5), 3))
    assert axis.get_xlabel() == "cartesian x" and axis.figure.axes[-1].get_ylabel() == "timestep"


def test_plot_2dof_arm_over_time_draws_the_arm_links(axis):
    arm = mn.skeleton.TwoDofArm()
    joint = np.array([[[0.2, 0.5, 0, 0], [0.6, 1.0, 0, 0], [1.0, 1.6, 0, 0]]])
    mn.plotor.plot_2dof_arm_over_time(axis, arm, joint)
    segments = np.array(axis.collections[0].get_segments())
    assert segments.shape == (6, 2, 2)
    hand = arm.joint2cartesian(torch.tensor(joint[0], dtype=torch.float32))[:, :2].numpy()
    np.testing.assert_allclose(segments[3:, 1], hand, rtol=1e-5, atol=1e-6)  # forearm ends at the fingertip
    np.testing.assert_allclose(segments[:3, 0], 0.0)  # upper arm starts at the shoulder
    np.testing.assert_allclose(segments[:3, 1], segments[3:, 0])  # ... and ends at the elbow
    assert axis.get_xlim() == pytest.approx(mn.plotor.compute_limits(segments[:, :, 0]))


def test_plot_2dof_arm_over_time_takes_one_simulation(axis):
    with pytest.raises(AssertionError, match=r"one simulation, shape \(1, n_timesteps, 4\); got \(2, 3, 4\)"):
        mn.plotor.plot_2dof_arm_over_time(axis, mn.skeleton.TwoDofArm(), np.zeros((2, 3, 4)))
