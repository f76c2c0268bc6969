"""The parts every experiment configuration is made of: the network and the training schedule.

:class:`NetworkSpec` (``m``, ``init_std``, ``activation``, ``kappa``) and :class:`TrainingSpec` (``lr``,
``steps``, ``record_every``, ``engine``) are frozen and validated on creation. :class:`RunConfig` and
:class:`~cnnrank.experiments.real_images.RealRankConfig` hold one of each (the run configuration also
holds its :class:`~cnnrank.data.SignalNoiseModel`) and expose their fields flat, so a field is
declared and validated in one place only. :func:`flat_changes` splits flat keyword arguments among the
parts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cnnrank._validation import check_int, check_real
from cnnrank.activations import Activation, canonical_activation_name, parse_activation
from cnnrank.engines.base import TrainingVariant
from cnnrank.network import TwoLayerCNN

__all__ = ["FlatParts", "NetworkSpec", "TrainingSpec", "field_names", "flat_changes"]


@dataclass(frozen=True)
class NetworkSpec:
    """The two-layer CNN of docs/theory.md §2 before training.

    Attributes
    ----------
    m : int
        Filters per class.
    init_std : float
        ``σ_0`` of the initial filters.
    activation : str
        ``"huber<q>"`` (Huberized ReLU, e.g. ``"huber3"``), ``"relu"``, ``"poly<q>"`` or a name given to
        :func:`cnnrank.register_activation`. Stored canonically
        (:func:`~cnnrank.activations.canonical_activation_name`: ``"HUBER3"`` is stored as ``"huber3"``;
        bare ``"huber"`` is refused as ambiguous); a registered name carries its activation when the
        configuration is pickled to a worker process.
    kappa : float
        Threshold of the Huberized ReLU.
    head : str
        The second layer (docs/theory.md, "Training variants"): ``"fixed"`` (the theorem's ``a_{j,r} = j/m``,
        not trained) or ``"trainable"`` (``a_{j,r}(0) = j a0``, trained with the filters).
    a0 : float or None
        Initial scale of a trainable head (``> 0``); ``None`` means ``1/m``. Only with ``head="trainable"``.
    """

    m: int = 40
    init_std: float = 0.01
    activation: str = "huber3"
    kappa: float = 1.0
    head: str = "fixed"
    a0: float | None = None

    def __post_init__(self) -> None:
        check_int("m", self.m, minimum=1)
        check_real("init_std", self.init_std, nonnegative=True)
        check_real("kappa", self.kappa, positive=True)
        if self.head not in HEADS:
            raise ValueError(f"head={self.head!r} is invalid: must be one of {list(HEADS)}")
        if self.a0 is not None:
            if self.head != "trainable":
                raise ValueError(f"a0={self.a0!r} is invalid with head={self.head!r}: a0 sets a trainable head's "
                                 "initial scale (give head='trainable', or leave a0 unset)")
            object.__setattr__(self, "a0", check_real("a0", self.a0, positive=True))
        object.__setattr__(self, "activation", canonical_activation_name(self.activation))
        self.make_activation()

    def make_activation(self) -> Activation:
        """The activation named by ``activation`` (threshold ``kappa`` for the Huberized ReLU)."""
        return parse_activation(self.activation, kappa=self.kappa)

    @property
    def head_scale(self) -> float | None:
        """``a0`` of a trainable head (``1/m`` when unset); ``None`` for the fixed head."""
        if self.head != "trainable":
            return None
        return 1.0 / self.m if self.a0 is None else float(self.a0)

    def init(self, d: int, rng: Any = None) -> TwoLayerCNN:
        """Initial filters ``W(0)`` of dimension ``d`` drawn from ``rng``."""
        return TwoLayerCNN.init(self.m, d, self.init_std, self.make_activation(), rng=rng)


@dataclass(frozen=True)
class TrainingSpec:
    """Full-batch gradient descent (docs/theory.md §4): step size, length, records, engine.

    Attributes
    ----------
    lr : float
        Step size ``η``.
    steps : int
        Gradient-descent steps.
    record_every : int
        Steps between records (the last step is always recorded).
    engine : str
        ``"feature"``, ``"gram"``, ``"auto"`` (see :func:`cnnrank.train.train`) or ``"implicit"`` (the
        dimension-free path, :func:`cnnrank.train.train_implicit`).
    optimizer : str
        ``"gd"`` (gradient descent, the theorem), ``"sign"`` (sign descent ``W ← W − η sign(∇L)``) or
        ``"adam"`` (bias-corrected Adam, ``W ← W − η m̂ / (√v̂ + ε)``). Sign descent and Adam leave the
        span of the patches: they run on vectors only (:class:`cnnrank.engines.adaptive.AdaptiveEngine`,
        chosen by ``engine="auto"`` or ``"feature"``; ``"gram"`` and ``"implicit"`` are refused) and their
        trajectories have no patch coefficients (docs/theory.md, "Sign descent and Adam").
    adam_beta1, adam_beta2 : float
        Adam's moment decay rates ``β1``, ``β2`` in ``[0, 1)`` (used only with ``optimizer="adam"``).
    adam_eps : float
        Adam's ``ε > 0`` (used only with ``optimizer="adam"``).
    batch_size : int or None
        Minibatch SGD (docs/theory.md, "Training variants"): each epoch a seeded permutation of the ``n``
        samples in consecutive batches of ``batch_size`` (the last smaller); one step is one batch.
        ``None``: full batch. At most ``n`` (checked by :class:`~cnnrank.experiments.runs.RunConfig`).
    weight_decay : float
        ``λ >= 0`` on every trained parameter: ``W ← (1 - ηλ) W - η ∇L`` (and the head); ``ηλ < 1``.
    """

    lr: float = 2.0
    steps: int = 3000
    record_every: int = 100
    engine: str = "auto"
    optimizer: str = "gd"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    batch_size: int | None = None
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_real("lr", self.lr, positive=True)
        check_int("steps", self.steps, minimum=0)
        check_int("record_every", self.record_every, minimum=1)
        if self.engine not in ENGINE_NAMES:
            raise ValueError(f"engine={self.engine!r} is invalid: must be one of {list(ENGINE_NAMES)}")
        if self.optimizer not in OPTIMIZER_NAMES:
            raise ValueError(f"optimizer={self.optimizer!r} is invalid: must be one of {list(OPTIMIZER_NAMES)}")
        for name in ("adam_beta1", "adam_beta2"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), minimum=0.0, below=1.0))
        object.__setattr__(self, "adam_eps", check_real("adam_eps", self.adam_eps, positive=True))
        if self.optimizer != "gd" and self.engine in ("gram", "implicit"):
            raise ValueError(f"engine={self.engine!r} is invalid with optimizer={self.optimizer!r}: {self.optimizer} "
                             f"updates leave the span of the patches, so they run on vectors only (engine "
                             f"'feature' or 'auto')")
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)
        object.__setattr__(self, "weight_decay", check_real("weight_decay", self.weight_decay, nonnegative=True))
        if self.lr * self.weight_decay >= 1.0:
            raise ValueError(f"weight_decay={self.weight_decay!r} is invalid with lr={self.lr!r}: lr * weight_decay "
                             "must be < 1 (the decay factor 1 - lr * weight_decay must stay positive)")


class FlatParts:
    """The flat view of a configuration's :class:`NetworkSpec` (``network``) and :class:`TrainingSpec`
    (``training``), shared by :class:`~cnnrank.experiments.RunConfig` and
    :class:`~cnnrank.experiments.real_images.RealRankConfig`: one read-only attribute per field, and the
    training variant the two parts ask for."""

    network: NetworkSpec
    training: TrainingSpec

    m = property(lambda self: self.network.m, doc="Filters per class.")
    init_std = property(lambda self: self.network.init_std, doc="``σ_0`` of the initial filters.")
    activation = property(lambda self: self.network.activation, doc="Activation name.")
    kappa = property(lambda self: self.network.kappa, doc="Huberized ReLU threshold.")
    head = property(lambda self: self.network.head, doc="Second layer: 'fixed' (j/m) or 'trainable'.")
    a0 = property(lambda self: self.network.a0, doc="Initial scale of a trainable head (None: 1/m).")
    lr = property(lambda self: self.training.lr, doc="Step size ``η``.")
    steps = property(lambda self: self.training.steps, doc="Training steps (of each run).")
    record_every = property(lambda self: self.training.record_every, doc="Steps between records.")
    engine = property(lambda self: self.training.engine, doc="Training engine.")
    optimizer = property(lambda self: self.training.optimizer, doc="'gd', 'sign' or 'adam'.")
    adam_beta1 = property(lambda self: self.training.adam_beta1, doc="Adam's ``β1``.")
    adam_beta2 = property(lambda self: self.training.adam_beta2, doc="Adam's ``β2``.")
    adam_eps = property(lambda self: self.training.adam_eps, doc="Adam's ``ε``.")
    batch_size = property(lambda self: self.training.batch_size, doc="Minibatch size of SGD (None: full batch).")
    weight_decay = property(lambda self: self.training.weight_decay, doc="Weight decay λ.")

    def has_variants(self) -> bool:
        """Whether a training variant (trainable head, minibatch SGD, weight decay) is in use."""
        return self.network.head != "fixed" or self.training.batch_size is not None or self.training.weight_decay != 0.0

    def training_variant(self, batch_rng: Any = None) -> TrainingVariant | None:
        """The :class:`~cnnrank.engines.base.TrainingVariant` of this configuration (``None`` without
        variants); ``batch_rng`` seeds the minibatch permutations."""
        if not self.has_variants():
            return None
        return TrainingVariant(head_scale=self.network.head_scale, weight_decay=self.training.weight_decay,
                               batch_size=self.training.batch_size, batch_rng=batch_rng)


#: the engines a run configuration may name
ENGINE_NAMES = ("auto", "feature", "gram", "implicit")

#: the optimizers a run configuration may name (docs/theory.md, "Sign descent and Adam")
OPTIMIZER_NAMES = ("gd", "sign", "adam")
#: the second layers a network may have (docs/theory.md, "Training variants")
HEADS = ("fixed", "trainable")


def field_names(cls: Any) -> tuple[str, ...]:
    """The field names of a dataclass, in order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def flat_changes(owner: str, changes: dict[str, Any], parts: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """Split flat keyword arguments ``changes`` among ``parts`` (part name -> its field names).

    Raises ``TypeError`` (as a constructor does) naming the keys that belong to no part.
    """
    known = {name for names in parts.values() for name in names}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"{owner}() got unexpected keyword arguments {unknown}: known fields are {sorted(known)}")
    return {part: {k: v for k, v in changes.items() if k in names} for part, names in parts.items()}
