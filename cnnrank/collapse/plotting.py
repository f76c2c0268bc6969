"""Figures of neural collapse (docs/theory.md §7). matplotlib is imported inside each function. As
every figure builder (see :mod:`cnnrank.plotting`): the ``plot_*`` functions take ``ax=None`` (a new
figure through :func:`cnnrank.plotting.axes`), the two ``*_figure`` functions take ``fig=``;
``**kwargs`` go to each builder's main artists (named in its docstring); each returns the figure it
drew into (library code never shows or saves). :func:`collapse_figure` and :func:`probes_figure` are the two figures of
``reproduce neural-collapse`` (from a :class:`~cnnrank.collapse.experiments.NeuralCollapseResult`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnrank.plotting.style import artist_style, axes, figure

__all__ = [
    "collapse_figure",
    "plot_accuracy",
    "plot_feature_pca",
    "plot_frame_gaps",
    "plot_margins",
    "plot_mean_cosines",
    "plot_nc_history",
    "plot_probe",
    "probes_figure",
]

_NC_SERIES = (
    ("nc1", "NC1  Tr(Σ_W Σ_B⁺)/C"), ("etf_distance_means", "NC2 ETF distance (means)"),
    ("equinorm_means", "NC2 equinorm (means)"), ("equiangular_means", "NC2 equiangular (means)"),
    ("etf_distance_classifier", "NC2 ETF distance (W)"), ("nc3_duality", "NC3 ‖W − M̃‖² (normalized)"),
)


def plot_nc_history(run: Any, ax: Any = None, title: str | None = None, legend_loc: str = "best",
                    **kwargs: Any) -> Any:
    """NC1–NC3 metrics of a :class:`~cnnrank.collapse.simulate.CollapseRun` against the step (log y).
    ``**kwargs``: Line2D properties of the metric curves."""
    fig, ax = axes(ax)
    floor = 1e-12
    for name, label in _NC_SERIES:
        ax.plot(run.steps, np.maximum(run.series(name), floor), **artist_style("-", kwargs, label=label, lw=1.5))
    ax.set_yscale("log")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("metric (clipped at 1e-12)")
    t0 = run.first_zero_error_step
    if t0 is not None:
        ax.axvline(t0, color="0.5", ls=":", lw=1)
    ax.set_title(title or f"{run.model}: collapse metrics")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (hi / lo) ** 0.5)  # headroom on the log axis: the legend sits above every curve
    ax.legend(fontsize=7.5, loc=legend_loc, ncol=2, framealpha=0.9)
    ax.grid(alpha=0.3)
    return fig


def plot_margins(run: Any, ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """``p_min`` (left axis) and the scale-free ``p_min/(max‖w‖ max‖h‖)`` (right axis) over training.
    ``**kwargs``: Line2D properties of both margin curves."""
    fig, ax = axes(ax)
    ax.plot(run.steps, run.series("p_min"), **artist_style("-", kwargs, color="C0", lw=1.8, label="p_min"))
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("gradient step")
    ax.set_ylabel("p_min (solid)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(run.steps, run.series("p_min_normalized"), **artist_style("--", kwargs, color="C3", lw=1.2))
    ax2.set_ylabel("p_min / (max‖w_c‖ · max‖h_i‖)  (dashed)", color="C3")
    t0 = run.first_zero_error_step
    if t0 is not None:
        ax.axvline(t0, color="0.5", ls=":", lw=1)
        ax.text(t0, ax.get_ylim()[0], " zero train error", fontsize=7, color="0.4", va="bottom")
    ax.set_title(title or f"{run.model}: minimum margin")
    ax.grid(alpha=0.3)
    return fig


def plot_accuracy(run: Any, ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """Training error and test accuracy (when recorded) over training, with the loss on a log axis.
    ``**kwargs``: Line2D properties of the error, accuracy and loss curves."""
    fig, ax = axes(ax)
    ax.plot(run.steps, run.series("train_error"), **artist_style("-", kwargs, label="train error", color="C1"))
    acc = run.series("test_accuracy")
    if np.any(np.isfinite(acc)):
        ax.plot(run.steps, acc, **artist_style("-", kwargs, label="test accuracy", color="C2"))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("gradient step")
    ax2 = ax.twinx()
    ax2.plot(run.steps, run.series("loss"), **artist_style("--", kwargs, color="0.5", lw=1, label="loss"))
    ax2.set_yscale("log")
    ax2.set_ylabel("training loss (dashed)")
    ax.legend(fontsize=7, loc="center right")
    ax.set_title(title or f"{run.model}: error and accuracy")
    ax.grid(alpha=0.3)
    return fig


def plot_feature_pca(run: Any, ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """Final training features projected on their top two principal directions, one colour per class,
    with the class means (crosses) and the classifier rows (arrows, rescaled) in the same plane.
    ``**kwargs``: PathCollection properties of the feature points (``scatter``, e.g. ``s=``, ``alpha=``)."""
    from matplotlib.collections import PathCollection

    fig, ax = axes(ax, figsize=(4.2, 4.0))
    H, y, W = run.H, run.labels, run.W
    mu_g = H.mean(0)
    _, _, Vt = np.linalg.svd(H - mu_g, full_matrices=False)
    P = (H - mu_g) @ Vt[:2].T
    C = W.shape[0]
    for c in range(C):
        ax.scatter(P[y == c, 0], P[y == c, 1], **artist_style("", kwargs, PathCollection, s=10, alpha=0.6, color=f"C{c}"))
        m = P[y == c].mean(0)
        ax.scatter(*m, marker="x", s=60, color=f"C{c}")
    Wp = W @ Vt[:2].T
    r = np.max(np.linalg.norm(P, axis=1)) / max(np.max(np.linalg.norm(Wp, axis=1)), 1e-300)
    for c in range(C):
        ax.annotate("", xy=r * Wp[c], xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=f"C{c}", lw=1.2))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or f"{run.model}: final features (PCA)")
    ax.set_xticks([]), ax.set_yticks([])
    return fig


def plot_mean_cosines(upper: Any, lower: Any = None, ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """Cosines ``cos(μ_c − μ_G, μ_c' − μ_G)`` of the final centred class means of ``upper`` (a
    :class:`~cnnrank.collapse.simulate.CollapseRun`, shown above the diagonal) and optionally of
    ``lower`` (below it). A simplex ETF has ``−1/(C−1)`` everywhere off the diagonal.
    ``**kwargs``: AxesImage properties of the matrix (``imshow``, e.g. ``cmap=``)."""
    from matplotlib.image import AxesImage

    from cnnrank.collapse.metrics import class_means

    fig, ax = axes(ax, figsize=(4.2, 4.0))

    def cos(run):
        mu, mu_g = class_means(run.H, run.labels, run.W.shape[0])
        V = mu - mu_g
        V = V / np.linalg.norm(V, axis=1, keepdims=True)
        return V @ V.T

    A = cos(upper)
    C = A.shape[0]
    if lower is not None:
        L = cos(lower)
        A = np.where(np.tri(C, k=-1, dtype=bool), L, A)
    np.fill_diagonal(A, np.nan)
    im = ax.imshow(A, **artist_style("", kwargs, AxesImage, cmap="coolwarm", vmin=-1, vmax=1))
    for i in range(C):
        for j in range(C):
            if i != j:
                ax.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(C)), ax.set_yticks(range(C))
    ax.set_title(title or f"cos of centred class means (ETF: {-1 / (C - 1):.2f})")
    return fig


def plot_probe(results: Sequence[Any], ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """Test accuracy per fixed-classifier variant: one dot per initialization seed, a bar per mean;
    groups for each :class:`~cnnrank.collapse.probes.ProbeResult`, annotated with the spread and the
    two-way ANOVA p-value. ``**kwargs``: Line2D properties of the per-seed dots."""
    fig, ax = axes(ax, figsize=(5.5, 3.6))
    x0 = 0
    ticks, labels = [], []
    for g, res in enumerate(results):
        acc = res.test_accuracy
        K, S = acc.shape
        xs = x0 + np.arange(K)
        ax.bar(xs, acc.mean(1), color=f"C{g}", alpha=0.35, width=0.8)
        for s in range(S):
            ax.plot(xs, acc[:, s], **artist_style("o", kwargs, ms=3, color=f"C{g}", alpha=0.8))
        lo = np.min(acc)
        ax.text(x0 + (K - 1) / 2, 1.0, f"{res.kind}\nspread {100 * res.spread:.1f} pp\np = {res.p_value:.2g}",
                ha="center", va="top", fontsize=9)
        ticks += list(xs)
        labels += [str(k) for k in range(K)]
        x0 += K + 1
    lo = min(np.min(r.test_accuracy) for r in results)
    ax.set_ylim(max(0.0, lo - 0.12), 1.02)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_xlabel("variant (0 = reference frame); bars: mean over seeds, dots: single seeds")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "fixed classifier: test accuracy per variant")
    ax.grid(alpha=0.3, axis="y")
    return fig


def plot_frame_gaps(frames: Sequence[Any], ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """Coherence reached by the frame solver against the lower bound, one column per ``(N, d)``.
    ``**kwargs``: Line2D properties of the solver's and the bound's markers."""
    fig, ax = axes(ax, figsize=(5.5, 3.6))
    xs = np.arange(len(frames))
    ax.plot(xs, [f.coherence for f in frames], **artist_style("o", kwargs, color="C0", label="solver"))
    ax.plot(xs, [f.bound for f in frames], **artist_style("", kwargs, marker="_", ls="none", ms=18, mew=2, color="C3",
                                                          label="lower bound"))
    for x, f in zip(xs, frames):
        ax.text(x, f.coherence + 0.04, f"{f.gap:.2g}" if f.gap > 1e-8 else "0", ha="center", fontsize=8.5)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{f.vectors.shape[0]},{f.vectors.shape[1]}\n{'sgn' if f.signed else 'abs'}\n{f.bound_name[:5]}"
                        for f in frames], fontsize=8.5)
    ax.set_xlabel("N, d / coherence kind / bound", fontsize=10)
    ax.set_ylim(min(-0.1, min(f.bound for f in frames) - 0.1), max(f.coherence for f in frames) + 0.15)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("coherence (sgn: signed max cos, abs: max |cos|)", fontsize=10)
    ax.set_title(title or "Grassmannian frames: solver vs bound (gap above dots)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _new_or_given(fig: Any, figsize: tuple[float, float]) -> tuple[Any, bool]:
    """``(figure, new)``: a new Figure (laid out by ``tight_layout`` once drawn) or the given one."""
    if fig is not None:
        return figure(fig), False
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize), True


def collapse_figure(ufm: Any, mixture: Any, fig: Any = None, **kwargs: Any) -> Any:
    """2 × 3 panel: NC metrics for the UFM and the mixture, the mixture's margins, accuracy, final
    feature geometry of both. ``fig``: the (empty) Figure or SubFigure to draw into (a new one when
    ``None``); ``**kwargs``: passed to the line panels' builders (NC metrics, margins, accuracy).
    Returns the figure drawn into."""
    fig, new = _new_or_given(fig, (15, 8.6))
    axes = fig.subplots(2, 3)
    plot_nc_history(ufm, axes[0, 0], "(a) unconstrained features (λ > 0): NC metrics", "upper right", **kwargs)
    plot_margins(ufm, axes[0, 1], "(b) unconstrained features: margin p_min", **kwargs)
    C = ufm.W.shape[0]
    plot_mean_cosines(ufm, mixture if mixture.W.shape[0] == C else None, axes[0, 2],
                      f"(c) cos of centred class means: UFM above, mixture below\n(simplex ETF: {-1 / (C - 1):.2f})")
    plot_nc_history(mixture, axes[1, 0], "(d) Gaussian mixture + feature layer: NC metrics", "upper right", **kwargs)
    plot_margins(mixture, axes[1, 1], "(e) Gaussian mixture: margin p_min past zero error", **kwargs)
    plot_accuracy(mixture, axes[1, 2], "(f) Gaussian mixture: error, accuracy, loss", **kwargs)
    if new:
        fig.tight_layout()
    return fig


def probes_figure(etf_results: Sequence[Any], frame_results: Sequence[Any], frames: Sequence[Any], fig: Any = None,
                  **kwargs: Any) -> Any:
    """1 × 3 panel: ETF-assignment probe, Grassmannian-frame probe, solver gaps. ``fig``: the (empty)
    Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``: passed to the three
    panels' builders. Returns the figure drawn into."""
    fig, new = _new_or_given(fig, (18, 4.8))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.25]})
    plot_probe(etf_results, axes[0], "(a) simplex ETF classifier: permutations / rotations", **kwargs)
    plot_probe(frame_results, axes[1], "(b) Grassmannian frame classifier (C > d+1)", **kwargs)
    plot_frame_gaps(frames, axes[2], "(c) frame solver: coherence vs bound", **kwargs)
    if new:
        fig.tight_layout()
    return fig
