"""The real-image rank-versus-noise figure (a face, layer 7: it draws a
:class:`~cnnrank.experiments.real_images.RealRankResult` or its JSON record). matplotlib is imported
inside the functions only.

Three panels against the noise level ``σ``: the stable ranks of the data and of the filters
(:func:`plot_real_rank`), the learned subspace — learned dimension and clean energy fraction
(:func:`plot_real_subspace`, docs/theory.md §5) — and the accuracies (:func:`plot_real_accuracy`). When
the result holds the learned-subspace diagnostics, the noise levels where the filters no longer keep
the clean subspace (:func:`cnnrank.experiments.real_images.claim_range`) are shaded in every panel and
labelled with the measurement that failed.

As every figure builder (see :mod:`cnnrank.plotting`): the ``plot_*`` functions take ``ax=``,
:func:`real_rank_figure` takes ``fig=``; ``**kwargs`` are Line2D properties of the measured curves;
each returns the figure it drew into.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.experiments.real_images import CLAIM_ACCURACY_DROP, CLAIM_FRACTION_DROP, claim_range
from cnnrank.plotting.style import artist_style, axes, figure, log_rank_axis

__all__ = ["plot_real_accuracy", "plot_real_rank", "plot_real_subspace", "real_rank_figure", "shade_failure"]


def _get(result: Any, key: str) -> np.ndarray:
    value = result[key] if isinstance(result, dict) else getattr(result, key)
    return np.asarray(value, dtype=float)


def _has(result: Any, key: str) -> bool:
    return (key in result) if isinstance(result, dict) else getattr(result, key, None) is not None


def _units(result: Any) -> str:
    data = result["data"] if isinstance(result, dict) else getattr(result, "data", {})
    units = (data or {}).get("noise_units")
    return f" (units: {units})" if units else " (pixel units)"


def _claim(result: Any) -> dict | None:
    if not (_has(result, "clean_energy_fraction") and _has(result, "test_acc")):
        return None
    return claim_range(_get(result, "noise_std"), _get(result, "clean_energy_fraction"), _get(result, "test_acc"))


def shade_failure(ax: Any, result: Any, label: bool = True) -> None:
    """Shade the noise levels from the first failing one on (midway from the last holding level) to
    the end of the axis; with ``label``, write the failed measurement in the shaded region."""
    c = _claim(result)
    if c is None or c["fails_from"] is None:
        return
    x = _get(result, "noise_std")
    lo = 0.5 * (c["holds_up_to"] + c["fails_from"]) if c["holds_up_to"] < c["fails_from"] else c["fails_from"]
    span = x.max() - x.min()
    hi = x.max() + 0.04 * span
    ax.axvspan(lo, hi, color="0.85", alpha=0.6, lw=0, zorder=0,
               label=f"claim fails (σ ≥ {c['fails_from']:g})" if label else None)
    ax.set_xlim(x.min() - 0.04 * span, hi)


def plot_real_rank(result: Any, ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
    """Stable rank of the data (flattened images and patch matrix, clean and noisy) and of the
    trained filters and their learned part versus the noise level, on a log scale.

    Parameters
    ----------
    result : RealRankResult or dict
        A result or its JSON record (keys ``noise_std``, ``data_stable_rank``,
        ``clean_data_stable_rank``, ``patch_stable_rank``, ``clean_patch_stable_rank``,
        ``filter_stable_rank``, optionally ``learned_stable_rank``), arrays of shape ``(L,)``.
    ax : matplotlib Axes, optional
    title : str, optional
    **kwargs
        Line2D properties of the curves.

    The learned part is drawn above the filters (another colour, hollow triangles, dash-dot line),
    so it stays visible where the two coincide.

    Returns
    -------
    The figure drawn into.
    """
    fig, ax = axes(ax, (6.0, 4.2))
    x = _get(result, "noise_std")
    shade_failure(ax, result)
    ax.plot(x, _get(result, "data_stable_rank"), **artist_style("o-", kwargs, color="C3", lw=2,
                                                                label="images (noisy), n × Pd"))
    ax.plot(x, _get(result, "clean_data_stable_rank"), **artist_style("--", kwargs, color="C3", lw=1.2,
                                                                      label="images (clean)"))
    ax.plot(x, _get(result, "patch_stable_rank"), **artist_style("s-", kwargs, color="C1", lw=2,
                                                                 label="patches (noisy), nP × d"))
    ax.plot(x, _get(result, "clean_patch_stable_rank"), **artist_style("--", kwargs, color="C1", lw=1.2,
                                                                       label="patches (clean)"))
    ax.plot(x, _get(result, "filter_stable_rank"), **artist_style("o-", kwargs, color="C0", lw=4, ms=8, alpha=0.55,
                                                                  label="trained filters W, 2m × d"))
    if _has(result, "learned_stable_rank"):
        ax.plot(x, _get(result, "learned_stable_rank"), **artist_style("^-.", kwargs, color="C9", lw=1.6, ms=7,
                                                                       mfc="none", mew=1.5, zorder=4,
                                                                       label="learned part W − W(0)"))
    log_rank_axis(ax)
    ax.set_xlabel(r"noise level $\sigma$" + _units(result))
    ax.set_ylabel(r"stable rank $\|A\|_F^2\,/\,\|A\|_2^2$")
    ax.set_title(title or "stable rank vs background noise", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left")
    return fig


def plot_real_subspace(result: Any, ax: Any = None, **kwargs: Any) -> Any:
    """Clean energy fraction (left axis, [0, 1.05]) and learned dimension (right axis, markers at the
    measured levels, its 0 level with the left axis' 0) of ``W − W(0)`` against the reference
    subspace, versus the noise level.

    Parameters
    ----------
    result : RealRankResult or dict
        Keys ``noise_std``, ``learned_dimension``, ``clean_energy_fraction``, ``reference_dimension``.
    ax : matplotlib Axes, optional
    **kwargs
        Line2D properties of the two measured series.

    Returns
    -------
    The figure drawn into.
    """
    from matplotlib.ticker import MaxNLocator

    fig, ax = axes(ax, (4.5, 4.2))
    x = _get(result, "noise_std")
    shade_failure(ax, result, label=False)
    ref = int(result["reference_dimension"] if isinstance(result, dict) else result.reference_dimension)
    frac = _get(result, "clean_energy_fraction")
    l1 = ax.plot(x, frac, **artist_style("o-", kwargs, color="C2", lw=2, label="clean energy fraction (left)"))
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel(r"clean energy fraction: share of $\|W - W(0)\|_F^2$ in the reference", color="C2",
                  fontsize=8.5)
    ax.set_xlabel(r"noise level $\sigma$")
    ax2 = ax.twinx()
    dim = _get(result, "learned_dimension")
    l2 = ax2.plot(x, dim, **artist_style("D", kwargs, color="C4", ms=7, mfc="none", mew=1.8, clip_on=False,
                                         label="learned dimension (right)"))
    top = max(float(dim.max()), 1.0) / 0.75  # the largest dimension at 3/4 of the height
    ax2.set_ylim(0.0, 1.05 * top)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylabel("learned dimension of W − W(0)", color="C4")
    ax.set_title(f"learned subspace vs reference\n(clean-patch principal subspace, dim {ref})", fontsize=10)
    ax2.legend(l1 + l2, [h.get_label() for h in l1 + l2], fontsize=7.5, loc="lower left")
    return fig


def plot_real_accuracy(result: Any, ax: Any = None, **kwargs: Any) -> Any:
    """Test (and training) accuracy of the trained CNN versus the noise level.

    Parameters
    ----------
    result : RealRankResult or dict
        Keys ``noise_std``, ``test_acc`` and optionally ``train_acc``, shape ``(L,)``.
    ax : matplotlib Axes, optional
    **kwargs
        Line2D properties of the accuracy curves.

    Returns
    -------
    The figure drawn into.
    """
    fig, ax = axes(ax, (4.5, 4.2))
    x = _get(result, "noise_std")
    shade_failure(ax, result, label=False)
    ax.plot(x, _get(result, "test_acc"), **artist_style("o-", kwargs, color="C2", lw=2, label="test accuracy"))
    if _has(result, "train_acc"):
        ax.plot(x, _get(result, "train_acc"), **artist_style("s--", kwargs, color="0.5", label="train accuracy"))
    ax.set_ylim(min(0.45, float(np.min(_get(result, "test_acc"))) - 0.05), 1.02)
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(r"noise level $\sigma$")
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy of the trained CNN", fontsize=10)
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


def real_rank_figure(result: Any, title: str | None = None, fig: Any = None, **kwargs: Any) -> Any:
    """The panels side by side: :func:`plot_real_rank`, :func:`plot_real_subspace` (when the result
    holds the learned-subspace diagnostics) and :func:`plot_real_accuracy`; a caption line below
    states where the filters keep the clean subspace.

    ``fig``: the (empty) Figure or SubFigure to draw into (a new one when ``None``); ``**kwargs``:
    passed to every panel's builder.

    Returns
    -------
    The figure drawn into.
    """
    sub = _has(result, "learned_dimension") and _has(result, "clean_energy_fraction")
    if not sub:
        fig = figure(fig, (11.5, 4.3))
        a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.45, 1]})
        plot_real_rank(result, ax=a, title=title, **kwargs)
        plot_real_accuracy(result, ax=b, **kwargs)
        return fig
    fig = figure(fig, (15.5, 4.9))
    a, b, c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.35, 1, 1]})
    plot_real_rank(result, ax=a, title=title, **kwargs)
    plot_real_subspace(result, ax=b, **kwargs)
    plot_real_accuracy(result, ax=c, **kwargs)
    claim = _claim(result)
    if claim is None:  # pragma: no cover - `sub` implies the claim's inputs
        return fig
    x = _get(result, "noise_std")
    d = _get(result, "data_stable_rank")
    lsr = _get(result, "learned_stable_rank") if _has(result, "learned_stable_rank") else _get(result, "filter_stable_rank")
    holds = np.array(claim["holds"], dtype=np.bool_)
    upto = max(int(np.argmax(~holds)) if not holds.all() else holds.size, 1)
    dim = _get(result, "learned_dimension")[:upto]  # every level of the window: it may change at each
    dims = (f"learned dimension {int(dim[0])} at each of these levels" if np.all(dim == dim[0]) else
            f"learned dimension {', '.join(str(int(v)) for v in dim)} at σ = {', '.join(f'{v:g}' for v in x[:upto])}")
    text = (f"σ ≤ {x[upto - 1]:g}: data stable rank ×{d[:upto].max() / d[0]:.1f}, learned part's stable rank "
            f"{lsr[:upto].min():.2f}–{lsr[:upto].max():.2f}, clean energy fraction ≥ "
            f"{_get(result, 'clean_energy_fraction')[:upto].min():.2f}; {dims}")
    if claim["fails_from"] is not None:
        text += f".\nShaded, σ ≥ {claim['fails_from']:g}: claim fails ({claim['reason']})"
    else:
        text += ".\nThe claim holds at every level"
    text += (f"; criterion: clean energy fraction within {CLAIM_FRACTION_DROP:g} and test accuracy within "
             f"{CLAIM_ACCURACY_DROP:g} of the lowest noise level")
    fig.supxlabel(text, fontsize=9)     # a caption below the panels, laid out by constrained layout
    return fig
