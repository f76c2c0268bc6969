"""Linear CNNs and dominant frequencies (docs/theory.md §7; Pinson, Lenaerts & Ginis 2023; Saxe et al. 2014).

Two-layer linear networks trained by full-batch gradient descent on the squared loss, with data whose
input–output correlation ``Σyx = U diag(s) Vᵀ`` has input modes designed in the Fourier domain.

* :mod:`~cnnrank.linear.networks` -- :class:`LinearCNN` (``C`` circular ``k``-tap convolutions,
  1D or 2D, + fully connected readout) and :class:`LinearFCNN`; loss and analytic gradients.
* :mod:`~cnnrank.linear.data` -- :func:`fourier_mode` / :func:`fourier_mode_2d`, :func:`designed_task` /
  :func:`designed_task_2d`, :func:`sample_dataset`.
* :mod:`~cnnrank.linear.training` -- :func:`train` (GD, small steps = gradient flow) → :class:`LinearTrajectory`,
  :class:`GDConfig`, :class:`LinearDivergenceError` (a :class:`cnnrank.errors.TrainingDiverged`).
* :mod:`~cnnrank.linear.diagnostics` -- mode strengths, half-times, kernel spectra.
* :mod:`~cnnrank.linear.closed_form` -- Saxe curve and learning time, balanced decoupled init,
  :func:`cnn_mode_rate` (the dominant-frequency growth rate).
* :mod:`~cnnrank.linear.experiments` -- the experiment of ``reproduce linear-cnn``
  (:func:`linear_cnn_experiment` → :class:`LinearCNNResult`); its runs in :mod:`~cnnrank.linear.runs`
  (:class:`ModeRun`), its sweeps in :mod:`~cnnrank.linear.sweeps` (:class:`Sweep`).
* :mod:`~cnnrank.linear.plotting` -- figures (matplotlib imported lazily).
"""

from cnnrank.linear.closed_form import (
    balanced_decoupled_init,
    cnn_mode_rate,
    saxe_learning_time,
    saxe_mode_strength,
)
from cnnrank.linear.data import (
    DesignedTask,
    designed_task,
    designed_task_2d,
    fourier_mode,
    fourier_mode_2d,
    frequency_energy,
    frequency_energy_2d,
    sample_dataset,
)
from cnnrank.linear.diagnostics import half_times, kernel_spectra, mode_strengths, nan_stats
from cnnrank.linear.experiments import (
    LinearCNNResult,
    ModeRun,
    Sweep,
    linear_cnn_experiment,
    ordering_task,
    run_cnn,
    run_fcnn,
    run_saxe,
    seed_streams,
    share_task,
    sweep,
)
from cnnrank.linear.networks import LinearCNN, LinearFCNN, circulant, circular_conv
from cnnrank.linear.training import GDConfig, LinearDivergenceError, LinearTrajectory, train

__all__ = [
    "DesignedTask",
    "GDConfig",
    "LinearCNN",
    "LinearCNNResult",
    "LinearDivergenceError",
    "LinearFCNN",
    "LinearTrajectory",
    "ModeRun",
    "Sweep",
    "balanced_decoupled_init",
    "circulant",
    "circular_conv",
    "cnn_mode_rate",
    "designed_task",
    "designed_task_2d",
    "fourier_mode",
    "fourier_mode_2d",
    "frequency_energy",
    "frequency_energy_2d",
    "half_times",
    "kernel_spectra",
    "linear_cnn_experiment",
    "mode_strengths",
    "nan_stats",
    "ordering_task",
    "run_cnn",
    "run_fcnn",
    "run_saxe",
    "sample_dataset",
    "saxe_learning_time",
    "saxe_mode_strength",
    "seed_streams",
    "share_task",
    "sweep",
    "train",
]
