"""The one style helper of every figure (here, :mod:`cnnrank.plotting.real_images`,
:mod:`cnnrank.linear.plotting`, :mod:`cnnrank.collapse.plotting`): the Axes and Figure a builder
draws into, its artists' properties, the log stable-rank axis, the configuration line of a title and
the readable labels of configuration fields, the markers and line styles that tell groups apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FIELD_LABELS", "artist_style", "axes", "field_label", "figure", "log_rank_axis"]


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
