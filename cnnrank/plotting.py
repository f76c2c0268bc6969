"""Figures. matplotlib is imported inside the functions only; nothing is shown or saved.

The conventions of every figure builder (here and in :mod:`cnnrank.linear.plotting`,
:mod:`cnnrank.collapse.plotting`, :mod:`cnnrank.datasets.plotting`):

- A single-panel builder (``plot_*``) takes ``ax=None``: it draws on that Axes, or on a new figure
  when ``None``. A multi-panel builder (``*_figure``) takes ``fig=None``: it adds its panels to that
  (empty) :class:`~matplotlib.figure.Figure` or :class:`~matplotlib.figure.SubFigure` with
  ``fig.subplots``, or to a new figure when ``None``.
- Every builder returns the figure it drew into: ``ax.figure`` when an ``ax`` was given, the given
  ``fig``, or the new Figure (so ``plot_losses(traj).savefig(...)`` works; the Axes drawn on is the
  ``ax`` passed, or ``fig.axes[0]``).
- ``**kwargs`` are matplotlib properties passed to the builder's main artists, overriding their
  defaults (aliases such as ``lw``/``linewidth`` are merged): for line plots, every line of measured
  data (not reference lines, theory curves, bands or shading), so ``color=``, ``lw=``, ``alpha=``,
  ``marker=`` reach them; each builder's docstring names its main artists. A multi-panel builder
  passes its ``**kwargs`` to every panel's main artists.
- The levels where the network learned nothing (measured outside the benign window, docs/theory.md
  §4) are shaded, or drawn with hollow markers where several series share an axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "FIELD_LABELS",
    "artist_style",
    "axes",
    "field_label",
    "figure",
    "intrinsic_dimension_figure",
    "log_rank_axis",
    "phase_diagram_figure",
    "plot_activation_ablation",
    "plot_filter_rank",
    "plot_gamma_rho",
    "plot_learning_vs_noise",
    "plot_losses",
    "plot_rank_vs_noise",
    "plot_spectra",
    "rank_vs_noise_figure",
    "shade_regimes",
    "sweep_figure",
    "training_figure",
]


#: how a run's configuration fields read in a figure title, in this order ("" prints the value alone)
_CONFIG_LABELS = {"n": "n", "d": "d", "patches": "P", "K": "K", "signal_norm": "‖μ‖", "noise_std": "σ_p",
                  "m": "m", "activation": "", "lr": "η", "steps": "steps"}


def _config_line(cfg: dict[str, Any], omit: Sequence[str] = ()) -> str:
    """``"n=128, d=2000, P=3, …, 3000 steps"`` from a configuration dict (fields it lacks are left out)."""
    parts = []
    for key, label in _CONFIG_LABELS.items():
        if key in omit or key not in cfg:
            continue
        value = cfg[key]
        parts.append(f"{value} steps" if key == "steps" else f"{label}={value}" if label else str(value))
    return ", ".join(parts)


def axes(ax: Any = None, figsize: tuple[float, float] = (5.0, 3.6)) -> tuple[Any, Any]:
    """``(figure, axes)`` to draw on: a new figure of ``figsize`` (constrained layout) when ``ax`` is
    ``None``, else ``ax`` and its figure. The one axes helper of every plotting module (core,
    real images, linear, collapse).

    Raises
    ------
    TypeError
        If ``ax`` is neither ``None`` nor a matplotlib ``Axes``.
    """
    import matplotlib

    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    if not isinstance(ax, matplotlib.axes.Axes):
        raise TypeError(f"ax={ax!r} is invalid: must be a matplotlib Axes or None")
    return ax.figure, ax


def figure(fig: Any = None, figsize: tuple[float, float] = (11.0, 4.5)) -> Any:
    """The figure a multi-panel builder draws into: a new Figure of ``figsize`` (constrained layout)
    when ``fig`` is ``None``, else ``fig`` (a Figure or SubFigure).

    Raises
    ------
    TypeError
        If ``fig`` is neither ``None`` nor a matplotlib Figure or SubFigure.
    """
    import matplotlib.figure

    if fig is None:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    if not isinstance(fig, matplotlib.figure.FigureBase):
        raise TypeError(f"fig={fig!r} is invalid: must be a matplotlib Figure, SubFigure or None")
    return fig


#: line styles and markers that tell groups of curves apart (with the colour)
_LINESTYLES = ("-", "--", "-.", ":")
_GROUP_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")


#: marker characters understood in the format strings of :func:`artist_style`
_MARKERS = "os^Dvx+*.<>dph"


def artist_style(fmt: str = "-", kwargs: dict[str, Any] | None = None, artist: Any = None, **defaults: Any) -> dict[str, Any]:
    """matplotlib properties of a main artist: the marker and line style of the format string ``fmt``
    (``"o-"``, ``"s--"``, ``"D"``; no colour letters), then ``defaults``, then the caller's ``kwargs``,
    which win. Aliases (``lw``/``linewidth``, ``c``/``color``, ``ms``/``markersize``, ...) are
    normalized for ``artist`` (a matplotlib Artist class, default ``Line2D``) so that a caller's alias
    replaces a default's full name. ``fmt=""`` adds no marker or line style (for non-line artists)."""
    from matplotlib.cbook import normalize_kwargs
    from matplotlib.lines import Line2D

    base: dict[str, Any] = {}
    if fmt:
        base["linestyle"] = next((s for s in ("--", "-.", ":", "-") if s in fmt), "none")
        marker = next((c for c in fmt if c in _MARKERS), None)
        if marker is not None:
            base["marker"] = marker
    cls = artist or Line2D
    base.update(normalize_kwargs(defaults, cls))
    base.update(normalize_kwargs(kwargs or {}, cls))
    return base


def log_rank_axis(ax: Any) -> None:
    """Log-scaled y axis with plain tick labels at 1, 2, 5 × 10^k (for stable ranks)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


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
        §6.7); ``None`` entries are skipped.
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
        ax.plot(x, pr, "x", color="C9", ms=7, mew=1.5, label="learned part, predicted from W(0)")
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


#: how a run configuration's fields read on an axis or in a legend (others: the name without ``_``)
FIELD_LABELS = {
    "noise_std": r"background noise $\sigma_p$", "n": "training samples n", "n_test": "test samples",
    "d": "patch dimension d", "patches": "patches per sample P", "K": "signals per class K",
    "m": "filters per class m", "signal_norm": "signal norm ‖μ‖", "lr": "learning rate η",
    "steps": "gradient steps", "activation": "activation", "init_std": r"initial weight scale $\sigma_0$",
    "label_noise": "label noise rate", "engine": "engine",
}


def field_label(name: str) -> str:
    """The readable axis label of a configuration field (``"noise_std"`` → "background noise σ_p")."""
    return FIELD_LABELS.get(name, name.replace("_", " "))


def _legend_entry(point: dict[str, Any]) -> str:
    """``"huber3, n=128"``: a grid point of the non-plotted axes, in the figure titles' notation."""
    return ", ".join(str(v) if _CONFIG_LABELS.get(k, k) == "" else f"{_CONFIG_LABELS.get(k, k)}={v}"
                     for k, v in point.items())


#: the sweep figure's panels: (metrics drawn, y label, title); a panel is drawn when its first metric is recorded
_SWEEP_PANELS = (
    (("test_acc",), "test accuracy", "test accuracy"),
    (("signal_energy_fraction",), "signal energy fraction", "signal energy fraction of W − W(0)"),
    (("learned_dimension",), "learned dimension", "learned dimension (of the 2K-dim signal span)"),
    (("filter_stable_rank", "data_stable_rank"), "stable rank (log scale)",
     "stable rank: filters W (thick) and data (thin, dotted)"),
)


def sweep_figure(res: Any, fig: Any = None, **kwargs: Any) -> Any:
    """What a sweep measured, against its last numeric grid axis (the last axis when none is numeric;
    a sweep with ``noise_std`` and ``activation`` axes is drawn against σ_p): test accuracy, signal energy fraction,
    learned dimension (with the line ``2K``) and the stable ranks of the filters and the data (log
    scale), one curve per point of the other grid axes, from a :class:`cnnrank.sweeps.SweepResult`.
    Axes read as words (``noise_std`` is "background noise σ_p", :data:`FIELD_LABELS`).

    Each curve shows the mean over seeds with a min–max band; the groups differ in colour, marker,
    marker size and line style, and the data's stable-rank curves (thin, dotted) are offset
    horizontally by 1 % of the axis per group, so equal curves (the data's stable rank does not
    depend on the activation, say) stay visible side by side. Points measured outside the benign window
    (:func:`cnnrank.subspace.measured_regime`) have hollow markers; levels where every group is
    outside it are shaded. Panels whose metric the result lacks (older files) are left out.

    ``fig``: the (empty) Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``:
    Line2D properties of every curve. Returns the figure drawn into.
    """
    from matplotlib.lines import Line2D

    from cnnrank.subspace import measured_regime

    def is_numeric(values: Sequence[Any]) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    names = list(res.grid)
    # the horizontal axis: the last numeric grid axis with several values, else the last axis
    candidates = [n for n in names if is_numeric(res.grid[n]) and len(res.grid[n]) > 1]
    x_name = candidates[-1] if candidates else (names[-1] if names else None)
    xv = list(res.grid[x_name]) if x_name else [0]
    numeric = is_numeric(xv)
    x = np.asarray(xv, dtype=float) if numeric else np.arange(len(xv), dtype=float)
    others = [n for n in names if n != x_name]
    groups = [dict(zip(others, c)) for c in _product([res.grid[n] for n in others])] or [{}]
    G, L = len(groups), len(xv)
    xi = names.index(x_name) if x_name else 0
    # (G, L, seeds): the x axis moved next to the seeds, the other axes (in order) flattened into groups
    vals = {k: np.moveaxis(np.asarray(v, dtype=float), xi, -2).reshape(G, L, -1) if names
            else np.asarray(v, dtype=float).reshape(1, 1, -1) for k, v in res.values.items()}
    seeds = next(iter(vals.values())).shape[-1]
    panels = [p for p in _SWEEP_PANELS if p[0][0] in vals]
    if not panels:
        raise ValueError(f"res has none of the metrics {[p[0][0] for p in _SWEEP_PANELS]} to draw")
    if "test_acc" in vals and "signal_energy_fraction" in vals:
        benign = measured_regime(vals["test_acc"], vals["signal_energy_fraction"]) == "benign"  # (G, L)
    else:
        benign = np.ones((G, L), dtype=bool)
    fig = figure(fig, (11.5, 4.2 * ((len(panels) + 1) // 2) + 0.8))
    cols = 2 if len(panels) > 1 else 1
    axs = np.atleast_1d(fig.subplots((len(panels) + cols - 1) // cols, cols, squeeze=False)).ravel()
    for ax in axs[len(panels):]:
        ax.set_axis_off()
    everywhere = ~benign.any(axis=0)
    base = res.spec.get("base", {}) if isinstance(res.spec, dict) else {}
    two_k = 2 * base["K"] if "K" in base and "K" not in names else None
    for ax, (metrics, ylabel, title) in zip(axs, panels):
        shade_regimes(ax, x, np.where(everywhere, "harmful", "benign").tolist(), label=False)
        for i in range(G):
            color, marker = f"C{i % 10}", _GROUP_MARKERS[i % len(_GROUP_MARKERS)]
            ms = max(9.0 - 1.5 * (i % 6), 3.0)  # concentric when equal
            for metric in metrics:
                if metric not in vals:
                    continue
                v = vals[metric][i]
                mean = v.mean(axis=-1)
                if metric == "data_stable_rank":  # the data's: thin, dotted, small markers, dodged a little
                    xd = x + (i - (G - 1) / 2) * 0.01 * (np.ptp(x) or 1.0)
                    ax.plot(xd, mean, **artist_style(":", kwargs, color=color, marker=marker, ms=4.5, lw=1.2,
                                                     alpha=0.9))
                    continue
                ax.plot(x, mean, **artist_style(_LINESTYLES[i % len(_LINESTYLES)], kwargs, color=color,
                                                marker=marker, ms=ms, lw=1.8, alpha=0.85, mew=1.3))
                hollow = ~benign[i]
                ax.plot(x[hollow], mean[hollow], **artist_style("", kwargs, color=color, marker=marker, ms=ms,
                                                                ls="none", mfc="white", mew=1.3))
                if seeds > 1:
                    ax.fill_between(x, v.min(axis=-1), v.max(axis=-1), color=color, alpha=0.12, lw=0)
        if metrics[0] == "learned_dimension" and two_k is not None:
            ax.axhline(two_k, color="0.35", ls=":", lw=1.2, label=f"2K = {two_k}")
            ax.legend(fontsize=8, loc="best")
        if metrics[0] in ("test_acc", "signal_energy_fraction"):
            ax.set_ylim(-0.03, 1.05)
        if metrics[0] == "filter_stable_rank":
            both = np.concatenate([vals[m].ravel() for m in metrics if m in vals])
            if np.all(both > 0):
                log_rank_axis(ax)
        ax.set_xlabel(field_label(x_name) if x_name else "grid point")
        if not numeric:
            ax.set_xticks(x)
            ax.set_xticklabels([str(v) for v in xv])
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    handles: list[Any] = [Line2D([], [], **artist_style(_LINESTYLES[i % len(_LINESTYLES)], kwargs, color=f"C{i % 10}",
                                             marker=_GROUP_MARKERS[i % len(_GROUP_MARKERS)],
                                             ms=max(9.0 - 1.5 * (i % 6), 3.0), label=_legend_entry(g) or "mean"))
               for i, g in enumerate(groups)]
    if not benign.all():
        handles.append(Line2D([], [], color="0.4", marker="o", mfc="white", ls="none",
                              label="hollow: outside the benign window (measured)"))
    if everywhere.any():
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.85", alpha=0.6, lw=0, label="shaded: no group benign"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    head = _config_line(base, omit=names) if base else ""
    band = ", band: min–max" if seeds > 1 else ""
    fig.suptitle(f"sweep over {', '.join(field_label(n) for n in names) or 'no axis'}: mean over {seeds} "
                 f"seed(s){band}" + (f"\n{head}" if head else ""), fontsize=10)
    return fig


def _product(lists: list[Any]) -> list[tuple[Any, ...]]:
    import itertools

    return list(itertools.product(*lists)) if lists else []


def _log_edges(x: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, the outer ones mirrored."""
    lx = np.log(x)
    if lx.size == 1:
        return np.exp(np.array([lx[0] - 0.5, lx[0] + 0.5]))
    mid = (lx[1:] + lx[:-1]) / 2
    return np.exp(np.concatenate([[2 * lx[0] - mid[0]], mid, [2 * lx[-1] - mid[-1]]]))


def _rows_array(rows: Any) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _log_ticks(lo: float, hi: float, least: int = 5) -> list[float]:
    """At least ``least`` round ticks in ``[lo, hi]`` (``0 < lo < hi``) for a log colour bar: the
    decades, then 1, 2, 5 × 10^k, then 1, 1.5, 2, 3, 5, 7 × 10^k, then 1, 1.2, ..., 9 × 10^k; the
    finest set when none has enough."""
    e0, e1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    ticks: list[float] = []
    for mant in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
                 (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)):
        ticks = [float(f"{m * 10.0**e:.6g}") for e in range(e0, e1 + 1) for m in mant]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= least:
            break
    return ticks


def phase_diagram_figure(record: dict[str, Any], fig: Any = None, **kwargs: Any) -> Any:
    """The four-panel phase diagram of a ``phase_diagram.json`` record.

    ``fig``: the (empty) Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``:
    QuadMesh properties of the four heatmaps (``pcolormesh``; e.g. ``edgecolors=``, ``rasterized=``).
    Returns the figure drawn into. The ratio panel's log colour bar has at least five labelled ticks;
    the cells measured outside the benign window (:func:`cnnrank.subspace.measured_regime` of the seed
    means) are hatched on every panel.

    Heatmaps over ``n`` (log, horizontal) and ``σ_p`` (log, vertical) of the test accuracy, the signal
    energy fraction, the learned dimension / 2K (a dot where it equals 2K) and the data's / filters'
    stable rank; on each the theory's benign boundary σ_p*(n), the data-rank take-off and the measured
    0.9-accuracy contour (with its interpolated crossing per ``n``).
    """
    from matplotlib.collections import QuadMesh
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    ns = np.asarray(record["n"], dtype=float)
    sig = np.asarray(record["noise_std"], dtype=float)
    shape = (ns.size, sig.size)
    acc = _rows_array(record["test_acc"])
    sef = _rows_array(record["signal_energy_fraction"])
    two_k = float(record.get("clean_rank", 2 * record.get("K", 1)))
    ld = _rows_array(record["learned_dimension"]) / two_k
    with np.errstate(divide="ignore", invalid="ignore"):  # zero filters (init_std 0, no steps): no ratio
        ratio = _rows_array(record["data_stable_rank"]) / _rows_array(record["filter_stable_rank"])
    for name, a in (("test_acc", acc), ("signal_energy_fraction", sef), ("learned_dimension", ld), ("ratio", ratio)):
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}, expected (len(n), len(noise_std)) = {shape}")
    theory_b = np.asarray(record["theory_boundary"], dtype=float)
    meas = np.array([np.nan if v is None else v for v in record["measured_boundary"]], dtype=float)
    takeoff = np.asarray(record["noise_takeoff"], dtype=float)
    level = float(record.get("accuracy_level", 0.9))
    xe, ye = _log_edges(ns), _log_edges(sig)
    # the boundary is a power law in n: draw it across the whole axis (exponent from the record, 1/q)
    xs = np.geomspace(xe[0], xe[-1], 100)
    if not (np.all(np.isfinite(theory_b)) and np.all(theory_b > 0)):
        curve = None  # no power law through a zero or missing boundary (e.g. signal norm 0): no line
    elif ns.size > 1:
        slope = np.polyfit(np.log(ns), np.log(theory_b), 1)
        curve = np.exp(np.polyval(slope, np.log(xs)))
    else:
        curve = np.full_like(xs, theory_b[0])
    tk = np.interp(np.log(xs), np.log(ns), takeoff)

    from cnnrank.subspace import measured_regime

    harmful = (measured_regime(acc[..., None], sef[..., None]) != "benign") & np.isfinite(acc) & np.isfinite(sef)
    fig = figure(fig, (11, 8.6))
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    ratio_pos = ratio[np.isfinite(ratio) & (ratio > 0)]
    rmin, rmax = (float(ratio_pos.min()), float(ratio_pos.max())) if ratio_pos.size else (0.5, 2.0)
    rnorm = LogNorm(vmin=min(rmin, 0.99), vmax=max(rmax, 1.01))
    panels = [
        (acc, "test accuracy", "test accuracy (fraction correct)", dict(cmap="viridis", vmin=0.5, vmax=1.0)),
        (sef, "signal energy fraction", "share of learned energy in the signal span", dict(cmap="magma", vmin=0.0, vmax=1.0)),
        (ld, "learned dimension / 2K", f"learned dimension / 2K  (2K = {two_k:g})", dict(cmap="cividis", vmin=0.0, vmax=1.0)),
        (ratio, "data / filter stable rank", "srank(data) / srank(W)  (log scale)", dict(cmap="plasma", norm=rnorm)),
    ]
    for ax, (z, title, clabel, kw) in zip(axes.flat, panels):
        mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z.T),
                             **artist_style("", kwargs, QuadMesh, shading="flat", **kw))
        cb = fig.colorbar(mesh, ax=ax)
        cb.set_label(clabel)
        if "norm" in kw:  # the log ratio scale: round ticks, labelled in plain numbers
            cb.set_ticks(_log_ticks(float(rnorm.vmin or 0.99), float(rnorm.vmax or 1.01)))
            cb.ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            cb.ax.yaxis.set_minor_formatter(NullFormatter())
        for i, j in np.argwhere(harmful):  # the cells where the network learned nothing: hatched
            ax.add_patch(Rectangle((xe[i], ye[j]), xe[i + 1] - xe[i], ye[j + 1] - ye[j], fill=False, hatch="///",
                                   edgecolor=(1.0, 1.0, 1.0, 0.45), lw=0, zorder=3))
        if title.startswith("learned dimension"):
            full = np.argwhere(np.isclose(z, 1.0))
            if full.size:
                ax.scatter(ns[full[:, 0]], sig[full[:, 1]], s=22, marker="o", facecolors="white",
                           edgecolors="black", linewidths=0.6, zorder=4, label="learned dimension = 2K")
        if curve is not None:
            ax.plot(xs, curve, color="white", lw=2.4, zorder=5)
            crit = record.get("criterion")
            ax.plot(xs, curve, color="black", lw=1.2, ls="--", zorder=6,
                    label="theory: benign boundary σ_p*(n)" + (f" ({crit})" if crit else ""))
        ax.plot(xs, tk, color="tab:green", lw=1.6, ls=":", zorder=6, label="theory: data-rank take-off")
        if ns.size > 1 and sig.size > 1 and np.nanmin(acc) < level < np.nanmax(acc):
            ax.contour(ns, sig, acc.T, levels=[level], colors="red", linewidths=1.6, zorder=6)
        ax.plot(ns, meas, "s", color="red", ms=5, mec="black", mew=0.5, zorder=7,
                label=f"measured: test accuracy {level:g} contour")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_title(title)
    for ax in axes[1]:
        ax.set_xlabel("number of training samples n")
        ax.set_xticks(ns)
        ax.set_xticklabels([f"{int(v)}" for v in ns])
        ax.minorticks_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("background noise σ_p")
        ax.set_yticks(sig)
        ax.set_yticklabels([f"{v:g}" for v in sig])
    extra = axes[1, 0].get_legend_handles_labels()
    by_label = dict(zip(*axes[0, 0].get_legend_handles_labels()[::-1]))
    by_label.update(dict(zip(extra[1], extra[0])))
    if harmful.any():
        by_label["hatched: outside the benign window (measured on the seed means)"] = Patch(
            facecolor="0.55", edgecolor="white", hatch="///", lw=0)
    fig.legend(list(by_label.values()), list(by_label.keys()), loc="outside lower center", ncol=2, frameon=False)
    cfg = record.get("config", {})
    fig.suptitle(f"Phase diagram: {_config_line(cfg, omit=('n', 'noise_std'))}; "
                 f"mean over {record.get('seeds', {}).get('count', '?')} seed(s)")
    return fig


#: colours of the activation families in the calibration figure
_FAMILY_COLOURS = {"huber": "tab:blue", "relu": "tab:orange", "poly": "tab:green"}


def calibration_figure(record: dict[str, Any], fig: Any = None, **kwargs: Any) -> Any:
    """Predicted against measured, one panel per prediction of the calibration scorecard.

    ``record`` is what :func:`cnnrank.calibration.scorecard` returns. Colour: activation family; filled
    markers: runs measured benign, hollow: measured harmful (the network learned nothing there: the
    learned-filter predictions do not apply and are not counted; docs/calibration.md). Each panel's
    title gives the fraction within tolerance over the runs counted. ``kwargs`` go to every scatter.
    """
    import numpy as np

    fig = figure(fig, figsize=(13.0, 7.6))
    axs = fig.subplots(2, 3)
    cfgs, meas, pred, score = record["configs"], record["measured"], record["predicted"], record["predictions"]
    fam = [next(f for f in _FAMILY_COLOURS if c["activation"].startswith(f)) for c in cfgs]
    benign = np.array([r == "benign" for r in meas["regime"]])

    def pairs(p: list[Any], m: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ok = np.array([a is not None and b is not None for a, b in zip(p, m)], dtype=bool)
        x = np.array([a if a is not None else np.nan for a in p], dtype=float)
        y = np.array([b if b is not None else np.nan for b in m], dtype=float)
        return x, y, ok

    def scatter(ax: Any, x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> None:
        for f, colour in _FAMILY_COLOURS.items():
            sel = ok & np.array([g == f for g in fam])
            for filled in (True, False):
                s = sel & (benign == filled)
                if s.any():
                    style = artist_style("", kwargs, artist=None, s=22, alpha=0.8)
                    ax.scatter(x[s], y[s], facecolors=colour if filled else "none", edgecolors=colour,
                               **{k: v for k, v in style.items() if k not in ("linestyle",)})

    def legend(ax: Any, extra: Sequence[Any] = ()) -> None:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="none", marker="o", color=c, label=f) for f, c in _FAMILY_COLOURS.items()]
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", color="0.4", label="measured harmful"))
        ax.legend(handles=handles + list(extra), fontsize=7, loc="best")

    def ratio_axis(ax: Any) -> None:
        from matplotlib.ticker import FixedLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([0.25, 0.5, 1.0, 2.0, 4.0]))
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(0.2, 5.0)

    def log_axes(ax: Any) -> None:
        from matplotlib.ticker import NullFormatter

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(lambda v, _: f"{v:g}")
            axis.set_minor_formatter(NullFormatter())

    def title(ax: Any, name: str, what: str) -> None:
        sc = score.get(name, {})
        frac = sc.get("fraction")
        tail = "no runs counted" if frac is None else f"{sc['within']}/{sc['n']} = {frac:.0%} within"
        nar = sc.get("narrowed")
        if nar and nar.get("fraction") is not None:
            where = nar["where"] if len(nar["where"]) < 20 else "in its documented range"
            tail += f"; {where}: {nar['within']}/{nar['n']}"
        ax.set_title(f"{what}\n{tail} (tol. {sc.get('tolerance', float('nan')):g})", fontsize=9)

    def diagonal(ax: Any, tol: float, log: bool) -> None:
        lo, hi = ax.get_xlim()
        lo2, hi2 = ax.get_ylim()
        a, b = min(lo, lo2), max(hi, hi2)
        t = np.geomspace(max(a, 1e-9), b, 50) if log else np.linspace(a, b, 50)
        ax.plot(t, t, color="0.3", lw=0.8, label="predicted = measured")
        if tol > 1:
            ax.fill_between(t, t / tol, t * tol, color="0.85", zorder=0, label=f"within ×{tol:g}")

    # (1) regime: measured benign against σ_p / σ_p*
    ax = axs[0, 0]
    ratio = np.array(pred["noise_ratio"], dtype=float)
    yb = np.where(benign, 1.0, 0.0) + np.linspace(-0.08, 0.08, len(benign))
    scatter(ax, ratio, yb, np.isfinite(ratio) & np.array([m is not None for m in meas["regime"]]))
    ratio_axis(ax)
    line = ax.axvline(1.0, color="k", ls="--", lw=0.8, label="criterion σ_p*")
    span = ax.axvspan(1.0, 5.0, color="0.92", zorder=0, label="predicted harmful (σ_p > σ_p*)")
    ax.set_yticks([0, 1], ["harmful", "benign"])
    ax.set_ylim(-0.4, 1.4)
    ax.set_xlabel("σ_p / σ_p* of the activation's criterion")
    ax.set_ylabel("measured regime")
    title(ax, "regime", "regime (counted outside the undecided band)")
    legend(ax, [line, span])
    panels = [
        (axs[0, 1], "signal_learning_time", "T₁ (steps)", True),
        (axs[0, 2], "data_stable_rank", "data stable rank", True),
        (axs[1, 1], "learned_dimension", "learned dimension (race from W(0))", False),
        (axs[1, 2], "learned_stable_rank", "learned stable rank (race from W(0))", False),
    ]
    for ax, name, what, log in panels:
        x, y, ok = pairs(pred[name], meas[name])
        scatter(ax, x, y, ok)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            log_axes(ax)
        if ok.any():
            diagonal(ax, score.get(name, {}).get("tolerance", 1.0), log)
        ax.set_xlabel(f"predicted {what}")
        ax.set_ylabel("measured")
        title(ax, name, what)
    # (5) signals learned / 2K against σ_p / σ_p*
    ax = axs[1, 0]
    two_k = np.array([2 * c["K"] for c in cfgs], dtype=float)
    sl = np.array([np.nan if v is None else v for v in meas["signals_learned"]], dtype=float)
    scatter(ax, ratio, sl / two_k, np.isfinite(sl) & np.isfinite(ratio))
    ratio_axis(ax)
    ax.set_ylim(-0.05, 1.1)
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.axvline(1.0, color="k", ls="--", lw=0.8)
    ax.axvspan(1.0, 5.0, color="0.92", zorder=0)
    legend(ax)
    ax.set_xlabel("σ_p / σ_p*")
    ax.set_ylabel("signals learned / 2K")
    title(ax, "signals_learned", "all 2K signals learned (benign runs)")
    n = len(cfgs)
    fig.suptitle(f"calibration scorecard: {n} random configurations (seed {record.get('seed', '?')}); "
                 "filled = measured benign, hollow = measured harmful (learned-filter predictions not counted)",
                 fontsize=10)
    return fig
