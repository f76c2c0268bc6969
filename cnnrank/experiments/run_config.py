"""The configuration of one run: :class:`RunConfig` (flat, frozen, validated) and :func:`config_from_dict`.

:class:`RunConfig` gathers every knob of one run of docs/theory.md — data model, network, training — as
a frozen, validated configuration of plain values, so that it can be written to JSON/TOML, varied in a
sweep, and rebuilt exactly. It is composed of a :class:`~cnnrank.data.SignalNoiseModel`, a
:class:`~cnnrank.experiments.specs.NetworkSpec` and a
:class:`~cnnrank.experiments.specs.TrainingSpec` (each field declared and validated there, once), and
reads and writes flat: ``RunConfig(noise_std=0.5, m=20)``, ``config.noise_std``,
``config.replace(steps=100)``, :meth:`RunConfig.to_dict` and :func:`config_from_dict`. The run itself:
:mod:`cnnrank.experiments.runs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cnnrank._validation import check_int
from cnnrank.activations import Activation
from cnnrank.data import SignalNoiseModel
from cnnrank.experiments.specs import FlatParts, NetworkSpec, TrainingSpec, field_names, flat_changes

__all__ = ["DEFAULT_MODEL", "FLAT_FIELDS", "GROUP_FIELDS", "VARIANT_FIELDS", "RunConfig", "config_from_dict"]

#: the data model of the default run: the paper regime of docs/theory.md §5 (``d = 2000``,
#: ``σ_p = 0.25``, balanced classes; the other fields are :class:`SignalNoiseModel`'s defaults)
DEFAULT_MODEL = SignalNoiseModel(d=2000, noise_std=0.25, balanced=True)

_PARTS = {"data_model": field_names(SignalNoiseModel), "network": field_names(NetworkSpec),
          "training": field_names(TrainingSpec)}

#: the flat field names of a :class:`RunConfig`, in the order of :meth:`RunConfig.to_dict`
FLAT_FIELDS: tuple[str, ...] = ("n", "n_test", *(name for names in _PARTS.values() for name in names))

#: the fields in which the configurations of one :func:`run_group` may differ
GROUP_FIELDS = ("noise_std", "lr")

#: fields that :meth:`RunConfig.to_dict` writes only when they differ from their default (they were
#: added after results files existed; a default configuration writes the same dict as before)
_WRITTEN_IF_CHANGED: dict[str, Any] = {"signal_basis": DEFAULT_MODEL.signal_basis,
                                       **{k: getattr(NetworkSpec(), k) for k in ("head", "a0")},
                                       **{k: getattr(TrainingSpec(), k) for k in ("batch_size", "weight_decay")}}
# unequal signal norms and the adaptive optimizers (docs/theory.md, "Unequal signal norms", "Sign descent and Adam")
_WRITTEN_IF_CHANGED.update({"signal_norms": None, "optimizer": "gd", "adam_beta1": 0.9, "adam_beta2": 0.999,
                            "adam_eps": 1e-8})

#: the fields of the exact training variants (docs/theory.md, "Training variants")
VARIANT_FIELDS = ("head", "a0", "batch_size", "weight_decay")


@dataclass(frozen=True, init=False)
class RunConfig(FlatParts):
    """Everything one run needs. Defaults: the paper regime of docs/theory.md §5.

    Built from flat keywords (any of :data:`FLAT_FIELDS`) or from its parts:

    * ``n`` training and ``n_test`` test samples;
    * ``data_model`` (:class:`SignalNoiseModel`, default :data:`DEFAULT_MODEL`): ``d``, ``K``,
      ``patches``, ``signal_norm``, ``noise_std``, ``project_noise``, ``label_noise``, ``balanced``,
      ``signal_position``, ``signal_basis``, ``signal_norms`` (per-signal ``‖μ_k‖``);
    * ``network`` (:class:`NetworkSpec`): ``m`` filters per class, ``init_std`` (σ_0), ``activation``
      (``"huber<q>"``, ``"relu"``, ``"poly<q>"`` or a name given to :func:`cnnrank.register_activation`;
      stored canonically) with threshold ``kappa``;
    * ``training`` (:class:`TrainingSpec`): ``lr`` (η), ``steps``, ``record_every``, ``engine``,
      ``optimizer`` (``"gd"``, ``"sign"``, ``"adam"``), ``adam_beta1``, ``adam_beta2``, ``adam_eps``;
    * the exact training variants (docs/theory.md, "Training variants"): ``head`` and ``a0``
      (network), ``batch_size`` and ``weight_decay`` (training).

    Flat keywords change the given (or default) parts: ``RunConfig(noise_std=0.5)`` is
    ``RunConfig(data_model=DEFAULT_MODEL.replace(noise_std=0.5))``. Every flat field reads as an
    attribute (``config.noise_std``).
    """

    n: int
    n_test: int
    data_model: SignalNoiseModel
    network: NetworkSpec
    training: TrainingSpec

    def __init__(self, n: int = 128, n_test: int = 256, *, data_model: SignalNoiseModel | None = None,
                 network: NetworkSpec | None = None, training: TrainingSpec | None = None, **flat: Any) -> None:
        check_int("n", n, minimum=1)
        check_int("n_test", n_test, minimum=0)
        split = flat_changes("RunConfig", flat, _PARTS)
        model = DEFAULT_MODEL if data_model is None else data_model
        if not isinstance(model, SignalNoiseModel):
            raise TypeError(f"data_model={type(model).__name__} is invalid: must be a SignalNoiseModel")
        net = NetworkSpec() if network is None else network
        if not isinstance(net, NetworkSpec):
            raise TypeError(f"network={type(net).__name__} is invalid: must be a NetworkSpec")
        tr = TrainingSpec() if training is None else training
        if not isinstance(tr, TrainingSpec):
            raise TypeError(f"training={type(tr).__name__} is invalid: must be a TrainingSpec")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "n_test", n_test)
        object.__setattr__(self, "network", dataclasses.replace(net, **split["network"]))
        object.__setattr__(self, "training", dataclasses.replace(tr, **split["training"]))
        object.__setattr__(self, "data_model", dataclasses.replace(model, **split["data_model"]))
        if self.training.batch_size is not None and self.training.batch_size > n:
            raise ValueError(f"batch_size={self.training.batch_size!r} is invalid: must be <= n={n} (the training "
                             "samples of an epoch)")

    # the flat view: one read-only attribute per field of the parts (network and training: FlatParts)
    d = property(lambda self: self.data_model.d, doc="Dimension of a patch.")
    K = property(lambda self: self.data_model.K, doc="Signals per class.")
    patches = property(lambda self: self.data_model.patches, doc="Patches per sample ``P``.")
    signal_norm = property(lambda self: self.data_model.signal_norm, doc="``‖μ‖``.")
    noise_std = property(lambda self: self.data_model.noise_std, doc="Background noise ``σ_p``.")
    project_noise = property(lambda self: self.data_model.project_noise, doc="Noise orthogonal to the signals.")
    label_noise = property(lambda self: self.data_model.label_noise, doc="Share of flipped labels.")
    balanced = property(lambda self: self.data_model.balanced, doc="Equal counts per signal.")
    signal_position = property(lambda self: self.data_model.signal_position, doc="Signal patch index or 'random'.")
    signal_basis = property(lambda self: self.data_model.signal_basis, doc="'canonical' or 'random'.")
    signal_norms = property(lambda self: self.data_model.signal_norms, doc="Per-signal ``‖μ_k‖`` or None.")

    def model(self) -> SignalNoiseModel:
        """The data model of this configuration."""
        return self.data_model

    def make_activation(self) -> Activation:
        """The activation named by ``activation`` (threshold ``kappa`` for the Huberized ReLU)."""
        return self.network.make_activation()

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed, flat or parts (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The flat dict of every field, in the order of :data:`FLAT_FIELDS` (JSON-able).

        ``signal_basis``, ``signal_norms``, the optimizer's fields (``optimizer``, ``adam_beta1``,
        ``adam_beta2``, ``adam_eps``) and the training variants' fields (``head``, ``a0``, ``batch_size``,
        ``weight_decay``) are left out while they have their defaults: the dict of a configuration that
        does not use them is the same as before the fields existed (results files and sweep-store
        fingerprints are unchanged); :func:`config_from_dict` reads both forms.
        """
        out = {}
        for name in FLAT_FIELDS:
            value = getattr(self, name)
            if name in _WRITTEN_IF_CHANGED and value == _WRITTEN_IF_CHANGED[name]:
                continue
            out[name] = value
        return out


def config_from_dict(values: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """A :class:`RunConfig` from a flat mapping; unknown keys raise ``ValueError`` naming them."""
    base = base or RunConfig()
    unknown = sorted(set(values) - set(FLAT_FIELDS))
    if unknown:
        raise ValueError(f"config keys {unknown} are invalid: known keys are {sorted(FLAT_FIELDS)}")
    coerced = {}
    for k, v in values.items():
        default = getattr(base, k)
        if isinstance(default, bool) and not isinstance(v, bool):
            raise ValueError(f"{k}={v!r} is invalid: must be true or false")
        if (isinstance(default, float) or k == "a0") and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if k == "signal_norms" and isinstance(v, list):  # JSON/TOML arrays: the field is a tuple
            v = tuple(v)
        coerced[k] = v
    return base.replace(**coerced)

