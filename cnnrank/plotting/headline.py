"""The headline figures against the noise level: stable rank and learning versus noise with the
regimes shaded (docs/theory.md §4), the singular-value spectra, the activation ablation and the
intrinsic-dimension figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnrank.plotting.style import _GROUP_MARKERS, _LINESTYLES, _config_line, artist_style, axes, figure, log_rank_axis

__all__ = [
    "intrinsic_dimension_figure",
    "plot_activation_ablation",
    "plot_learning_vs_noise",
    "plot_rank_vs_noise",
    "plot_spectra",
    "rank_vs_noise_figure",
    "shade_regimes",
]


def shade_regimes(ax: Any, noise_std: Sequence[float] | np.ndarray, regime: Sequence[str] | None = None,
                  benign_limit: float | None = None, label: bool = True, criterion: str | None = None) -> None:
    """Shade the noise levels measured outside the benign window, and draw the theory's threshold.

    Parameters
    ----------
    noise_std : (L,) noise levels, increasing
    regime : (L,) ``"benign"`` or ``"harmful"`` per level (measured), optional
        Each harmful level's span reaches halfway to its neighbours (to the axis edge at the ends).
    benign_limit : float, optional
        The theory's σ_p threshold ``σ_p*`` where the activation's criterion equals 1
        (:func:`cnnrank.theory.criterion`, docs/theory.md §4), drawn as a dashed line.
    label : bool
        Whether to add legend entries.
    criterion : str, optional
        The criterion's name for the legend (``cnnrank.theory.criterion(config).name``, e.g. ``"cao2022"``).
    """
    x = np.asarray(noise_std, dtype=float)
    if regime is not None:
        if len(regime) != x.size:
            raise ValueError(f"regime has {len(regime)} entries which is invalid: must have {x.size}")
        mids = np.concatenate([[x[0] - 0.5 * (x[1] - x[0]) if x.size > 1 else x[0] - 0.5],
                               0.5 * (x[1:] + x[:-1]),
                               [x[-1] + 0.5 * (x[-1] - x[-2]) if x.size > 1 else x[0] + 0.5]])
        first = True
        for i, r in enumerate(regime):
            if r != "benign":
                ax.axvspan(mids[i], mids[i + 1], color="0.85", alpha=0.6, lw=0, zorder=0,
                           label="outside the benign window (measured)" if (label and first) else None)
                first = False
    if benign_limit is not None and np.isfinite(benign_limit):
        ax.axvline(benign_limit, color="k", ls="--", lw=1,
                   label=(f"theory: σ_p* ({criterion})" if criterion else "theory: σ_p*") if label else None)
    if x.size > 1:
        ax.set_xlim(x[0] - 0.02 * (x[-1] - x[0]), x[-1] + 0.02 * (x[-1] - x[0]))


def plot_rank_vs_noise(
    noise_std: Sequence[float],
    data_stable_rank: Sequence[float],
    filter_stable_rank: Sequence[float],
    clean_data_stable_rank: Sequence[float] | None = None,
    clean_rank: float | None = None,
    predicted_data_stable_rank: tuple[Sequence[float], Sequence[float]] | None = None,
    filter_spread: tuple[Sequence[float], Sequence[float]] | None = None,
    ax: Any = None,
    title: str = "stable rank vs background noise",
    learned_stable_rank: Sequence[float] | None = None,
    expected_filter_stable_rank: Sequence[float] | None = None,
    learned_dimension: Sequence[float] | None = None,
    regime: Sequence[str] | None = None,
    predicted_learned_stable_rank: Sequence[float | None] | None = None,
    benign_limit: float | None = None,
    criterion: str | None = None,
    legend_below: bool = False,
    **kwargs: Any,
) -> Any:
    """The headline figure: stable rank of the data and of the trained filters vs σ_p.

    Series that coincide (at σ_p = 0 the noisy and clean data, the learned dimension and ``2K`` are
    often all equal) stay visible: each has its own marker shape and size (large hollow diamonds
    around small squares around circles) and line style.

    Parameters
    ----------
    noise_std : (L,) noise levels σ_p
    data_stable_rank, filter_stable_rank : (L,) means over seeds
    clean_data_stable_rank : (L,), optional
    clean_rank : float, optional
        Reference line ``2K`` (the rank of the clean data), labelled.
    predicted_data_stable_rank : (sigma_grid, values), optional
        A theory curve for the data's stable rank.
    filter_spread : (low, high), optional
        Band (e.g. min and max over seeds) around the filters' stable rank.
    learned_stable_rank : (L,), optional
        Stable rank of the learned part ``W - W(0)``.
    expected_filter_stable_rank : (L,), optional
        The closed form ``2K / (1 + (K-1) c)`` (docs/theory.md §6.3; exact only for equal columns),
        drawn when ``predicted_learned_stable_rank`` is not given.
    predicted_learned_stable_rank : (L,), optional
        The learned stable rank predicted from the initialization by the signal race (docs/theory.md
        §6.7); ``None`` entries are skipped, and so are levels outside the benign window when ``regime`` is given.
    learned_dimension : (L,), optional
        Directions of the signal span learned above the memorization edge; markers at the measured
        levels where it is > 0 (the axis is logarithmic).
    regime, benign_limit, criterion : optional
        Measured regime per level, the theory's threshold and its criterion's name (:func:`shade_regimes`).
    legend_below : bool
        Put the legend below the axes instead of inside.
    **kwargs
        Line2D properties of the measured series (data, filters, learned part, learned dimension).

    Returns
    -------
    The figure drawn into.
    """
    fig, ax = axes(ax, figsize=(6.0, 4.2))
    x = np.asarray(noise_std, dtype=float)
    shade_regimes(ax, x, regime, benign_limit, criterion=criterion)
    if clean_rank is not None:  # a broad pale band: it stays visible under the clean data's line at 2K
        ax.axhline(clean_rank, color="0.3", ls="-", lw=7, alpha=0.3, zorder=1, solid_capstyle="butt",
                   label=f"2K = {clean_rank:g} (rank of the clean data)")
    ax.plot(x, data_stable_rank, **artist_style("o-", kwargs, color="C3", lw=2, ms=7, label="data (noisy), n × Pd"))
    if clean_data_stable_rank is not None:
        ax.plot(x, clean_data_stable_rank, **artist_style("s--", kwargs, color="C1", lw=1.2, ms=4,
                                                          label="data (clean)", zorder=3))
    if predicted_data_stable_rank is not None:
        ax.plot(*predicted_data_stable_rank, color="C3", lw=1, ls=":", label="data, predicted")
    ax.plot(x, filter_stable_rank, **artist_style("o-", kwargs, color="C0", lw=2, label="trained filters W (2m × d)"))
    if filter_spread is not None:
        ax.fill_between(x, filter_spread[0], filter_spread[1], color="C0", alpha=0.2, lw=0)
    if learned_stable_rank is not None:
        ax.plot(x, learned_stable_rank, **artist_style("^-", kwargs, color="C9", lw=1.5, label="learned part W − W(0)"))
    if predicted_learned_stable_rank is not None:
        pr = np.array([np.nan if v is None else v for v in predicted_learned_stable_rank], dtype=float)
        if regime is not None:  # a prediction for the benign regime: not drawn where nothing was learned
            pr = np.where(np.asarray(regime) == "benign", pr, np.nan)
        ax.plot(x, pr, "x", color="C9", ms=7, mew=1.5, label="learned part, predicted from W(0) (benign levels)")
    elif expected_filter_stable_rank is not None:
        ax.plot(x, expected_filter_stable_rank, "x", color="C9", ms=7, mew=1.5, label=r"closed form $2K/(1+(K-1)c)$")
    if learned_dimension is not None:
        ld = np.asarray(learned_dimension, dtype=float)
        pos = ld > 0
        ax.plot(x[pos], ld[pos], **artist_style("D", kwargs, color="C4", ms=11, mfc="none", mew=1.5, zorder=4,
                                                label="learned dimension (where > 0)"))
    log_rank_axis(ax)
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("stable rank / dimension")
    ax.set_title(title)
    if legend_below:
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    else:
        ax.legend(fontsize=7.5, loc="center right", framealpha=0.9)
    return fig


def plot_learning_vs_noise(
    noise_std: Sequence[float],
    test_acc: Sequence[float],
    signal_energy_fraction: Sequence[float],
    train_acc: Sequence[float] | None = None,
    learned_dimension: Sequence[float] | None = None,
    clean_rank: float | None = None,
    regime: Sequence[str] | None = None,
    benign_limit: float | None = None,
    criterion: str | None = None,
    ax: Any = None,
    title: str = "what the filters learned",
    **kwargs: Any,
) -> Any:
    """Accuracy, signal energy fraction and learned dimension vs σ_p (the benign window's evidence).

    Parameters
    ----------
    noise_std, test_acc, signal_energy_fraction : (L,) means over seeds
    train_acc : (L,), optional
    learned_dimension : (L,), optional
        Markers at the measured levels on a right axis, with the labelled line ``clean_rank`` (``2K``).
    regime, benign_limit, criterion : optional
        See :func:`shade_regimes`.
    **kwargs
        Line2D properties of the measured series (accuracies, energy fraction, learned dimension).

    The legend sits below the axes, where it covers no data. Returns the figure drawn into.
    """
    from matplotlib.ticker import MaxNLocator

    fig, ax = axes(ax, figsize=(6.0, 4.6))
    x = np.asarray(noise_std, dtype=float)
    shade_regimes(ax, x, regime, benign_limit, criterion=criterion)
    ax.plot(x, test_acc, **artist_style("o-", kwargs, color="C2", lw=2, label="test accuracy"))
    if train_acc is not None:
        ax.plot(x, train_acc, **artist_style("s--", kwargs, color="0.45", ms=4, label="train accuracy"))
    ax.plot(x, signal_energy_fraction, **artist_style("^-", kwargs, color="C0", lw=2,
                                                      label=r"signal energy $\|\Pi(W-W_0)\|_F^2/\|W-W_0\|_F^2$"))
    ax.axhline(0.95, color="C2", ls=":", lw=0.8, label="benign needs test acc ≥ 0.95 ...")
    ax.axhline(0.5, color="C0", ls=":", lw=0.8, label="... and signal energy ≥ 0.5")
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("accuracy / energy fraction")
    handles, labels = ax.get_legend_handles_labels()
    if learned_dimension is not None:
        b = ax.twinx()
        b.plot(x, learned_dimension, **artist_style("D", kwargs, color="C4", ms=7, mfc="none", mew=1.5,
                                                    label="learned dimension (right axis)"))
        # its 0 lines up with the left axis' 0; 2K sits at 3/4 of the height, clear of the accuracies at 1
        top = max(float(np.max(learned_dimension)), float(clean_rank or 0), 1.0) / 0.75
        b.set_ylim(-0.03 * top, 1.05 * top)
        b.yaxis.set_major_locator(MaxNLocator(integer=True))
        if clean_rank is not None:
            b.axhline(clean_rank, color="C4", ls=":", lw=1, label=f"2K = {clean_rank:g} (right axis)")
        b.set_ylabel("learned dimension")
        h2, l2 = b.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              frameon=False)
    ax.set_title(title)
    return fig


def plot_spectra(W: np.ndarray, X: np.ndarray, ax: Any = None, labels: Sequence[str] | None = None,
                 extra: Sequence[np.ndarray] = (), clean_rank: int | None = None, **kwargs: Any) -> Any:
    """Normalized singular value spectra (``s_i / s_1``) of the filters and of data matrices.

    Parameters
    ----------
    W : (2m, d) filter matrix
    X : (n, D) data matrix
    extra : more matrices to draw
    labels : names for ``[W, X, *extra]``
    clean_rank : int, optional
        Draws the index ``2K`` (the rank of the clean data) as a vertical line.
    **kwargs
        Line2D properties of the spectra.

    Returns the figure drawn into.
    """
    from cnnrank.rank import singular_values

    fig, ax = axes(ax)
    mats = [W, X, *extra]
    labels = list(labels) if labels is not None else ["filters", "data"] + [f"matrix {i}" for i in range(len(extra))]
    for i, (A, lab) in enumerate(zip(mats, labels)):
        s = singular_values(A)
        s = s / s[0] if s.size and s[0] > 0 else s
        ax.semilogy(np.arange(1, s.size + 1), np.maximum(s, 1e-16),
                    **artist_style("o-", kwargs, ms=2.5, lw=1, label=lab, color=f"C{i}"))
    ax.set_xscale("log")
    ax.set_ylim(1e-3, 1.5)  # exact zeros (e.g. beyond the clean data's rank 2K) fall off the bottom
    if clean_rank is not None:
        ax.axvline(clean_rank, color="0.3", ls=":", lw=1.2, label=f"i = 2K = {clean_rank} (rank of the clean data)")
    ax.set_xlabel("index i")
    ax.set_ylabel(r"$s_i / s_1$")
    ax.set_title("singular value spectra")
    ax.legend(fontsize=8)
    return fig


def plot_activation_ablation(noise_std: Sequence[float], filter_stable_rank: dict[str, Sequence[float]],
                             clean_rank: float | None = None, ax: Any = None,
                             regime: dict[str, Sequence[str]] | None = None, **kwargs: Any) -> Any:
    """Filters' stable rank vs σ_p, one line per activation (e.g. q = 2, 3, 4, ReLU).

    ``regime[name]`` (``"benign"``/``"harmful"`` per level, measured) draws the levels outside that
    activation's benign window with hollow markers: there the network learned no signal and the
    filters' stable rank says nothing about the intrinsic dimension. Levels outside every
    activation's window are shaded. ``**kwargs``: Line2D properties of the activations' lines and
    markers. Returns the figure drawn into.
    """
    fig, ax = axes(ax, figsize=(6.0, 4.8))
    x = np.asarray(noise_std, dtype=float)
    if regime is not None and regime:
        everywhere = np.all([np.asarray(r) != "benign" for r in regime.values()], axis=0)
        shade_regimes(ax, x, np.where(everywhere, "harmful", "benign").tolist(), label=False)
        if everywhere.any():
            ax.fill_between([], [], color="0.85", alpha=0.6, lw=0, label="shaded: no activation benign")
    for i, (name, ranks) in enumerate(filter_stable_rank.items()):
        r = np.asarray(ranks, dtype=float)
        ls = _LINESTYLES[i % len(_LINESTYLES)]
        mk = _GROUP_MARKERS[i % len(_GROUP_MARKERS)]
        ax.plot(x, r, **artist_style(ls, kwargs, color=f"C{i}", label=name, marker=mk))
        good = np.ones(x.size, bool) if regime is None else np.asarray(regime[name]) == "benign"
        ax.plot(x[~good], r[~good], **artist_style("", kwargs, color=f"C{i}", marker=mk, ls="none", mfc="white"))
    if regime is not None:
        ax.plot([], [], "o", color="0.4", mfc="white", label="hollow: outside the benign window (measured)")
    if clean_rank is not None:
        ax.axhline(clean_rank, color="0.3", ls=":", label=f"2K = {clean_rank:g}")
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("filters' stable rank")
    ax.set_title("filters' stable rank per activation (filled: measured benign)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return fig


def rank_vs_noise_figure(out: dict[str, Any], predicted: tuple[Any, Any] | None = None, fig: Any = None,
                         **kwargs: Any) -> Any:
    """Two panels from a ``rank_vs_noise.json`` record: ranks vs σ_p, and what the filters learned.

    Levels outside the measured benign window are shaded; the theory's threshold is a dashed line.
    Records written before the learned-subspace diagnostics existed are drawn without them.
    ``fig``: the (empty) Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``:
    passed to both panels' builders (their measured series). Returns the figure drawn into.
    """
    fig = figure(fig, (12.5, 5.6))
    a, b = fig.subplots(1, 2)
    spread = None
    if "filter_stable_rank_min" in out:
        spread = (out["filter_stable_rank_min"], out["filter_stable_rank_max"])
    regime, limit = out.get("regime"), out.get("benign_limit")
    plot_rank_vs_noise(out["noise_std"], out["data_stable_rank"], out["filter_stable_rank"],
                       clean_data_stable_rank=out.get("clean_data_stable_rank"),
                       clean_rank=out.get("clean_rank"), predicted_data_stable_rank=predicted,
                       filter_spread=spread, ax=a, learned_stable_rank=out.get("learned_stable_rank"),
                       expected_filter_stable_rank=out.get("expected_filter_stable_rank"),
                       predicted_learned_stable_rank=out.get("predicted_learned_stable_rank"),
                       learned_dimension=out.get("learned_dimension"), regime=regime, benign_limit=limit,
                       criterion=out.get("criterion"), title="(a) stable rank: data vs trained filters", legend_below=True, **kwargs)
    if "signal_energy_fraction" in out:
        plot_learning_vs_noise(out["noise_std"], out["test_acc"], out["signal_energy_fraction"],
                               train_acc=out.get("train_acc"), learned_dimension=out.get("learned_dimension"),
                               clean_rank=out.get("clean_rank"), regime=regime, benign_limit=limit,
                               criterion=out.get("criterion"), ax=b,
                               title="(b) what the filters learned", **kwargs)
    else:
        x = out["noise_std"]
        shade_regimes(b, x, regime, limit)
        b.plot(x, out["test_acc"], **artist_style("o-", kwargs, color="C2", label="test accuracy"))
        b.set_ylim(0.4, 1.02)
        b.set_xlabel(r"background noise $\sigma_p$")
        b.set_ylabel("accuracy")
        b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
        b.set_title("(b) test accuracy")
    c = out.get("config", {})
    if c:
        fig.suptitle(f"{_config_line(c, omit=('noise_std',))}; mean over seeds", fontsize=9)
    return fig


def intrinsic_dimension_figure(out: dict[str, Any], fig: Any = None, **kwargs: Any) -> Any:
    """Two panels from an ``intrinsic_dimension.json`` record: dimensions and ranks vs K; what was learned.

    ``fig``: the (empty) Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``:
    Line2D properties of the measured series of both panels. Returns the figure drawn into.
    """
    K = np.asarray(out["K"], dtype=float)
    fig = figure(fig, (11.5, 5.2))
    a, b = fig.subplots(1, 2)
    bad = [i for i, r in enumerate(out["regime"]) if r != "benign"]
    for ax in (a, b):
        for j, i in enumerate(bad):
            ax.axvspan(K[i] - 0.4, K[i] + 0.4, color="0.85", alpha=0.7, lw=0, zorder=0,
                       label="outside the benign window (measured)" if j == 0 else None)
    kk = np.linspace(K.min(), K.max(), 50)
    a.plot(kk, 2 * kk, color="0.3", ls=":", lw=1.2, label="2K")
    a.plot(K, out["data_stable_rank"], **artist_style("o-", kwargs, color="C3", lw=2,
                                                      label=f"data (noisy) stable rank, σ_p = {out['noise_std']:g}"))
    a.plot(K, out["learned_dimension"], **artist_style("D", kwargs, color="C2", ms=8, mfc="none", mew=1.8,
                                                       label="learned dimension"))
    a.plot(K, out["filter_stable_rank"], **artist_style("^-", kwargs, color="C9", lw=1.5, label="stable rank of W − W(0)"))
    pred = out.get("predicted_learned_stable_rank")
    if pred is not None:
        pr = np.array([np.nan if v is None else v for v in pred], dtype=float)
        a.plot(K, pr, "x", color="C9", ms=8, mew=1.8, label="stable rank predicted from W(0)")
    else:
        pr = np.asarray(out["expected_filter_stable_rank"], dtype=float)
        a.plot(K, pr, "x", color="C9", ms=8, mew=1.8, label=r"closed form $2K/(1+(K-1)c)$")
    if out.get("signals_learned") is not None:
        sl = np.array([np.nan if v is None else v for v in out["signals_learned"]], dtype=float)
        a.plot(K, sl, **artist_style("+", kwargs, color="k", ms=9, mew=1.5, label="signals learned (of 2K)"))
    log_rank_axis(a)
    a.set_xlabel("signals per class K")
    a.set_ylabel("stable rank / dimension")
    a.set_xticks(K)
    a.set_title("(a) the filters learn the 2K-dimensional signal span")
    a.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    b.plot(K, out["test_acc"], **artist_style("o-", kwargs, color="C2", lw=3, alpha=0.6, label="test accuracy"))
    b.plot(K, out["signal_energy_fraction"], **artist_style("^--", kwargs, color="C0", lw=1.5,
                                                            label="signal energy fraction"))
    b.plot(K, out["signal_overlap"], **artist_style("s-", kwargs, color="C1", label="within-class overlap c (0 at K = 1)"))
    b.plot(K, np.asarray(out["filter_stable_rank"]) / (2 * K), **artist_style("^-", kwargs, color="C9",
                                                                              label="stable rank of W − W(0) / 2K"))
    b.plot(K, pr / (2 * K), "x", color="C9", ms=8, mew=1.8,
           label="predicted from W(0) / 2K" if pred is not None else r"closed form $1/(1+(K-1)c)$")
    b.set_ylim(-0.03, 1.05)
    b.set_xticks(K)
    b.set_xlabel("signals per class K")
    b.set_ylabel("fraction / cosine / accuracy")
    b.set_title("(b) why the stable rank sits below 2K: shared filters (c > 0)")
    b.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    c = out.get("config", {})
    if c:
        fig.suptitle(f"{_config_line(c, omit=('K', 'noise_std'))}, σ_p={out['noise_std']:g}; mean over seeds",
                     fontsize=9)
    return fig
