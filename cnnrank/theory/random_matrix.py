r"""The random-matrix predictions (docs/theory.md §6.2–§6.3): the expected stable rank of the data
and of its patches in the proportional limit (a spiked Marchenko–Pastur argument), the expected
largest signal group, and the closed form of the learned part's stable rank.

Learned-part stable rank (derivation)
-------------------------------------
In the benign regime the learned part of the filters lies in the signal span (projected noise makes
``γ_{j,r,k} = ⟨w_{j,r} − w_{j,r}(0), μ_k⟩`` exact):

    W − W(0) ≈ Σ_k g_k μ_kᵀ / ‖μ_k‖,     g_k = γ_{:,:,k} / ‖μ‖ ∈ R^{2m}

(``g_k`` the k-th column of ``γ/‖μ‖``, the ``2m`` filters stacked). The ``μ_k/‖μ_k‖`` are orthonormal,
so the non-zero eigenvalues of ``(W − W(0))(W − W(0))ᵀ`` are those of the ``2K × 2K`` Gram matrix
``[⟨g_k, g_l⟩]``. A filter grows only on its own class's signals (for the other class ``−ℓ' y j < 0``
and ``σ'`` vanishes once the correlation is negative), so ``g_k`` of a class-+1 signal is supported on
the class-+1 filters and the Gram matrix is block-diagonal by class. If the ``K`` own-class columns
have equal norm ``a`` and pairwise cosine ``c``, a block is ``a²[(1 − c) I + c 11ᵀ]``, with eigenvalue
``a²(1 + (K−1)c)`` once and ``a²(1 − c)`` ``K−1`` times. Both blocks together have trace ``2K a²`` and
largest eigenvalue ``a²(1 + (K−1)c)`` (for ``c ≥ 0``), hence

    srank(W − W(0)) = 2K / (1 + (K−1) c).

This needs equal norms and equal cosines in *both* classes; in general the stable rank is exactly
``(tr G₊ + tr G₋) / max(λ₁(G₊), λ₁(G₋))`` with ``G_j`` the class-``j`` block, and the formula with an
overlap ``c`` averaged over the classes is not a bound (measured 0.47–1.07 of it, docs/theory.md §6.3);
:func:`predict_from_initialization` predicts the blocks themselves. ``c`` is
:attr:`Trajectory.signal_overlap`. For ``c < 0`` (allowed down to ``−1/(K−1)``, where the
block is still positive semi-definite; not seen in training, where the columns are non-negative) the
largest eigenvalue is ``a²(1 − c)`` instead, so in general

    srank = 2K / max(1 + (K−1) c, 1 − c),

which :func:`expected_filter_stable_rank` returns; for ``c ≥ 0`` it is ``2K / (1 + (K−1) c)``.

Expected stable rank of the data (derivation)
---------------------------------------------
Write the sample matrix ``A`` (n × Pd). Its signal and background blocks sit in orthogonal
coordinates (projected noise), so ``A Aᵀ = S + N Nᵀ`` with

* ``S`` of rank ``g`` (``g = 2K`` signal groups for a fixed signal position, ``2KP`` for a random one),
  a group of ``n_g`` samples sharing one signal patch contributing an eigenvalue ``‖μ‖² n_g``; the
  largest, ``s² = ‖μ‖² max_g n_g``, matters (``n/2K`` when balanced with a fixed position, else the
  expected maximum of multinomial counts, :func:`expected_max_group`);
* ``N`` an ``n × D`` Gaussian matrix of entry variance ``σ_p²``, ``D = (P-1) d_eff`` with
  ``d_eff = d - 2K`` (projected) or ``d``.

Numerator: ``E‖A‖_F² = n‖μ‖² + n σ_p² D``. Denominator: the top eigenvalue of a Wishart matrix
with an additive spike. In units of ``σ_p² D``, ``NNᵀ/(σ_p² D)`` has the Marchenko–Pastur law of
ratio ``c = n/D`` (R-transform ``1/(1 - c w)``), and a spike of size ``ℓ = s²/(σ_p² D)`` produces an
outlier ``ℓ + ℓ/(ℓ - c)`` when ``ℓ > c + √c``, otherwise the top eigenvalue sticks to the edge
``(1 + √c)²`` (Benaych-Georges & Nadakuditi 2011). (With a random signal position the background
blocks of two rows overlap in ``(P-1)²/P`` blocks on average, which makes ``c = n/(P d_eff)``.) Hence

.. math::
    \mathrm{E\,srank}(A) \approx \frac{n\|\mu\|^2 + n\sigma_p^2 D}
    {\sigma_p^2 D\,\max\big(\ell + \ell/(\ell - c)\ \text{if}\ \ell > c+\sqrt c,\ (1+\sqrt c)^2\big)},

which is ``n / max_g n_g`` (``= 2K`` balanced) at ``σ_p = 0`` and tends to ``n·D/(√D + √n)²`` (≈ ``n`` when ``D ≫ n``) for large noise.
The patch matrix (nP × d) is block diagonal in the same sense (signal rows and noise rows are
orthogonal), so its top eigenvalue is ``max(‖μ‖² max_k n_k, σ_p² (√d_eff + √(n(P-1)))²)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_int
from cnnrank.theory._config import RunConfigLike, _cfg, _d_eff, _signal_norm

#: the largest ``draws`` of :func:`expected_max_group` (each draw is one pass over ``n`` samples)
MAX_DRAWS = 10**6


def expected_filter_stable_rank(K: int, overlap: Any) -> np.ndarray | float:
    """Stable rank of the learned part ``W − W(0)`` in the benign regime: ``2K / (1 + (K−1) c)``.

    Derived in the module docstring (docs/theory.md §6.3) for own-class signal columns of ``γ`` of equal
    norm with pairwise cosine ``c`` in both classes; in general ``2K / max(1 + (K−1)c, 1 − c)``, which is
    the formula above for ``c >= 0``. Exact only then and not a bound: unequal norms or classes move the
    measured value either way; :func:`predict_from_initialization` predicts it from the initialization.

    Parameters
    ----------
    K : int >= 1
        Signals per class.
    overlap : float or array_like
        Within-class cosine ``c`` in ``[−1/(K−1), 1]`` (any finite value in [-1, 1] when ``K = 1``,
        which gives 2), e.g. :attr:`Trajectory.signal_overlap`.

    Returns
    -------
    float, or ndarray of the shape of ``overlap``

    Examples
    --------
    >>> expected_filter_stable_rank(4, 0.0), expected_filter_stable_rank(4, 1.0)
    (8.0, 2.0)
    """
    if isinstance(K, (bool, np.bool_)) or not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K={K!r} is invalid: must be an integer >= 1")
    K = int(K)
    c = np.asarray(overlap, dtype=float)
    if not np.all(np.isfinite(c)):
        raise ValueError(f"overlap={overlap!r} is invalid: must be finite")
    low = -1.0 / (K - 1) if K > 1 else -1.0
    if np.any(c < low - 1e-12) or np.any(c > 1.0 + 1e-12):
        raise ValueError(f"overlap={overlap!r} is invalid: must lie in [{low:.6g}, 1] for K={K} "
                         f"(a cosine, and the K×K Gram block must stay positive semi-definite)")
    c = np.clip(c, low, 1.0)
    top = np.maximum(1.0 + (K - 1) * c, 1.0 - c) if K > 1 else np.ones_like(c)
    out = 2.0 * K / top
    return float(out) if out.ndim == 0 else out


def expected_max_group(config: RunConfigLike, by_position: bool = True, draws: int = 200) -> float:
    """Expected size of the largest group of samples sharing one signal patch.

    A group is a signal (and, with ``by_position`` and a random signal position, a position). For
    balanced data with a fixed position it is exactly ``⌈n / 2K⌉``-ish; otherwise the group sizes
    are multinomial, and the mean of the maximum is estimated from ``draws`` draws of the model's own
    label/position law with a fixed internal seed (so the prediction is deterministic).

    ``draws`` is an integer in ``[1, 10^6]``; ``by_position`` is True or False.
    """
    c, model = _cfg(config)
    if not isinstance(by_position, (bool, np.bool_)):
        raise ValueError(f"by_position={by_position!r} is invalid: must be True or False")
    draws = check_int("draws", draws, minimum=1, maximum=MAX_DRAWS)
    rng = np.random.default_rng(20240415)
    random_pos = by_position and model.signal_position == "random"
    if model.balanced and not random_pos:
        _, ids = model.draw_classes(c.n, rng)
        return float(np.bincount(ids).max())
    tops = np.empty(draws)
    for t in range(draws):
        _, ids = model.draw_classes(c.n, rng)
        groups = ids * model.patches + rng.integers(0, model.patches, c.n) if random_pos else ids
        tops[t] = np.bincount(groups).max()
    return float(tops.mean())


def _spiked_top(ell: float, cratio: float) -> float:
    edge = (1.0 + np.sqrt(cratio)) ** 2
    if ell > cratio + np.sqrt(cratio):
        return max(ell + ell / (ell - cratio), edge)
    return edge


def _noise_levels(noise_std: Any, default: float) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """``noise_std`` (default ``default``) as a flat float array, checked finite and ``>= 0``, and the
    shape to give the result (``None`` for a scalar: a float is returned)."""
    value = default if noise_std is None else noise_std
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"noise_std={noise_std!r} is invalid: must be a number or an array of numbers >= 0")
    try:
        sig = as_array("noise_std", value, finite=False)
    except ValueError as exc:  # strings, objects, complex: one line naming noise_std
        raise ValueError(f"noise_std={noise_std!r:.60} is invalid: must be a number or an array of numbers "
                         f">= 0 ({str(exc).split(': ', 1)[-1]})") from None
    if sig.size and (not np.all(np.isfinite(sig)) or np.any(sig < 0)):
        bad = sig[~(np.isfinite(sig) & (sig >= 0))].ravel()[0]
        raise ValueError(f"noise_std={noise_std!r:.60} is invalid: every level must be finite and >= 0 "
                         f"(found {float(bad)!r})")
    return sig.ravel(), (None if sig.ndim == 0 else sig.shape)


def _shaped(out: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray | float:
    return float(out[0]) if shape is None else out.reshape(shape)


def expected_data_stable_rank(config: RunConfigLike, noise_std: Any = None) -> np.ndarray | float:
    """Predicted stable rank of the n × Pd sample matrix as a function of ``σ_p`` (see module doc).

    Parameters
    ----------
    config : RunConfig
    noise_std : float or array of any shape, optional
        Noise levels, each finite and ``>= 0`` (default: ``config.noise_std``).

    Returns
    -------
    float for a scalar ``noise_std``, else an array of its shape (elementwise)

    The prediction depends on ``σ_p`` only through ``‖μ‖ / σ_p``: it is computed from that ratio,
    so that no square under- or overflows at extreme levels (``σ_p = 1e-200`` or ``1e200``).

    With unequal ``signal_norms`` it uses the root-mean-square norm ``√(mean_k ‖μ_k‖²)``: exact for
    the total energy (the trace), an approximation for the top eigenvalue, which then belongs to the
    strongest group ``max_k n_k ‖μ_k‖²`` (docs/theory.md, "Unequal signal norms").
    """
    c, model = _cfg(config)
    sig, shape = _noise_levels(noise_std, model.noise_std)
    n, mu = c.n, np.float64(_signal_norm(model, "rms"))
    D = (model.patches - 1) * _d_eff(model)
    G = expected_max_group(c, by_position=True)
    # With a random signal position the background of a row fills P - 1 of P blocks that vary from
    # row to row: off-diagonal entries of NNᵀ then have variance σ⁴ d_eff (P-1)²/P instead of σ⁴ D,
    # i.e. the Marchenko-Pastur ratio is n / (P d_eff) rather than n / D.
    D_spread = model.patches * _d_eff(model) if model.signal_position == "random" else D
    out = np.empty_like(sig)
    for i, s in enumerate(sig):  # one level at a time: a scalar formula per level
        with np.errstate(over="ignore", under="ignore"):
            r = (mu / s) ** 2 if s > 0 else np.float64(math.inf)  # ‖μ‖² / σ²
            ell, num = r * G / D, n * r + n * D  # the spike in units of σ² D; num / σ²
        if math.isinf(ell) or math.isinf(num):
            # no noise, or noise far below the signal: the outlier is ℓ (1 + 1/(ℓ − c)) → ℓ, and
            # num / (D ℓ) = (n / G)(1 + D / r)
            out[i] = n / G * (1.0 + D / r) if mu > 0 else 0.0
            continue
        # num / (σ² D · top) with num = n ‖μ‖² + n σ² D, divided through by σ²
        out[i] = num / (D * _spiked_top(ell, n / D_spread))
    return _shaped(out, shape)


def expected_patch_stable_rank(config: RunConfigLike, noise_std: Any = None) -> np.ndarray | float:
    """Predicted stable rank of the nP × d patch matrix (block-diagonal argument, module doc).

    ``noise_std``: as in :func:`expected_data_stable_rank` (finite levels ``>= 0`` of any shape;
    a float for a scalar). Computed with ``σ_p`` and ``‖μ‖`` divided by the larger of the two.
    """
    c, model = _cfg(config)
    sig, shape = _noise_levels(noise_std, model.noise_std)
    n, mu, de = c.n, _signal_norm(model, "rms"), _d_eff(model)
    rows = n * (model.patches - 1)
    u = np.maximum(sig, mu)
    safe = np.where(u > 0, u, 1.0)
    with np.errstate(under="ignore"):
        a2, b2 = (mu / safe) ** 2, (sig / safe) ** 2  # ‖μ‖²/u² and σ²/u², both <= 1
    num = n * a2 + rows * b2 * de
    top = np.maximum(a2 * expected_max_group(c, by_position=False), b2 * (np.sqrt(de) + np.sqrt(rows)) ** 2)
    out = np.where((u > 0) & (top > 0), num / np.where(top > 0, top, 1.0), 0.0)
    return _shaped(out, shape)
