"""The figure of a parameter sweep (:class:`cnnrank.sweeps.SweepResult`): each recorded metric against
the swept axis, one curve per point of the other axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnrank.plotting.headline import shade_regimes
from cnnrank.plotting.style import (
    _CONFIG_LABELS,
    _GROUP_MARKERS,
    _LINESTYLES,
    _config_line,
    artist_style,
    field_label,
    figure,
    log_rank_axis,
)

__all__ = ["sweep_figure"]


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
