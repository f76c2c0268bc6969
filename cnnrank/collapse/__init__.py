"""Neural collapse (docs/theory.md §7): metrics NC1–NC4 and margins, simplex ETFs and Grassmannian frames,
simulations in which collapse emerges, and the fixed-classifier generalization probes."""

from cnnrank.collapse.geometry import (
    FrameResult, coherence, coherence_lower_bound, grassmannian_frame, random_partial_isometry,
    simplex_etf, welch_bound,
)
from cnnrank.collapse.metrics import NCMetrics, class_means, margins, nc1_direct, nc_metrics

__all__ = [
    "NCMetrics", "nc_metrics", "nc1_direct", "class_means", "margins",
    "simplex_etf", "random_partial_isometry", "welch_bound", "coherence", "coherence_lower_bound",
    "FrameResult", "grassmannian_frame",
]
