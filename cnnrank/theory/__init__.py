r"""What the theory predicts (docs/theory.md §6), as functions of a configuration, and a report that
puts a run's measured values next to the predictions, each with a tolerance and a verdict.

Five kinds of prediction live here:

* the published benign/harmful criterion of the activation (:func:`criterion`, :mod:`cnnrank.criteria`:
  Cao et al. 2022 for ``q > 2``, Kou et al. 2023 for the ReLU; :func:`benign_indicator`,
  :func:`regime` — benign, harmful or undecided —, :func:`benign_limit`);
* the stable rank of the data, derived exactly in the proportional limit
  (:func:`expected_data_stable_rank`, :func:`expected_patch_stable_rank`);
* which filters learn which signal, and the signals learned, learned dimension and learned stable
  rank that follow, from the initialization (:func:`predict_from_initialization`, :mod:`cnnrank.race`);
* the closed form ``2K / (1 + (K−1) c)`` of the learned stable rank, exact only for equal column norms
  and cosines in both classes (:func:`expected_filter_stable_rank`);
* the time ``T_1`` of signal learning (:func:`signal_learning_time`).

The remaining scaling laws of docs/theory.md §6 (:func:`time_to_loss`, :func:`lr_bound`,
:func:`noise_takeoff`) hold "up to constants and log factors" and are given with constants set to 1.
No constant in this package is fitted to runs.

One module per idea, every name re-exported here (``cnnrank.theory.regime``, ...):

* :mod:`cnnrank.theory.regimes`: the benign/harmful criteria (with their derivation);
* :mod:`cnnrank.theory.times`: the learning times and the learning-rate bound (with the derivation of ``T_1``);
* :mod:`cnnrank.theory.random_matrix`: the random-matrix predictions of the data's and the learned part's
  stable ranks (with their derivations);
* :mod:`cnnrank.theory.initialization`: the prediction from the initialization (the signal race);
* :mod:`cnnrank.theory.report`: predictions next to a run's measurements, with tolerances and verdicts.
"""

from cnnrank.theory._config import RunConfigLike
from cnnrank.theory._config import _cfg as _cfg
from cnnrank.theory._config import _d_eff as _d_eff
from cnnrank.theory._config import _power as _power
from cnnrank.theory.initialization import PREDICTED_FLOOR as PREDICTED_FLOOR
from cnnrank.theory.initialization import _group_counts as _group_counts
from cnnrank.theory.initialization import _init_correlations as _init_correlations
from cnnrank.theory.initialization import predict_for_run, predict_from_initialization
from cnnrank.theory.random_matrix import MAX_DRAWS as MAX_DRAWS
from cnnrank.theory.random_matrix import _noise_levels as _noise_levels
from cnnrank.theory.random_matrix import _spiked_top as _spiked_top
from cnnrank.theory.random_matrix import (
    expected_data_stable_rank,
    expected_filter_stable_rank,
    expected_patch_stable_rank,
)
from cnnrank.theory.random_matrix import (
    expected_max_group as expected_max_group,
)
from cnnrank.theory.regimes import (
    benign_indicator,
    benign_limit,
    clean_rank,
    criterion,
    noise_takeoff,
    regime,
    signal_dominance_limit,
    snr,
)
from cnnrank.theory.report import DATA_RANK_MAX_K as DATA_RANK_MAX_K
from cnnrank.theory.report import TOLERANCES, Prediction, compare, format_report, predictions, verdict
from cnnrank.theory.times import _learning_time as _learning_time
from cnnrank.theory.times import _max_start as _max_start
from cnnrank.theory.times import lr_bound, measured_signal_learning_time, signal_learning_time, time_to_loss

__all__ = [
    "TOLERANCES",
    "Prediction",
    "RunConfigLike",
    "benign_indicator",
    "benign_limit",
    "clean_rank",
    "compare",
    "criterion",
    "expected_data_stable_rank",
    "expected_filter_stable_rank",
    "expected_patch_stable_rank",
    "format_report",
    "lr_bound",
    "measured_signal_learning_time",
    "noise_takeoff",
    "predict_for_run",
    "predict_from_initialization",
    "predictions",
    "regime",
    "signal_dominance_limit",
    "signal_learning_time",
    "snr",
    "time_to_loss",
    "verdict",
]
