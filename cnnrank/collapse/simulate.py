"""Simulations in which neural collapse emerges: the unconstrained-features model (UFM) and a
Gaussian-mixture classifier with a learned feature layer, trained by full-batch gradient descent on
the cross-entropy with analytic gradients, recording NC metrics and margins over training
(docs/theory.md §7). Both trainers validate their schedule with :func:`cnnrank._schedule.check_schedule`,
record at :func:`cnnrank._schedule.record_steps` (step 0, every ``record_every`` steps, and the last
step) and raise :class:`CollapseDivergenceError` (a :class:`cnnrank.errors.TrainingDiverged`) on overflow.

Cross-entropy of logits ``z_i = W h_i + b`` (shape ``(C,)``) and one-hot ``y_i``:
``ℓ_i = logsumexp(z_i) − z_{i,y_i}``, gradient ``∂ℓ_i/∂z_i = softmax(z_i) − y_i``.

The configurations and the mixture's samples live in :mod:`cnnrank.collapse.models`, the objectives and
their gradients in :mod:`cnnrank.collapse.losses`; every name of both is re-exported here
(``cnnrank.collapse.simulate.UFMConfig``, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnrank._schedule import record_steps
from cnnrank._validation import as_array, check_choice
from cnnrank.collapse.losses import _act as _act
from cnnrank.collapse.losses import cross_entropy as cross_entropy
from cnnrank.collapse.losses import feature_net_forward as feature_net_forward
from cnnrank.collapse.losses import feature_net_loss_and_grad as feature_net_loss_and_grad
from cnnrank.collapse.losses import init_feature_net as init_feature_net
from cnnrank.collapse.losses import ufm_loss_and_grad as ufm_loss_and_grad
from cnnrank.collapse.metrics import nc_metrics
from cnnrank.collapse.models import _ACTIVATIONS as _ACTIVATIONS
from cnnrank.collapse.models import FeatureNetConfig as FeatureNetConfig
from cnnrank.collapse.models import MixtureConfig as MixtureConfig
from cnnrank.collapse.models import MixtureData as MixtureData
from cnnrank.collapse.models import UFMConfig as UFMConfig
from cnnrank.collapse.models import _replace as _replace
from cnnrank.collapse.models import sample_mixture as sample_mixture
from cnnrank.errors import TrainingDiverged
from cnnrank.results import SavableResult

__all__ = ['HISTORY_NAMES', 'CollapseDivergenceError', 'CollapseRun', 'FeatureNetConfig', 'MixtureConfig', 'MixtureData', 'UFMConfig', 'cross_entropy', 'feature_net_forward', 'feature_net_loss_and_grad', 'init_feature_net', 'sample_mixture', 'train_mixture', 'train_ufm', 'ufm_loss_and_grad']


#: columns of :attr:`CollapseRun.history`.
HISTORY_NAMES: tuple[str, ...] = (
    "loss", "train_error", "test_accuracy", "p_min", "p_min_normalized", "nc1", "equinorm_means",
    "equiangular_means", "maxangle_means", "etf_distance_means", "equinorm_classifier",
    "etf_distance_classifier", "nc3_duality", "nc4_ncc_mismatch",
)


class CollapseDivergenceError(TrainingDiverged, ArithmeticError):
    """Gradient descent overflowed or produced non-finite parameters.

    A :class:`cnnrank.errors.TrainingDiverged`: ``step``, ``lr`` and ``trajectory`` (the
    :class:`CollapseRun` of the records taken before, its ``H, W, b`` those of the last record); also
    an ``ArithmeticError`` for code written against the earlier class. The message names the step
    and suggests a smaller ``lr``.
    """

    default_hint = "try a smaller lr (docs/theory.md §7; the reproduce runs use lr = 0.5)"


@dataclass(frozen=True, eq=False)
class CollapseRun(SavableResult):
    """Record of one training run.

    Attributes
    ----------
    steps : ndarray of int, shape (R,)
        Steps at which the record was taken (0 = initialization).
    history : ndarray, shape (R, len(HISTORY_NAMES))
        Columns named by ``history_names`` (``test_accuracy`` is NaN without test data).
        ``p_min_normalized = p_min / (max_c ‖w_c‖ · max_i ‖h_i‖)`` (scale-free margin).
    history_names : list of str
    H, labels, W, b : ndarray
        Final training features ``(n, d)``, labels ``(n,)``, classifier ``(C, d)``, bias ``(C,)``.
    model : str
        ``"ufm"`` or ``"mixture"``.
    config : dict
    seed_entropy : int or None
    """

    _kind: ClassVar[str] = "CollapseRun"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {"steps": {"lo": 0, "integer": True, "nan": False,
                                                                    "increasing": True}}

    steps: np.ndarray
    history: np.ndarray
    history_names: list
    H: np.ndarray
    labels: np.ndarray
    W: np.ndarray
    b: np.ndarray
    model: str
    config: dict
    seed_entropy: int | None = None

    def series(self, name: str) -> np.ndarray:
        """The column ``name`` of :attr:`history`, shape ``(R,)``."""
        check_choice("name", name, list(self.history_names))
        return self.history[:, list(self.history_names).index(name)]

    @property
    def first_zero_error_step(self) -> int | None:
        """First recorded step with zero training error (``None`` if never)."""
        hit = np.flatnonzero(self.series("train_error") == 0.0)
        return int(self.steps[hit[0]]) if hit.size else None


def _record(H, y, W, b, loss, test_acc) -> list[float]:
    m = nc_metrics(H, y, W, b, num_classes=W.shape[0])
    err = float(np.mean(np.argmax(H @ W.T + b, axis=1) != y))
    scale = np.max(np.linalg.norm(W, axis=1)) * np.max(np.linalg.norm(H, axis=1))
    row = {"loss": loss, "train_error": err, "test_accuracy": test_acc, "p_min": m.p_min,
           "p_min_normalized": m.p_min / scale if scale > 0 else np.nan, **m.as_dict()}
    return [float(row[k]) for k in HISTORY_NAMES]


def _entropy(rng: Any) -> int | None:
    return int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None


class _NonFinite(FloatingPointError):
    """Internal: parameters became non-finite after step ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


def _check_finite(step: int, *arrays: np.ndarray) -> None:
    if not all(np.all(np.isfinite(x)) for x in arrays):
        raise _NonFinite(step)


def _diverged(step: int, lr: float, steps: list, rows: list, state: tuple, y: np.ndarray, model: str,
              config: dict, entropy: int | None) -> CollapseDivergenceError:
    """The error, carrying the records taken before ``step`` (``H, W, b`` of the last record)."""
    H, W, b = state
    partial = CollapseRun(np.array(steps, dtype=int), np.array(rows, dtype=float).reshape(len(rows), len(HISTORY_NAMES)),
                          list(HISTORY_NAMES), H, y.copy(), W, b, model, config, entropy)
    return CollapseDivergenceError(step, lr, partial)


def train_ufm(config: UFMConfig = UFMConfig(), rng: Any = None) -> CollapseRun:  # noqa: B008 (a frozen dataclass)
    """Gradient descent on the unconstrained-features model (see :class:`UFMConfig`).

    ``H ~ N(0, init_scale²)``, ``W ~ N(0, init_scale²)``, ``b = 0``. One matrix product per step.
    """
    if not isinstance(config, UFMConfig):
        raise TypeError(f"config={config!r} is invalid: must be a UFMConfig")
    entropy, rng = _entropy(rng), np.random.default_rng(rng)
    C, d = config.num_classes, config.dim
    y = np.repeat(np.arange(C), config.n_per_class)
    n = y.size
    H = config.init_scale * rng.standard_normal((n, d))
    W = config.init_scale * rng.standard_normal((C, d))
    b = np.zeros(C)
    steps: list[int] = []
    rows: list[list[float]] = []
    rec = set(record_steps(config.steps, config.record_every).tolist())
    state = (H, W, b)  # at the last record
    at = 0  # the step whose loss or parameters are being computed
    try:
        with np.errstate(over="raise", invalid="raise"):  # overflow = divergence
            for t in range(config.steps + 1):
                at = t
                loss, (gH, gW, gb) = ufm_loss_and_grad(H, W, b, y, config)
                if t in rec:
                    rows.append(_record(H, y, W, b, loss, np.nan))
                    steps.append(t)
                    state = (H, W, b)
                if t == config.steps:
                    break
                # per-sample step for the features: h_i moves by η · n · ∇_{h_i} L
                at = t + 1  # an overflow from here on is in the parameters of step t + 1
                W, b, H = W - config.lr * gW, b - config.lr * gb, H - config.lr * n * gH
                _check_finite(t + 1, W, H)
    except FloatingPointError as exc:
        step = exc.step if isinstance(exc, _NonFinite) else at
        raise _diverged(step, config.lr, steps, rows, state, y, "ufm", dataclasses.asdict(config),
                        entropy) from None
    return CollapseRun(np.array(steps), np.array(rows), list(HISTORY_NAMES), H, y, W, b, "ufm",
                       dataclasses.asdict(config), entropy)


def train_mixture(
    data: MixtureData, config: FeatureNetConfig = FeatureNetConfig(), rng: Any = None, *,  # noqa: B008 (a frozen dataclass)
    fixed_classifier: Any = None,
) -> CollapseRun:
    """Gradient descent on a Gaussian-mixture classifier with a learned feature layer.

    Parameters
    ----------
    data : MixtureData
    config : FeatureNetConfig
    rng : seed or Generator
        Draws the initial parameters.
    fixed_classifier : array_like, shape (C, width), optional
        If given, ``W`` is fixed to it and ``b`` to 0; only ``V, a`` are trained (the probes).

    Returns
    -------
    CollapseRun
        Metrics of the *training* features over time, and test accuracy.
    """
    if not isinstance(data, MixtureData):
        raise TypeError(f"data={data!r} is invalid: must be a MixtureData")
    if not isinstance(config, FeatureNetConfig):
        raise TypeError(f"config={config!r} is invalid: must be a FeatureNetConfig")
    entropy = _entropy(rng)
    C = int(data.means.shape[0])
    params = init_feature_net(config, data.X_train.shape[1], C, rng)
    trainable: tuple[str, ...] = ("V", "a", "W", "b")
    if fixed_classifier is not None:
        params["W"] = as_array("fixed_classifier", fixed_classifier, shape=(C, config.width)).copy()
        trainable = ("V", "a")
    X, y = data.X_train, data.y_train
    run_config = {**dataclasses.asdict(config), "fixed_classifier": fixed_classifier is not None}
    steps: list[int] = []
    rows: list[list[float]] = []
    rec = set(record_steps(config.steps, config.record_every).tolist())
    state = (np.zeros((y.size, config.width)), params["W"], params["b"])  # at the last record
    at = 0  # the step whose loss or parameters are being computed
    try:
        with np.errstate(over="raise", invalid="raise"):  # overflow = divergence
            for t in range(config.steps + 1):
                at = t
                loss, grads, H = feature_net_loss_and_grad(params, X, y, config.activation, config.weight_decay)
                if t in rec:
                    _, Zte = feature_net_forward(params, data.X_test, config.activation)
                    acc = float(np.mean(np.argmax(Zte, axis=1) == data.y_test))
                    rows.append(_record(H, y, params["W"], params["b"], loss, acc))
                    steps.append(t)
                    state = (H, params["W"], params["b"])
                if t == config.steps:
                    break
                at = t + 1  # an overflow from here on is in the parameters of step t + 1
                for k in trainable:
                    params[k] = params[k] - config.lr * grads[k]
                _check_finite(t + 1, params["V"], params["W"])
    except FloatingPointError as exc:
        step = exc.step if isinstance(exc, _NonFinite) else at
        raise _diverged(step, config.lr, steps, rows, state, y, "mixture", run_config, entropy) from None
    return CollapseRun(np.array(steps), np.array(rows), list(HISTORY_NAMES), H, y.copy(), params["W"],
                       params["b"], "mixture", run_config, entropy)
