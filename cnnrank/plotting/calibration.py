"""The calibration scorecard figure: predicted against measured, one panel per prediction
(docs/calibration.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnnrank.plotting.style import artist_style, figure

__all__ = ["calibration_figure"]


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
