"""The engine interface: the step loop of gradient descent behind one small contract.

An engine is built from the initial filters, the training data, the activation and an optional test
set. It advances full-batch gradient descent ``k`` steps at a time and, at record time, reports a
:class:`Snapshot`: losses, accuracies, the patch coefficients ``c`` of docs/theory.md §3 and the ``2m × 2m``
Gram matrices of the filters. :func:`cnnrank.train` turns snapshots into a ``Trajectory``; it never
looks inside an engine.

The patch coefficients are the shared state: ``W(t) = W(0) + Σ_{i,p} c_{j,r,i,p} x_i^(p)``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData


class Diverged(Exception):
    """Raised by an engine when the outputs became non-finite ``steps_done`` steps into ``advance``."""

    def __init__(self, steps_done: int) -> None:
        super().__init__(steps_done)
        self.steps_done = steps_done


@dataclass
class Snapshot:
    """What one record needs.

    Attributes
    ----------
    train_loss, train_acc : float
    test_loss, test_acc : float or None
    coef : ndarray, shape (2, m, n, P)
        Patch coefficients ``c_{j,r,i,p}``.
    filter_gram : ndarray, shape (2m, 2m)
        ``W W^T`` with ``W`` reshaped to (2m, d).
    learned_gram : ndarray, shape (2m, 2m)
        ``(W - W0)(W - W0)^T``.
    """

    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    coef: np.ndarray
    filter_gram: np.ndarray
    learned_gram: np.ndarray


class Engine(abc.ABC):
    """Full-batch gradient descent on the two-layer CNN, advanced ``k`` steps at a time."""

    name: ClassVar[str] = ""

    def __init__(self, W0: np.ndarray, data: PatchData, activation: Activation,
                 test: PatchData | None = None) -> None:
        self.W0 = np.array(W0, dtype=np.float64)
        self.data = data
        self.activation = activation
        self.test = test
        self.m = self.W0.shape[1]

    @abc.abstractmethod
    def advance(self, steps: int, lr: float) -> None:
        """Take ``steps`` gradient steps of size ``lr``; raise :class:`Diverged` on non-finite outputs."""

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """The record at the current step."""

    @abc.abstractmethod
    def weights(self) -> np.ndarray | None:
        """The current filters (2, m, d), or ``None`` if the engine has no vectors."""

    @staticmethod
    @abc.abstractmethod
    def cost_per_step(n: int, P: int, d: int, m: int, distinct: int) -> float:
        """Modelled flops of one step (``distinct`` = number of distinct patches), for ``engine="auto"``."""


def accuracy(f: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples with ``y_i f_i > 0`` (a zero output counts as an error)."""
    return float(np.mean(y * f > 0))


def check_finite(f: np.ndarray, steps_done: int) -> None:
    if not np.all(np.isfinite(f)):
        raise Diverged(steps_done)


def as_record(x: Any) -> float | None:
    return None if x is None else float(x)
