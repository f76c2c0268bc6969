"""The phase diagram of a ``phase_diagram.json`` record: measured and predicted regimes over two
configuration axes on log scales.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.plotting.style import _config_line, artist_style, figure

__all__ = ["phase_diagram_figure"]


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
