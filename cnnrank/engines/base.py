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

The exact training variants of docs/theory.md ("Training variants") — a trainable second layer,
minibatch SGD, weight decay — are given to an engine as one :class:`TrainingVariant`; the state is
then ``W(t) = s(t) W(0) + Σ_{i,p} c_{j,r,i,p}(t) x_i^(p)`` with ``s(t) = (1 - ηλ)^t`` and, for a
trainable head, the second layer ``a(t)``.
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
from cnnrank.network import logistic_loss


@dataclass(frozen=True, eq=False)
class TrainingVariant:
    r"""The exact training variants of docs/theory.md ("Training variants"), for gradient descent.

    With ``λ = weight_decay``, ``B_t`` the batch of step ``t`` and ``L_B`` the mean logistic loss on it,

    .. math::
        W(t+1) = (1 - ηλ) W(t) - η ∇_W L_{B_t},\qquad a(t+1) = (1 - ηλ) a(t) - η ∇_a L_{B_t}
        \ (\text{trainable head only}),

    so ``W(t) = s(t) W(0) + Σ c x`` with ``s(t) = (1-ηλ)^t`` and
    ``c(t+1) = (1-ηλ) c(t) - η A_{B_t}`` (patch weights ``A`` of :func:`cnnrank.network.head_loss_and_grad`,
    zero outside the batch).

    Attributes
    ----------
    head_scale : float or None
        ``a0`` of a trainable second layer, ``a_{j,r}(0) = j a0``; ``None``: the fixed head ``a = j/m``.
    weight_decay : float
        ``λ >= 0``.
    batch_size : int or None
        Minibatch size ``b``; ``None`` (or ``b >= n``: every batch is the whole set) is full batch.
    batch_rng : None, int, SeedSequence or Generator
        The stream of the per-epoch permutations (:class:`BatchSchedule`).
    """

    head_scale: float | None = None
    weight_decay: float = 0.0
    batch_size: int | None = None
    batch_rng: Any = None

    def __post_init__(self) -> None:
        from cnnrank._validation import check_int, check_real

        if self.head_scale is not None:
            check_real("a0", self.head_scale, positive=True)
        check_real("weight_decay", self.weight_decay, nonnegative=True)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)

    @property
    def is_plain(self) -> bool:
        """Whether this is the theorem's full-batch gradient descent (no variant in use)."""
        return self.head_scale is None and self.weight_decay == 0.0 and self.batch_size is None

    def plain_for(self, n: int) -> bool:
        """Whether, on ``n`` samples, this is the theorem's full-batch gradient descent (a batch of all
        ``n`` samples is full batch: the same steps, run by the same code)."""
        return self.head_scale is None and self.weight_decay == 0.0 and not self.minibatch(n)

    def minibatch(self, n: int) -> bool:
        """Whether the batches are proper subsets of the ``n`` samples."""
        return self.batch_size is not None and self.batch_size < n

    def decay_factor(self, lr: float) -> float:
        """``q = 1 - ηλ``, refused unless ``0 < q <= 1`` (``ηλ < 1``)."""
        q = 1.0 - lr * self.weight_decay
        if not q > 0.0:
            raise ValueError(f"weight_decay={self.weight_decay!r} is invalid with lr={lr!r}: lr * weight_decay "
                             f"must be < 1")
        return q


class DecayScale:
    """``s(t) = Π (1 - η_k λ)`` over the steps taken, as ``q ** k`` for each run of ``k`` steps with one
    factor ``q`` (so ``s(t) = (1 - ηλ)^t`` exactly, as a power, at a constant step size)."""

    def __init__(self) -> None:
        self.base, self.q, self.k = 1.0, 1.0, 0

    def advance(self, q: float, steps: int) -> float:
        """Account for ``steps`` more steps of factor ``q``; returns ``s`` after them."""
        if q != self.q:
            self.base, self.q, self.k = self.base * self.q ** self.k, q, 0
        self.k += int(steps)
        return self.base * self.q ** self.k


class BatchSchedule:
    """The minibatches of SGD: each epoch a permutation of the ``n`` samples drawn from ``rng``, cut in
    consecutive batches of ``batch_size`` (the last one smaller); each batch is returned sorted.

    Parameters
    ----------
    n, batch_size : int
    rng : None, int, SeedSequence or Generator
    """

    def __init__(self, n: int, batch_size: int, rng: Any = None) -> None:
        self.n, self.batch_size = int(n), int(batch_size)
        self.rng = np.random.default_rng(rng)
        self._perm = np.zeros(0, dtype=np.int64)
        self._at = 0

    def next(self) -> np.ndarray:
        """The sample indices of the next batch, sorted, shape (b,)."""
        if self._at >= self._perm.size:
            self._perm, self._at = self.rng.permutation(self.n), 0
        batch = np.sort(self._perm[self._at: self._at + self.batch_size])
        self._at += self.batch_size
        return batch


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
        ``(W - s W0)(W - s W0)^T``: the Gram matrix of the learned part ``Σ c x`` (``s = 1`` without
        weight decay).
    filter_stable_rank, learned_stable_rank : float or None
        Set by an engine with vectors when the filters (or their learned part) are so small or so large
        that their Gram matrix under- or overflows in float64: the stable rank computed from the
        rescaled vectors (:func:`cnnrank.rank.stable_rank`), which then replaces the one from the Gram
        matrix. ``None`` otherwise (always, at ordinary scales).
    init_scale : float or None
        ``s(t) = (1 - ηλ)^t`` with weight decay; ``None`` without.
    head_weights : ndarray, shape (2, m), or None
        The trainable second layer ``a(t)`` (class sign included); ``None`` for the fixed head.
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
    init_scale: float | None = None
    head_weights: np.ndarray | None = None

    def is_finite(self) -> bool:
        """Whether every number of the record is finite (a record with an overflow is a blow-up)."""
        scalars = [self.train_loss, self.train_acc, self.test_loss, self.test_acc, self.init_scale]
        if self.head_weights is not None and not np.all(np.isfinite(self.head_weights)):
            return False
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
    variant : TrainingVariant, optional
        Trainable head, minibatch SGD, weight decay (docs/theory.md, "Training variants"); ``None``:
        the theorem's full-batch gradient descent.

    Attributes
    ----------
    name : str
        The key of the engine in :data:`cnnrank.engines.ENGINES`.
    needs_vectors : bool
        ``True`` for engines trained by :func:`cnnrank.train.train` on a ``TwoLayerCNN`` and a
        ``PatchData``; ``False`` for those trained by :func:`cnnrank.train.train_implicit` on a
        ``GramSample``.
    W0, data, activation, test, variant, m
        The arguments, and the number of filters per class.
    """

    name: ClassVar[str] = ""
    needs_vectors: ClassVar[bool] = True

    def __init__(self, W0: np.ndarray | None, data: PatchData | GramSample, activation: Activation,
                 test: PatchData | None = None, variant: TrainingVariant | None = None) -> None:
        if variant is not None and not isinstance(variant, TrainingVariant):
            raise TypeError(f"variant={type(variant).__name__} is invalid: must be a TrainingVariant or None")
        self.variant = TrainingVariant() if variant is None else variant
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


def fit_record(outputs: Callable[[np.ndarray, int], np.ndarray], X: np.ndarray, y: np.ndarray, n: int,
               Xtest: np.ndarray | None = None, test: Any = None) -> tuple[float, float, float | None, float | None]:
    """``(train loss, train accuracy, test loss, test accuracy)`` of a record from the network outputs
    ``outputs(X, n)`` on the training patches and, with a test set (``test.y``, ``test.n``), on its
    patches ``Xtest`` (the test numbers ``None`` without one). Non-finite outputs raise :class:`Diverged`."""
    f = outputs(X, n)
    check_finite(f, 0)
    test_loss = test_acc = None
    if test is not None:
        assert Xtest is not None
        ft = outputs(Xtest, test.n)
        check_finite(ft, 0)
        test_loss = float(np.mean(logistic_loss(test.y * ft)))
        test_acc = accuracy(ft, test.y)
    return float(np.mean(logistic_loss(y * f))), accuracy(f, y), test_loss, test_acc


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
