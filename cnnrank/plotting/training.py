"""Figures of one training trajectory: the coefficients γ and ρ, the losses, the filters' stable rank
(docs/theory.md), and the four-panel :func:`training_figure`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.plotting.headline import plot_spectra
from cnnrank.plotting.style import _config_line, artist_style, axes, figure

__all__ = ["plot_filter_rank", "plot_gamma_rho", "plot_losses", "training_figure"]


def plot_gamma_rho(traj: Any, ax: Any = None, **kwargs: Any) -> Any:
    r"""Signal learning and noise memorization over training (docs/theory.md §4).

    Draws :math:`\max_{r,k} \gamma_{j,r,k}` for the filters of the signal's own class,
    :math:`\max \bar\rho` and :math:`\min \underline\rho` against the step. ``**kwargs``: Line2D
    properties of these four curves. Returns the figure drawn into.
    """
    fig, ax = axes(ax)
    if traj.gamma is None:
        raise ValueError("plot_gamma_rho needs a trajectory with γ and ρ (synthetic data)")
    K2 = traj.gamma.shape[-1]
    K = K2 // 2
    own = np.concatenate([traj.gamma[:, 0, :, :K], traj.gamma[:, 1, :, K:]], axis=-1)  # (R, m, 2K)
    t = traj.steps
    ax.plot(t, own.max(axis=(1, 2)), **artist_style("-", kwargs, color="C0", lw=2,
                                                    label=r"max $\gamma_{j,r,k}$ (own class)"))
    ax.plot(t, own.max(axis=1).mean(axis=1), **artist_style("--", kwargs, color="C0", lw=1,
                                                             label=r"mean$_k$ max$_r$ $\gamma$"))
    R = len(t)
    rho = traj.rho.reshape(R, -1)
    ax.plot(t, rho.max(axis=1, initial=0.0), **artist_style("-", kwargs, color="C3", lw=2, label=r"max $\bar\rho$"))
    ax.plot(t, rho.min(axis=1, initial=0.0), **artist_style("-", kwargs, color="C2", lw=2,
                                                            label=r"min $\underline{\rho}$"))
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("coefficient")
    ax.set_title("signal learning vs noise memorization")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.38 * (hi - lo))  # headroom: the legend sits above every curve
    ax.legend(fontsize=8, loc="upper left", ncol=2, framealpha=0.9)
    return fig


def plot_losses(traj: Any, ax: Any = None, **kwargs: Any) -> Any:
    """Training (and test) loss against the step, log scale. ``**kwargs``: Line2D properties of the
    loss curves. Returns the figure drawn into."""
    fig, ax = axes(ax)
    ax.semilogy(traj.steps, traj.train_loss, **artist_style("-", kwargs, label="train loss"))
    if traj.test_loss is not None:
        ax.semilogy(traj.steps, traj.test_loss, **artist_style("--", kwargs, label="test loss"))
    ax.set_xlabel("step")
    ax.set_ylabel("logistic loss")
    ax.set_title("training and test loss")
    ax.legend(fontsize=8)
    return fig


def plot_filter_rank(traj: Any, ax: Any = None, reference: float | None = None, **kwargs: Any) -> Any:
    """Stable rank of the filters and of their learned part against the step; with signals, also the
    learned dimension (markers at the recorded steps only), the signal energy fraction (right axis) and
    the line ``2K``. ``**kwargs``: Line2D properties of the two stable-rank curves. Returns the figure
    drawn into."""
    fig, ax = axes(ax)
    ax.plot(traj.steps, traj.filter_stable_rank, **artist_style("-", kwargs, color="C0", lw=2,
                                                                 label=r"srank $W$"))
    ax.plot(traj.steps, traj.learned_stable_rank, **artist_style("--", kwargs, color="C1", lw=1.5,
                                                                  label=r"srank $W - W^{(0)}$"))
    handles_extra: list = []
    if getattr(traj, "learned_dimension", None) is not None:
        K2 = traj.gamma.shape[-1] if traj.gamma is not None else None
        ax.plot(traj.steps, traj.learned_dimension, "D", color="C4", ms=3.5, mfc="none", mew=1,
                label="learned dimension (recorded steps)")
        if K2 is not None:
            ax.axhline(K2, color="C4", ls=":", lw=1, label=f"2K = {K2}")
        b = ax.twinx()
        b.plot(traj.steps, traj.signal_energy_fraction, color="C2", ls="-.", lw=1.2, label="signal energy (right)")
        b.set_ylim(-0.03, 1.05)
        b.set_ylabel("signal energy fraction")
        handles_extra = b.get_legend_handles_labels()[0]
    if reference is not None:
        ax.axhline(reference, color="0.4", ls=":", label=f"reference {reference:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("stable rank / dimension")
    handles, labels = ax.get_legend_handles_labels()
    handles += handles_extra
    labels += [h.get_label() for h in handles_extra]
    ax.legend(handles, labels, fontsize=8, loc="upper right")
    return fig


def training_figure(traj: Any, data_stable_rank: float | None = None, data: Any = None, fig: Any = None,
                    **kwargs: Any) -> Any:
    """Panels: γ/ρ, losses, filter stable rank and learned subspace (with the data's stable rank in the
    title), and, when the final weights and the training ``data`` (a PatchData) are given, the singular
    value spectra of the filters versus the data (noisy and clean). With signals, the title says whether
    the run is in the measured benign regime (:func:`cnnrank.subspace.measured_regime`).

    ``fig``: the (empty) Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``: passed
    to each panel's builder (its main artists). Returns the figure drawn into.
    """
    spectra = data is not None and traj.W_final is not None
    fig = figure(fig, (11.5, 7.6))
    panels = np.asarray(fig.subplots(2, 2)).ravel()
    if traj.gamma is not None:
        plot_gamma_rho(traj, ax=panels[0], **kwargs)
    else:
        panels[0].set_axis_off()
    plot_losses(traj, ax=panels[1], **kwargs)
    plot_filter_rank(traj, ax=panels[2], **kwargs)
    title = "filters' stable rank and learned subspace"
    if data_stable_rank is not None:
        title += f" (data's stable rank: {data_stable_rank:.1f})"
    panels[2].set_title(title, fontsize=10)
    if spectra:
        from cnnrank.rank import data_matrix, filter_matrix

        extra, labels = [], ["filters W (2m × d)", "data (n × Pd)"]
        if getattr(data, "signal_pos", None) is not None:
            extra, labels = [data_matrix(data.clean().X)], labels + ["clean data"]
        K2 = traj.gamma.shape[-1] if traj.gamma is not None else None
        plot_spectra(filter_matrix(traj.W_final), data_matrix(data.X), ax=panels[3], labels=labels, extra=extra,
                     clean_rank=K2, **kwargs)
    else:
        panels[3].set_axis_off()
    cfg = traj.metadata.get("config", {}) if isinstance(traj.metadata, dict) else {}
    head = _config_line(cfg)
    if head:
        head += f"; {traj.engine} engine" if getattr(traj, "engine", None) else ""
    verdict = ""
    if getattr(traj, "signal_energy_fraction", None) is not None and traj.test_acc is not None and len(traj):
        from cnnrank.subspace import BENIGN_ENERGY_FRACTION, BENIGN_TEST_ACC, measured_regime

        acc, frac = float(traj.test_acc[-1]), float(traj.signal_energy_fraction[-1])
        reg = str(measured_regime(acc, frac))
        two_k = f" of 2K = {traj.gamma.shape[-1]}" if traj.gamma is not None else ""
        verdict = (f"measured {reg}: test acc {acc:.3f}, signal energy {frac:.3f}, learned dimension "
                   f"{traj.learned_dimension[-1]}{two_k}")
        if reg != "benign":  # say which of the two conditions failed (docs/theory.md §4)
            failed = [f"test acc < {BENIGN_TEST_ACC:g}"] if not acc >= BENIGN_TEST_ACC else []
            failed += [f"signal energy < {BENIGN_ENERGY_FRACTION:g}"] if not frac >= BENIGN_ENERGY_FRACTION else []
            verdict += f" — not benign ({' and '.join(failed)}): the rank claim does not apply"
    fig.suptitle("\n".join(t for t in (head, verdict) if t), fontsize=10)
    return fig
