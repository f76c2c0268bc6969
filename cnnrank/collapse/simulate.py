"""Simulations in which neural collapse emerges: the unconstrained-features model (UFM) and a
Gaussian-mixture classifier with a learned feature layer, trained by full-batch gradient descent on
the cross-entropy with analytic gradients, recording NC metrics and margins over training
(docs/theory.md §7). Both trainers validate their schedule with :func:`cnnrank._schedule.check_schedule`,
record at :func:`cnnrank._schedule.record_steps` (step 0, every ``record_every`` steps, and the last
step) and raise :class:`CollapseDivergenceError` (a :class:`cnnrank.errors.TrainingDiverged`) on overflow.

Cross-entropy of logits ``z_i = W h_i + b`` (shape ``(C,)``) and one-hot ``y_i``:
``ℓ_i = logsumexp(z_i) − z_{i,y_i}``, gradient ``∂ℓ_i/∂z_i = softmax(z_i) − y_i``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp

from cnnrank._schedule import check_schedule, record_steps
from cnnrank._validation import as_array, check_choice, check_int, check_real
from cnnrank.collapse.metrics import nc_metrics
from cnnrank.errors import TrainingDiverged
from cnnrank.results import SavableResult

__all__ = [
    "HISTORY_NAMES",
    "CollapseDivergenceError",
    "CollapseRun",
    "FeatureNetConfig",
    "MixtureConfig",
    "MixtureData",
    "UFMConfig",
    "cross_entropy",
    "feature_net_forward",
    "feature_net_loss_and_grad",
    "init_feature_net",
    "sample_mixture",
    "train_mixture",
    "train_ufm",
    "ufm_loss_and_grad",
]

#: columns of :attr:`CollapseRun.history`.
HISTORY_NAMES: tuple[str, ...] = (
    "loss", "train_error", "test_accuracy", "p_min", "p_min_normalized", "nc1", "equinorm_means",
    "equiangular_means", "maxangle_means", "etf_distance_means", "equinorm_classifier",
    "etf_distance_classifier", "nc3_duality", "nc4_ncc_mismatch",
)

_ACTIVATIONS = ("relu", "tanh", "linear")


class CollapseDivergenceError(TrainingDiverged, ArithmeticError):
    """Gradient descent overflowed or produced non-finite parameters.

    A :class:`cnnrank.errors.TrainingDiverged`: ``step``, ``lr`` and ``trajectory`` (the
    :class:`CollapseRun` of the records taken before, its ``H, W, b`` those of the last record); also
    an ``ArithmeticError`` for code written against the earlier class. The message names the step
    and suggests a smaller ``lr``.
    """

    default_hint = "try a smaller lr (docs/theory.md §7; the reproduce runs use lr = 0.5)"


def _replace(self, **changes):
    return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class UFMConfig:
    """Unconstrained-features model: free features ``H`` (one per sample), classifier ``W, b``.

    Objective ``L = (1/n) Σ_i ℓ_i + (λ_W/2)‖W‖_F² + (λ_H/(2n))‖H‖_F² + (λ_b/2)‖b‖²`` with
    ``n = C · n_per_class``. Step: ``W, b ← · − η ∇``; each feature ``h_i ← h_i − η n ∇_{h_i} L``
    (a per-sample step, i.e. block-preconditioned gradient descent; without the factor ``n`` the
    features would move ``n`` times slower than ``W``).
    """

    num_classes: int = 5
    n_per_class: int = 10
    dim: int = 8
    steps: int = 4000
    lr: float = 0.5
    weight_decay_W: float = 5e-3
    weight_decay_H: float = 5e-3
    weight_decay_b: float = 5e-3
    init_scale: float = 0.1
    record_every: int = 20

    def __post_init__(self) -> None:
        check_int("num_classes", self.num_classes, minimum=2)
        check_int("n_per_class", self.n_per_class, minimum=1)
        check_int("dim", self.dim, minimum=1)
        check_schedule(self.lr, self.steps, self.record_every, min_steps=1)
        for name in ("weight_decay_W", "weight_decay_H", "weight_decay_b"):
            check_real(name, getattr(self, name), nonnegative=True)
        check_real("init_scale", self.init_scale, positive=True)

    replace = _replace


@dataclass(frozen=True)
class MixtureConfig:
    """Gaussian mixture: ``x = μ_y + noise · N(0, I_D)``, balanced classes.

    Class means ``μ_c = mean_norm · g_c/‖g_c‖`` with ``g_c ~ N(0, I_D)`` i.i.d.
    """

    num_classes: int = 5
    input_dim: int = 20
    n_train_per_class: int = 20
    n_test_per_class: int = 200
    mean_norm: float = 3.0
    noise: float = 1.0

    def __post_init__(self) -> None:
        check_int("num_classes", self.num_classes, minimum=2)
        check_int("input_dim", self.input_dim, minimum=1)
        check_int("n_train_per_class", self.n_train_per_class, minimum=1)
        check_int("n_test_per_class", self.n_test_per_class, minimum=1)
        check_real("mean_norm", self.mean_norm, positive=True)
        check_real("noise", self.noise, nonnegative=True)

    replace = _replace


@dataclass(frozen=True)
class FeatureNetConfig:
    """Feature layer ``h = σ(V x + a)`` (``V`` shape ``(width, D)``) and linear classifier ``W h + b``.

    Objective ``(1/n) Σ_i ℓ_i + (λ/2)(‖V‖_F² + ‖W‖_F²)``; init ``V ~ N(0, init_scale²/D)``,
    ``W ~ N(0, init_scale²/width)``, ``a = b = 0``; plain gradient descent with step ``lr``.
    """

    width: int = 16
    activation: str = "relu"
    steps: int = 3000
    lr: float = 0.5
    weight_decay: float = 0.0
    init_scale: float = 1.0
    record_every: int = 20

    def __post_init__(self) -> None:
        check_int("width", self.width, minimum=1)
        check_choice("activation", self.activation, _ACTIVATIONS)
        check_schedule(self.lr, self.steps, self.record_every, min_steps=1)
        check_real("weight_decay", self.weight_decay, nonnegative=True)
        check_real("init_scale", self.init_scale, positive=True)

    replace = _replace


@dataclass(frozen=True, eq=False)
class MixtureData:
    """Train and test samples of a Gaussian mixture. ``X_*`` shape ``(n, D)``, ``y_*`` shape ``(n,)``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    means: np.ndarray


def sample_mixture(config: MixtureConfig, rng: Any = None) -> MixtureData:
    """Draw class means, then ``n_train_per_class`` and ``n_test_per_class`` samples per class."""
    if not isinstance(config, MixtureConfig):
        raise TypeError(f"config={config!r} is invalid: must be a MixtureConfig")
    rng = np.random.default_rng(rng)
    C, D = config.num_classes, config.input_dim
    g = rng.standard_normal((C, D))
    means = config.mean_norm * g / np.linalg.norm(g, axis=1, keepdims=True)

    def draw(per: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(C), per)
        return means[y] + config.noise * rng.standard_normal((C * per, D)), y

    Xtr, ytr = draw(config.n_train_per_class)
    Xte, yte = draw(config.n_test_per_class)
    return MixtureData(Xtr, ytr, Xte, yte, means)


def cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits ``Z`` (shape ``(n, C)``) and ``G = (softmax(Z) − Y)/n``.

    Stable: ``logsumexp`` and ``softmax = exp(Z − logsumexp(Z))``; finite for logits of ±1e4.
    """
    n = Z.shape[0]
    lse = logsumexp(Z, axis=1)
    loss = float(np.mean(lse - Z[np.arange(n), y]))
    P = np.exp(Z - lse[:, None])
    P[np.arange(n), y] -= 1.0
    return loss, P / n


def _act(name: str, pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if name == "relu":
        return np.maximum(pre, 0.0), (pre > 0).astype(np.float64)  # σ'(0) = 0
    if name == "tanh":
        t = np.tanh(pre)
        return t, 1.0 - t**2
    return pre, np.ones_like(pre)


def feature_net_forward(params: dict[str, np.ndarray], X: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """Features ``H = σ(X Vᵀ + a)`` (shape ``(n, width)``) and logits ``H Wᵀ + b`` (shape ``(n, C)``)."""
    H, _ = _act(activation, X @ params["V"].T + params["a"])
    return H, H @ params["W"].T + params["b"]


def feature_net_loss_and_grad(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, activation: str, weight_decay: float = 0.0
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Objective, its analytic gradient (same keys as ``params``) and the features ``H``.

    ``G = (softmax − Y)/n``; ``∇W = GᵀH + λW``, ``∇b = Σ_i G_i``, ``Δ = (G W) ∘ σ'(XVᵀ + a)``,
    ``∇V = ΔᵀX + λV``, ``∇a = Σ_i Δ_i``.
    """
    V, a, W, b = params["V"], params["a"], params["W"], params["b"]
    H, dact = _act(activation, X @ V.T + a)
    loss, G = cross_entropy(H @ W.T + b, y)
    loss += 0.5 * weight_decay * (np.sum(V**2) + np.sum(W**2))
    delta = (G @ W) * dact
    grads = {"V": delta.T @ X + weight_decay * V, "a": delta.sum(0), "W": G.T @ H + weight_decay * W,
             "b": G.sum(0)}
    return loss, grads, H


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


def ufm_loss_and_grad(
    H: np.ndarray, W: np.ndarray, b: np.ndarray, y: np.ndarray, config: UFMConfig
) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """UFM objective and its gradient ``(∇H, ∇W, ∇b)``.

    ``L = (1/n) Σ_i ℓ_i + (λ_W/2)‖W‖² + (λ_H/(2n))‖H‖² + (λ_b/2)‖b‖²``; with ``G = (softmax − Y)/n``:
    ``∇H = G W + (λ_H/n) H``, ``∇W = GᵀH + λ_W W``, ``∇b = Σ_i G_i + λ_b b``.
    Shapes: ``H (n, d)``, ``W (C, d)``, ``b (C,)``, ``y (n,)``.
    """
    n = H.shape[0]
    loss, G = cross_entropy(H @ W.T + b, y)
    loss += (0.5 * config.weight_decay_W * np.sum(W**2) + 0.5 * config.weight_decay_H * np.sum(H**2) / n
             + 0.5 * config.weight_decay_b * np.sum(b**2))
    return loss, (G @ W + config.weight_decay_H * H / n, G.T @ H + config.weight_decay_W * W,
                  G.sum(0) + config.weight_decay_b * b)


def train_ufm(config: UFMConfig = UFMConfig(), rng: Any = None) -> CollapseRun:
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


def init_feature_net(config: FeatureNetConfig, input_dim: int, num_classes: int, rng: Any = None) -> dict[str, np.ndarray]:
    """Initial parameters ``{"V", "a", "W", "b"}`` (see :class:`FeatureNetConfig`)."""
    rng = np.random.default_rng(rng)
    s = config.init_scale
    return {"V": s * rng.standard_normal((config.width, input_dim)) / np.sqrt(input_dim),
            "a": np.zeros(config.width),
            "W": s * rng.standard_normal((num_classes, config.width)) / np.sqrt(config.width),
            "b": np.zeros(num_classes)}


def train_mixture(
    data: MixtureData, config: FeatureNetConfig = FeatureNetConfig(), rng: Any = None, *,
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
