"""Plots of linear-network runs (docs/theory.md §7). matplotlib is imported inside each function.

As every figure builder (see :mod:`cnnrank.plotting`): the ``plot_*`` functions take ``ax=None`` (a
new figure through :func:`cnnrank.plotting.axes`), :func:`linear_cnn_figure` takes ``fig=`` (or the
2 × 4 ``axes=``); ``**kwargs`` go to each builder's main artists (named in its docstring); each
returns the figure it drew into."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.plotting.style import artist_style, axes, figure

__all__ = ["linear_cnn_figure", "plot_kernel_spectra", "plot_mode_strengths", "plot_sweep"]


_FIGSIZE = (4.5, 3.2)


def _freq(f) -> str:
    f = np.ravel(f)
    return str(int(f[0])) if f.size == 1 else "(" + ",".join(str(int(x)) for x in f) + ")"


#: below this energy share a mode is labelled as spread over frequencies, not by its largest one
SPREAD_SHARE = 0.5


def _mode_label(run, a: int) -> str:
    share = float(run.dominant_share[a])
    if share < SPREAD_SHARE:
        return f"s={run.s[a]:g}, spread (top f={_freq(run.dominant_freq[a])}: {100 * share:.0f}%)"
    return f"s={run.s[a]:g}, f*={_freq(run.dominant_freq[a])} ({100 * share:.0f}%)"


def plot_mode_strengths(run, ax=None, *, normalized: bool = True, title: str | None = None, linestyle: str = "-",
                        **kwargs):
    """Mode strengths ``u_α(t)`` (divided by ``s_α`` if ``normalized``), half-times marked.

    ``run`` is a :class:`~cnnrank.linear.experiments.ModeRun`; Saxe curves (if attached) are dotted.
    ``**kwargs``: Line2D properties of the measured mode curves. Returns the figure drawn into.
    """
    fig, ax = axes(ax, figsize=_FIGSIZE)
    scale = run.s if normalized else np.ones_like(run.s)
    colors = ["C0", "C3", "C2", "C1", "C4", "C5"]
    for a in range(run.s.size):
        c = colors[a % len(colors)]
        ax.plot(run.times, run.strengths[:, a] / scale[a],
                **artist_style("", kwargs, color=c, ls=linestyle, lw=1.8, label=_mode_label(run, a)))
        if run.saxe.shape[0] == run.times.size:
            ax.plot(run.times, run.saxe[:, a] / scale[a], color="k", ls=":", lw=1.2,
                    label="Saxe closed form" if a == 0 else None)
        if np.isfinite(run.half_times[a]):
            ax.axvline(run.half_times[a], color=c, ls="--", lw=0.8, alpha=0.7)
    ax.axhline(0.5 if normalized else 0.0, color="0.7", lw=0.6)
    ax.set_xlabel("time t = η × step")
    ax.set_ylabel(r"$u_\alpha(t)\,/\,s_\alpha$" if normalized else r"$u_\alpha(t)$")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right", borderaxespad=0.3)
    return fig


def plot_kernel_spectra(run, ax=None, *, channel: int | None = None, title: str | None = None, **kwargs):
    """Kernel spectra over time as an image: frequency × time, ``Σ_c |DFT(κ_c)|²`` (or one channel).

    Each mode's dominant frequency is marked on the frequency axis. ``**kwargs``: QuadMesh properties
    of the image (``pcolormesh``, e.g. ``cmap=``). Returns the figure drawn into.
    """
    fig, ax = axes(ax, figsize=_FIGSIZE)
    spec = run.spectra
    if spec.ndim != 3 or spec.shape[1] == 0:
        raise ValueError("run has no 1D kernel spectra (not a 1D CNN run)")
    from matplotlib.collections import QuadMesh
    from matplotlib.colors import LogNorm

    power = spec[:, channel, :] ** 2 if channel is not None else np.sum(spec**2, axis=1)
    t = run.times
    f = np.arange(spec.shape[2])
    top = max(float(power.max()), 1e-300)
    mesh = ax.pcolormesh(t, f, np.maximum(power.T, top * 1e-6),
                         **artist_style("", kwargs, QuadMesh, shading="nearest", cmap="magma",
                                        norm=LogNorm(vmin=top * 1e-6, vmax=top)))
    cbar = fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.05)
    cbar.set_label(r"kernel power $\sum_c |\mathrm{DFT}(\kappa_c)|^2$" + (" (channel)" if channel is not None else ""),
                   fontsize=8)
    for a, fd in enumerate(run.dominant_freq):
        spread = float(run.dominant_share[a]) < SPREAD_SHARE
        ax.axhline(fd, color="w", ls=":", lw=0.8)
        text = (f" mode {a}: spread (largest f={int(fd)}, {100 * run.dominant_share[a]:.0f}%)" if spread
                else f" mode {a}: f*={int(fd)} ({100 * run.dominant_share[a]:.0f}%)")
        ax.text(t[0], fd + 0.3, text, color="w", fontsize=7, va="bottom", ha="left")
    ax.set_xlabel("time t = η × step")
    ax.set_ylabel("frequency f")
    ax.set_title(title or r"kernel power $\sum_c |\mathrm{DFT}(\kappa_c)|^2$ (log)", fontsize=10)
    return fig


def plot_sweep(sw, ax=None, *, title: str | None = None, **kwargs):
    """Half-times (mean ± spread over seeds) of each mode against the swept parameter.

    ``**kwargs``: properties of the modes' error bars (``errorbar``: Line2D properties of the line
    and markers, plus ``capsize=``, ``elinewidth=``, ...). Returns the figure drawn into.
    """
    fig, ax = axes(ax, figsize=_FIGSIZE)
    from cnnrank.linear.diagnostics import nan_stats

    mean, lo, hi = nan_stats(sw.half_times, axis=1)
    colors = ["C0", "C3", "C2"]
    names = {"share": "dominant-frequency share p", "kernel_size": "kernel size k", "channels": "channels C"}
    for a in range(mean.shape[1]):
        lab = f"mode {a} (s={sw.s[a]:g})" if mean.shape[1] > 1 else f"mode (s={sw.s[a]:g})"
        ax.errorbar(sw.values, mean[:, a], yerr=[mean[:, a] - lo[:, a], hi[:, a] - mean[:, a]],
                    **artist_style("", kwargs, marker="o", ms=4, color=colors[a % 3], capsize=2, label=lab))
    if sw.parameter == "share" and mean.shape[1] == 1:
        # t½ ∝ 1/σ: anchored at the largest share; only the dominant frequency is in σ, so this
        # is a prediction for p >= 1/2 (below that the half level needs the other frequencies).
        j = int(np.argmax(sw.values))
        pred = mean[j, 0] * sw.rates[j, 0] / sw.rates[:, 0]
        ok = sw.values >= 0.5
        ax.plot(sw.values[ok], pred[ok], "s--", color="0.5", ms=3, label="∝ 1/σ(p) (valid for p ≥ ½)")
    if sw.parameter in ("kernel_size", "channels"):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sw.values)
        ax.set_xticklabels([str(int(v)) for v in sw.values])
    ax.set_xlabel(names.get(sw.parameter, sw.parameter))
    ax.set_ylabel("half-time t½")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def linear_cnn_figure(saxe: Any, fcnn: Any, cnn: Any, sweeps: Any, axes: Any = None, fig: Any = None,
                      **kwargs: Any) -> Any:
    """The reproduce figure: (a) Saxe, (b) FCNN vs CNN order + kernel spectra, (c) three sweeps.

    Parameters
    ----------
    saxe, fcnn, cnn : ModeRun
    sweeps : sequence of Sweep
        Usually share, kernel size, channels.
    axes : array of 2 × 4 Axes, optional
    fig : Figure or SubFigure, optional
        The (empty) figure to draw into when ``axes`` is not given (a new one when ``None``).
    **kwargs
        Line2D properties of the measured curves of the line panels (mode strengths, sweeps' error
        bars, the learning-order ratios); the kernel-spectrum image keeps its own.

    Returns
    -------
    The figure drawn into.
    """
    if axes is None:
        fig = figure(fig, (17, 7.5))
        axes = fig.subplots(2, 4)
    else:
        fig = np.ravel(axes)[0].figure
    axes = np.asarray(axes)
    plot_mode_strengths(saxe, axes[0, 0], title="(a) FCNN, balanced decoupled init, vs Saxe", **kwargs)
    plot_mode_strengths(fcnn, axes[0, 1], title="(b) FCNN, small random init: strong mode first", **kwargs)
    plot_mode_strengths(cnn, axes[0, 2], title="(c) CNN (k = N): weak single-frequency mode first", **kwargs)
    plot_kernel_spectra(cnn, axes[0, 3], title=r"(d) CNN kernel power $\sum_c |\mathrm{DFT}(\kappa_c)|^2$ over time")
    titles = {"share": "half-time vs dominant-frequency share (k = N)",
              "kernel_size": "half-time vs kernel size (both modes)",
              "channels": "half-time vs channel count (k = N)"}
    for i, (ax, sw) in enumerate(zip(axes[1, :3], sweeps)):
        plot_sweep(sw, ax, title=f"({'efg'[i]}) " + titles.get(sw.parameter, f"half-time vs {sw.parameter}"), **kwargs)
    ax = axes[1, 3]
    for sw in sweeps:
        if sw.parameter == "kernel_size":
            from cnnrank.linear.diagnostics import nan_stats

            ratio = sw.half_times[:, :, 0] / sw.half_times[:, :, 1]
            ax.plot(sw.values, nan_stats(ratio, axis=1)[0], **artist_style("o-", kwargs, color="C4", label="CNN, measured"))
            if sw.isolated_half_times.shape[0] == sw.values.size:
                iso = sw.isolated_half_times[:, :, 0] / sw.isolated_half_times[:, :, 1]
                ax.plot(sw.values, nan_stats(iso, axis=1)[0],
                        **artist_style("^-", kwargs, color="C2", label="CNN, each mode trained alone"))
            ax.plot(sw.values, sw.rates[:, 1] / sw.rates[:, 0], "s--", color="0.5", ms=4,
                    label="per-mode rate ratio σ₁/σ₀")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sw.values)
            ax.set_xticklabels([str(int(v)) for v in sw.values])
    fr = fcnn.half_times[0] / fcnn.half_times[1]
    ax.axhline(fr, color="C1", ls=":", label=f"FCNN ({fr:.2f})")
    ax.axhline(1.0, color="0.7", lw=0.6)
    ax.set_xlabel("kernel size k")
    ax.set_ylabel("t½(weak single-freq) / t½(strong spread)")
    ax.set_title("(h) learning order vs kernel size (<1: weak mode first)", fontsize=10)
    ax.legend(fontsize=7)
    return fig
