"""Figures of a run say what they show: loss name and unit, running mean, markers, ensemble member."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from motornet_fn.nn import plots
from motornet_fn.nn.train import TrainConfig, Trainer

TINY = dict(n_batches=1, batch_size=4, episode_duration=0.05, hidden_size=8)


def legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def tick_labels(fig: Figure) -> list[str]:
    fig.draw_without_rendering()
    return [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]


@pytest.mark.parametrize("config, label", [
    (TrainConfig(), "L1 position loss (m)"),
    (TrainConfig(loss="l2_position"), "L2 position loss (m²)"),
    (TrainConfig(activation_weight=0.01), "L1 position loss (m) + 0.01 × activation L2"),
])
def test_loss_label_names_the_loss_and_its_unit(config, label):
    assert plots.loss_label(config) == label


def test_loss_figure_shows_the_loss_per_batch_and_its_running_mean():
    losses = [[1.0 + 0.2 * (i % 2)] for i in range(100)]
    fig = plots.plot_losses(losses, label="L1 position loss (m)")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "L1 position loss (m)" and ax.get_xlabel() == "batch"
    assert legend(ax) == ["per batch", "loss, running mean over 10 batches"]
    mean = ax.get_lines()[-1].get_ydata()
    np.testing.assert_allclose(mean[9:], 1.1)  # the running mean smooths the alternation away
    ticks = tick_labels(fig)
    assert len(ticks) >= 3 and all("$" not in t and "e" not in t for t in ticks), ticks  # plain numbers


def test_loss_ticks_over_decades_are_plain_numbers():
    fig = plots.plot_losses([[10.0 ** -(i / 25)] for i in range(100)])
    ticks = tick_labels(fig)
    assert {"0.01", "0.1", "1"} <= set(ticks) and all("$" not in t for t in ticks), ticks


def test_ensemble_loss_figure_says_how_many_members_it_shows():
    fig = plots.plot_losses(np.random.default_rng(0).uniform(0.5, 1, (30, 3)).tolist())
    assert legend(fig.axes[0]) == ["each of the 3 members, per batch", "mean of the 3 members, running mean over 3 batches"]


def test_trajectory_figure_explains_its_markers_and_draws_into_a_given_axes():
    trace = Trainer(TrainConfig(**TINY)).evaluate(batch_size=4)
    fig = Figure()
    ax = fig.subplots()
    assert plots.plot_trajectories(trace, ax=ax, title="member 1 of 3") is fig
    assert legend(ax) == ["fingertip path", "start", "end", "target"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x (m)", "y (m)", "member 1 of 3")


def test_run_figures_name_the_configured_loss_and_the_member(tmp_path, monkeypatch):
    from motornet_fn import cli

    trainer = Trainer(TrainConfig(**TINY, loss="l2_position", ensemble_size=2))
    trainer.fit(progress=False)
    drawn = {}
    monkeypatch.setattr(cli, "_save_png", lambda fig, path: drawn.setdefault(path.name, fig) and path)
    cli.draw_figures(trainer, tmp_path)
    assert drawn["loss.png"].axes[0].get_ylabel() == "L2 position loss (m²)"
    assert drawn["trajectories.png"].axes[0].get_title().endswith("member 0 of 2 (seed 0)")
