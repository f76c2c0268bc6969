"""Experiments (layer 6): one run, the real-image sweep, and the records the commands write.

* :mod:`~cnnrank.experiments.specs` — :class:`NetworkSpec`, :class:`TrainingSpec` (the parts of every
  configuration);
* :mod:`~cnnrank.experiments.runs` — :class:`RunConfig`, :func:`run_once`, :func:`run_group` (runs that
  differ only in ``noise_std`` and ``lr``, as one batch; grids of runs: :mod:`cnnrank.sweeps`);
* :mod:`~cnnrank.experiments.real_images` — :func:`run_real_rank`, :class:`RealRankResult` (stable rank
  of real images and of the filters versus background noise); its configuration
  :mod:`~cnnrank.experiments.real_config` (:class:`RealRankConfig`) and preprocessing
  :mod:`~cnnrank.experiments.preprocess` (:func:`preprocess_images`, :func:`noisy_images`);
* :mod:`~cnnrank.experiments.records` — the JSON records of the rank-versus-noise and
  intrinsic-dimension sweeps (:func:`headline_record`, :func:`intrinsic_record`).

This file only re-exports; the package's own modules import each other directly.
"""

from cnnrank.experiments.beyond import VARIANTS, Variant, beyond_record, beyond_spec
from cnnrank.experiments.phase import measured_boundary, phase_record
from cnnrank.experiments.real_images import (
    CLAIM_ACCURACY_DROP,
    CLAIM_FRACTION_DROP,
    RealRankConfig,
    RealRankResult,
    check_task_sizes,
    claim_range,
    noisy_images,
    preprocess_images,
    run_real_rank,
)
from cnnrank.experiments.records import benign_window, headline_record, headline_sentence, intrinsic_record
from cnnrank.experiments.runs import (
    DEFAULT_MODEL,
    FLAT_FIELDS,
    GROUP_FIELDS,
    RunConfig,
    RunOutcome,
    config_from_dict,
    run_group,
    run_once,
)
from cnnrank.experiments.specs import NetworkSpec, TrainingSpec

__all__ = [
    "CLAIM_ACCURACY_DROP",
    "CLAIM_FRACTION_DROP",
    "DEFAULT_MODEL",
    "FLAT_FIELDS",
    "GROUP_FIELDS",
    "VARIANTS",
    "NetworkSpec",
    "RealRankConfig",
    "RealRankResult",
    "RunConfig",
    "RunOutcome",
    "TrainingSpec",
    "Variant",
    "benign_window",
    "beyond_record",
    "beyond_spec",
    "check_task_sizes",
    "claim_range",
    "config_from_dict",
    "headline_record",
    "headline_sentence",
    "intrinsic_record",
    "measured_boundary",
    "noisy_images",
    "phase_record",
    "preprocess_images",
    "run_group",
    "run_once",
    "run_real_rank",
]
