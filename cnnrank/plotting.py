"""Figures. Each function takes ``ax=None`` (a new figure is made when ``None``), draws, and returns
the :class:`matplotlib.figure.Figure`. matplotlib is imported here only, lazily; nothing is shown.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = [
    "log_rank_axis",
    "plot_gamma_rho",
    "plot_losses",
    "plot_filter_rank",
    "plot_rank_vs_noise",
    "plot_spectra",
    "plot_activation_ablation",
    "training_figure",
]


def _axes(ax: Any, figsize: tuple[float, float] = (5.0, 3.6)):
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
    r"""Signal learning and noise memorization over training (THEORY.md §4).

    Draws :math:`\max_{r,k} \gamma_{j,r,k}` for the filters of the signal's own class,
    :math:`\max \bar\rho` and :math:`\min \underline\rho` against the step.
    """
    fig, ax = _axes(ax)
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
    ax.legend(fontsize=8)
    return fig


def plot_losses(traj: Any, ax: Any = None) -> Any:
    """Training (and test) loss against the step, log scale."""
    fig, ax = _axes(ax)
    ax.semilogy(traj.steps, traj.train_loss, label="train loss")
    if traj.test_loss is not None:
        ax.semilogy(traj.steps, traj.test_loss, label="test loss")
    ax.set_xlabel("step")
    ax.set_ylabel("logistic loss")
    ax.legend(fontsize=8)
    return fig


def plot_filter_rank(traj: Any, ax: Any = None, reference: float | None = None) -> Any:
    """Stable rank of the filters and of their learned part against the step."""
    fig, ax = _axes(ax)
    ax.plot(traj.steps, traj.filter_stable_rank, label=r"srank $W$")
    ax.plot(traj.steps, traj.learned_stable_rank, label=r"srank $W - W^{(0)}$")
    if reference is not None:
        ax.axhline(reference, color="0.4", ls=":", label=f"reference {reference:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("stable rank")
    ax.legend(fontsize=8)
    return fig


def training_figure(traj: Any, data_stable_rank: float | None = None, data: Any = None) -> Any:
    """Panels: γ/ρ, losses, filter stable rank (with the data's stable rank as reference), and, when
    the final weights and the training ``data`` (a PatchData) are given, the singular value spectra of
    the filters versus the data (noisy and clean)."""
    import matplotlib.pyplot as plt

    spectra = data is not None and traj.W_final is not None
    fig, axes = plt.subplots(1, 4 if spectra else 3, figsize=(18.5 if spectra else 14, 3.8), layout="constrained")
    if traj.gamma is not None:
        plot_gamma_rho(traj, ax=axes[0])
    else:
        axes[0].set_axis_off()
    plot_losses(traj, ax=axes[1])
    plot_filter_rank(traj, ax=axes[2])
    if data_stable_rank is not None:
        axes[2].set_title(f"filters' stable rank (data: {data_stable_rank:.1f})")
    if spectra:
        from cnnrank.rank import data_matrix, filter_matrix

        extra, labels = [], ["filters W (2m × d)", "data (n × Pd)"]
        if getattr(data, "signal_pos", None) is not None:
            extra, labels = [data_matrix(data.clean().X)], labels + ["clean data"]
        plot_spectra(filter_matrix(traj.W_final), data_matrix(data.X), ax=axes[3], labels=labels, extra=extra)
    return fig


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
) -> Any:
    """The headline figure: stable rank of the data (noisy, clean) and of the trained filters vs σ_p.

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
    """
    fig, ax = _axes(ax, figsize=(6.0, 4.2))
    x = np.asarray(noise_std, dtype=float)
    ax.plot(x, data_stable_rank, "o-", color="C3", lw=2, label="data (noisy), n × Pd")
    if clean_data_stable_rank is not None:
        ax.plot(x, clean_data_stable_rank, "s--", color="C1", label="data (clean)")
    if predicted_data_stable_rank is not None:
        ax.plot(*predicted_data_stable_rank, color="C3", lw=1, ls=":", label="data, predicted")
    ax.plot(x, filter_stable_rank, "o-", color="C0", lw=2, label="trained filters W (2m × d)")
    if filter_spread is not None:
        ax.fill_between(x, filter_spread[0], filter_spread[1], color="C0", alpha=0.2, lw=0)
    if clean_rank is not None:
        ax.axhline(clean_rank, color="0.3", ls=":", lw=1.2, label=f"2K = {clean_rank:g}")
    log_rank_axis(ax)
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("stable rank")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_spectra(W: np.ndarray, X: np.ndarray, ax: Any = None, labels: Sequence[str] | None = None,
                 extra: Sequence[np.ndarray] = ()) -> Any:
    """Normalized singular value spectra (``s_i / s_1``) of the filters and of data matrices.

    Parameters
    ----------
    W : (2m, d) filter matrix
    X : (n, D) data matrix
    extra : more matrices to draw
    labels : names for ``[W, X, *extra]``
    """
    from cnnrank.rank import singular_values

    fig, ax = _axes(ax)
    mats = [W, X, *extra]
    labels = list(labels) if labels is not None else ["filters", "data"] + [f"matrix {i}" for i in range(len(extra))]
    for i, (A, lab) in enumerate(zip(mats, labels)):
        s = singular_values(A)
        s = s / s[0] if s.size and s[0] > 0 else s
        ax.semilogy(np.arange(1, s.size + 1), np.maximum(s, 1e-16), "o-", ms=2.5, lw=1, label=lab, color=f"C{i}")
    ax.set_xscale("log")
    ax.set_ylim(1e-3, 1.5)  # exact zeros (e.g. beyond the clean data's rank 2K) fall off the bottom
    ax.set_xlabel("index i")
    ax.set_ylabel(r"$s_i / s_1$")
    ax.set_title("singular value spectra")
    ax.legend(fontsize=8)
    return fig


def plot_activation_ablation(noise_std: Sequence[float], filter_stable_rank: dict[str, Sequence[float]],
                             clean_rank: float | None = None, ax: Any = None) -> Any:
    """Filters' stable rank vs σ_p, one line per activation (e.g. q = 2, 3, 4, ReLU)."""
    fig, ax = _axes(ax)
    for i, (name, ranks) in enumerate(filter_stable_rank.items()):
        ax.plot(noise_std, ranks, "o-", color=f"C{i}", label=name)
    if clean_rank is not None:
        ax.axhline(clean_rank, color="0.3", ls=":", label=f"2K = {clean_rank:g}")
    ax.set_xlabel(r"background noise $\sigma_p$")
    ax.set_ylabel("filters' stable rank")
    ax.set_title("ablation over the activation")
    ax.legend(fontsize=8)
    return fig
