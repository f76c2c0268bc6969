"""Figures. matplotlib is imported inside the functions only; nothing is shown or saved.

One module per family of figures, every name re-exported here: :mod:`~cnnrank.plotting.style` (the one
shared style helper: ``axes``, ``figure``, ``artist_style``, ``log_rank_axis``, ``field_label``),
:mod:`~cnnrank.plotting.training` (one trajectory), :mod:`~cnnrank.plotting.headline` (rank and learning
versus noise, spectra, ablation, intrinsic dimension), :mod:`~cnnrank.plotting.sweeps`,
:mod:`~cnnrank.plotting.phase`, :mod:`~cnnrank.plotting.calibration`, :mod:`~cnnrank.plotting.beyond`
(the training variants' small multiples), and
:mod:`~cnnrank.plotting.real_images` (the real-image rank-versus-noise figure; imported on its own, it is
not re-exported here).

The conventions of every figure builder (here and in :mod:`cnnrank.linear.plotting`,
:mod:`cnnrank.collapse.plotting`, :mod:`cnnrank.plotting.real_images`):

- A single-panel builder (``plot_*``) takes ``ax=None``: it draws on that Axes, or on a new figure
  when ``None``. A multi-panel builder (``*_figure``) takes ``fig=None``: it adds its panels to that
  (empty) :class:`~matplotlib.figure.Figure` or :class:`~matplotlib.figure.SubFigure` with
  ``fig.subplots``, or to a new figure when ``None``.
- Every builder returns the figure it drew into: ``ax.figure`` when an ``ax`` was given, the given
  ``fig``, or the new Figure (so ``plot_losses(traj).savefig(...)`` works; the Axes drawn on is the
  ``ax`` passed, or ``fig.axes[0]``).
- ``**kwargs`` are matplotlib properties passed to the builder's main artists, overriding their
  defaults (aliases such as ``lw``/``linewidth`` are merged): for line plots, every line of measured
  data (not reference lines, theory curves, bands or shading), so ``color=``, ``lw=``, ``alpha=``,
  ``marker=`` reach them; each builder's docstring names its main artists. A multi-panel builder
  passes its ``**kwargs`` to every panel's main artists.
- The levels where the network learned nothing (measured outside the benign window, docs/theory.md
  §4) are shaded, or drawn with hollow markers where several series share an axis.
"""

from cnnrank.plotting.beyond import beyond_figure
from cnnrank.plotting.calibration import calibration_figure
from cnnrank.plotting.headline import (
    intrinsic_dimension_figure,
    plot_activation_ablation,
    plot_learning_vs_noise,
    plot_rank_vs_noise,
    plot_spectra,
    rank_vs_noise_figure,
    shade_regimes,
)
from cnnrank.plotting.phase import _log_ticks as _log_ticks
from cnnrank.plotting.phase import phase_diagram_figure
from cnnrank.plotting.style import (
    FIELD_LABELS,
    artist_style,
    axes,
    field_label,
    figure,
    log_rank_axis,
)
from cnnrank.plotting.style import _config_line as _config_line
from cnnrank.plotting.sweeps import sweep_figure
from cnnrank.plotting.training import plot_filter_rank, plot_gamma_rho, plot_losses, training_figure

__all__ = [
    "FIELD_LABELS",
    "artist_style",
    "axes",
    "beyond_figure",
    "calibration_figure",
    "field_label",
    "figure",
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
