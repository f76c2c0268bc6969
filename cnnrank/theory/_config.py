"""The configuration interface the predictions read (:class:`RunConfigLike`) and the helpers that
take a configuration apart: its data model, its activation's power, the background dimension."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import SignalNoiseModel


@runtime_checkable
class RunConfigLike(Protocol):
    """What the predictions read from a configuration: :class:`cnnrank.experiments.RunConfig`.

    (This module sits below the experiments layer, docs/architecture.md, so it names the interface
    instead of importing the class.) The data-model fields are read from :meth:`model`.
    """

    @property
    def n(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def init_std(self) -> float: ...
    @property
    def lr(self) -> float: ...
    @property
    def activation(self) -> str: ...
    @property
    def record_every(self) -> int: ...
    @property
    def steps(self) -> int: ...
    def model(self) -> SignalNoiseModel: ...
    def make_activation(self) -> Activation: ...


def _cfg(config: RunConfigLike) -> tuple[RunConfigLike, SignalNoiseModel]:
    """``(config, its data model)``; ``TypeError`` unless ``config`` is a RunConfig (or quacks like one)."""
    if not isinstance(config, RunConfigLike):
        raise TypeError(f"config={type(config).__name__} is invalid: must be a RunConfig "
                        "(cnnrank.experiments.RunConfig)")
    return config, config.model()


def _power(config: RunConfigLike) -> float:
    """The power ``q`` of the configuration's activation; ``ValueError`` naming the activation when it
    declares none (a registered activation without ``power=``)."""
    q = config.make_activation().power
    if q is None:
        raise ValueError(f"activation={str(config.activation)!r} is invalid here: it declares no power q, which "
                         "this prediction needs (docs/theory.md §4); register it with power=q "
                         "(cnnrank.register_activation)")
    return float(q)


def _signal_norm(model: SignalNoiseModel, which: str) -> float:
    """The one signal norm a single-norm formula reads (docs/theory.md, "Unequal signal norms").

    ``signal_norm`` when all signals have it (``signal_norms`` is ``None``: bit for bit as before);
    otherwise ``which`` of the per-signal norms ``‖μ_k‖``: ``"min"`` (the weakest signal, for a
    prediction about *every* signal being learned), ``"max"`` (the strongest, for a stability bound)
    or ``"rms"`` (``√(mean_k ‖μ_k‖²)``, for an energy).
    """
    if model.signal_norms is None:
        return float(model.signal_norm)
    norms = model.norms
    if which == "min":
        return float(norms.min())
    if which == "max":
        return float(norms.max())
    return float(np.sqrt(np.mean(norms**2)))


def _d_eff(model: SignalNoiseModel) -> int:
    """Background dimension of a patch: ``d - 2K`` with projected noise, else ``d``."""
    return model.d - 2 * model.K if model.project_noise else model.d
