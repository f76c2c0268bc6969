"""The record of a training run: :class:`Trajectory` (its fields, file format 2, loading, summary)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnrank._validation import check_int
from cnnrank.activations import Activation, activation_from_spec
from cnnrank.data import PatchData
from cnnrank.engines.base import Snapshot
from cnnrank.gram_sample import GramSample
from cnnrank.results import ResultsFileError, SavableResult, _check_field_types, _to_jsonable, load_npz, npz_bytes
from cnnrank.trajectory.fileformat import _BOOKKEEPING, TRAJECTORY_FORMAT, _derive_gamma_rho, _same_bits
from cnnrank.trajectory.signals import _SIGNAL_FIELDS, _derived_signal_fields

__all__ = ["Trajectory"]


from cnnrank.trajectory.assembly import assemble
from cnnrank.trajectory.checks import check_loaded, check_ranges

#: optional fields of the training variants (docs/theory.md, "Training variants"), stored only when set
_VARIANT_FIELDS = ("init_scale", "head_weights")


@dataclass(eq=False)
class Trajectory(SavableResult):
    """The record of one training run. ``R`` records, at ``steps``.

    Attributes
    ----------
    steps : ndarray of int, shape (R,)
    train_loss, train_acc : ndarray, shape (R,)
    test_loss, test_acc : ndarray, shape (R,), or None
    coef : ndarray, shape (R, 2, m, n, P), or (R, 2, m, 0, 0)
        Patch coefficients (docs/theory.md §3). A run of sign descent or Adam has none: shape
        ``(R, 2, m, 0, 0)`` (:attr:`has_coefficients` is ``False``), and γ, ρ and the subspace
        diagnostics are computed from ``W − W(0)`` directly (:mod:`cnnrank.trajectory.direct`;
        ``patches`` is then ``None`` and :meth:`weights_at` gives the first and last records only).
    gamma : ndarray, shape (R, 2, m, 2K), or None
        Signal learning (docs/theory.md §4); ``None`` for data without signals.
    rho : ndarray, shape (R, 2, m, n, P-1), or None
        Noise memorization, in the order of ``data.noise``.
    filter_stable_rank : ndarray, shape (R,)
        Stable rank of ``W`` as a (2m, d) matrix.
    learned_stable_rank : ndarray, shape (R,)
        Stable rank of the learned part ``W - W(0)``.
    learned_singular_values : ndarray, shape (R, 2m)
        Singular values of the learned part ``W - W(0)`` (2m, d), descending.
    learned_dimension : ndarray of int, shape (R,), or None
        Singular values of ``(W - W(0)) Q`` above the learned threshold
        ``τ = max(‖(W - W(0))(I - Π)‖_2, LEARNED_FLOOR · s_1(W - W(0)))`` (the memorization edge, and a
        floor relative to the top singular value), with ``Π = Q Qᵀ`` the projector on the signal span
        (:mod:`cnnrank.subspace`, docs/theory.md §5): the rank of the learned part inside the span, ``2K``
        in the benign regime unless filters are shared winners of several signals, 0 in the harmful one.
    signal_energy_fraction : ndarray, shape (R,), or None
        ``‖Π(W - W(0))‖_F² / ‖W - W(0)‖_F²``: the share of the learned energy in the signal span.
    signal_overlap : ndarray, shape (R,), or None
        Within-class mean cosine ``c`` of the signal columns of ``γ`` (:func:`cnnrank.subspace.signal_overlap`).
    signal_angles : ndarray, shape (R, min(2m, 2K)), or None
        Principal angles (radians, ascending) between the top right singular subspace of ``W - W(0)``
        and the signal span. The four signal fields are ``None`` for data without signals.
    signal_strength : ndarray, shape (R, 2K), or None
        ``‖γ_{j(k), :, k}‖ / ‖μ_k‖``: the length of signal ``k``'s own-class column
        (:func:`signal_strengths`).
    signals_learned : ndarray of int, shape (R,), or None
        Signals whose strength exceeds ``τ``: all ``2K`` in the benign regime.
    learned_rank : ndarray of int, shape (R,), or None
        Singular values of the whole ``W - W(0)`` above ``LEARNED_FLOOR · s_1(W - W(0))``: at least the
        learned dimension, more when a direction outside the signal span is learned that strongly, and
        more than ``2K`` when much noise is memorized (docs/theory.md §5).
    gamma_stable_rank : ndarray, shape (R,), or None
        ``(tr G₊ + tr G₋) / max(λ_1(G₊), λ_1(G₋))`` with ``G_j`` the ``K × K`` Gram of class ``j``'s
        own columns ``γ_{j,:,k}/‖μ_k‖`` (:func:`cnnrank.race.gamma_stable_rank`).
    class_overlaps : ndarray, shape (R, 2), or None
        ``(c₊, c₋)``: mean pairwise cosine of the own-class columns of ``γ`` per class
        (:func:`cnnrank.race.class_overlaps`). The five per-signal fields are ``None`` for data without
        signals (and, in a file written before they existed, where they cannot be derived).
    signal_id, signal_pos : ndarray of int, shape (n,), or None
        The signal of each training sample and its patch position (docs/theory.md §4).
    signal_sq_norms : ndarray, shape (2K,), or None
        ``‖μ_k‖²``.
    noise_sq_norms : ndarray, shape (n, P-1), or None
        ``‖ξ_{i,p}‖²``, in the order of ``data.noise``. With ``signal_id`` and ``signal_pos`` the data's
        bookkeeping from which γ and ρ are derived (:func:`signal_noise_coefficients`): a file stores
        these instead of γ and ρ (:meth:`save`). ``None`` for data without signals, and in a file
        written before they were kept (format 1, which stores γ and ρ).
    W_init, W_final : ndarray, shape (2, m, d), or None
    patches : ndarray, shape (n, P, d), or None
        The training patches, used to rebuild weights.
    lr : float
    activation : dict
        :meth:`Activation.spec` of the activation.
    engine : str
    metadata : dict
        Free-form (seeds, configs, timings, the engine chosen by ``"auto"``).
    init_scale : ndarray, shape (R,), or None
        ``s(t) = (1 - ηλ)^t`` of a run with weight decay (docs/theory.md, "Training variants"):
        ``W(t) = s(t) W(0) + Σ c x``, and every learned-part diagnostic is of ``Σ c x = W - s W(0)``.
        ``None`` without weight decay (``s ≡ 1``).
    head_weights : ndarray, shape (R, 2, m), or None
        The trainable second layer ``a(t)`` with its class sign (``a_{j,r}(0) = j a0``); ``None`` for the
        fixed head ``a = j/m``.
    """

    steps: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    coef: np.ndarray
    gamma: np.ndarray | None
    rho: np.ndarray | None
    filter_stable_rank: np.ndarray
    learned_stable_rank: np.ndarray
    learned_singular_values: np.ndarray
    learned_dimension: np.ndarray | None
    signal_energy_fraction: np.ndarray | None
    signal_overlap: np.ndarray | None
    signal_angles: np.ndarray | None
    W_init: np.ndarray | None
    W_final: np.ndarray | None
    patches: np.ndarray | None
    lr: float
    activation: dict
    engine: str
    metadata: dict = field(default_factory=dict)
    signal_strength: np.ndarray | None = None
    signals_learned: np.ndarray | None = None
    learned_rank: np.ndarray | None = None
    gamma_stable_rank: np.ndarray | None = None
    class_overlaps: np.ndarray | None = None
    signal_id: np.ndarray | None = None
    signal_pos: np.ndarray | None = None
    signal_sq_norms: np.ndarray | None = None
    noise_sq_norms: np.ndarray | None = None
    init_scale: np.ndarray | None = None
    head_weights: np.ndarray | None = None

    _kind = "Trajectory"

    @classmethod
    def from_snapshots(cls, snaps: Sequence[Snapshot], steps: np.ndarray, data: PatchData | GramSample,
                       m: int, lr: float, activation: Activation, engine: str,
                       metadata: dict[str, Any] | None = None, W_init: np.ndarray | None = None,
                       W_final: np.ndarray | None = None) -> Trajectory:
        r"""The one assembly of a trajectory from an engine's records, for every engine.

        γ and ρ come from :func:`signal_noise_coefficients` and the learned-subspace diagnostics from
        :func:`cnnrank.subspace.learned_subspace_from_grams` on the projected coefficients
        ``C Z`` (``Z`` from :func:`signal_patch_coordinates`; ``(W - W0) Q = C Z``, docs/theory.md §5),
        whenever ``data`` has the signal bookkeeping (synthetic ``PatchData`` or a ``GramSample``).

        Parameters
        ----------
        snaps : sequence of Snapshot
            The ``R`` records, in order.
        steps : ndarray of int, shape (>= R,)
            Step counts of the records (only the first ``R`` are used: a diverged run passes its
            whole schedule).
        data : PatchData or GramSample
            The training set: ``n``, ``P`` and the signal/background bookkeeping.
        m : int
            Filters per class.
        lr : float
        activation : Activation
        engine : str
            Name of the engine that produced the records.
        metadata : dict, optional
        W_init, W_final : ndarray, shape (2, m, d), optional
            Initial and final filters, for engines with vectors (``PatchData``); with ``W_init`` the
            training patches ``data.X`` are kept so that :meth:`weights_at` can rebuild the filters.
            Without ``W_final`` (a run cut short by a blow-up) the filters of the last record are
            rebuilt from its coefficients.

        Returns
        -------
        Trajectory
        """
        return assemble(cls, snaps, steps, data, m, lr, activation, engine, metadata=metadata,
                        W_init=W_init, W_final=W_final)

    def to_npz_bytes(self) -> bytes:
        """What :meth:`save` writes (file format :data:`TRAJECTORY_FORMAT` = 2): every field but γ and
        ρ when they are derived on load, bit for bit, from ``coef`` and the kept bookkeeping
        (``signal_id``, ``signal_pos``, ``signal_sq_norms``, ``noise_sq_norms``;
        :func:`signal_noise_coefficients`) — always for a trajectory of :func:`cnnrank.train.train`;
        otherwise they are stored. The metadata record ``trajectory_format`` and ``derived`` (the
        fields left out) say which."""
        derived = self._derivable()
        arrays: dict[str, np.ndarray] = {}
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in derived or (f.name in _VARIANT_FIELDS and getattr(self, f.name) is None):
                continue  # the variants' fields are written only when used: default files unchanged
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                fields[f.name] = _to_jsonable(value)
        return npz_bytes(arrays, {"kind": self._result_kind(), "fields": fields,
                                  "trajectory_format": TRAJECTORY_FORMAT, "derived": list(derived)})

    def _derivable(self) -> tuple[str, ...]:
        """``("gamma", "rho")`` if recomputing them from the stored fields gives the same bits, else ``()``."""
        if self.gamma is None or self.rho is None or any(getattr(self, k) is None for k in _BOOKKEEPING):
            return ()
        try:
            gamma, rho = _derive_gamma_rho({k: getattr(self, k) for k in ("coef",) + _BOOKKEEPING})
        except ValueError:
            return ()
        return ("gamma", "rho") if _same_bits(gamma, self.gamma) and _same_bits(rho, self.rho) else ()

    @classmethod
    def load(cls, path: Any) -> Trajectory:
        """:meth:`SavableResult.load` of both file formats. Format 2 (``trajectory_format`` in the
        metadata) derives γ and ρ from ``coef`` and the stored bookkeeping by the code that computed
        them in training (:func:`signal_noise_coefficients`), so they come back bit for bit. Format 1
        (no ``trajectory_format``) stores γ and ρ and lacks the bookkeeping (loaded as ``None``).

        A file written before the per-signal fields (``signal_strength``, ``signals_learned``,
        ``learned_rank``, ``gamma_stable_rank``, ``class_overlaps``) is read too: they are derived from
        ``γ`` where it allows (the overlaps always; the strengths and ``gamma_stable_rank`` when the
        metadata give ``signal_norm``), else ``None`` (``signals_learned`` and ``learned_rank`` need the
        memorization edge, which such files lack)."""
        arrays, meta = load_npz(path, kind=cls._result_kind())
        fmt = meta.get("trajectory_format", 1)
        if isinstance(fmt, bool) or fmt not in (1, 2):
            raise ResultsFileError(f"results file {str(path)!r} has trajectory_format={fmt!r}: this cnnrank "
                                   "reads formats 1 and 2")
        values = dict(meta.get("fields", {}))
        values.update(arrays)
        derived = meta.get("derived", []) if fmt >= 2 else []
        if derived not in ([], ["gamma", "rho"]):
            raise ResultsFileError(f"results file {str(path)!r} has derived={derived!r}: must be [] or "
                                   "['gamma', 'rho']")
        if fmt == 1:  # written before the bookkeeping was kept
            for k in _BOOKKEEPING:
                values.setdefault(k, None)
        if derived:
            if "gamma" in values or "rho" in values:
                raise ResultsFileError(f"results file {str(path)!r} is inconsistent: it stores gamma/rho "
                                       "and says they are derived")
            try:
                values["gamma"], values["rho"] = _derive_gamma_rho(values)
            except ValueError as exc:
                raise ResultsFileError(f"results file {str(path)!r} is inconsistent: {exc}") from None
        names = {f.name for f in dataclasses.fields(cls)}
        for k in _VARIANT_FIELDS:  # absent when unused (and in files written before they existed)
            values.setdefault(k, None)
        missing = names - set(values)
        if missing and missing <= set(_SIGNAL_FIELDS):
            values.update(_derived_signal_fields(values, missing))
            missing = names - set(values)
        if missing:
            raise ResultsFileError(f"results file {str(path)!r} lacks fields {sorted(missing)}")
        _check_field_types(cls, values, path)
        obj = cls(**{k: values[k] for k in names})
        try:
            obj._check_loaded()
            obj._check_value_ranges()
        except ValueError as exc:
            raise ResultsFileError(f"results file {str(path)!r} is inconsistent: {exc}") from None
        return obj

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    @property
    def has_coefficients(self) -> bool:
        """Whether the run has patch coefficients (``False`` for sign descent and Adam, whose ``coef``
        has shape ``(R, 2, m, 0, 0)``; docs/theory.md, "Sign descent and Adam")."""
        return not (self.coef.ndim == 5 and self.coef.shape[3:] == (0, 0))

    def __repr__(self) -> str:
        R = len(self)
        m, n, P = self.coef.shape[2:5] if self.coef.ndim == 5 else (None, None, None)
        if not self.has_coefficients and self.rho is not None and self.rho.ndim == 5:
            n, P = self.rho.shape[3], self.rho.shape[4] + 1
        d = None if self.W_init is None else self.W_init.shape[-1]
        if d is None:
            d = self.metadata.get("sample", {}).get("model", {}).get("d") if isinstance(self.metadata, dict) else None
        span = f"steps {int(self.steps[0])}..{int(self.steps[-1])}" if R else "no steps"
        head = (f"Trajectory(engine={self.engine!r}, R={R} records at {span}, m={m}, n={n}, P={P}, d={d}, "
                f"lr={self.lr:g}, activation={self.activation.get('name') if isinstance(self.activation, dict) else None!r}")
        if not R:
            return head + ")"
        final = [f"train_loss={float(self.train_loss[-1]):.4g}", f"train_acc={float(self.train_acc[-1]):.3g}"]
        if self.test_loss is not None and self.test_acc is not None:
            final += [f"test_loss={float(self.test_loss[-1]):.4g}", f"test_acc={float(self.test_acc[-1]):.3g}"]
        if self.learned_dimension is not None:
            final.append(f"learned_dimension={int(self.learned_dimension[-1])}")
        final.append(f"filter_stable_rank={float(self.filter_stable_rank[-1]):.4g}")
        return head + "; final: " + ", ".join(final) + ")"

    def finite_records(self) -> int:
        """Number of leading records whose every per-record number (losses, accuracies, coefficients,
        γ, ρ, stable ranks) is finite: all of them for a run that did not blow up."""
        R = len(self)
        ok = np.ones(R, dtype=bool)
        for a in (self.train_loss, self.train_acc, self.test_loss, self.test_acc, self.coef, self.gamma,
                  self.rho, self.filter_stable_rank, self.learned_stable_rank):
            if a is not None and R:
                a = np.asarray(a)
                if a.dtype.kind not in "biufc":
                    a = a.astype(np.float64)
                ok &= np.isfinite(a).all(axis=tuple(range(1, a.ndim)))  # per record, without a reshaping copy
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if bad.size else R

    def _check_loaded(self) -> None:
        """Consistency of a loaded file: every per-record array has ``R`` rows and the shapes agree
        (coef (R, 2, m, n, P), gamma (R, 2, m, 2K), rho (R, 2, m, n, P-1), ranks (R,), W_init/W_final
        (2, m, d), patches (n, P, d)); a valid activation and a known engine; then every stored
        diagnostic within its documented range (:meth:`_check_ranges`). Raises ``ValueError`` naming the
        field (:meth:`SavableResult.load` reports it with the file)."""
        check_loaded(self)

    def _check_ranges(self, m: int, d: int | None) -> None:
        """The documented range of every stored diagnostic (shapes already checked): losses ``>= 0``,
        accuracies in ``[0, 1]``, stable ranks 0 (a zero matrix) or in ``[1, min(2m, d)]``, singular
        values ``>= 0`` and descending, the learned dimension an integer in ``[0, min(2m, 2K)]`` (the
        rank of the signals when ``signal_angles`` shows it), the energy fraction in ``[0, 1]``, the
        overlap (a mean cosine) in ``[-1, 1]``, angles in ``[0, π/2]``; NaN where a diverged run leaves
        it. Bounds allow rounding (:data:`cnnrank.results.RANGE_RTOL`)."""
        check_ranges(self, m, d)

    @property
    def rho_pos(self) -> np.ndarray | None:
        """``ρ̄ = ρ · 1(ρ >= 0)``, shape (R, 2, m, n, P-1)."""
        return None if self.rho is None else np.maximum(self.rho, 0.0)

    @property
    def rho_neg(self) -> np.ndarray | None:
        """``ρ̲ = ρ · 1(ρ <= 0)``, shape (R, 2, m, n, P-1)."""
        return None if self.rho is None else np.minimum(self.rho, 0.0)

    def get_activation(self) -> Activation:
        """The activation object."""
        return activation_from_spec(self.activation)

    def weights_at(self, k: int) -> np.ndarray:
        """Filters at record ``k`` (negative counts from the end), rebuilt from the coefficients.

        ``W = s W(0) + Σ_{i,p} c_{j,r,i,p} x_i^(p)`` (``s = init_scale[k]`` with weight decay, else 1);
        shape (2, m, d). A run without patch coefficients (sign descent, Adam) keeps ``W(0)`` and the
        final filters only: the last record, and the first when it is step 0; any other record raises
        ``ValueError``.
        """
        if not self.has_coefficients:
            if self.W_init is None or self.W_final is None:
                raise ValueError(f"weights_at is unavailable: the {self.engine!r} engine kept no vectors")
            R = len(self)
            k = check_int("k", k, minimum=-R, maximum=R - 1) % R
            if k == R - 1:
                return np.array(self.W_final)
            if k == 0 and int(self.steps[0]) == 0:
                return np.array(self.W_init)
            opt = self.metadata.get("optimizer") if isinstance(self.metadata, dict) else None
            name = opt.get("name") if isinstance(opt, dict) else opt
            raise ValueError(f"weights_at({k}) is unavailable: a run without patch coefficients "
                             f"(optimizer {name!r}) keeps the "
                             f"filters of step 0 and of the last record (k={R - 1}) only")
        if self.W_init is None or self.patches is None:
            raise ValueError(f"weights_at is unavailable: the {self.engine!r} engine keeps no vectors")
        R = len(self)
        k = check_int("k", k, minimum=-R, maximum=R - 1) % R
        two, m, n, P = self.coef.shape[1:]
        d = self.patches.shape[2]
        C = self.coef[k].reshape(2 * m, n * P)
        W0 = self.W_init if self.init_scale is None else self.init_scale[k] * self.W_init
        return W0 + (C @ self.patches.reshape(n * P, d)).reshape(2, m, d)

    def summary(self, k: int = -1) -> dict[str, float]:
        """Headline numbers at record ``k``: loss, accuracy, max γ, max ρ̄, min ρ̲, stable ranks and,
        with signals, the learned-subspace diagnostics (learned dimension, an int; signal energy fraction,
        within-class overlap) and the per-signal ones (``signals_learned`` and ``learned_rank``, ints;
        ``gamma_stable_rank``; the per-class overlaps ``overlap_pos``, ``overlap_neg``)."""
        out = {
            "step": int(self.steps[k]),
            "train_loss": float(self.train_loss[k]),
            "train_acc": float(self.train_acc[k]),
            "filter_stable_rank": float(self.filter_stable_rank[k]),
            "learned_stable_rank": float(self.learned_stable_rank[k]),
        }
        if self.test_loss is not None and self.test_acc is not None:
            out["test_loss"] = float(self.test_loss[k])
            out["test_acc"] = float(self.test_acc[k])
        if self.gamma is not None and self.rho is not None:
            out["max_gamma"] = float(self.gamma[k].max())
            out["max_rho_pos"] = float(self.rho[k].max(initial=0.0))
            out["min_rho_neg"] = float(self.rho[k].min(initial=0.0))
        if (self.learned_dimension is not None and self.signal_energy_fraction is not None
                and self.signal_overlap is not None):
            out["learned_dimension"] = int(self.learned_dimension[k])  # a count: an int in JSON too
            out["signal_energy_fraction"] = float(self.signal_energy_fraction[k])
            out["signal_overlap"] = float(self.signal_overlap[k])
        if self.signals_learned is not None:
            out["signals_learned"] = int(self.signals_learned[k])
        if self.learned_rank is not None:
            out["learned_rank"] = int(self.learned_rank[k])
        if self.gamma_stable_rank is not None:
            out["gamma_stable_rank"] = float(self.gamma_stable_rank[k])
        if self.class_overlaps is not None:
            out["overlap_pos"] = float(self.class_overlaps[k, 0])
            out["overlap_neg"] = float(self.class_overlaps[k, 1])
        return out
