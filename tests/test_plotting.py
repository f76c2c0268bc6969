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


# ----------------------------------------------------------------- matplotlib manners: ax/fig/**kwargs

def _colors(ax):
    return {matplotlib.colors.to_hex(line.get_color()) for line in ax.lines}


RED = matplotlib.colors.to_hex("tab:red")


@pytest.mark.parametrize("name", ["plot_gamma_rho", "plot_losses", "plot_filter_rank"])
def test_trajectory_plots_pass_kwargs_to_their_lines(outcome, name):
    fig, ax = plt.subplots()
    returned = getattr(plotting, name)(outcome.trajectory, ax=ax, color="tab:red", linewidth=3.5)
    assert returned is fig                              # the figure drawn into, as before
    assert RED in _colors(ax)
    assert any(line.get_linewidth() == 3.5 for line in ax.lines)   # the full name replaces the default `lw`
    plt.close(fig)


def test_headline_panels_pass_kwargs_and_mark_learned_dimension_at_measured_levels_only():
    x = [0.0, 0.1, 0.2, 0.4]
    fig, ax = plt.subplots()
    plotting.plot_rank_vs_noise(x, [8, 20, 40, 80], [5, 5, 6, 5], clean_data_stable_rank=[8] * 4, clean_rank=8,
                                learned_dimension=[8, 8, 0, 0], regime=["benign", "benign", "harmful", "harmful"],
                                ax=ax, color="tab:red")
    assert RED in _colors(ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lab.startswith("2K = 8") for lab in labels)            # the reference line at 2K is named
    assert any("outside the benign window" in lab for lab in labels)  # the harmful levels are shaded
    plt.close(fig)
    fig, ax = plt.subplots()
    plotting.plot_learning_vs_noise(x, [1, 1, 0.6, 0.5], [1, 0.9, 0.1, 0.0], train_acc=[1] * 4,
                                    learned_dimension=[8, 8, 0, 0], clean_rank=8, ax=ax)
    twin = next(a for a in fig.axes if a is not ax)
    ld = [line for line in twin.lines if line.get_label().startswith("learned dimension")]
    assert len(ld) == 1 and ld[0].get_linestyle() == "None"           # markers only, no step between levels
    assert list(ld[0].get_xdata()) == x and ld[0].get_drawstyle() == "default"
    assert any(line.get_label().startswith("2K = 8") for line in twin.lines)   # the dotted line is labelled
    legend = ax.get_legend() or twin.get_legend()
    assert legend.get_bbox_to_anchor().y0 < ax.get_window_extent().y0           # below the axes: covers no data
    plt.close(fig)


def test_multi_panel_builders_draw_into_a_given_figure_or_subfigure(tmp_path):
    record = {"noise_std": [0.0, 0.2, 0.4], "data_stable_rank": [8, 30, 60], "filter_stable_rank": [5, 5, 4],
              "clean_data_stable_rank": [8, 8, 8], "clean_rank": 8, "learned_dimension": [8, 8, 0],
              "signal_energy_fraction": [1, 0.9, 0.1], "test_acc": [1, 1, 0.5], "train_acc": [1, 1, 1],
              "regime": ["benign", "benign", "harmful"]}
    fig = plt.figure(figsize=(20, 6), layout="constrained")
    left, right = fig.subfigures(1, 2)
    assert plotting.rank_vs_noise_figure(record, fig=left, color="tab:red") is left
    assert len(left.axes) == 3 and not right.axes                      # (a), (b) and (b)'s right axis
    assert all(RED in _colors(a) for a in left.axes[:2])
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    with pytest.raises(TypeError, match="fig="):
        plotting.rank_vs_noise_figure(record, fig="left")


@pytest.fixture(scope="module")
def sweep_result():
    from cnnrank.sweeps import SweepSpec, run_sweep

    base = RunConfig(n=16, n_test=32, d=60, K=2, m=4, steps=30, record_every=10, lr=0.5, init_std=0.05)
    spec = SweepSpec(base=base, grid={"activation": ["huber3", "relu"], "noise_std": [0.0, 0.3, 3.0]}, seeds=2)
    return run_sweep(spec, progress=False)


def test_sweep_figure_shows_accuracy_energy_dimension_and_log_stable_ranks(sweep_result):
    fig = plotting.sweep_figure(sweep_result, color="tab:red")
    panels = [a for a in fig.axes if a.axison]
    titles = " | ".join(a.get_title() for a in panels)
    for word in ("test accuracy", "signal energy", "learned dimension", "stable rank"):
        assert word in titles
    assert all(a.get_xlabel() == r"background noise $\sigma_p$" for a in panels)   # not `noise_std`
    ranks = next(a for a in panels if "stable rank" in a.get_title())
    assert ranks.get_yscale() == "log"
    assert all(RED in _colors(a) for a in panels)
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "huber3" in legend and "relu" in legend
    plt.close(fig)


def test_sweep_figure_keeps_equal_curves_of_two_groups_apart(sweep_result):
    fig = plotting.sweep_figure(sweep_result)
    ranks = next(a for a in fig.axes if "stable rank" in a.get_title())
    data = [line for line in ranks.lines if line.get_linestyle() == ":"]
    assert len(data) == 2                     # one data curve per activation (equal values: same data)
    np.testing.assert_allclose(data[0].get_ydata(), data[1].get_ydata())
    assert not np.allclose(data[0].get_xdata(), data[1].get_xdata())          # offset, both visible
    shapes = {line.get_marker() for a in fig.axes for line in a.lines if len(line.get_xdata())}
    assert {"o", "s"} <= shapes                                                # and marked differently
    plt.close(fig)


def test_phase_diagram_ratio_colour_bar_has_several_ticks_and_harmful_cells_are_hatched():
    from cnnrank.plotting import _log_ticks

    ns, sig = [16, 64, 256], [0.05, 0.15, 0.3, 0.6]
    grid = np.array([[1.0, 1.3, 2.0, 3.1], [1.0, 1.1, 1.6, 2.4], [0.99, 1.0, 1.2, 1.9]])
    acc = np.array([[1.0, 1.0, 0.8, 0.5], [1.0, 1.0, 1.0, 0.6], [1.0, 1.0, 1.0, 0.7]])   # 4 cells harmful
    record = {"n": ns, "noise_std": sig, "test_acc": acc.tolist(),
              "signal_energy_fraction": np.full((3, 4), 0.9).tolist(), "learned_dimension": np.full((3, 4), 4).tolist(),
              "data_stable_rank": (8 * grid).tolist(), "filter_stable_rank": np.full((3, 4), 8.0).tolist(),
              "theory_boundary": [0.1, 0.15, 0.2], "measured_boundary": [None, None, None],
              "noise_takeoff": [0.05, 0.08, 0.1], "clean_rank": 8, "K": 4}
    fig = plt.figure(figsize=(11, 8.6), layout="constrained")
    assert plotting.phase_diagram_figure(record, fig=fig, edgecolors="face") is fig
    ratio_bar = next(a for a in fig.axes if "srank(data) / srank(W)" in a.get_ylabel())
    labels = [t.get_text() for t in ratio_bar.get_yticklabels() if t.get_text()]
    assert len(labels) >= 5, labels
    heatmaps = [a for a in fig.axes if a.get_title()]
    assert len(heatmaps) == 4
    for ax in heatmaps:   # the cells where the network learned nothing are hatched on every panel
        assert sum(1 for p in ax.patches if p.get_hatch()) == 4
    plt.close(fig)
    assert len(_log_ticks(0.99, 3.2)) >= 5
    assert _log_ticks(1.0, 100.0)[:3] == [1.0, 2.0, 5.0]
    assert all(0.5 <= t <= 1.6 for t in _log_ticks(0.5, 1.6))


def _real_record():
    x = [0.0, 0.5, 1.0, 2.0]
    return {"noise_std": x, "data_stable_rank": [5.6, 7.3, 12.1, 29.2], "clean_data_stable_rank": [5.6] * 4,
            "patch_stable_rank": [2.5, 3.3, 5.5, 14.1], "clean_patch_stable_rank": [2.5] * 4,
            "filter_stable_rank": [3.21, 2.83, 2.33, 2.37], "learned_stable_rank": [3.20, 2.81, 2.31, 2.35],
            "learned_dimension": [1, 1, 0, 0], "clean_energy_fraction": [0.64, 0.56, 0.47, 0.42],
            "reference_dimension": 15, "test_acc": [0.66, 0.67, 0.68, 0.62], "train_acc": [1.0] * 4,
            "data": {"noise_units": "per-image pixel std"}}


def test_real_image_figure_shows_the_learned_part_and_a_fraction_axis():
    from cnnrank.plotting.real_images import plot_real_rank, plot_real_subspace, real_rank_figure

    fig, ax = plt.subplots()
    assert plot_real_rank(_real_record(), ax=ax) is fig
    filters = next(line for line in ax.lines if line.get_label().startswith("trained filters"))
    learned = next(line for line in ax.lines if line.get_label().startswith("learned part"))
    assert learned.get_zorder() > filters.get_zorder()                  # drawn above the filters' line
    assert learned.get_color() != filters.get_color() and learned.get_marker() != filters.get_marker()
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_real_subspace(_real_record(), ax=ax, color="tab:red")
    assert ax.get_ylim() == (0.0, 1.05) and "fraction" in ax.get_ylabel()   # the fraction's own range
    assert all(RED in _colors(a) for a in fig.axes)
    plt.close(fig)
    fig = plt.figure(figsize=(16, 5), layout="constrained")
    assert real_rank_figure(_real_record(), fig=fig, lw=0.5) is fig
    assert any(line.get_linewidth() == 0.5 for a in fig.axes for line in a.lines)
    plt.close(fig)


def test_linear_and_collapse_builders_pass_kwargs_and_take_a_figure():
    from cnnrank.collapse import plotting as C
    from cnnrank.collapse.simulate import UFMConfig, train_ufm
    from cnnrank.linear.experiments import ordering_task, run_cnn
    from cnnrank.linear.plotting import plot_mode_strengths

    run = train_ufm(UFMConfig(steps=20, record_every=10), rng=0)
    for fn in (C.plot_nc_history, C.plot_margins, C.plot_accuracy):
        fig, ax = plt.subplots()
        assert fn(run, ax=ax, color="tab:red") is fig and RED in _colors(ax)
        plt.close(fig)
    fig = plt.figure(figsize=(15, 8.6), layout="constrained")
    sub = fig.subfigures(1, 1)
    assert C.collapse_figure(run, run, fig=sub, color="tab:red") is sub and len(sub.axes) >= 6
    plt.close(fig)
    cnn = run_cnn(ordering_task(rng=0), t_end=0.3, n_records=5)
    fig, ax = plt.subplots()
    assert plot_mode_strengths(cnn, ax=ax, color="tab:red", lw=3) is fig
    assert RED in _colors(ax) and any(line.get_linewidth() == 3 for line in ax.lines)
    plt.close(fig)


def test_the_prediction_from_the_initialization_is_drawn_at_benign_levels_only():
    import matplotlib.pyplot as plt

    from cnnrank.plotting import plot_rank_vs_noise

    fig = plot_rank_vs_noise([0.0, 0.1, 0.5], [8, 20, 90], [4.0, 4.1, 6.0], regime=["benign", "benign", "harmful"],
                             predicted_learned_stable_rank=[4.0, 4.0, 4.0])
    line = next(h for h in fig.axes[0].get_lines() if "predicted from W(0)" in str(h.get_label()))
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isfinite(y[:2]).all() and np.isnan(y[2])
    plt.close(fig)
