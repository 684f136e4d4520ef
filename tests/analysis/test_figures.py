"""Figures: each writes a non-empty PNG, labels its axes with units and explains its markers in a legend."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from motornet_fn.analysis import figures as fg  # noqa: E402
from tests.analysis import figure_data as fd  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def hand_paths(out):
    position, target, _ = fd.reach_figure_data()
    return fg.plot_hand_paths(position, target, out)


def speed_profiles(out):
    position, _, metrics = fd.reach_figure_data()
    return fg.plot_speed_profiles(position, fd.DT, out, labels=torch.arange(8), metrics=metrics)


def muscle_activations(out):
    return fg.plot_muscle_activations(fd.muscle_activity(), fd.DT, out, ["pectoralis", "deltoid", "biceps", "triceps"])


def pca_trajectories(out):
    return fg.plot_pca_trajectories(fd.hidden_pca(), out)


def eigenvalues(out):
    return fg.plot_eigenvalues(fd.eigenvalues(), out)


def perturbed_paths(out):
    return fg.plot_perturbed_paths(*fd.perturbed_paths(), out, perturbation_step=35)


# figure -> (x label unit, y label unit, legend entries that must be there)
FIGURES = {
    hand_paths: ("(m)", "(m)", ["start (first sample)", "end (last sample)", "target", "path to target 0"]),
    speed_profiles: ("(s)", "(m/s)", ["movement onset (threshold crossed)", "peak speed", "target 7"]),
    muscle_activations: ("(s)", "(normalised, 0-1)", ["pectoralis", "triceps"]),
    pca_trajectories: ("(a.u.;", "(a.u.;", ["start (first sample)", "end (last sample)", "target 0"]),
    eigenvalues: ("(dimensionless", "(dimensionless", ["unit circle |λ| = 1", "|λ| < 1: decaying mode"]),
    perturbed_paths: ("(m)", "(m)", ["unperturbed", "perturbed", "target", "perturbation onset"]),
}


@pytest.mark.parametrize("draw", list(FIGURES), ids=lambda f: f.__name__)
def test_figure_writes_a_png(draw, tmp_path):
    path = draw(tmp_path / f"{draw.__name__}.png")
    assert path == tmp_path / f"{draw.__name__}.png"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert not plt.get_fignums()  # saved figures are closed


@pytest.mark.parametrize("draw", list(FIGURES), ids=lambda f: f.__name__)
def test_figure_axes_have_units_and_a_legend(draw):
    fig, ax = plt.subplots()
    try:
        assert draw(ax) is ax
        x_unit, y_unit, entries = FIGURES[draw]
        assert x_unit in ax.get_xlabel() and y_unit in ax.get_ylabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert all(e in labels for e in entries), labels
        assert ax.get_title()
    finally:
        plt.close(fig)


def test_pca_axis_labels_give_the_explained_variance():
    fig, ax = plt.subplots()
    result = fd.hidden_pca()
    fg.plot_pca_trajectories(result, ax, components=(1, 2))
    ratio = result.explained_variance_ratio
    assert ax.get_xlabel() == f"PC2 score (a.u.; {100 * float(ratio[1]):.1f}% var)"
    assert ax.get_ylabel() == f"PC3 score (a.u.; {100 * float(ratio[2]):.1f}% var)"
    plt.close(fig)


def test_eigenvalues_of_fixed_points_plot_the_distinct_fixed_ones():
    from motornet_fn.analysis import FixedPoints

    lam = fd.eigenvalues()  # (3, 6)
    points = FixedPoints(torch.zeros(3, 6), torch.tensor([0.0, 1.0, 0.0]), torch.zeros(3, 6, 6), lam,
                         torch.tensor([True, False, True]), torch.tensor([0, 1]))  # point 2 duplicates point 0
    fig, ax = plt.subplots()
    fg.plot_eigenvalues(points, ax)
    stable, unstable = ax.get_lines()[1:3]
    assert len(stable.get_xdata()) + len(unstable.get_xdata()) == 6  # only point 0's eigenvalues
    plt.close(fig)


@pytest.mark.parametrize("call, match", [
    (lambda: fg.plot_hand_paths(torch.zeros(3, 10), torch.zeros(3, 2), "x.png"), r"position must be \(K, T, 2\)"),
    (lambda: fg.plot_hand_paths(torch.zeros(3, 10, 2), torch.zeros(3, 2), 42), "out must be a file path or"),
    (lambda: fg.plot_hand_paths(torch.zeros(3, 10, 2), torch.zeros(3, 2), "x.png", labels=[0, 1]),
     r"one label per trial \(3\)"),
    (lambda: fg.plot_muscle_activations(torch.zeros(10, 4), 0.01, "x.png", ["a"]), "name the 4 muscles"),
    (lambda: fg.plot_pca_trajectories(fd.hidden_pca(), "x.png", components=(0, 5)), "index the 3 PCs"),
    (lambda: fg.plot_perturbed_paths(torch.zeros(3, 10, 2), torch.zeros(2, 10, 2), torch.zeros(3, 2), "x.png"),
     "same 3 trials"),
    (lambda: fg.plot_perturbed_paths(torch.zeros(3, 10, 2), torch.zeros(3, 10, 2), torch.zeros(3, 2), "x.png",
                                     perturbation_step=10), r"perturbation_step must be a sample index in \[0, 9\]"),
])
def test_bad_figure_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    plt.close("all")
