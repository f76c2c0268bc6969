"""The real-image rank-versus-noise figure. matplotlib is imported inside the functions only."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.plotting import _axes, log_rank_axis

__all__ = ["plot_real_rank", "plot_real_accuracy", "real_rank_figure"]


def _get(result: Any, key: str) -> np.ndarray:
    value = result[key] if isinstance(result, dict) else getattr(result, key)
    return np.asarray(value, dtype=float)


def plot_real_rank(result: Any, ax: Any = None, title: str | None = None) -> Any:
    """Stable rank of the data (flattened images and patch matrix, clean and noisy) and of the
    trained filters versus the noise level, on a log scale.

    Parameters
    ----------
    result : RealRankResult or dict
        A result or its JSON record (keys ``noise_std``, ``data_stable_rank``,
        ``clean_data_stable_rank``, ``patch_stable_rank``, ``clean_patch_stable_rank``,
        ``filter_stable_rank``, optionally ``learned_stable_rank``), arrays of shape ``(L,)``.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (6.0, 4.2))
    x = _get(result, "noise_std")
    ax.plot(x, _get(result, "data_stable_rank"), "o-", color="C3", lw=2, label="images (noisy), n × Pd")
    ax.plot(x, _get(result, "clean_data_stable_rank"), "--", color="C3", lw=1.2, label="images (clean)")
    ax.plot(x, _get(result, "patch_stable_rank"), "s-", color="C1", lw=2, label="patches (noisy), nP × d")
    ax.plot(x, _get(result, "clean_patch_stable_rank"), "--", color="C1", lw=1.2, label="patches (clean)")
    ax.plot(x, _get(result, "filter_stable_rank"), "o-", color="C0", lw=2.5, label="trained filters W, 2m × d")
    has_learned = (isinstance(result, dict) and "learned_stable_rank" in result) or hasattr(result, "learned_stable_rank")
    if has_learned:
        ax.plot(x, _get(result, "learned_stable_rank"), ":", color="C0", lw=1.2, label="learned part W − W(0)")
    log_rank_axis(ax)
    ax.set_xlabel(r"background noise $\sigma$ (pixel units)")
    ax.set_ylabel("stable rank")
    ax.set_title(title or "stable rank vs background noise")
    ax.legend(fontsize=8)
    return fig


def plot_real_accuracy(result: Any, ax: Any = None) -> Any:
    """Test (and training) accuracy of the trained CNN versus the noise level.

    Parameters
    ----------
    result : RealRankResult or dict
        Keys ``noise_std``, ``test_acc`` and optionally ``train_acc``, shape ``(L,)``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (4.5, 4.2))
    x = _get(result, "noise_std")
    ax.plot(x, _get(result, "test_acc"), "o-", color="C2", lw=2, label="test accuracy")
    try:
        ax.plot(x, _get(result, "train_acc"), "s--", color="0.5", label="train accuracy")
    except (KeyError, AttributeError):
        pass
    ax.set_ylim(min(0.45, float(np.min(_get(result, "test_acc"))) - 0.05), 1.02)
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(r"background noise $\sigma$ (pixel units)")
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy of the trained CNN")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def real_rank_figure(result: Any, title: str | None = None) -> Any:
    """Both panels side by side: :func:`plot_real_rank` and :func:`plot_real_accuracy`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 4.3), layout="constrained",
                               gridspec_kw={"width_ratios": [1.45, 1]})
    plot_real_rank(result, ax=a, title=title)
    plot_real_accuracy(result, ax=b)
    return fig
