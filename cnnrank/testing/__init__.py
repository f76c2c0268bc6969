r"""A testing toolkit for users of cnnrank (and for cnnrank's own tests).

* :func:`check_grad` -- in the spirit of autograd's ``check_grads``: compares the analytic
  directional derivative :math:`\langle \nabla f(x), v\rangle` along one random unit direction ``v``
  with the central difference :math:`(f(x + \epsilon v) - f(x - \epsilon v)) / 2\epsilon`, as one
  scalar, and raises ``AssertionError`` when they disagree.
* :func:`taylor_slope` -- in the spirit of pymanopt's diagnostics: the slope of the first-order Taylor
  remainder :math:`|f(x + t v) - f(x) - t\langle \nabla f(x), v\rangle|` against ``t`` on a log-log
  scale, which is 2 for a correct gradient of a smooth function (robust where one step is not).
* :func:`assert_sweeps_equal` -- two :class:`~cnnrank.sweeps.SweepResult` with the same metrics, bit for
  bit or to a relative tolerance (e.g. a grouped sweep against the same sweep cell by cell).
* :data:`SHAPE_RTOL` and :data:`COUNT_METRICS` -- the equality policy of the tests: bit for bit only where
  the same operations run in the same order; :data:`SHAPE_RTOL` where only the shape of a matrix
  product changes (a BLAS picks its blocking and micro-kernels by shape and CPU); counts equal always.
* :mod:`cnnrank.testing.strategies` -- hypothesis strategies for models, data and weights (needs the
  ``test`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._validation import check_real, check_rng

__all__ = ["GradCheck", "assert_sweeps_equal", "check_grad", "directional_check", "taylor_slope"]

#: Relative tolerance (normwise for arrays: ``max|a - b| / max|b|``; elementwise for the scalar metrics of
#: a sweep) for two computations of the same gradient descent whose matrix products differ only in
#: shape: one run's ``(M, M) × (M, 2m)`` product against the same columns inside a wider
#: ``(M, M) × (M, 2mB)`` product (runs sharing a Gram matrix, groups of sweep cells of other sizes) or a
#: stacked ``(B, M, M) × (B, M, 2m)`` one (batched runs). A BLAS picks its blocking and micro-kernels by
#: the shape and the CPU, so such products may round the last bit differently: with OpenBLAS 0.3.31 they
#: are bit for bit under its Haswell kernels but not under its Nehalem or SkylakeX ones (at most 1.1e-15
#: after 150 steps in tests/test_batched.py). 1e-13 leaves 100× room for the growth of rounding over a
#: few hundred steps and still fails on any real error (a wrong coefficient moves results by > 1e-3).
SHAPE_RTOL = 1e-13

#: Counts and thresholded counts (accuracies, the learned dimension): compared exactly even where the
#: floating-point numbers of the same runs are compared to a tolerance (a rounding difference flips
#: one only if a value sits exactly on its threshold).
COUNT_METRICS = ("train_acc", "test_acc", "learned_dimension")


@dataclass(frozen=True)
class GradCheck:
    """Outcome of a directional gradient check."""

    numeric: float
    analytic: float
    abs_error: float
    rel_error: float
    passed: bool


def _unit_direction(shape: tuple[int, ...], rng: Any) -> np.ndarray:
    v = np.random.default_rng(check_rng("rng", rng)).standard_normal(shape)
    return v / np.linalg.norm(v)


def directional_check(
    fun: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    rng: Any = None,
) -> GradCheck:
    """Compare ``<grad(x), v>`` with a central difference of ``fun`` along a random unit ``v``.

    Parameters
    ----------
    fun : callable, array of shape ``x.shape`` -> float
    grad : callable, array -> array of shape ``x.shape``
    x : ndarray
    eps : float
        Finite-difference step (the error of the central difference is ``O(eps²)``).
    rtol, atol : float
        Passes when ``|numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|)``.
    rng : seed or Generator for the direction.
    """
    x = np.asarray(x, dtype=np.float64)
    eps = check_real("eps", eps, positive=True)
    rtol = check_real("rtol", rtol, nonnegative=True)
    atol = check_real("atol", atol, nonnegative=True)
    v = _unit_direction(x.shape, rng)
    numeric = (float(fun(x + eps * v)) - float(fun(x - eps * v))) / (2 * eps)
    g = np.asarray(grad(x), dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"grad(x) has shape {g.shape} which is invalid: must equal x.shape={x.shape}")
    analytic = float(np.sum(g * v))
    err = abs(numeric - analytic)
    scale = max(abs(numeric), abs(analytic))
    return GradCheck(numeric, analytic, err, err / scale if scale > 0 else err,
                     bool(err <= atol + rtol * scale))


def check_grad(
    fun: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    **kwargs: Any,
) -> GradCheck:
    """:func:`directional_check`, raising ``AssertionError`` with both numbers when it fails.

    Examples
    --------
    >>> import numpy as np
    >>> check_grad(lambda x: float(np.sum(x**3)), lambda x: 3 * x**2, np.arange(3.0), rng=0).passed
    True
    """
    res = directional_check(fun, grad, x, **kwargs)
    if not res.passed:
        raise AssertionError(
            f"gradient check failed: central difference {res.numeric:.12g} vs analytic "
            f"{res.analytic:.12g} (abs error {res.abs_error:.3g}, rel error {res.rel_error:.3g})"
        )
    return res


def taylor_slope(
    fun: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    *,
    t: np.ndarray | None = None,
    rng: Any = None,
) -> float:
    """Least-squares slope of ``log|f(x+tv) - f(x) - t<g, v>|`` against ``log t``.

    About 2 for a correct gradient of a C² function, about 1 for a wrong one. ``t`` defaults to
    ``logspace(-4, -1, 8)``; steps whose remainder is at rounding level are dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.logspace(-4, -1, 8) if t is None else np.asarray(t, dtype=np.float64)
    v = _unit_direction(x.shape, rng)
    f0 = float(fun(x))
    slope0 = float(np.sum(np.asarray(grad(x)) * v))
    rem = np.array([abs(float(fun(x + s * v)) - f0 - s * slope0) for s in t])
    keep = rem > 1e3 * np.finfo(float).eps * max(abs(f0), 1e-300)
    if keep.sum() < 2:
        return float("inf")  # remainder below rounding: the function is (locally) linear along v
    return float(np.polyfit(np.log(t[keep]), np.log(rem[keep]), 1)[0])


def assert_sweeps_equal(a: Any, b: Any, rtol: float = 0.0, exact: tuple[str, ...] = ()) -> None:
    """Assert that two sweep results hold the same metrics with the same shapes.

    Every metric array (grid axes × seeds) must be bit for bit equal when ``rtol == 0``, else within
    ``rtol`` relative (NaNs in the same places), except the metrics named in ``exact`` (counts such as
    accuracies or the learned dimension, :data:`COUNT_METRICS`), which must be equal in any case.
    Bit for bit is right only when both sweeps ran every cell with the same operations in the same
    order (the same grouping of cells); where groups differ in size, use ``rtol=SHAPE_RTOL,
    exact=COUNT_METRICS``.

    Raises
    ------
    AssertionError
        Naming the first metric that differs.
    """
    rtol = check_real("rtol", rtol, nonnegative=True)
    assert a.values.keys() == b.values.keys(), (sorted(a.values), sorted(b.values))
    for k in a.values:
        if rtol == 0 or k in exact:
            np.testing.assert_array_equal(a.values[k], b.values[k], err_msg=k)
        else:
            np.testing.assert_allclose(a.values[k], b.values[k], rtol=rtol, atol=0, err_msg=k)
