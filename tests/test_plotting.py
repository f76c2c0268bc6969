"""Plots: each takes ax=None or an Axes, draws, and returns the Figure."""

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnrank import plotting
from cnnrank._progress import _Bar, progress_bar
from cnnrank.experiments import RunConfig, run_once


@pytest.fixture(scope="module")
def outcome():
    cfg = RunConfig(n=16, n_test=16, d=60, K=2, m=4, steps=40, record_every=10, lr=0.5, init_std=0.05)
    return run_once(cfg, rng=0)


def _check(fig, ax=None):
    assert isinstance(fig, matplotlib.figure.Figure)
    if ax is not None:
        assert fig is ax.figure
    assert fig.axes and any(a.lines or a.collections for a in fig.axes)
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


@pytest.mark.parametrize("name", ["plot_gamma_rho", "plot_losses", "plot_filter_rank"])
def test_trajectory_plots_with_and_without_axes(outcome, name):
    fn = getattr(plotting, name)
    _check(fn(outcome.trajectory))
    fig, ax = plt.subplots()
    _check(fn(outcome.trajectory, ax=ax), ax)


def test_training_figure_has_spectra_when_data_given(outcome):
    fig = plotting.training_figure(outcome.trajectory, data_stable_rank=3.0, data=outcome.data)
    visible = [a for a in fig.axes if a.axison]
    assert len(visible) == 5  # γ/ρ, losses, ranks (+ its right axis for the signal energy), spectra
    assert any(a.get_title() == "singular value spectra" for a in visible)
    assert "measured" in fig._suptitle.get_text()  # the run's regime is stated
    _check(fig)
    without = plotting.training_figure(outcome.trajectory)
    assert len([a for a in without.axes if a.axison]) == 4  # no spectra without the data


def test_rank_vs_noise_spectra_and_ablation_plots():
    x = [0.0, 0.5, 1.0]
    fig, ax = plt.subplots()
    _check(plotting.plot_rank_vs_noise(x, [4, 20, 40], [2, 2.1, 2.2], clean_data_stable_rank=[4, 4, 4],
                                       clean_rank=4, predicted_data_stable_rank=(np.linspace(0, 1, 5), [4, 9, 18, 30, 40]),
                                       filter_spread=([1.9, 2, 2.1], [2.1, 2.2, 2.3]), ax=ax), ax)
    rng = np.random.default_rng(0)
    _check(plotting.plot_spectra(rng.standard_normal((6, 20)), rng.standard_normal((10, 30))))
    _check(plotting.plot_activation_ablation(x, {"q=2": [3, 3, 3], "relu": [2, 2, 2]}, clean_rank=4))


def test_bad_axes_and_missing_decomposition(outcome):
    with pytest.raises(TypeError, match="ax="):
        plotting.plot_losses(outcome.trajectory, ax="left")
    traj = outcome.trajectory
    no_gamma = type(traj)(**{**traj.__dict__, "gamma": None, "rho": None})
    with pytest.raises(ValueError, match="γ and ρ"):
        plotting.plot_gamma_rho(no_gamma)


def test_progress_bar_builtin_and_silenced(capsys):
    bar = _Bar(10, "work", io.StringIO())
    for _ in range(10):
        bar.update()
    bar.close()
    text = bar.stream.getvalue()
    assert "work [" in text and "10/10" in text
    silent = progress_bar(10, enabled=False)
    silent.update(3)
    silent.close()
    assert capsys.readouterr().err == ""
    progress_bar(5, enabled=None).close()  # stderr is not a terminal under pytest: silent
    assert capsys.readouterr().err == ""
