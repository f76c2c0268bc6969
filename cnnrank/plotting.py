"""Figures. Each function takes ``ax=None`` (a new figure is made when ``None``), draws, and returns
the :class:`matplotlib.figure.Figure`. matplotlib is imported here only, lazily; nothing is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "axes",
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


def log_rank_axis(ax: Any) -> None:
    """Log-scaled y axis with plain tick labels at 1, 2, 5 × 10^k (for stable ranks)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_gamma_rho(traj: Any, ax: Any = None) -> Any:
    r"""Signal learning and noise memorization over training (docs/theory.md §4).

    Draws :math:`\max_{r,k} \gamma_{j,r,k}` for the filters of the signal's own class,
    :math:`\max \bar\rho` and :math:`\min \underline\rho` against the step.
    """
    fig, ax = axes(ax)
    if traj.gamma is None:
        raise ValueError("plot_gamma_rho needs a trajectory with γ and ρ (synthetic data)")
    K2 = traj.gamma.shape[-1]
    K = K2 // 2
    own = np.concatenate([traj.gamma[:, 0, :, :K], traj.gamma[:, 1, :, K:]], axis=-1)  # (R, m, 2K)
    t = traj.steps
    ax.plot(t, own.max(axis=(1, 2)), color="C0", lw=2, label=r"max $\gamma_{j,r,k}$ (own class)")
    ax.plot(t, own.max(axis=1).mean(axis=1), color="C0", lw=1, ls="--", label=r"mean$_k$ max$_r$ $\gamma$")
    R = len(t)
    rho = traj.rho.reshape(R, -1)
    ax.plot(t, rho.max(axis=1, initial=0.0), color="C3", lw=2, label=r"max $\bar\rho$")
    ax.plot(t, rho.min(axis=1, initial=0.0), color="C2", lw=2, label=r"min $\underline{\rho}$")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("coefficient")
    ax.set_title("signal learning vs noise memorization")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.38 * (hi - lo))  # headroom: the legend sits above every curve
    ax.legend(fontsize=8, loc="upper left", ncol=2, framealpha=0.9)
    return fig


def plot_losses(traj: Any, ax: Any = None) -> Any:
    """Training (and test) loss against the step, log scale."""
    fig, ax = axes(ax)
    ax.semilogy(traj.steps, traj.train_loss, label="train loss")
    if traj.test_loss is not None:
        ax.semilogy(traj.steps, traj.test_loss, label="test loss")
    ax.set_xlabel("step")
    ax.set_ylabel("logistic loss")
    ax.set_title("training and test loss")
    ax.legend(fontsize=8)
    return fig


def plot_filter_rank(traj: Any, ax: Any = None, reference: float | None = None) -> Any:
    """Stable rank of the filters and of their learned part against the step; with signals, also the
    learned dimension and the signal energy fraction (right axis) and the line ``2K``."""
    fig, ax = axes(ax)
    ax.plot(traj.steps, traj.filter_stable_rank, label=r"srank $W$")
    ax.plot(traj.steps, traj.learned_stable_rank, label=r"srank $W - W^{(0)}$")
    handles_extra: list = []
    if getattr(traj, "learned_dimension", None) is not None:
        K2 = traj.gamma.shape[-1] if traj.gamma is not None else None
        ax.step(traj.steps, traj.learned_dimension, where="post", color="C4", lw=1.5, label="learned dimension")
        if K2 is not None:
            ax.axhline(K2, color="C4", ls=":", lw=1, label=f"2K = {K2}")
        b = ax.twinx()
        b.plot(traj.steps, traj.signal_energy_fraction, color="C2", ls="--", lw=1.2, label="signal energy (right)")
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


def training_figure(traj: Any, data_stable_rank: float | None = None, data: Any = None) -> Any:
    """Panels: γ/ρ, losses, filter stable rank and learned subspace (with the data's stable rank in the
    title), and, when the final weights and the training ``data`` (a PatchData) are given, the singular
    value spectra of the filters versus the data (noisy and clean). With signals, the title says whether
    the run is in the measured benign regime (:func:`cnnrank.subspace.measured_regime`)."""
    import matplotlib.pyplot as plt

    spectra = data is not None and traj.W_final is not None
    fig, panels = plt.subplots(2, 2, figsize=(11.5, 7.6), layout="constrained")
    panels = panels.ravel()
    if traj.gamma is not None:
        plot_gamma_rho(traj, ax=panels[0])
    else:
        panels[0].set_axis_off()
    plot_losses(traj, ax=panels[1])
    plot_filter_rank(traj, ax=panels[2])
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
                     clean_rank=K2)
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
                  benign_limit: float | None = None, label: bool = True) -> None:
    """Shade the noise levels measured outside the benign window, and draw the theory's threshold.

    Parameters
    ----------
    noise_std : (L,) noise levels, increasing
    regime : (L,) ``"benign"`` or ``"harmful"`` per level (measured), optional
        Each harmful level's span reaches halfway to its neighbours (to the axis edge at the ends).
    benign_limit : float, optional
        The theory's σ_p threshold, ``(n/2K)·SNR^q = 1`` (docs/theory.md §4), drawn as a dashed line.
    label : bool
        Whether to add legend entries.
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
                   label=r"theory: $(n/2K)\,\mathrm{SNR}^q = 1$" if label else None)
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
    benign_limit: float | None = None,
) -> Any:
    """The headline figure: stable rank of the data and of the trained filters vs σ_p.

    Parameters
    ----------
    noise_std : (L,) noise levels σ_p
    data_stable_rank, filter_stable_rank : (L,) means over seeds
    clean_data_stable_rank : (L,), optional
    clean_rank : float, optional
        Reference line ``2K``.
    predicted_data_stable_rank : (sigma_grid, values), optional
        A theory curve for the data's stable rank.
    filter_spread : (low, high), optional
        Band (e.g. min and max over seeds) around the filters' stable rank.
    learned_stable_rank : (L,), optional
        Stable rank of the learned part ``W - W(0)``.
    expected_filter_stable_rank : (L,), optional
        Its overlap-corrected expectation ``2K / (1 + (K-1) c)`` (docs/theory.md §5).
    learned_dimension : (L,), optional
        Directions of the signal span learned above the memorization edge; drawn where it is > 0.
    regime, benign_limit : optional
        Measured regime per level and the theory's threshold (:func:`shade_regimes`).
    """
    fig, ax = axes(ax, figsize=(6.0, 4.2))
    x = np.asarray(noise_std, dtype=float)
    shade_regimes(ax, x, regime, benign_limit)
    ax.plot(x, data_stable_rank, "o-", color="C3", lw=2, label="data (noisy), n × Pd")
    if clean_data_stable_rank is not None:
        ax.plot(x, clean_data_stable_rank, "s--", color="C1", label="data (clean)")
    if predicted_data_stable_rank is not None:
        ax.plot(*predicted_data_stable_rank, color="C3", lw=1, ls=":", label="data, predicted")
    ax.plot(x, filter_stable_rank, "o-", color="C0", lw=2, label="trained filters W (2m × d)")
    if filter_spread is not None:
        ax.fill_between(x, filter_spread[0], filter_spread[1], color="C0", alpha=0.2, lw=0)
    if learned_stable_rank is not None:
        ax.plot(x, learned_stable_rank, "^-", color="C9", lw=1.5, label="learned part W − W(0)")
    if expected_filter_stable_rank is not None:
        ax.plot(x, expected_filter_stable_rank, "x", color="C9", ms=7, mew=1.5,
                label=r"expected $2K/(1+(K-1)c)$")
    if learned_dimension is not None:
        ld = np.asarray(learned_dimension, dtype=float)
        pos = ld > 0
        ax.plot(x[pos], ld[pos], "D", color="C2", ms=6, mfc="none", mew=1.5,
                label="learned dimension (> 0 shown)")
    if clean_rank is not None:
        ax.axhline(clean_rank, color="0.3", ls=":", lw=1.2, label=f"2K = {clean_rank:g}")
    log_rank_axis(ax)
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("stable rank / dimension")
    ax.set_title(title)
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
    ax: Any = None,
    title: str = "what the filters learned",
) -> Any:
    """Accuracy, signal energy fraction and learned dimension vs σ_p (the benign window's evidence).

    Parameters
    ----------
    noise_std, test_acc, signal_energy_fraction : (L,) means over seeds
    train_acc : (L,), optional
    learned_dimension : (L,), optional
        Drawn on a right axis against ``clean_rank`` (``2K``).
    regime, benign_limit : optional
        See :func:`shade_regimes`.
    """
    fig, ax = axes(ax, figsize=(6.0, 4.2))
    x = np.asarray(noise_std, dtype=float)
    shade_regimes(ax, x, regime, benign_limit)
    ax.plot(x, test_acc, "o-", color="C2", lw=2, label="test accuracy")
    if train_acc is not None:
        ax.plot(x, train_acc, "s--", color="0.5", ms=4, label="train accuracy")
    ax.plot(x, signal_energy_fraction, "^-", color="C0", lw=2,
            label=r"signal energy $\|\Pi(W-W_0)\|_F^2/\|W-W_0\|_F^2$")
    ax.axhline(0.95, color="C2", ls=":", lw=0.8, label="benign needs test acc ≥ 0.95 ...")
    ax.axhline(0.5, color="C0", ls=":", lw=0.8, label="... and signal energy ≥ 0.5")
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("accuracy / energy fraction")
    handles, labels = ax.get_legend_handles_labels()
    if learned_dimension is not None:
        b = ax.twinx()
        b.step(x, learned_dimension, where="mid", color="C4", lw=1.5, label="learned dimension (right axis)")
        top = max(float(np.max(learned_dimension)), float(clean_rank or 0))
        b.set_ylim(-0.03 * (top + 1), 1.05 * (top + 1))
        if clean_rank is not None:
            b.axhline(clean_rank, color="C4", ls=":", lw=0.8)
        b.set_ylabel("learned dimension")
        h2, l2 = b.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        ax = b  # the legend goes on the top-most axes, or the twin's lines would cross it
    ax.legend(handles, labels, fontsize=7, loc="upper right", bbox_to_anchor=(1.0, 0.94), framealpha=0.95)
    ax.set_title(title)
    return fig


def plot_spectra(W: np.ndarray, X: np.ndarray, ax: Any = None, labels: Sequence[str] | None = None,
                 extra: Sequence[np.ndarray] = (), clean_rank: int | None = None) -> Any:
    """Normalized singular value spectra (``s_i / s_1``) of the filters and of data matrices.

    Parameters
    ----------
    W : (2m, d) filter matrix
    X : (n, D) data matrix
    extra : more matrices to draw
    labels : names for ``[W, X, *extra]``
    clean_rank : int, optional
        Draws the index ``2K`` (the rank of the clean data) as a vertical line.
    """
    from cnnrank.rank import singular_values

    fig, ax = axes(ax)
    mats = [W, X, *extra]
    labels = list(labels) if labels is not None else ["filters", "data"] + [f"matrix {i}" for i in range(len(extra))]
    for i, (A, lab) in enumerate(zip(mats, labels)):
        s = singular_values(A)
        s = s / s[0] if s.size and s[0] > 0 else s
        ax.semilogy(np.arange(1, s.size + 1), np.maximum(s, 1e-16), "o-", ms=2.5, lw=1, label=lab, color=f"C{i}")
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
                             regime: dict[str, Sequence[str]] | None = None) -> Any:
    """Filters' stable rank vs σ_p, one line per activation (e.g. q = 2, 3, 4, ReLU).

    ``regime[name]`` (``"benign"``/``"harmful"`` per level, measured) draws the levels outside that
    activation's benign window with hollow markers: there the network learned no signal and the
    filters' stable rank says nothing about the intrinsic dimension.
    """
    fig, ax = axes(ax)
    x = np.asarray(noise_std, dtype=float)
    for i, (name, ranks) in enumerate(filter_stable_rank.items()):
        r = np.asarray(ranks, dtype=float)
        ax.plot(x, r, "-", color=f"C{i}", label=name)
        good = np.ones(x.size, bool) if regime is None else np.asarray(regime[name]) == "benign"
        ax.plot(x[good], r[good], "o", color=f"C{i}")
        ax.plot(x[~good], r[~good], "o", color=f"C{i}", mfc="white")
    if regime is not None:
        ax.plot([], [], "o", color="0.4", mfc="white", label="outside the benign window (measured)")
    if clean_rank is not None:
        ax.axhline(clean_rank, color="0.3", ls=":", label=f"2K = {clean_rank:g}")
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("filters' stable rank")
    ax.set_title("ablation over the activation (filled: measured benign)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    return fig


def rank_vs_noise_figure(out: dict[str, Any], predicted: tuple[Any, Any] | None = None) -> Any:
    """Two panels from a ``rank_vs_noise.json`` record: ranks vs σ_p, and what the filters learned.

    Levels outside the measured benign window are shaded; the theory's threshold is a dashed line.
    Records written before the learned-subspace diagnostics existed are drawn without them.
    """
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    spread = None
    if "filter_stable_rank_min" in out:
        spread = (out["filter_stable_rank_min"], out["filter_stable_rank_max"])
    regime, limit = out.get("regime"), out.get("benign_limit")
    plot_rank_vs_noise(out["noise_std"], out["data_stable_rank"], out["filter_stable_rank"],
                       clean_data_stable_rank=out.get("clean_data_stable_rank"),
                       clean_rank=out.get("clean_rank"), predicted_data_stable_rank=predicted,
                       filter_spread=spread, ax=a, learned_stable_rank=out.get("learned_stable_rank"),
                       expected_filter_stable_rank=out.get("expected_filter_stable_rank"),
                       learned_dimension=out.get("learned_dimension"), regime=regime, benign_limit=limit,
                       title="(a) stable rank: data vs trained filters")
    if "signal_energy_fraction" in out:
        plot_learning_vs_noise(out["noise_std"], out["test_acc"], out["signal_energy_fraction"],
                               train_acc=out.get("train_acc"), learned_dimension=out.get("learned_dimension"),
                               clean_rank=out.get("clean_rank"), regime=regime, benign_limit=limit, ax=b,
                               title="(b) what the filters learned")
    else:
        x = out["noise_std"]
        b.plot(x, out["test_acc"], "o-", color="C2", label="test accuracy")
        b.set_ylim(0.4, 1.02)
        b.set_xlabel(r"background noise $\sigma_p$")
        b.set_ylabel("accuracy")
        b.legend(fontsize=8)
        b.set_title("(b) test accuracy")
    c = out.get("config", {})
    if c:
        fig.suptitle(f"{_config_line(c, omit=('noise_std',))}; mean over seeds", fontsize=9)
    return fig


def intrinsic_dimension_figure(out: dict[str, Any]) -> Any:
    """Two panels from an ``intrinsic_dimension.json`` record: dimensions and ranks vs K; what was learned."""
    import matplotlib.pyplot as plt

    K = np.asarray(out["K"], dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 5.2), layout="constrained")
    bad = [i for i, r in enumerate(out["regime"]) if r != "benign"]
    for ax in (a, b):
        for j, i in enumerate(bad):
            ax.axvspan(K[i] - 0.4, K[i] + 0.4, color="0.85", alpha=0.7, lw=0, zorder=0,
                       label="outside the benign window (measured)" if j == 0 else None)
    kk = np.linspace(K.min(), K.max(), 50)
    a.plot(kk, 2 * kk, color="0.3", ls=":", lw=1.2, label="2K")
    a.plot(K, out["data_stable_rank"], "o-", color="C3", lw=2, label=f"data (noisy) stable rank, σ_p = {out['noise_std']:g}")
    a.plot(K, out["learned_dimension"], "D", color="C2", ms=8, mfc="none", mew=1.8, label="learned dimension")
    a.plot(K, out["filter_stable_rank"], "^-", color="C9", lw=1.5, label="stable rank of W − W(0)")
    a.plot(K, out["expected_filter_stable_rank"], "x", color="C9", ms=8, mew=1.8, label=r"expected $2K/(1+(K-1)c)$")
    log_rank_axis(a)
    a.set_xlabel("signals per class K")
    a.set_ylabel("stable rank / dimension")
    a.set_xticks(K)
    a.set_title("(a) the filters learn the 2K-dimensional signal span")
    a.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    b.plot(K, out["test_acc"], "o-", color="C2", lw=3, alpha=0.6, label="test accuracy")
    b.plot(K, out["signal_energy_fraction"], "^--", color="C0", lw=1.5, label="signal energy fraction")
    b.plot(K, out["signal_overlap"], "s-", color="C1", label="within-class overlap c (0 at K = 1)")
    b.plot(K, np.asarray(out["filter_stable_rank"]) / (2 * K), "^-", color="C9",
           label="stable rank of W − W(0) / 2K")
    b.plot(K, np.asarray(out["expected_filter_stable_rank"]) / (2 * K), "x", color="C9", ms=8, mew=1.8,
           label=r"expected $1/(1+(K-1)c)$")
    b.set_ylim(-0.03, 1.05)
    b.set_xticks(K)
    b.set_xlabel("signals per class K")
    b.set_ylabel("fraction / cosine / accuracy")
    b.set_title("(b) why the stable rank sits below 2K: shared filters (c > 0)")
    b.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    c = out.get("config", {})
    if c:
        fig.suptitle(f"{_config_line(c, omit=('K', 'noise_std'))}, σ_p={out['noise_std']:g}; mean over seeds",
                     fontsize=9)
    return fig


def sweep_figure(res: Any) -> Any:
    """Data and filter stable rank against the last grid axis of a sweep (one line per point of the
    other axes), from a :class:`cnnrank.sweeps.SweepResult`."""
    import matplotlib.pyplot as plt

    names = list(res.grid)
    fig, panels = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    x_name = names[-1] if names else None
    x = res.grid[x_name] if x_name else [0]
    for ax, metric in zip(panels, ("data_stable_rank", "filter_stable_rank")):
        m = res.mean(metric).reshape(-1, len(x)) if names else np.atleast_2d(res.mean(metric))
        others = [dict(zip(names[:-1], c)) for c in _product([res.grid[n] for n in names[:-1]])]
        vals = np.asarray(res.values[metric], dtype=float).reshape(m.shape + (-1,))
        for i, (row, label) in enumerate(zip(m, others or [{}])):
            ax.plot(x, row, "o-", color=f"C{i % 10}",
                    label=", ".join(f"{k}={v}" for k, v in label.items()) or metric)
            if vals.shape[-1] > 1 and all(isinstance(v, (int, float)) for v in x):
                ax.fill_between(x, vals[i].min(axis=-1), vals[i].max(axis=-1), color=f"C{i % 10}", alpha=0.2, lw=0)
        ax.set_xlabel(x_name or "")
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(metric.replace("_", " ") + f" vs {x_name or 'grid point'} (mean, band: min–max over seeds)",
                     fontsize=9)
        if np.all(m > 0) and np.nanmax(m) / np.nanmin(m) > 20:  # data spanning decades
            log_rank_axis(ax)
        ax.legend(fontsize=7)
    fig.suptitle(f"sweep: {res.values[next(iter(res.values))].shape[-1]} seed(s) per point", fontsize=10)
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


def phase_diagram_figure(record: dict[str, Any]) -> Any:
    """The four-panel phase diagram of a ``phase_diagram.json`` record (a matplotlib ``Figure``).

    Heatmaps over ``n`` (log, horizontal) and ``σ_p`` (log, vertical) of the test accuracy, the signal
    energy fraction, the learned dimension / 2K (a dot where it equals 2K) and the data's / filters'
    stable rank; on each the theory's benign boundary σ_p*(n), the data-rank take-off and the measured
    0.9-accuracy contour (with its interpolated crossing per ``n``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    ns = np.asarray(record["n"], dtype=float)
    sig = np.asarray(record["noise_std"], dtype=float)
    shape = (ns.size, sig.size)
    acc = _rows_array(record["test_acc"])
    sef = _rows_array(record["signal_energy_fraction"])
    two_k = float(record.get("clean_rank", 2 * record.get("K", 1)))
    ld = _rows_array(record["learned_dimension"]) / two_k
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
    if ns.size > 1:
        slope = np.polyfit(np.log(ns), np.log(theory_b), 1)
        curve = np.exp(np.polyval(slope, np.log(xs)))
    else:
        curve = np.full_like(xs, theory_b[0])
    tk = np.interp(np.log(xs), np.log(ns), takeoff)

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.6), sharex=True, sharey=True, constrained_layout=True)
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
        mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z.T), shading="flat", **kw)
        cb = fig.colorbar(mesh, ax=ax)
        cb.set_label(clabel)
        if title.startswith("learned dimension"):
            full = np.argwhere(np.isclose(z, 1.0))
            if full.size:
                ax.scatter(ns[full[:, 0]], sig[full[:, 1]], s=22, marker="o", facecolors="white",
                           edgecolors="black", linewidths=0.6, zorder=4, label="learned dimension = 2K")
        ax.plot(xs, curve, color="white", lw=2.4, zorder=5)
        ax.plot(xs, curve, color="black", lw=1.2, ls="--", zorder=6, label="theory: benign boundary σ_p*(n)")
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
    fig.legend(list(by_label.values()), list(by_label.keys()), loc="outside lower center", ncol=2, frameon=False)
    cfg = record.get("config", {})
    fig.suptitle(f"Phase diagram: {_config_line(cfg, omit=('n', 'noise_std'))}; "
                 f"mean over {record.get('seeds', {}).get('count', '?')} seed(s)")
    return fig
