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
from cnnrank.network import TwoLayerCNN

__all__ = ["NetworkSpec", "TrainingSpec", "field_names", "flat_changes"]


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
    """

    m: int = 40
    init_std: float = 0.01
    activation: str = "huber3"
    kappa: float = 1.0

    def __post_init__(self) -> None:
        check_int("m", self.m, minimum=1)
        check_real("init_std", self.init_std, nonnegative=True)
        check_real("kappa", self.kappa, positive=True)
        object.__setattr__(self, "activation", canonical_activation_name(self.activation))
        self.make_activation()

    def make_activation(self) -> Activation:
        """The activation named by ``activation`` (threshold ``kappa`` for the Huberized ReLU)."""
        return parse_activation(self.activation, kappa=self.kappa)

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
    """

    lr: float = 2.0
    steps: int = 3000
    record_every: int = 100
    engine: str = "auto"
    optimizer: str = "gd"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8

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


#: the engines a run configuration may name
ENGINE_NAMES = ("auto", "feature", "gram", "implicit")

#: the optimizers a run configuration may name (docs/theory.md, "Sign descent and Adam")
OPTIMIZER_NAMES = ("gd", "sign", "adam")


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
