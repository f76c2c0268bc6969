r"""The data model of the theory (docs/theory.md §1): low-rank clean images plus background noise.

:class:`SignalNoiseModel` is the frozen configuration; :meth:`SignalNoiseModel.sample` draws a
:class:`PatchData`. Each sample has ``P`` patches in :math:`\mathbb{R}^d`: one signal patch
:math:`\mu_k` (``u_k`` for class +1, ``v_k`` for class -1) and ``P - 1`` background patches
:math:`\xi \sim N(0, \sigma_p^2 (I - \Pi))` (``project_noise=True``, :math:`\Pi` the projector on the
span of the ``2K`` signals) or :math:`N(0, \sigma_p^2 I)`. :meth:`SignalNoiseModel.sample_gram` draws the
same law as inner products only (:mod:`cnnrank.gram_sample`, a :class:`~cnnrank.gram_sample.GramSample`);
both take their labels, signal ids, positions and label flips from the draws of
:meth:`SignalNoiseModel.draw_labels`.

:class:`PatchData` is also the container for real images (``cnnrank.datasets``): there only ``X`` and
``y`` are given and the synthetic bookkeeping fields are ``None``. It lives in :mod:`cnnrank.patch_data`
and :func:`make_signals` in :mod:`cnnrank.signal_vectors`; both are re-exported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._memory import check_allocation
from cnnrank._validation import check_choice, check_int, check_real, check_rng
from cnnrank.gram_sample import GramSample, sample_gram
from cnnrank.patch_data import PatchData, _readonly
from cnnrank.signal_vectors import _check_signal_norms, make_signals

__all__ = ["MAX_SIZE", "PatchData", "SignalNoiseModel", "make_signals"]

#: the largest ``d``, ``K`` or ``patches`` of a :class:`SignalNoiseModel`: ``2^53``, the last integer
#: float64 holds exactly (the draws of :meth:`SignalNoiseModel.sample_gram` use ``d`` as a float)
MAX_SIZE = 2**53


@dataclass(frozen=True)
class SignalNoiseModel:
    """Configuration of the signal-plus-background data model (docs/theory.md §1).

    Parameters
    ----------
    d : int
        Patch dimension. With ``project_noise`` it must exceed ``2K`` (noise lives in the
        complement of the signals).
    K : int
        Signals per class (``2K`` orthogonal signals in all).
    patches : int
        Patches per sample ``P >= 2``.
    signal_norm : float
        ``‖μ‖`` >= 0, the signal strength.
    noise_std : float
        ``σ_p`` >= 0, the background noise level.
    project_noise : bool
        Background noise ``N(0, σ_p² (I - Π))`` (True) or ``N(0, σ_p² I)`` (False).
    label_noise : float
        Probability in ``[0, 1/2)`` that the observed label is flipped.
    balanced : bool
        Exactly balanced classes (and signals within a class as even as ``n`` allows) instead of
        i.i.d. draws.
    signal_position : int or "random"
        Patch index of the signal patch, or ``"random"`` for a uniform position per sample.
    signal_basis : "canonical" or "random"
        Signals along the first ``2K`` coordinate axes, or a random orthonormal frame drawn from the
        ``rng`` of :meth:`sample` (the first draw).
    signal_norms : tuple of 2K floats, or None
        Per-signal strengths ``‖μ_k‖`` (each finite and > 0), in the order of the signals
        ``μ_1..μ_2K`` (rows of :meth:`signals`: class +1 first). ``None`` (default): every signal has
        norm ``signal_norm`` (the draws are then the same bits as before the field existed). When
        given, ``signal_norm`` is not used for sampling; :attr:`norms` is the per-signal array the
        sampling and the bookkeeping use (docs/theory.md, "Unequal signal norms").

    Examples
    --------
    >>> model = SignalNoiseModel(d=50, K=2, patches=3, signal_norm=5.0, noise_std=1.0)
    >>> data = model.sample(10, rng=0)
    >>> data.X.shape, data.noise.shape
    ((10, 3, 50), (10, 2, 50))
    """

    d: int
    K: int = 4
    patches: int = 3
    signal_norm: float = 5.0
    noise_std: float = 1.0
    project_noise: bool = True
    label_noise: float = 0.0
    balanced: bool = False
    signal_position: int | str = 0
    signal_basis: str = "canonical"
    signal_norms: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)
        # sizes enter the formulas as float64 (√d, χ² degrees of freedom): at most 2^53, exactly representable
        set_("K", check_int("K", self.K, minimum=1, maximum=MAX_SIZE))
        set_("d", check_int("d", self.d, minimum=1, maximum=MAX_SIZE))
        if self.project_noise and self.d < 2 * self.K + 1:
            raise ValueError(
                f"d={self.d} is invalid: with project_noise=True it must be >= 2K + 1 = {2 * self.K + 1}"
            )
        if not self.project_noise and self.d < 2 * self.K:
            raise ValueError(f"d={self.d} is invalid: 2K orthogonal signals need d >= 2K = {2 * self.K}")
        set_("patches", check_int("patches", self.patches, minimum=2, maximum=MAX_SIZE))
        set_("signal_norm", check_real("signal_norm", self.signal_norm, nonnegative=True))
        set_("noise_std", check_real("noise_std", self.noise_std, nonnegative=True))
        set_("label_noise", check_real("label_noise", self.label_noise, nonnegative=True, below=0.5))
        for name in ("project_noise", "balanced"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: must be True or False")
        if isinstance(self.signal_position, str):
            check_choice("signal_position", self.signal_position, ("random",))
        else:
            set_("signal_position",
                 check_int("signal_position", self.signal_position, minimum=0, maximum=self.patches - 1))
        check_choice("signal_basis", self.signal_basis, ("canonical", "random"))
        set_("signal_norms", _check_signal_norms(self.signal_norms, self.K))

    @property
    def norms(self) -> np.ndarray:
        """Per-signal norms ``‖μ_k‖``, shape (2K,): :attr:`signal_norms`, or ``signal_norm`` repeated."""
        if self.signal_norms is None:
            return np.full(2 * self.K, float(self.signal_norm))
        return np.array(self.signal_norms, dtype=np.float64)

    def replace(self, **changes: Any) -> SignalNoiseModel:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def snr(self) -> float:
        """Cao et al.'s signal-to-noise ratio ``‖μ‖ / (σ_p √d)`` (``inf`` when ``σ_p = 0``); with
        :attr:`signal_norms` the weakest signal's, ``min_k ‖μ_k‖ / (σ_p √d)``."""
        denom = self.noise_std * np.sqrt(self.d)
        mu = self.signal_norm if self.signal_norms is None else min(self.signal_norms)
        return float("inf") if denom == 0 else mu / denom

    def signals(self, rng: Any = None) -> np.ndarray:
        """The ``2K`` signal vectors, shape (2K, d) (``rng`` is used only for a random basis); row
        ``k`` has norm ``norms[k]``."""
        if self.signal_norms is None:
            return make_signals(self.d, self.K, self.signal_norm, self.signal_basis, rng)
        return make_signals(self.d, self.K, 1.0, self.signal_basis, rng) * self.norms[:, None]

    def sample_gram(self, n: int, m: int, init_std: float, n_test: int = 0, rng: Any = None) -> GramSample:
        """Draw the inner products of ``n`` samples, ``n_test`` test samples and ``2m`` initial filters.

        The law of every inner product of ``sample(n)``, ``sample(n_test)`` and
        ``TwoLayerCNN.init(m, d, init_std)``, drawn without any ``d``-dimensional vector (a Wishart
        draw by the Bartlett decomposition): the cost does not depend on ``d``. Train on it with
        :func:`cnnrank.train.train_implicit`. See :func:`cnnrank.gram_sample.sample_gram` for the
        construction and what it can give.

        Returns
        -------
        cnnrank.gram_sample.GramSample
        """
        return sample_gram(self, n, m, init_std, n_test=n_test, rng=rng)

    def draw_classes(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw the true labels and signal ids of ``n`` samples (the first draws of :meth:`draw_labels`).

        Balanced: ``⌊n/2⌋`` samples per class (one coin decides the odd one), signals cycled within a
        class, then one permutation. Otherwise: a fair label per sample, then a uniform signal of its
        class.

        Parameters
        ----------
        n : int
        rng : Generator

        Returns
        -------
        y_true : ndarray, shape (n,)
            ``+1`` for a class +1 signal (ids ``0..K-1``), ``-1`` otherwise.
        signal_id : ndarray of int, shape (n,)
            Row of the signals each sample carries.
        """
        K = self.K
        if self.balanced:
            n_pos = n // 2 + (int(rng.integers(2)) if n % 2 else 0)
            k_pos = np.arange(n_pos) % K
            k_neg = K + np.arange(n - n_pos) % K
            signal_id = rng.permutation(np.concatenate([k_pos, k_neg]))
        else:
            y = rng.choice(np.array([1, -1]), size=n)
            k = rng.integers(0, K, size=n)
            signal_id = np.where(y > 0, k, K + k)
        y_true = np.where(signal_id < K, 1.0, -1.0)
        return y_true, signal_id

    def draw_positions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Signal patch position of ``n`` samples, shape (n,): uniform in ``0..P-1`` for
        ``signal_position="random"`` (one draw), else the fixed position (no draw)."""
        if self.signal_position == "random":
            return rng.integers(0, self.patches, size=n)
        return np.full(n, int(self.signal_position))

    def draw_flips(self, y_true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observed labels: each of ``y_true`` flipped with probability ``label_noise`` (no draw when 0)."""
        n = y_true.shape[0]
        flips = rng.random(n) < self.label_noise if self.label_noise > 0 else np.zeros(n, bool)
        return np.where(flips, -y_true, y_true)

    def draw_labels(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Labels, signal ids, signal positions and label flips of ``n`` samples, in this draw order.

        :meth:`draw_classes`, :meth:`draw_positions`, :meth:`draw_flips` back to back: the draws of
        :meth:`sample` without its signal basis and background noise (which :meth:`sample` draws
        between the positions and the flips), as :meth:`sample_gram` uses them.

        Returns
        -------
        y, y_true, signal_id, signal_pos : ndarray, shape (n,)
            Observed labels, true labels, signal ids and signal positions (as in :class:`PatchData`).
        """
        y_true, signal_id = self.draw_classes(n, rng)
        pos = self.draw_positions(n, rng)
        return self.draw_flips(y_true, rng), y_true, signal_id, pos

    def sample(self, n: int, rng: Any = None) -> PatchData:
        """Draw ``n`` samples.

        Parameters
        ----------
        n : int
            Number of samples, >= 1.
        rng : None, int, SeedSequence or Generator
            Normalized with ``np.random.default_rng``. The draws happen in a fixed order (signal
            basis, labels and signal ids (:meth:`draw_classes`), positions (:meth:`draw_positions`),
            noise, label flips (:meth:`draw_flips`)), so a seed fixes every bit.

        Returns
        -------
        PatchData
            ``X`` (n, P, d), ``y`` (n,), ``signals`` (2K, d), ``signal_id`` (n,), ``signal_pos`` (n,),
            ``y_true`` (n,).
        """
        n = check_int("n", n, minimum=1)
        return self._draw(n, [self.noise_std], rng)[0]

    def sample_noise_levels(self, n: int, noise_levels: Any, rng: Any = None) -> list[PatchData]:
        """Draw ``n`` samples once and return them at several noise levels (common random numbers).

        Entry ``b`` is bit for bit ``self.replace(noise_std=noise_levels[b]).sample(n, rng=seed)``
        for the same seed when the signal basis is canonical (with a random basis and
        ``project_noise``, to rounding): the levels share the signals, labels, positions, label flips
        and the unit background draw ``ξ``, whose patches are ``σ_b ξ``. Each entry's ``meta`` holds
        ``"noise_family"``: the family's ``id`` (shared by the entries of one call), this entry's
        ``scale`` ``σ_b``, ``unit_X`` (the read-only patches at ``σ = 1``, one array shared by the
        family) and ``X`` (the entry's own patches), which :func:`cnnrank.batched.train_batched` uses to
        advance the levels with one Gram matrix (docs/engines.md, "Noise sweeps") after checking that
        the entry's patches are still ``σ_b ×`` the unit patches (the marker alone is not trusted).

        Parameters
        ----------
        n : int
            Number of samples, >= 1.
        noise_levels : sequence of float
            ``σ_p`` values, each >= 0 (at least one).
        rng : None, int, SeedSequence or Generator
            As in :meth:`sample`.

        Returns
        -------
        list of PatchData, one per level
        """
        n = check_int("n", n, minimum=1)
        levels = [check_real(f"noise_levels[{i}]", v, nonnegative=True)
                  for i, v in enumerate(np.atleast_1d(np.asarray(noise_levels, dtype=object)).tolist())]
        if not levels:
            raise ValueError("noise_levels=[] is invalid: give at least one level")
        return self._draw(n, levels, rng, family=True)

    def _draw(self, n: int, levels: list[float], rng: Any, family: bool = False) -> list[PatchData]:
        """The draws of :meth:`sample`, returned at each of ``levels`` (the noise scaled, then projected)."""
        rng = np.random.default_rng(check_rng("rng", rng))
        copies = len(levels) + (1 if family else 0)
        # each level: its patches, its own copies of the labels, ids, positions and signals, and about
        # 2 KiB of Python objects (the PatchData, its meta dicts)
        per_level = 8.0 * (n * self.patches * self.d + 4 * n + 2 * self.K * self.d) + 2048.0
        check_allocation(8.0 * n * self.patches * self.d + per_level * copies,
                         f"model.sample({n}) ({n} × {self.patches} patches of dimension d={self.d}, float64, "
                         f"with the noise draw{f', at {len(levels)} noise levels' if family else ''})",
                         f"{'fewer noise levels or ' if family else ''}fewer samples, or the dimension-free "
                         "model.sample_gram(n, m, init_std) with "
                         "cnnrank.train_implicit (its cost does not depend on d)")
        S = self.signals(rng)
        y_true, signal_id = self.draw_classes(n, rng)
        P, d = self.patches, self.d
        pos = self.draw_positions(n, rng)
        xi = rng.standard_normal((n, P - 1, d))
        y = self.draw_flips(y_true, rng)
        sig_mask = np.arange(P)[None, :] == pos[:, None]
        if self.signal_norms is None:
            U = S / self.signal_norm if self.project_noise and self.signal_norm > 0 else None  # orthonormal rows
        else:  # every norm > 0 (validated)
            U = S / self.norms[:, None] if self.project_noise else None

        def patches(scale: float) -> np.ndarray:
            with np.errstate(over="ignore", invalid="ignore"):  # checked below: one error, no warnings
                noise = scale * xi if family or len(levels) > 1 else np.multiply(xi, scale, out=xi)
                if U is not None:
                    noise -= (noise @ U.T) @ U
            if not np.all(np.isfinite(noise)):
                name = "noise_std" if not family else f"noise_levels[{levels.index(scale)}]"
                raise ValueError(f"{name}={scale!r} is invalid: the background patches σ_p ξ overflow float64 "
                                 f"(entries up to {float(np.max(np.abs(xi))):.3g} σ_p > 1.8e308); use a "
                                 f"smaller noise level")
            X = np.empty((n, P, d))
            X[sig_mask] = S[signal_id]
            X[~sig_mask] = noise.reshape(n * (P - 1), d)
            return X

        meta = {"model": dataclasses.asdict(self)}
        out = []
        unit = None
        if family:
            unit = _readonly(patches(1.0))
            token = f"{id(unit):x}-{n}-{P}-{d}"
        for level in levels:
            m = dict(meta, model=dict(meta["model"], noise_std=level))
            if family:
                m["noise_family"] = {"id": token, "scale": float(level), "unit_X": unit}
            data = PatchData(X=patches(level), y=y, signals=S, signal_id=signal_id, signal_pos=pos,
                             y_true=y_true, meta=m)
            if family:  # the member's own (read-only) patches: a consumer can tell them from a replace(X=...)
                data.meta["noise_family"]["X"] = data.X
            out.append(data)
        return out
