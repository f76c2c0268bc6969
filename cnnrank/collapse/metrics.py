"""Neural-collapse metrics NC1–NC4 and multi-class margins (docs/theory.md §7).

Notation. ``H`` has shape ``(n, d)``: row ``i`` is the penultimate feature ``h_i``; ``labels`` has
shape ``(n,)`` with entries in ``0..C-1``; the classifier ``W`` has shape ``(C, d)`` (row ``c`` is
``w_c``) and the bias ``b`` shape ``(C,)``. Every class must occur at least once.

Normalizations (the ones of Papyan, Han & Donoho 2020, as written in docs/theory.md §7):

* ``μ_c`` is the mean of class ``c``; ``μ_G`` the mean of **all** features (equal to the mean of the
  class means when the classes are balanced); ``M̃`` has rows ``μ_c − μ_G``.
* ``Σ_W = (1/n) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ``, ``Σ_B = (1/C) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ``.
* ``NC1 = Tr(Σ_W Σ_B⁺) / C`` with the Moore–Penrose pseudo-inverse.
* standard deviations are population ones (``ddof=0``).

Where public codebases differ (checked against the widely copied reference notebook code):
its NC1 is ``Tr(Σ_W Σ_B⁺)`` *without* the ``1/C`` (so it is ``C`` times ours) and inverts ``Σ_B`` on
its top ``C − 1`` singular pairs only (``svds(Sb, k=C-1)``, identical to ours when ``rank Σ_B = C−1``);
its equinorm uses ``torch.std`` (unbiased, ``ddof=1``: larger than ours by ``√(C/(C−1))``); some
variants take ``μ_G`` as the mean of the class means; its "coherence" is our ``maxangle`` (the mean of
``|cos + 1/(C−1)|``); its NC3 is the squared Frobenius distance, as ours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnrank._validation import as_array, check_int
from cnnrank.results import SavableResult

__all__ = ["NCMetrics", "class_means", "margins", "nc1_direct", "nc_metrics"]


@dataclass(frozen=True, eq=False)
class NCMetrics(SavableResult):
    """Neural-collapse metrics of one set of features (and, optionally, a linear classifier).

    Every ``*_classifier``, ``nc3_duality``, ``nc4_ncc_mismatch``, ``p_min`` and ``pair_margins`` is
    ``None`` when no classifier was given. See :func:`nc_metrics` for the formulas.

    Attributes
    ----------
    num_classes : int
    nc1 : float
        ``Tr(Σ_W Σ_B⁺) / C``.
    equinorm_means, equinorm_classifier : float
        ``std_c ‖v_c‖ / mean_c ‖v_c‖`` for ``v_c = μ_c − μ_G`` (resp. ``w_c``).
    equiangular_means, equiangular_classifier : float
        ``std_{c≠c'} cos(v_c, v_c')``.
    maxangle_means, maxangle_classifier : float
        ``mean_{c≠c'} |cos(v_c, v_c') + 1/(C−1)|``.
    etf_distance_means, etf_distance_classifier : float
        ``‖G/‖G‖_F − (I − 11ᵀ/C)/√(C−1)‖_F`` with ``G`` the Gram matrix of the ``v_c``.
    nc3_duality : float or None
        ``‖W/‖W‖_F − M̃/‖M̃‖_F‖_F²``.
    nc4_ncc_mismatch : float or None
        Fraction of samples where the classifier and the nearest class mean disagree.
    p_min : float or None
        ``min_i min_{c≠y_i} (w_{y_i} − w_c)ᵀ h_i`` (bias excluded).
    pair_margins : ndarray, shape (C, C), or None
        ``pair_margins[c, c'] = min_{i: y_i = c} (w_c − w_c')ᵀ h_i``; NaN on the diagonal.
    """

    _kind: ClassVar[str] = "NCMetrics"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {
        "num_classes": {"lo": 1, "integer": True}, "nc4_ncc_mismatch": {"lo": 0.0, "hi": 1.0},
        **{k: {"lo": 0.0} for k in ("nc1", "equinorm_means", "equiangular_means", "maxangle_means",
                                    "etf_distance_means", "equinorm_classifier", "equiangular_classifier",
                                    "maxangle_classifier", "etf_distance_classifier", "nc3_duality")},
    }

    num_classes: int
    nc1: float
    equinorm_means: float
    equiangular_means: float
    maxangle_means: float
    etf_distance_means: float
    equinorm_classifier: float | None = None
    equiangular_classifier: float | None = None
    maxangle_classifier: float | None = None
    etf_distance_classifier: float | None = None
    nc3_duality: float | None = None
    nc4_ncc_mismatch: float | None = None
    p_min: float | None = None
    pair_margins: np.ndarray | None = None

    def as_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (``pair_margins`` as nested lists, NaN → ``None``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = [[None if not np.isfinite(x) else float(x) for x in row] for row in v]
            out[f.name] = v
        return out


def _check_labels(labels: Any, n: int, num_classes: int | None) -> tuple[np.ndarray, int]:
    raw = np.asarray(labels)
    if raw.shape != (n,):
        raise ValueError(f"labels has shape {raw.shape} which is invalid: must have shape ({n},) like H's rows")
    if raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))):
        raise ValueError("labels is invalid: must hold integers 0..C-1")
    lab = raw.astype(np.int64)
    if n and lab.min() < 0:
        raise ValueError(f"labels is invalid: found negative label {int(lab.min())}; must be in 0..C-1")
    C = int(lab.max()) + 1 if num_classes is None else check_int("num_classes", num_classes, minimum=2)
    if C < 2:
        raise ValueError(f"labels is invalid: found {C} class; need at least 2")
    if lab.max() >= C:
        raise ValueError(f"labels is invalid: found label {int(lab.max())} >= num_classes={C}")
    counts = np.bincount(lab, minlength=C)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0)[:5].tolist()
        raise ValueError(f"labels is invalid: classes {missing} have no sample; every class needs one")
    return lab, C


def class_means(H: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means ``μ_c`` (shape ``(C, d)``) and the global mean ``μ_G`` (shape ``(d,)``).

    One matrix product: ``μ = diag(1/n_c) Yᵀ H`` with the one-hot ``Y`` of shape ``(n, C)``.
    """
    Y = np.zeros((H.shape[0], num_classes))
    Y[np.arange(H.shape[0]), labels] = 1.0
    means = (Y.T @ H) / Y.sum(axis=0)[:, None]
    return means, H.mean(axis=0)


def _pinv_rank_tol(s: np.ndarray, shape: tuple[int, int]) -> float:
    # numpy.linalg.matrix_rank's default: s_max * max(shape) * eps.
    return (s[0] if s.size else 0.0) * max(shape) * np.finfo(np.float64).eps


def _nc2(V: np.ndarray) -> tuple[float, float, float, float]:
    """(equinorm, equiangular, maxangle, etf_distance) of the rows of ``V`` (shape ``(C, d)``)."""
    C = V.shape[0]
    norms = np.linalg.norm(V, axis=1)
    mean_norm = norms.mean()
    equinorm = float(norms.std() / mean_norm) if mean_norm > 0 else float("nan")
    safe = np.where(norms > 0, norms, 1.0)
    U = V / safe[:, None]
    cos = U @ U.T
    off = ~np.eye(C, dtype=bool)
    equiangular = float(cos[off].std())
    maxangle = float(np.abs(cos[off] + 1.0 / (C - 1)).mean())
    G = V @ V.T
    gn = np.linalg.norm(G)
    target = (np.eye(C) - np.full((C, C), 1.0 / C)) / np.sqrt(C - 1)
    etf = float(np.linalg.norm(G / gn - target)) if gn > 0 else float("nan")
    return equinorm, equiangular, maxangle, etf


def margins(H: np.ndarray, labels: np.ndarray, W: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimum margin ``p_min`` and the per-pair margin matrix.

    ``p_min = min_i min_{c≠y_i} (w_{y_i} − w_c)ᵀ h_i`` and
    ``P[c, c'] = min_{i: y_i = c} (w_c − w_c')ᵀ h_i`` (NaN on the diagonal), so ``p_min = nanmin(P)``.

    Parameters
    ----------
    H : ndarray, shape (n, d)
    labels : ndarray of int, shape (n,), every class 0..C-1 present
    W : ndarray, shape (C, d)

    Returns
    -------
    p_min : float
    P : ndarray, shape (C, C)
    """
    C = W.shape[0]
    Z = H @ W.T                                          # (n, C) logits without bias
    diff = Z[np.arange(H.shape[0]), labels][:, None] - Z  # (w_y − w_c)ᵀ h
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(labels, minlength=C))[:-1]))
    P = np.minimum.reduceat(diff[order], starts, axis=0)
    P[np.diag_indices(C)] = np.nan
    return float(np.nanmin(P)), P


def nc1_direct(H: Any, labels: Any) -> float:
    """Reference NC1 through explicit ``d × d`` matrices: ``Tr(Σ_W pinv(Σ_B)) / C``.

    Slow for large ``d``; :func:`nc_metrics` computes the same number through the SVD of ``M̃``.
    """
    H = as_array("H", H, ndim=2)
    lab, C = _check_labels(labels, H.shape[0], None)
    mu, mu_g = class_means(H, lab, C)
    Z = H - mu[lab]
    Sw = Z.T @ Z / H.shape[0]
    Mt = mu - mu_g
    Sb = Mt.T @ Mt / C
    return float(np.trace(Sw @ np.linalg.pinv(Sb, hermitian=True)) / C)


def nc_metrics(H: Any, labels: Any, W: Any = None, b: Any = None, *, num_classes: int | None = None) -> NCMetrics:
    """Neural-collapse metrics NC1–NC4 and margins of features ``H`` (and classifier ``W, b``).

    Formulas (docs/theory.md §7; ``v_c`` is ``μ_c − μ_G`` for "means" and ``w_c`` for "classifier")::

        Σ_W  = (1/n) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ,    Σ_B = (1/C) M̃ᵀ M̃
        nc1  = Tr(Σ_W Σ_B⁺) / C
        equinorm     = std_c ‖v_c‖ / mean_c ‖v_c‖                      (ddof = 0)
        equiangular  = std_{c≠c'} cos(v_c, v_c')                       (ddof = 0)
        maxangle     = mean_{c≠c'} |cos(v_c, v_c') + 1/(C−1)|
        etf_distance = ‖G/‖G‖_F − (I − 11ᵀ/C)/√(C−1)‖_F,  G_{cc'} = ⟨v_c, v_c'⟩
        nc3_duality  = ‖W/‖W‖_F − M̃/‖M̃‖_F‖_F²
        nc4_ncc_mismatch = mean_i 1[argmax_c (w_cᵀh_i + b_c) ≠ argmin_c ‖h_i − μ_c‖]
        p_min = min_i min_{c≠y_i} (w_{y_i} − w_c)ᵀ h_i                 (bias excluded)

    ``Σ_B⁺`` is applied through the thin SVD ``M̃ = U S Vᵀ`` (singular values below
    ``s_max · max(C, d) · eps`` dropped), so ``nc1 = ‖Z V S⁻¹‖_F² / n`` with ``Z = H − μ_y``: no
    ``d × d`` matrix is formed. See the module docstring for how public codebases normalize
    differently (notably NC1 without the ``1/C``).

    Invariances: everything is invariant to a rotation ``H → HQ, W → WQ``; the means terms and NC1
    to translating and scaling ``H`` (NC1 to any invertible linear map when ``d = C − 1``); the
    classifier terms to scaling ``W``; NC3 to separate positive scalings of ``H`` and ``W``. ``p_min``
    and ``pair_margins`` scale with ``‖H‖·‖W‖``.

    Parameters
    ----------
    H : array_like, shape (n, d)
        Features.
    labels : array_like of int, shape (n,)
        Classes in ``0..C-1``; every class must occur.
    W : array_like, shape (C, d), optional
        Classifier rows ``w_c``.
    b : array_like, shape (C,), optional
        Bias (only used by NC4; zero if omitted).
    num_classes : int, optional
        ``C``; by default ``max(labels) + 1``.

    Returns
    -------
    NCMetrics

    Raises
    ------
    ValueError
        Bad shapes, non-finite values, labels outside ``0..C-1`` or a class without samples.

    Examples
    --------
    >>> import numpy as np
    >>> from cnnrank.collapse import simplex_etf, nc_metrics
    >>> M = simplex_etf(4, 6, rng=0)
    >>> H = np.repeat(M, 3, axis=0); y = np.repeat(np.arange(4), 3)
    >>> round(nc_metrics(H, y, W=M).etf_distance_means, 12)
    0.0
    """
    H = as_array("H", H, ndim=2)
    n, d = H.shape
    lab, C = _check_labels(labels, n, num_classes)
    mu, mu_g = class_means(H, lab, C)
    Mt = mu - mu_g
    Z = H - mu[lab]
    _, s, Vt = np.linalg.svd(Mt, full_matrices=False)
    keep = s > _pinv_rank_tol(s, Mt.shape)
    if np.any(keep):
        proj = (Z @ Vt[keep].T) / s[keep]
        nc1 = float(np.sum(proj**2) / n)  # Tr(Σ_W Σ_B⁺)/C with Σ_B⁺ = C V S⁻² Vᵀ
    else:
        nc1 = float("inf") if np.any(Z) else float("nan")
    fields: dict[str, Any] = dict(num_classes=C, nc1=nc1)
    (fields["equinorm_means"], fields["equiangular_means"], fields["maxangle_means"],
     fields["etf_distance_means"]) = _nc2(Mt)
    if W is None:
        if b is not None:
            raise ValueError("b is invalid: a bias needs a classifier W")
        return NCMetrics(**fields)
    W = as_array("W", W, shape=(C, d))
    b = np.zeros(C) if b is None else as_array("b", b, shape=(C,))
    (fields["equinorm_classifier"], fields["equiangular_classifier"], fields["maxangle_classifier"],
     fields["etf_distance_classifier"]) = _nc2(W)
    wn, mn = np.linalg.norm(W), np.linalg.norm(Mt)
    fields["nc3_duality"] = float(np.sum((W / wn - Mt / mn) ** 2)) if wn > 0 and mn > 0 else float("nan")
    logits = H @ W.T + b
    sq = np.sum(H**2, axis=1)[:, None] - 2.0 * H @ mu.T + np.sum(mu**2, axis=1)[None, :]
    fields["nc4_ncc_mismatch"] = float(np.mean(np.argmax(logits, axis=1) != np.argmin(sq, axis=1)))
    fields["p_min"], fields["pair_margins"] = margins(H, lab, W)
    return NCMetrics(**fields)
