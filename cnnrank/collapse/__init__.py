"""Neural collapse (docs/theory.md §7): metrics NC1–NC4 and margins, simplex ETFs and Grassmannian frames,
simulations in which collapse emerges, and the fixed-classifier generalization probes."""

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

__all__ = [
    "FrameResult",
    "NCMetrics",
    "class_means",
    "coherence",
    "coherence_lower_bound",
    "grassmannian_frame",
    "margins",
    "nc1_direct",
    "nc_metrics",
    "random_partial_isometry",
    "simplex_etf",
    "welch_bound",
]
