"""The one assembly of a :class:`~cnnrank.trajectory.Trajectory` from an engine's records, for every engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.base import Snapshot
from cnnrank.gram_sample import GramSample
from cnnrank.subspace import DEFAULT_RTOL, LEARNED_FLOOR, _from_grams, signal_overlaps
from cnnrank.trajectory.decomposition import _gamma_rho, signal_patch_coordinates
from cnnrank.trajectory.fileformat import _BOOKKEEPING, _bookkeeping
from cnnrank.trajectory.ranks import (
    _records_to_redo,
    _rescaled_learned_part,
    _symmetrized,
    _with_overrides,
    stable_ranks,
)
from cnnrank.trajectory.signals import _signal_fields

if TYPE_CHECKING:
    from cnnrank.trajectory.record import Trajectory

__all__ = ["assemble", "learned_spectrum", "record_fields"]


def learned_spectrum(snaps: Sequence[Snapshot], m: int) -> tuple[np.ndarray, bool, np.ndarray | None, np.ndarray]:
    """The records' learned Gram matrices ``(R, 2m, 2m)``, whether all are finite, their eigenvalues
    (one call serves the singular values and the learned stable rank; ``None`` unless finite) and the
    singular values of the learned part ``(R, 2m)``, descending (NaN unless finite)."""
    R = len(snaps)
    learned_grams = np.stack([s.learned_gram for s in snaps]) if R else np.zeros((0, 2 * m, 2 * m))
    finite = bool(np.all(np.isfinite(learned_grams)))
    learned_eig = None
    if finite and R:
        learned_eig = np.linalg.eigvalsh(_symmetrized(learned_grams))
        sv = np.sqrt(np.maximum(learned_eig, 0.0))[:, ::-1]
    else:
        sv = np.full((R, 2 * m), np.nan)
    return learned_grams, finite, learned_eig, sv


def record_fields(snaps: Sequence[Snapshot], steps: np.ndarray) -> dict[str, Any]:
    """The per-record numbers every engine reports alike: ``steps`` (the first ``R``), the losses and
    accuracies (the test ones ``None`` without a test set) and the filters' stable rank."""
    R = len(snaps)
    has_test = R > 0 and snaps[0].test_loss is not None
    return {
        "steps": np.asarray(steps[:R], dtype=np.int64),
        "train_loss": np.array([s.train_loss for s in snaps]),
        "train_acc": np.array([s.train_acc for s in snaps]),
        "test_loss": np.array([s.test_loss for s in snaps]) if has_test else None,
        "test_acc": np.array([s.test_acc for s in snaps]) if has_test else None,
        "filter_stable_rank": _with_overrides(stable_ranks([s.filter_gram for s in snaps]),
                                              [s.filter_stable_rank for s in snaps]),
    }


def assemble(cls: type[Trajectory], snaps: Sequence[Snapshot], steps: np.ndarray, data: PatchData | GramSample,
             m: int, lr: float, activation: Activation, engine: str, metadata: dict[str, Any] | None = None,
             W_init: np.ndarray | None = None, W_final: np.ndarray | None = None) -> Trajectory:
    r"""The one assembly of a trajectory from an engine's records, for every engine with patch
    coefficients: :meth:`Trajectory.from_snapshots <cnnrank.trajectory.Trajectory.from_snapshots>`
    (its docstring gives the parameters).

    γ and ρ come from :func:`signal_noise_coefficients` and the learned-subspace diagnostics from
    :func:`cnnrank.subspace.learned_subspace_from_grams` on the projected coefficients
    ``C Z`` (``Z`` from :func:`signal_patch_coordinates`; ``(W - W0) Q = C Z``, docs/theory.md §5),
    whenever ``data`` has the signal bookkeeping (synthetic ``PatchData`` or a ``GramSample``).
    """
    R = len(snaps)
    n, P = data.n, data.P
    coef = np.zeros((0, 2, m, n, P))
    if R:  # C order whatever the engine's layout: the gathers and reshapes below are then views
        coef = np.empty((R, 2, m, n, P), dtype=np.result_type(*{s.coef.dtype for s in snaps}))
        np.stack([s.coef for s in snaps], out=coef)
    gamma = rho = None
    signal_coords = None
    kept: dict[str, Any] = _bookkeeping(data)
    if data.has_decomposition:
        gamma, rho = _gamma_rho(coef, *(kept[k] for k in _BOOKKEEPING))
        signal_coords = signal_patch_coordinates(data)
    learned_grams, finite, learned_eig, sv = learned_spectrum(snaps, m)
    dim = frac = overlap = angles = lrank = None
    sig: dict[str, np.ndarray | None] = dict.fromkeys(
        ("signal_strength", "signals_learned", "gamma_stable_rank", "class_overlaps"))
    redone: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    if signal_coords is not None and gamma is not None:
        k = min(2 * m, signal_coords.shape[1])
        if finite and R and np.all(np.isfinite(coef)):
            flat = coef.reshape(R, 2 * m, n * P)
            with np.errstate(under="ignore", over="ignore", invalid="ignore"):
                proj = flat @ signal_coords
                ok = np.all(np.isfinite(proj), axis=(1, 2))
                diag, bad = _from_grams(learned_grams, np.where(ok[:, None, None], proj, 0.0), DEFAULT_RTOL,
                                        LEARNED_FLOOR)
            dim, frac, angles = diag["learned_dimension"], diag["energy_fraction"], diag["principal_angles"]
            lrank, thr = diag["learned_rank"], diag["learned_threshold"]
            redo = _records_to_redo(learned_grams, flat, bad, ok)
            if redo.size:  # from the rescaled coefficients and data (docs/theory.md §5, "Scale")
                G2, S2, h = _rescaled_learned_part(flat[redo], data)
                d2, _ = _from_grams(G2, S2, DEFAULT_RTOL, LEARNED_FLOOR)
                dim[redo], frac[redo], angles[redo] = (d2["learned_dimension"], d2["energy_fraction"],
                                                       d2["principal_angles"])
                lrank[redo] = d2["learned_rank"]
                with np.errstate(under="ignore", over="ignore"):
                    thr[redo] = d2["learned_threshold"] * h
                    redone = (redo, d2["singular_values"] * h[:, None], stable_ranks(G2))
        else:  # no records, or a diverged run's records: nothing meaningful to report
            dim, frac, angles = np.zeros(R, np.int64), np.full(R, np.nan), np.full((R, k), np.nan)
            lrank, thr = np.zeros(R, np.int64), np.full(R, np.nan)
        overlap = signal_overlaps(gamma) if R else np.zeros(0)
        # per signal, from γ and the learned threshold τ = max(edge, LEARNED_FLOOR · s_1) (docs/theory.md §5)
        sig = _signal_fields(gamma, np.sqrt(data.signal_sq_norms), thr)
    learned_ranks = _with_overrides(stable_ranks(learned_grams, learned_eig),
                                    [s.learned_stable_rank for s in snaps])
    if redone is not None:  # the records whose learned Gram matrix under- or overflowed, or lost
        sv[redone[0]] = redone[1]  # the learned part to cancellation in W - W(0)
        learned_ranks[redone[0]] = redone[2]
    patches = np.array(data.X) if W_init is not None and isinstance(data, PatchData) else None
    vectors = patches is not None
    # the training variants (docs/theory.md, "Training variants"): None when unused
    init_scale = (np.array([1.0 if s.init_scale is None else s.init_scale for s in snaps], dtype=np.float64)
                  if any(s.init_scale is not None for s in snaps) else None)
    head_weights = (np.stack([s.head_weights for s in snaps]).astype(np.float64)  # type: ignore[misc]
                    if R and snaps[0].head_weights is not None else None)
    if vectors and W_final is None and R:  # rebuilt at the last record (a partial, diverged run)
        assert patches is not None and W_init is not None
        d = patches.shape[2]
        W0 = np.asarray(W_init) if init_scale is None else init_scale[-1] * np.asarray(W_init)
        W_final = W0 + (coef[-1].reshape(2 * m, n * P) @ patches.reshape(n * P, d)).reshape(2, m, d)
    return cls(
        **record_fields(snaps, steps),
        coef=coef,
        gamma=gamma,
        rho=rho,
        learned_stable_rank=learned_ranks,
        learned_singular_values=sv,
        learned_dimension=dim,
        signal_energy_fraction=frac,
        signal_overlap=overlap,
        signal_angles=angles,
        W_init=np.array(W_init) if vectors else None,
        W_final=W_final if vectors else None,
        patches=patches,
        lr=lr,
        activation=activation.spec(),
        engine=engine,
        metadata={} if metadata is None else metadata,
        signal_strength=sig["signal_strength"],
        signals_learned=sig["signals_learned"],
        learned_rank=lrank,
        gamma_stable_rank=sig["gamma_stable_rank"],
        class_overlaps=sig["class_overlaps"],
        **kept,
        init_scale=init_scale,
        head_weights=head_weights,
    )
