r"""Sign descent and Adam (layer 4, docs/theory.md, "Sign descent and Adam"): :func:`train_adaptive` runs the
adaptive engine (:class:`~cnnrank.engines.adaptive.AdaptiveEngine`, vectors only) through the same
checks and record loop as :func:`cnnrank.train.train`. Re-exported by :mod:`cnnrank.train`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnrank._blas import blas_threads as _blas_threads
from cnnrank._blas import resolve
from cnnrank._schedule import check_schedule
from cnnrank.data import PatchData
from cnnrank.engines import Snapshot, check_engine_memory
from cnnrank.engines.base import TrainingVariant
from cnnrank.network import TwoLayerCNN
from cnnrank.train_checks import (
    _check_variant,
    check_callback,
    check_records_memory,
    check_training_inputs,
)
from cnnrank.train_loop import run_records
from cnnrank.trajectory import Trajectory

__all__ = ["train_adaptive"]


def train_adaptive(
    net: TwoLayerCNN,
    data: PatchData,
    lr: float,
    steps: int,
    optimizer: str = "adam",
    record_every: int | None = None,
    test: PatchData | None = None,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.999,
    adam_eps: float = 1e-8,
    weight_decay: float = 0.0,
    engine: str = "auto",
    progress: bool | None = False,
    callback: Callable[[int, Snapshot], None] | None = None,
    blas_threads: int | str | None = "auto",
    variant: TrainingVariant | None = None,
) -> Trajectory:
    r"""Sign descent or Adam on explicit filters (docs/theory.md, "Sign descent and Adam").

    Constant step ``η``, decoupled weight decay ``λ``: ``W ← W − η λ W − η u`` with
    ``u = sign(∇L)`` (``optimizer="sign"``) or the bias-corrected Adam direction
    ``u = m̂ / (√v̂ + ε)`` (``"adam"``; :mod:`cnnrank.engines.adaptive`). These updates leave the span
    of the patches, so the run is on vectors (:class:`~cnnrank.engines.adaptive.AdaptiveEngine`) and the
    trajectory has no patch coefficients: ``coef`` has shape ``(R, 2, m, 0, 0)`` and γ, ρ and the
    learned-subspace diagnostics are computed from ``W − W(0)`` (:mod:`cnnrank.trajectory.direct`).
    ``optimizer="gd"`` runs gradient descent through the same W-direct path (a check of those
    formulas against :func:`train`, which is the path for gradient descent). Full batch and the fixed
    head by default; ``variant`` adds minibatches and a trainable head, trained by the same optimizer.

    Parameters
    ----------
    net, data, lr, steps, record_every, test, progress, callback, blas_threads
        As in :func:`train`.
    optimizer : {"sign", "adam", "gd"}
    adam_beta1, adam_beta2 : float
        In ``[0, 1)``.
    adam_eps : float
        ``> 0``.
    weight_decay : float
        ``λ >= 0``, decoupled (AdamW-style).
    engine : str
        ``"auto"`` or ``"feature"`` (both run the vectors); ``"gram"`` and ``"implicit"`` are refused
        with a one-line error naming the optimizer.
    variant : TrainingVariant, optional
        Minibatches (one step = one batch of :class:`~cnnrank.engines.base.BatchSchedule`, the batches
        of :func:`train` for the same ``batch_rng``; records hold full-training-set losses) and a
        trainable head ``a(0) = j a0``, updated by the same optimizer with the same decoupled decay
        (:class:`~cnnrank.engines.adaptive.AdaptiveEngine`). Its ``weight_decay``, if not 0, must equal
        ``weight_decay`` when that is not 0. ``None``: full batch, fixed head.

    Returns
    -------
    Trajectory
        ``engine == "feature"``, ``has_coefficients`` ``False``, ``metadata["optimizer"]`` the
        optimizer's name and settings; ``head_weights`` (R, 2, m) with a trainable head.

    Raises
    ------
    TrainingDiverged
        If the loss or the filters become non-finite; carries the records so far.
    """
    from cnnrank._validation import check_choice, check_real
    from cnnrank.engines.adaptive import OPTIMIZERS, AdaptiveEngine
    from cnnrank.trajectory.direct import assemble_direct

    resolve(blas_threads, 0.0)
    check_training_inputs(net, data, test)
    check_callback(callback)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    if engine in ("gram", "implicit"):
        raise ValueError(f"engine={engine!r} is invalid with optimizer={optimizer!r}: {optimizer} updates leave "
                         f"the span of the patches, so they run on vectors only (engine 'feature' or 'auto')")
    if engine not in ("auto", "feature"):
        raise ValueError(f"engine={engine!r} is invalid: must be one of ['auto', 'feature']")
    b1 = check_real("adam_beta1", adam_beta1, minimum=0.0, below=1.0)
    b2 = check_real("adam_beta2", adam_beta2, minimum=0.0, below=1.0)
    eps = check_real("adam_eps", adam_eps, positive=True)
    wd = check_real("weight_decay", weight_decay, nonnegative=True)
    lr, steps, record_every = check_schedule(lr, steps, record_every)
    _check_variant(variant, lr)
    n, P, d = data.X.shape
    check_records_memory(steps, record_every, net.m, n, P)  # each record: 2m × (2K + n(P-1)) inner products
    check_engine_memory("feature", n, P, d, net.m, n * P)
    limit = resolve(blas_threads, AdaptiveEngine.cost_per_step(n, P, d, net.m, n * P))
    started = time.perf_counter()
    settings: dict[str, Any] = {"name": optimizer, "weight_decay": wd}
    if optimizer == "adam":
        settings.update(beta1=b1, beta2=b2, eps=eps)

    def assemble(snaps: list[Snapshot], at: np.ndarray, finished: bool = True) -> Trajectory:
        meta = {"engine_choice": f"{optimizer}: the feature engine (updates outside the patch span)",
                "seconds": time.perf_counter() - started, "blas_threads": limit, "optimizer": dict(settings)}
        W_final = eng.weights() if snaps and finished else None
        return assemble_direct(Trajectory, snaps, at, data, net.m, lr, net.activation, AdaptiveEngine.name, meta,
                               W_init=net.W if snaps else None, W_final=W_final)

    with _blas_threads(limit):
        eng = AdaptiveEngine(net.W, data, net.activation, test, optimizer=optimizer, beta1=b1, beta2=b2, eps=eps,
                             weight_decay=wd, variant=variant)
        return run_records(eng, lr, steps, record_every, progress, callback, assemble)
