"""The figure of ``beyond_the_theorem.json``: one small panel per training variant (docs/beyond-the-theorem.md)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnrank.plotting.style import _config_line, artist_style, figure, log_rank_axis

__all__ = ["beyond_figure"]


def _spans(x: np.ndarray) -> np.ndarray:
    """Edges halfway between levels on the square-root axis (from 0, to half a step beyond the last):
    level ``i`` spans ``[e[i], e[i+1]]``."""
    r = np.sqrt(x)
    if x.size == 1:
        return _sq(np.array([r[0] - 0.5, r[0] + 0.5]))
    mid = 0.5 * (r[1:] + r[:-1])
    return _sq(np.concatenate([[r[0] - (mid[0] - r[0])], mid, [r[-1] + 0.5 * (r[-1] - r[-2])]]))


def _sqrt(v: Any) -> Any:
    """The axis transform: a signed square root (a level at 0 keeps half a step of room on its left)."""
    return np.sign(v) * np.sqrt(np.abs(v))


def _sq(v: Any) -> Any:
    return np.sign(v) * np.square(v)


def _shade(ax: Any, edges: np.ndarray, regime: list[str], **style: Any) -> None:
    for i, r in enumerate(regime):
        if r != "benign":
            ax.axvspan(edges[i], edges[i + 1], **style)


def _seeds(n: Any) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def _vals(row: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in row], dtype=float)


def beyond_figure(out: dict[str, Any], fig: Any = None, ncols: int = 4, **kwargs: Any) -> Any:
    """Small multiples from a ``beyond_the_theorem.json`` record: one panel per variant.

    Each panel shows, against the background noise ``σ_p``: the data's stable rank (grey), the trained
    filters' stable rank (blue), the learned part's stable rank (orange) and the learned dimension
    (green squares) on a log axis with ``2K`` dotted; the test accuracy on the right axis (black dashed).
    Levels outside the variant's measured benign window (test accuracy < 0.95 or signal energy < 0.5 at
    some seed: the claim does not apply there) are shaded grey; the
    theorem's own benign window is the green band along the top of every panel, so a variant's window
    reads against the theorem's at a glance. ``**kwargs``: properties of the measured lines.
    Returns the figure drawn into.
    """
    names = [v["name"] for v in out["variants"]]
    V = len(names)
    x = np.asarray(out["noise_std"], dtype=float)
    ncols = max(1, min(ncols, V))
    nrows = math.ceil(V / ncols)
    fig = figure(fig, (3.3 * ncols, 2.75 * nrows + 0.9))
    axs = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    edges = _spans(x)
    theorem = next((i for i, n in enumerate(names) if n == "theorem"), None)
    K2 = out.get("clean_rank")
    for i, ax in enumerate(axs):
        if i >= V:
            ax.set_visible(False)
            continue
        _shade(ax, edges, out["regime"][i], color="0.85", alpha=0.7, lw=0, zorder=0)
        if theorem is not None:
            for j, r in enumerate(out["regime"][theorem]):
                if r == "benign":
                    ax.axvspan(edges[j], edges[j + 1], ymin=0.94, ymax=1.0, color="C2", alpha=0.45, lw=0)
        ax.plot(x, _vals(out["data_stable_rank"][i]), **artist_style("o-", kwargs, color="0.45", ms=3, lw=1.2))
        ax.plot(x, _vals(out["filter_stable_rank"][i]), **artist_style("o-", kwargs, color="C0", ms=3, lw=1.6))
        ax.plot(x, _vals(out["learned_stable_rank"][i]), **artist_style("^-", kwargs, color="C1", ms=3, lw=1.2))
        ax.plot(x, _vals(out["learned_dimension"][i]), **artist_style("s", kwargs, color="C2", ms=4))
        if K2:
            ax.axhline(K2, color="0.3", ls=":", lw=1)
        log_rank_axis(ax)
        ax.set_xscale("function", functions=(_sqrt, _sq))
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xticks([v for v in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2) if v <= edges[-1]])
        ax.xaxis.set_major_formatter("{x:g}")
        ax.set_title(names[i], fontsize=9)
        acc = ax.twinx()
        acc.plot(x, _vals(out["test_acc"][i]), **artist_style("--", kwargs, color="k", lw=1))
        acc.set_ylim(0.4, 1.05)
        if i % ncols != ncols - 1 and i != V - 1:
            acc.set_yticklabels([])
        else:
            acc.set_ylabel("test accuracy", fontsize=8)
        acc.tick_params(labelsize=7)
        ax.tick_params(labelsize=7)
        if i % ncols == 0:
            ax.set_ylabel("stable rank / dimension", fontsize=8)
        if i >= V - ncols:  # the lowest panel of its column: its tick labels too (sharex hid them)
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(r"background noise $\sigma_p$", fontsize=8)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color="0.45", marker="o", ms=3, label="data stable rank"),
               Line2D([], [], color="C0", marker="o", ms=3, label="filter stable rank"),
               Line2D([], [], color="C1", marker="^", ms=3, label="learned part's stable rank"),
               Line2D([], [], color="C2", marker="s", ls="none", label="learned dimension"),
               Line2D([], [], color="0.3", ls=":", label="2K (clean data's dimension)"),
               Line2D([], [], color="k", ls="--", label="test accuracy (right axis)"),
               Patch(color="0.85", alpha=0.7, label="outside the variant's benign window (measured)"),
               Patch(color="C2", alpha=0.45, label="theorem's benign window")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    base = out.get("base", {})
    line = _config_line(base, omit=("noise_std",)) if base else ""
    fig.suptitle("Beyond the theorem: the noise sweep under each training variant"
                 + (f"\n{line}; mean over {_seeds(out.get('seeds'))}; σ_p on a square-root axis" if line else ""), fontsize=10)
    return fig
