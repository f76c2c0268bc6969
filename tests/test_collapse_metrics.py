"""Tests of cnnrank.collapse.metrics and geometry: exact constructions, invariances, bounds."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnrank.collapse import (
    NCMetrics,
    coherence,
    coherence_lower_bound,
    grassmannian_frame,
    nc1_direct,
    nc_metrics,
    simplex_etf,
    welch_bound,
)

NC2_MEANS = ("equinorm_means", "equiangular_means", "maxangle_means", "etf_distance_means")
NC2_CLS = ("equinorm_classifier", "equiangular_classifier", "maxangle_classifier", "etf_distance_classifier")
SCALARS = ("nc1",) + NC2_MEANS + NC2_CLS + ("nc3_duality", "nc4_ncc_mismatch", "p_min")


def _noisy_problem(C=5, d=8, per=7, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    M = 2.0 * simplex_etf(C, d, rng=rng) + 0.3 * rng.standard_normal((C, d))
    y = np.repeat(np.arange(C), per)
    H = M[y] + noise * rng.standard_normal((C * per, d))
    W = M + 0.2 * rng.standard_normal((C, d))
    b = 0.1 * rng.standard_normal(C)
    return H, y, W, b


@pytest.mark.parametrize("C,d", [(2, 1), (3, 2), (4, 3), (5, 9), (10, 12)])
def test_perfect_collapse_gives_zeros(C, d):
    M = simplex_etf(C, d, rng=C)
    y = np.repeat(np.arange(C), 4)
    H = 3.0 * M[y]  # collapsed features on the scaled ETF, W self-dual
    m = nc_metrics(H, y, W=M, b=np.zeros(C))
    shifted = nc_metrics(H + 0.5, y)  # any translation of a collapsed ETF is still collapsed
    for name in ("nc1",) + NC2_MEANS:
        assert abs(getattr(shifted, name)) < 1e-12, name
    # exact up to rounding: tolerances are a few hundred ulps of O(1) quantities
    for name in ("nc1",) + NC2_MEANS + NC2_CLS + ("nc3_duality",):
        assert abs(getattr(m, name)) < 1e-12, name
    assert m.nc4_ncc_mismatch == 0.0
    # all margins equal 3 (w_c - w_c')·w_c = 3 (1 + 1/(C-1)) for the scaled ETF
    assert np.isclose(m.p_min, 3.0 * C / (C - 1), rtol=1e-12)
    off = ~np.eye(C, dtype=bool)
    assert np.allclose(m.pair_margins[off], 3.0 * C / (C - 1)) and np.all(np.isnan(np.diag(m.pair_margins)))


def test_nc1_matches_direct_trace_and_bruteforce():
    H, y, W, b = _noisy_problem()
    m = nc_metrics(H, y, W, b)
    assert np.isclose(m.nc1, nc1_direct(H, y), rtol=1e-10)
    # independent oracle: explicit loops over classes, np.cov, np.linalg.pinv
    C = 5
    mus = np.array([H[y == c].mean(0) for c in range(C)])
    Sw = sum(np.cov((H[y == c] - mus[c]).T, bias=True) * np.sum(y == c) for c in range(C)) / len(y)
    Sb = np.cov((mus - H.mean(0)).T, bias=True, aweights=None)  # balanced: μ_G = mean of means
    assert np.isclose(m.nc1, np.trace(Sw @ np.linalg.pinv(Sb)) / C, rtol=1e-9)


def test_nc2_and_nc4_by_hand():
    H, y, W, b = _noisy_problem(C=4, d=6)
    m = nc_metrics(H, y, W, b)
    mus = np.array([H[y == c].mean(0) for c in range(4)])
    V = mus - H.mean(0)
    nrm = np.linalg.norm(V, axis=1)
    assert np.isclose(m.equinorm_means, np.std(nrm) / np.mean(nrm))
    cos = [V[i] @ V[j] / nrm[i] / nrm[j] for i in range(4) for j in range(4) if i != j]
    assert np.isclose(m.equiangular_means, np.std(cos))
    assert np.isclose(m.maxangle_means, np.mean(np.abs(np.array(cos) + 1 / 3)))
    ncc = [np.argmin([np.linalg.norm(h - mu) for mu in mus]) for h in H]
    net = [np.argmax(W @ h + b) for h in H]
    assert m.nc4_ncc_mismatch == np.mean(np.array(ncc) != np.array(net))
    pm = min((W[y[i]] - W[c]) @ H[i] for i in range(len(y)) for c in range(4) if c != y[i])
    assert np.isclose(m.p_min, pm)


def test_invariances():
    H, y, W, b = _noisy_problem(seed=3)
    m0 = nc_metrics(H, y, W, b)
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))
    rot = nc_metrics(H @ Q, y, W @ Q, b)
    for name in SCALARS:  # rotation: everything (rounding-level tolerance)
        assert np.isclose(getattr(rot, name), getattr(m0, name), rtol=1e-9, atol=1e-12), name
    np.testing.assert_allclose(rot.pair_margins, m0.pair_margins, rtol=1e-9)
    sc = nc_metrics(2.5 * H, y, 0.4 * W, b)  # scaling: all but the margins; NC4 changes only via b
    for name in ("nc1",) + NC2_MEANS + NC2_CLS + ("nc3_duality",):
        assert np.isclose(getattr(sc, name), getattr(m0, name), rtol=1e-9), name
    assert np.isclose(sc.p_min, 2.5 * 0.4 * m0.p_min)
    tr = nc_metrics(H + 7.0, y)  # translation of features: NC1 and NC2-means unchanged
    for name in ("nc1",) + NC2_MEANS:
        assert np.isclose(getattr(tr, name), getattr(m0, name), rtol=1e-9), name
    # NC1 is invariant to any invertible linear map when Σ_B is invertible (d = C − 1), not otherwise
    H4, y4, _, _ = _noisy_problem(C=5, d=4, seed=4)
    A = np.random.default_rng(2).standard_normal((4, 4)) + 3 * np.eye(4)
    assert np.isclose(nc_metrics(H4 @ A, y4).nc1, nc_metrics(H4, y4).nc1, rtol=1e-7)


@given(st.integers(2, 6), st.integers(0, 3), st.integers(0, 10**6))
def test_nc_metrics_ranges_and_classifier_none(C, extra, seed):
    rng = np.random.default_rng(seed)
    d = C - 1 + extra
    y = np.concatenate([np.arange(C), rng.integers(0, C, 10)])
    H = rng.standard_normal((len(y), d))
    m = nc_metrics(H, y)
    assert m.nc1 >= 0 and 0 <= m.etf_distance_means <= 2 + 1e-12 and m.equinorm_means >= 0
    assert m.p_min is None and m.nc3_duality is None and m.pair_margins is None
    W = rng.standard_normal((C, d))
    mw = nc_metrics(H, y, W)
    assert 0.0 <= mw.nc4_ncc_mismatch <= 1.0 and 0 <= mw.nc3_duality <= 4 + 1e-12
    assert np.isclose(mw.p_min, np.nanmin(mw.pair_margins))


def test_validation_errors():
    H, y, W, b = _noisy_problem()
    with pytest.raises(ValueError, match="labels"):
        nc_metrics(H, y[:-1])
    with pytest.raises(ValueError, match="labels"):
        nc_metrics(H, np.where(y == 2, 0, y))  # class 2 has no sample but 3,4 do
    with pytest.raises(ValueError, match="labels"):
        nc_metrics(H, y - 1)
    with pytest.raises(ValueError, match="W"):
        nc_metrics(H, y, W[:, :3])
    with pytest.raises(ValueError, match="H"):
        nc_metrics(np.full_like(H, np.nan), y)
    with pytest.raises(ValueError, match="b"):
        nc_metrics(H, y, b=b)


def test_save_load_roundtrip_and_as_dict(tmp_path):
    import json
    H, y, W, b = _noisy_problem()
    m = nc_metrics(H, y, W, b)
    m2 = NCMetrics.load(m.save(tmp_path / "m.npz"))
    for name in SCALARS:
        assert getattr(m2, name) == getattr(m, name)
    np.testing.assert_array_equal(m2.pair_margins, m.pair_margins)
    d = json.loads(json.dumps(m.as_dict()))
    assert d["pair_margins"][0][0] is None and d["nc1"] == m.nc1
    m3 = NCMetrics.load(nc_metrics(H, y).save(tmp_path / "n.npz"))
    assert m3.p_min is None


# ---------------------------------------------------------------- geometry
@pytest.mark.parametrize("C,d", [(2, 1), (3, 2), (4, 3), (6, 10)])
def test_simplex_etf_gram(C, d):
    M = simplex_etf(C, d, rng=0)
    G = M @ M.T
    np.testing.assert_allclose(G, (C * np.eye(C) - 1) / (C - 1), atol=1e-13)
    np.testing.assert_allclose(M.sum(0), 0, atol=1e-13)
    assert np.array_equal(simplex_etf(C, d, rng=5), simplex_etf(C, d, rng=5))  # same seed, same bits
    with pytest.raises(ValueError, match="d="):
        simplex_etf(C, C - 2)


def test_welch_bound_attained_by_known_etfs():
    tri = np.array([[np.cos(a), np.sin(a)] for a in 2 * np.pi * np.arange(3) / 3])  # 3 vectors in R²
    assert np.isclose(coherence(tri), welch_bound(3, 2)) and np.isclose(welch_bound(3, 2), 0.5)
    tet = simplex_etf(4, 3, rng=1)                                                   # 4 in R³
    assert np.isclose(coherence(tet), welch_bound(4, 3)) and np.isclose(welch_bound(4, 3), 1 / 3)
    assert np.isclose(coherence(tet, signed=True), -1 / 3)
    phi = (1 + 5**0.5) / 2                                                           # icosahedron
    ico = np.array([[0, 1, phi], [0, 1, -phi], [1, phi, 0], [1, -phi, 0], [phi, 0, 1], [-phi, 0, 1]])
    assert np.isclose(coherence(ico), welch_bound(6, 3))
    assert welch_bound(3, 5) == 0.0


@pytest.mark.parametrize("N,d,signed,attainable", [
    (3, 2, False, True), (4, 3, False, True), (6, 3, False, True), (5, 2, False, True),
    (4, 3, True, True), (5, 2, True, True), (6, 3, True, True), (8, 3, True, False), (10, 4, False, False),
])
def test_solver_reaches_bound_where_attainable_and_never_beats_it(N, d, signed, attainable):
    r = grassmannian_frame(N, d, signed=signed, restarts=6, steps=1500, rng=0)
    assert np.isclose(coherence(r.vectors, signed=signed), r.coherence)
    np.testing.assert_allclose(np.linalg.norm(r.vectors, axis=1), 1.0, atol=1e-12)
    assert r.gap >= -1e-12  # the bound is a theorem: never beaten (beyond rounding)
    if attainable:
        assert r.gap < 1e-8, (r.coherence, r.bound)
    else:
        assert r.gap > 1e-3  # Welch/Rankin not attainable here: a real gap is reported
    if (N, d, signed) == (8, 3, True):  # Tammes problem for 8 points: cos(74.8585°)
        assert abs(r.coherence - 0.26120) < 1e-4


def test_solver_seed_reproducible_and_roundtrip(tmp_path):
    from cnnrank.collapse import FrameResult
    a = grassmannian_frame(5, 3, restarts=2, steps=200, rng=7)
    b = grassmannian_frame(5, 3, restarts=2, steps=200, rng=7)
    assert np.array_equal(a.vectors, b.vectors)
    c = FrameResult.load(a.save(tmp_path / "f.npz"))
    assert np.array_equal(c.vectors, a.vectors) and c.gap == a.gap and c.bound_name == a.bound_name


@given(st.integers(2, 12), st.integers(1, 6))
def test_bounds_are_consistent(N, d):
    w = welch_bound(N, d)
    assert 0 <= w <= 1
    b, _ = coherence_lower_bound(N, d)
    assert b >= w - 1e-15
    s, _ = coherence_lower_bound(N, d, signed=True)
    assert s >= -1.0 / (N - 1) - 1e-15


@pytest.mark.parametrize("signed", [False, True])
def test_frame_objective_without_gradient_is_the_same_f(signed):
    """The solver's trial step asks for f only: the same bits as the full evaluation."""
    from cnnrank.collapse.geometry import _diagonal, _objective

    V = np.random.default_rng(3).standard_normal((4, 6, 3))
    V /= np.linalg.norm(V, axis=2, keepdims=True)
    f, g, coh = _objective(V, 50.0, signed)
    f2, g2, coh2 = _objective(V, 50.0, signed, gradient=False)
    assert g2 is None and g is not None and g.shape == V.shape
    assert f.tobytes() == f2.tobytes() and coh.tobytes() == coh2.tobytes()
    assert not _diagonal(6).flags.writeable and _diagonal(6) is _diagonal(6)
