r"""The prediction from the initialization (docs/theory.md §6.7): which filters learn which signal,
and the learned part that follows, by running the signal race (:mod:`cnnrank.race`) from a run's own
initial filters, signals and group sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

import cnnrank.race as race
from cnnrank._validation import as_array, check_int, check_real
from cnnrank.subspace import LEARNED_FLOOR
from cnnrank.theory._config import RunConfigLike, _cfg

#: relative floor of the predicted counts (signals learned, learned dimension): a signal or direction
#: counts when above this share of the largest (docs/theory.md §6.7)
PREDICTED_FLOOR = LEARNED_FLOOR


def _group_counts(config: RunConfigLike, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """Samples carrying each signal with their true label and with a flipped one, shapes (2K,), (2K,).

    From ``data`` (:class:`~cnnrank.data.PatchData` with signal bookkeeping, or a
    :class:`~cnnrank.gram_sample.GramSample`) when given: the actual counts. Otherwise expected: the
    model's own counts for balanced data (``⌈n/2K⌉`` or ``⌊n/2K⌋`` per signal, from its deterministic
    cycling; for odd ``n`` the class coin of a fixed internal seed), ``n/2K`` otherwise; a share
    ``p = label_noise`` of each group flipped.
    """
    c, model = _cfg(config)
    k2 = 2 * model.K
    if data is not None:
        sid, y, y_true = (getattr(data, name, None) for name in ("signal_id", "y", "y_true"))
        if sid is None or y is None or getattr(data, "signals", True) is None:
            raise ValueError("data is invalid here: it carries no signal bookkeeping (signal_id, signals); "
                             "give data from SignalNoiseModel.sample or sample_gram")
        sid = np.asarray(sid)
        if sid.shape != (c.n,):
            raise ValueError(f"data is invalid for config: it has {sid.size} samples but config.n={c.n}")
        if sid.size and int(sid.max()) >= k2:
            raise ValueError(f"data is invalid for config: its signal ids reach {int(sid.max())} but the "
                             f"configuration has 2K={k2} signals")
        truth = np.asarray(y if y_true is None else y_true)
        flip = np.asarray(y) != truth
        return (np.bincount(sid[~flip], minlength=k2).astype(np.float64),
                np.bincount(sid[flip], minlength=k2).astype(np.float64))
    if model.balanced:
        _, ids = model.draw_classes(c.n, np.random.default_rng(20240415))
        counts = np.bincount(ids, minlength=k2).astype(np.float64)
    else:
        counts = np.full(k2, c.n / k2)
    p = float(model.label_noise)
    return (1.0 - p) * counts, p * counts


def _init_correlations(config: RunConfigLike, W0: Any, a0: Any, data: Any) -> np.ndarray:
    """``a_{j,r,k} = ⟨w_{j,r}(0), μ_k⟩`` (2, m, 2K) from ``a0``, ``W0`` or a GramSample ``data``."""
    c, model = _cfg(config)
    k2 = 2 * model.K
    if a0 is not None:
        if W0 is not None:
            raise ValueError("W0 and a0 are invalid together: give the filters or their correlations, not both")
        a = as_array("a0", a0, ndim=3)
        if a.shape != (2, c.m, k2):
            raise ValueError(f"a0 has shape {a.shape} which is invalid: must be (2, m, 2K) = (2, {c.m}, {k2})")
        return a
    if W0 is None:
        gram = getattr(data, "gram", None)
        if gram is None:
            raise ValueError("W0 is invalid: give the initial filters W0 (2, m, d), their correlations a0, or "
                             "data from sample_gram (it holds the filters' inner products with the signals)")
        blocks = data._blocks()  # the GramSample's rows: signals, ..., the 2m initial filters
        return np.asarray(gram)[blocks[3], blocks[0]].reshape(2, c.m, k2)
    W = as_array("W0", W0, ndim=3)
    if W.shape != (2, c.m, model.d):
        raise ValueError(f"W0 has shape {W.shape} which is invalid: must be (2, m, d) = (2, {c.m}, {model.d})")
    signals = getattr(data, "signals", None) if data is not None else None
    if signals is None:
        if model.signal_basis != "canonical":
            raise ValueError("data is invalid: missing; with signal_basis='random' the signals are drawn with the "
                             "data, so give the run's data (PatchData) with W0")
        signals = model.signals()
    return race.initial_signal_correlations(W, signals)


def predict_from_initialization(config: RunConfigLike, W0: Any = None, *, a0: Any = None, data: Any = None,
                                steps: int | None = None, lr: float | None = None) -> race.InitPrediction:
    r"""Which filters learn which signal, and the learned part that follows: the signal race from the
    initialization (docs/theory.md §6.7, :mod:`cnnrank.race`).

    Runs the signal-only dynamics — exact gradient descent at ``σ_p = 0``, the prediction of the
    benign regime otherwise — from the initial correlations ``a_{j,r,k} = ⟨w_{j,r}(0), μ_k⟩``, and
    returns the predicted ``γ`` (2, m, 2K), signal strengths, signals learned, learned dimension and
    learned stable rank ``(tr G₊ + tr G₋)/max(λ₁(G₊), λ₁(G₋))``, the class overlaps ``(c₊, c₋)``, the
    winners of each signal and the closed-form race times (:class:`cnnrank.race.InitPrediction`).

    Parameters
    ----------
    config : RunConfig
    W0 : array_like, shape (2, m, d), optional
        The initial filters (``outcome.trajectory.W_init`` of a run).
    a0 : array_like, shape (2, m, 2K), optional
        The initial correlations instead of ``W0``.
    data : PatchData or GramSample, optional
        The run's training data: its signals (needed with a random signal basis), its group sizes and
        label flips; a :class:`~cnnrank.gram_sample.GramSample` also gives the correlations. Without
        it the group sizes are the expected ones (balanced: the model's counts; else ``n/2K``; a share
        ``label_noise`` flipped).
    steps, lr : optional
        Default: the configuration's.

    Returns
    -------
    cnnrank.race.InitPrediction
    """
    c, model = _cfg(config)
    a = _init_correlations(c, W0, a0, data)
    clean, flipped = _group_counts(c, data)
    sq = getattr(data, "signal_sq_norms", None) if data is not None else None
    sq = model.norms ** 2 if sq is None else np.asarray(sq, dtype=np.float64)  # per signal (the race is per signal)
    steps = c.steps if steps is None else check_int("steps", steps, minimum=0)
    lr = c.lr if lr is None else check_real("lr", lr, positive=True)
    return race.predict_race(c.make_activation(), a, lr=lr, steps=steps, n=c.n, clean=clean, flipped=flipped,
                             signal_sq_norms=sq, floor=PREDICTED_FLOOR)


def predict_for_run(config: RunConfigLike, outcome: Any) -> race.InitPrediction | None:
    """:func:`predict_from_initialization` for a run of ``config`` (``outcome`` from
    :func:`cnnrank.experiments.run_once`): its own initial filters, signals and group sizes.

    ``None`` when the run has neither its initial filters (``trajectory.W_init``) nor a
    :class:`~cnnrank.gram_sample.GramSample`, or its data carry no signals.
    """
    data = outcome.data
    W0 = getattr(outcome.trajectory, "W_init", None)
    if getattr(data, "signal_id", None) is None or getattr(data, "signals", True) is None:
        return None
    if W0 is None and getattr(data, "gram", None) is None:
        return None
    return predict_from_initialization(config, W0, data=data)
