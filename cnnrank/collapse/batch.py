"""Many fixed-classifier runs of the Gaussian-mixture network trained as one stack (the probes).

:func:`train_fixed_batch` gives, run for run and to the bit, what
``[train_mixture(data, config, seed, fixed_classifier=F) for seed, F in zip(seeds, classifiers)]``
gives (docs/theory.md §7): the ``B`` runs share the data, so each gradient step is one stacked product
per layer instead of ``B`` small ones. Every operation of a step is the one of
:func:`~cnnrank.collapse.losses.feature_net_loss_and_grad` on each run's slice (stacked ``matmul``
multiplies slice by slice with the same BLAS call; the reductions run along the same axes), so the
numbers do not change; ``tests/test_collapse_batch.py`` compares the two bit for bit.

Records (step 0, every ``record_every`` steps, the last) are taken run by run with the single-run
functions. If any run overflows or becomes non-finite, the stack is abandoned and the runs are
trained one by one, so a divergence raises exactly the error of the single-run trainer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cnnrank._schedule import record_steps
from cnnrank._validation import as_array
from cnnrank.collapse.losses import (
    _act,
    feature_net_forward,
    feature_net_loss_and_grad,
    init_feature_net,
    logsumexp_rows,
)
from cnnrank.collapse.models import FeatureNetConfig, MixtureData
from cnnrank.collapse.simulate import HISTORY_NAMES, CollapseRun, _entropy, _record, train_mixture

__all__ = ["train_fixed_batch"]


class _Abandon(Exception):
    """Internal: a run of the stack became non-finite; train the runs one by one instead."""


def train_fixed_batch(data: MixtureData, config: FeatureNetConfig, seeds: list[Any],
                      classifiers: Any) -> list[CollapseRun]:
    """``B`` fixed-classifier runs on the same data, trained as one stack.

    Parameters
    ----------
    data : MixtureData
    config : FeatureNetConfig
    seeds : list of int, length B
        The ``rng`` of each run (its initial ``V``; ``a = 0``).
    classifiers : array_like, shape (B, C, width)
        The fixed ``W`` of each run (``b = 0``).

    Returns
    -------
    list of CollapseRun
        Equal, bit for bit, to :func:`~cnnrank.collapse.simulate.train_mixture` run by run.

    Raises
    ------
    CollapseDivergenceError
        The first diverging run's, as :func:`~cnnrank.collapse.simulate.train_mixture` raises it.
    """
    if not isinstance(data, MixtureData):
        raise TypeError(f"data={data!r} is invalid: must be a MixtureData")
    if not isinstance(config, FeatureNetConfig):
        raise TypeError(f"config={config!r} is invalid: must be a FeatureNetConfig")
    C = int(data.means.shape[0])
    Fs = as_array("classifiers", classifiers, ndim=3)
    if Fs.shape[1:] != (C, config.width) or Fs.shape[0] != len(seeds):
        raise ValueError(f"classifiers has shape {Fs.shape} which is invalid: must be ({len(seeds)}, {C}, "
                         f"width={config.width})")

    def one_by_one() -> list[CollapseRun]:
        return [train_mixture(data, config, seed, fixed_classifier=F) for seed, F in zip(seeds, Fs)]

    if len(seeds) < 2:
        return one_by_one()
    try:
        return _stacked(data, config, seeds, Fs)
    except (_Abandon, FloatingPointError):
        return one_by_one()


def _stacked(data: MixtureData, config: FeatureNetConfig, seeds: list[Any], Fs: np.ndarray) -> list[CollapseRun]:
    B, C = len(seeds), int(data.means.shape[0])
    X, y = data.X_train, data.y_train
    n, lr, wd = y.size, config.lr, config.weight_decay
    inits = [init_feature_net(config, X.shape[1], C, seed) for seed in seeds]
    V = np.stack([p["V"] for p in inits])  # (B, width, D)
    a = np.stack([p["a"] for p in inits])  # (B, width)
    W = np.stack([F.copy() for F in Fs])  # (B, C, width), fixed
    b = np.zeros((B, C))
    rows: list[list[list[float]]] = [[] for _ in range(B)]
    rec = set(record_steps(config.steps, config.record_every).tolist())
    ii = np.arange(n)
    run_config = {**dataclasses.asdict(config), "fixed_classifier": True}
    finals: list[np.ndarray] = []
    with np.errstate(over="raise", invalid="raise"):
        for t in range(config.steps + 1):
            if t in rec:  # (record_steps holds the last step)
                finals = []
                for r in range(B):  # the record of each run, by the single-run functions
                    params = {"V": V[r], "a": a[r], "W": W[r], "b": b[r]}
                    loss, _, H = feature_net_loss_and_grad(params, X, y, config.activation, wd)
                    _, Zte = feature_net_forward(params, data.X_test, config.activation)
                    acc = float(np.mean(np.argmax(Zte, axis=1) == data.y_test))
                    rows[r].append(_record(H, y, W[r], b[r], loss, acc))
                    finals.append(H)
            if t == config.steps:
                break
            # feature_net_loss_and_grad, slice by slice (the same operations, the loss included)
            H, dact = _act(config.activation, X @ V.transpose(0, 2, 1) + a[:, None, :])
            Z = H @ W.transpose(0, 2, 1) + b[:, None, :]
            lse = logsumexp_rows(Z.reshape(B * n, C)).reshape(B, n)
            np.mean(lse - Z[:, ii, y], axis=1)  # the loss: unused here, computed for the same overflow checks
            P = np.exp(Z - lse[:, :, None])
            P[:, ii, y] -= 1.0
            G = P / n
            0.5 * wd * ((V**2).reshape(B, -1).sum(axis=1) + (W**2).reshape(B, -1).sum(axis=1))
            delta = (G @ W) * dact
            gV = delta.transpose(0, 2, 1) @ X + wd * V
            ga = delta.sum(axis=1)
            G.transpose(0, 2, 1) @ H + wd * W  # ∇W and ∇b: not applied (W is fixed), computed as the single run does
            G.sum(axis=1)
            V = V - lr * gV
            a = a - lr * ga
            if not (np.all(np.isfinite(V)) and np.all(np.isfinite(W))):
                raise _Abandon
    steps = sorted(rec)
    return [CollapseRun(np.array(steps), np.array(rows[r]), list(HISTORY_NAMES), finals[r], y.copy(), W[r], b[r],
                        "mixture", run_config, _entropy(seeds[r])) for r in range(B)]
