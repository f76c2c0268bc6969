r"""Training's input checks (layer 4): the network, the data, the schedule's callback, the training
variant and the memory the records will take, each refused with a one-line message before any step.

Used by :func:`cnnrank.train.train`, :func:`cnnrank.train.train_implicit`,
:func:`cnnrank.train.train_adaptive` and :func:`cnnrank.batched.train_batched`; re-exported by
:mod:`cnnrank.train`.
"""

from __future__ import annotations

from typing import Any

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.base import TrainingVariant
from cnnrank.gram_sample import GramSample
from cnnrank.network import TwoLayerCNN

__all__ = ["check_callback", "check_records_memory", "check_training_inputs"]


_USE_IMPLICIT = "use cnnrank.train.train_implicit(activation, sample, lr, steps) for a GramSample"


def check_training_inputs(net: Any, data: Any, test: Any = None) -> None:
    """Validate the inputs of :func:`train` (and of each explicit run of ``train_batched``).

    Raises
    ------
    TypeError
        ``net`` is not a :class:`~cnnrank.network.TwoLayerCNN`, or ``data``/``test`` is not a
        :class:`~cnnrank.data.PatchData` (a :class:`~cnnrank.gram_sample.GramSample` or an
        :class:`~cnnrank.activations.Activation` is pointed to :func:`train_implicit`).
    ValueError
        The patch dimension of ``data`` or ``test`` differs from the network's ``d``.
    """
    if isinstance(data, GramSample) or isinstance(net, Activation):
        raise TypeError(f"net={type(net).__name__}, data={type(data).__name__} is invalid for train, which "
                        f"needs a TwoLayerCNN and a PatchData: {_USE_IMPLICIT}")
    if not isinstance(net, TwoLayerCNN):
        raise TypeError(f"net={type(net).__name__} is invalid: must be a cnnrank.TwoLayerCNN")
    if not isinstance(data, PatchData):
        raise TypeError(f"data={type(data).__name__} is invalid: must be a cnnrank.PatchData")
    if data.d != net.d:
        raise ValueError(f"data.d={data.d} is invalid: must equal the network's patch dimension d={net.d}")
    if test is not None:
        if not isinstance(test, PatchData):
            raise TypeError(f"test={type(test).__name__} is invalid: must be a cnnrank.PatchData or None")
        if test.d != net.d:
            raise ValueError(f"test.d={test.d} is invalid: must equal the network's patch dimension d={net.d}")


def _check_variant(variant: Any, lr: float) -> None:
    """``variant`` must be ``None`` or a :class:`TrainingVariant` whose decay factor ``1 - ηλ`` is positive."""
    if variant is None:
        return
    if not isinstance(variant, TrainingVariant):
        raise TypeError(f"variant={type(variant).__name__} is invalid: must be a cnnrank TrainingVariant or None")
    variant.decay_factor(lr)


def check_callback(callback: Any) -> None:
    """``callback`` must be ``None`` or callable as ``callback(step, snapshot)`` (checked before any work)."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback={callback!r:.60} is invalid: must be None or a function called as "
                        f"callback(step, snapshot)")


def check_records_memory(steps: int, record_every: int, m: int, n: int, P: int, runs: int = 1,
                         limit: float | None = None) -> None:
    """Refuse a schedule whose records cannot fit: ``R`` records of ``2m × nP`` coefficients, held
    about 3 times while the trajectory is assembled (the snapshots, the stacked ``coef``, ``ρ``)."""
    from cnnrank._memory import SHARE, available_bytes, check_allocation, format_bytes

    R = steps // record_every + 2  # at most (the last step is always recorded)
    per = 3 * 8.0 * 2 * m * n * P * runs
    budget = SHARE * available_bytes() if limit is None else float(limit)
    fit = max(int(budget // (2 * per)), 2)  # a suggestion that uses half the budget
    every = max(1, -(-steps // (fit - 1)))
    check_allocation(per * R, f"{R - 1:,} records (steps={steps:,}, record_every={record_every:,}) "
                     f"of 2×{m}×{n}×{P} patch coefficients" + (f" for {runs} runs" if runs > 1 else ""),
                     f"record_every={every:,} keeps {steps // every + 1:,} records "
                     f"({format_bytes(per * (steps // every + 2))})", limit=limit)
