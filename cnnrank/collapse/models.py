"""The models of the neural-collapse simulations (docs/theory.md §7): the configurations of the
unconstrained-features model (:class:`UFMConfig`), of the Gaussian mixture (:class:`MixtureConfig`) and of
the feature network (:class:`FeatureNetConfig`), and the mixture's samples (:func:`sample_mixture`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._schedule import check_schedule
from cnnrank._validation import check_choice, check_int, check_real

_ACTIVATIONS = ("relu", "tanh", "linear")


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
