"""Neural collapse (docs/theory.md §7): metrics NC1–NC4 and margins, simplex ETFs and Grassmannian frames,
simulations in which collapse emerges, and the fixed-classifier generalization probes.

* :mod:`~cnnrank.collapse.simulate` -- ``train_ufm`` / ``train_mixture`` → :class:`CollapseRun`
  (``save``/``load``); overflow raises :class:`CollapseDivergenceError` (a ``cnnrank.errors.TrainingDiverged``).
  The configurations and the mixture's samples in :mod:`~cnnrank.collapse.models`, the objectives and
  their gradients in :mod:`~cnnrank.collapse.losses`.
* :mod:`~cnnrank.collapse.probes` -- ``fixed_classifier_probe`` → ``ProbeResult``.
* :mod:`~cnnrank.collapse.experiments` -- :func:`neural_collapse_experiment` → :class:`NeuralCollapseResult`,
  the experiment of ``reproduce neural-collapse``.
* :mod:`~cnnrank.collapse.plotting` -- figures (matplotlib imported lazily).
"""

from cnnrank.collapse.experiments import NeuralCollapseResult, neural_collapse_experiment
from cnnrank.collapse.geometry import (
    FrameResult,
    coherence,
    coherence_lower_bound,
    grassmannian_frame,
    random_partial_isometry,
    simplex_etf,
    welch_bound,
)
from cnnrank.collapse.metrics import NCMetrics, class_means, margins, nc1_direct, nc_metrics
from cnnrank.collapse.simulate import CollapseDivergenceError, CollapseRun

__all__ = [
    "CollapseDivergenceError",
    "CollapseRun",
    "FrameResult",
    "NCMetrics",
    "NeuralCollapseResult",
    "class_means",
    "coherence",
    "coherence_lower_bound",
    "grassmannian_frame",
    "margins",
    "nc1_direct",
    "nc_metrics",
    "neural_collapse_experiment",
    "random_partial_isometry",
    "simplex_etf",
    "welch_bound",
]
