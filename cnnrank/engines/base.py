"""The engine interface: the step loop of gradient descent behind one small contract.

An engine is built from the initial filters, the training data, the activation and an optional test
set — or, for an engine without vectors (``needs_vectors = False``: the implicit engine), from a
:class:`~cnnrank.gram_sample.GramSample` and the activation, the initial filters and the test set being
part of the sample. It advances full-batch gradient descent ``k`` steps at a time and, at record time, reports a
:class:`Snapshot`: losses, accuracies, the patch coefficients ``c`` of docs/theory.md §3 and the ``2m × 2m``
Gram matrices of the filters. :func:`cnnrank.train.train` and :func:`cnnrank.train.train_implicit` turn
snapshots into a ``Trajectory`` (:meth:`cnnrank.trajectory.Trajectory.from_snapshots`); they never
look inside an engine.

The patch coefficients are the shared state: ``W(t) = W(0) + Σ_{i,p} c_{j,r,i,p} x_i^(p)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.errors import TrainingDiverged
from cnnrank.gram_sample import GramSample


class Diverged(TrainingDiverged):
    """Raised by an engine when the outputs became non-finite ``steps_done`` steps into ``advance``.

    A :class:`cnnrank.errors.TrainingDiverged`, so ``except cnnrank.TrainingDiverged`` also catches a
    blow-up of an engine driven directly. The engine does not know the absolute step count nor keep
    records: ``step`` is ``steps_done`` (counted from the start of the ``advance`` call, 0 for a
    blow-up found by ``snapshot``) and ``trajectory`` is ``None``; :func:`cnnrank.train.run_records`
    turns it into a ``TrainingDiverged`` naming the absolute step and carrying the records.

    Parameters
    ----------
    steps_done : int
    lr : float, optional
        The step size of the ``advance`` call (NaN when unknown, e.g. raised by ``snapshot``).

    Attributes
    ----------
    steps_done, step, lr, trajectory
    """

    def __init__(self, steps_done: int, lr: float = float("nan")) -> None:
        at = f" with step size lr={lr:g}" if np.isfinite(lr) else ""
        RuntimeError.__init__(self, f"engine diverged {steps_done} steps into advance{at}: non-finite outputs "
                                    f"or weights; {self.default_hint}")
        self.steps_done = steps_done
        self.step, self.lr, self.trajectory = steps_done, lr, None

    def __reduce__(self) -> tuple:  # picklable across process pools
        return (type(self), (self.steps_done, self.lr))


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
    filter_stable_rank, learned_stable_rank : float or None
        Set by an engine with vectors when the filters (or their learned part) are so small or so large
        that their Gram matrix under- or overflows in float64: the stable rank computed from the
        rescaled vectors (:func:`cnnrank.rank.stable_rank`), which then replaces the one from the Gram
        matrix. ``None`` otherwise (always, at ordinary scales).
    """

    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    coef: np.ndarray
    filter_gram: np.ndarray
    learned_gram: np.ndarray
    filter_stable_rank: float | None = None
    learned_stable_rank: float | None = None

    def is_finite(self) -> bool:
        """Whether every number of the record is finite (a record with an overflow is a blow-up)."""
        scalars = [self.train_loss, self.train_acc, self.test_loss, self.test_acc]
        return (all(x is None or np.isfinite(x) for x in scalars)
                and bool(np.all(np.isfinite(self.coef)) and np.all(np.isfinite(self.filter_gram))
                         and np.all(np.isfinite(self.learned_gram))))


class Engine(abc.ABC):
    """Full-batch gradient descent on the two-layer CNN, advanced ``k`` steps at a time.

    Parameters
    ----------
    W0 : ndarray, shape (2, m, d), or None
        Initial filters; ``None`` for an engine without vectors (then ``m`` is ``data.m``).
    data : PatchData or GramSample
        Training set (a :class:`~cnnrank.gram_sample.GramSample` for an engine without vectors).
    activation : Activation
    test : PatchData, optional
        Held-out data (engines with vectors; a sample carries its own test set).

    Attributes
    ----------
    name : str
        The key of the engine in :data:`cnnrank.engines.ENGINES`.
    needs_vectors : bool
        ``True`` for engines trained by :func:`cnnrank.train.train` on a ``TwoLayerCNN`` and a
        ``PatchData``; ``False`` for those trained by :func:`cnnrank.train.train_implicit` on a
        ``GramSample``.
    W0, data, activation, test, m
        The arguments, and the number of filters per class.
    """

    name: ClassVar[str] = ""
    needs_vectors: ClassVar[bool] = True

    def __init__(self, W0: np.ndarray | None, data: PatchData | GramSample, activation: Activation,
                 test: PatchData | None = None) -> None:
        if W0 is not None:
            W0 = np.array(W0, dtype=np.float64)
            if W0.ndim != 3 or W0.shape[0] != 2 or W0.shape[1] < 1:
                raise ValueError(f"W0 has shape {W0.shape} which is invalid: must be (2, m, d) with m >= 1")
            if not np.all(np.isfinite(W0)):
                raise ValueError("W0 is invalid: contains non-finite values (bad input, not a divergence)")
            if isinstance(data, PatchData) and W0.shape[2] != data.d:
                raise ValueError(f"W0 has shape {W0.shape} which is invalid: patch dimension must be "
                                 f"data.d={data.d}")
        self.W0 = W0
        self.data = data
        self.activation = activation
        self.test = test
        if self.W0 is not None:
            self.m = int(self.W0.shape[1])
        elif isinstance(data, GramSample):
            self.m = data.m
        else:
            raise ValueError("W0=None is invalid with a PatchData: an engine with vectors needs the initial filters")

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


def check_finite(f: np.ndarray, steps_done: int, lr: float = float("nan")) -> None:
    if not np.all(np.isfinite(f)):
        raise Diverged(steps_done, lr)


def as_record(x: Any) -> float | None:
    return None if x is None else float(x)


def scale_safe_stable_rank(gram: np.ndarray, vectors: Callable[[], np.ndarray | None]) -> float | None:
    """The stable rank from the rescaled vectors when the Gram matrix ``gram`` has under- or
    overflowed in float64 (largest entry outside the range where squaring is safe, e.g. filters of
    scale 1e-200 whose Gram matrix is 0); ``None`` at ordinary scales (the Gram matrix is then used,
    bit for bit as before), for the zero matrix and when the vectors are unavailable or not finite.

    ``vectors()`` returns the (2m, d) matrix; it is called only at such an edge.
    """
    from cnnrank.rank import gram_in_safe_range, stable_rank

    if gram_in_safe_range(gram):
        return None
    A = vectors()
    if A is None or not np.all(np.isfinite(A)) or not np.any(A):
        return None
    return stable_rank(A)
