r"""The base class of the activations (docs/theory.md §2): value, derivative, power, kinks, spec, and the
fused form :meth:`Activation.terms_and_grad` the coefficient-space engines use."""

from __future__ import annotations

import abc
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np

#: ``σ(z) = Σ_k t_k / c_k`` as ``((c_0, t_0), (c_1, t_1), …)`` (:meth:`Activation.terms_and_grad`)
Terms = tuple[tuple[float, np.ndarray], ...]


def _pow(x: np.ndarray, p: float) -> np.ndarray:
    """``x**p`` for ``x >= 0``, by repeated products for small integer ``p`` (much faster than pow)."""
    if p == 0:
        return np.ones_like(x)
    if p == 1:
        return x.copy()
    if p == 2:
        return x * x
    if p == 3:
        return x * x * x
    if p == 4:
        t = x * x
        return t * t
    return x**p


def power_off_fixed_points(x: np.ndarray, e: float, out: np.ndarray) -> np.ndarray:
    """``np.power(x, e, out=out)``, the same bits, with ``pow`` evaluated only where ``x`` is not 0 or 1.

    For ``e > 0`` C99 (Annex F) fixes ``pow`` at those points: ``pow(±0, e) = +0``, or ``±0`` when ``e``
    is an odd integer, and ``pow(1, e) = 1``. Those entries are written directly; every other entry
    (including NaN, infinities and negative values) is ``np.power`` of the gathered values. The
    pre-activations of a trained network are 0 after clipping at about half the entries, where
    ``np.power`` is about 5x slower than elsewhere (its vector loop leaves for a scalar path), so the
    Huberized ReLU's ``σ' = u^{q-1}`` (non-integer or ``q - 1 >= 3``) costs a third as much.
    ``e <= 0``, NaN ``e``, or a non-contiguous ``x``/``out`` fall back to ``np.power``.

    Parameters
    ----------
    x, out : ndarray, same shape, C-contiguous float64 (``out`` may be ``x``)
    e : float
    """
    if not (e > 0 and x.shape == out.shape and x.flags.c_contiguous and out.flags.c_contiguous):
        return np.power(x, e, out=out)
    xf = x.reshape(-1)
    inner = np.flatnonzero(np.not_equal(xf, 0.0) & np.not_equal(xf, 1.0))
    values = np.power(np.take(xf, inner), e)  # gathered first: ``out`` may be ``x``
    if float(e).is_integer() and e % 2 == 1:
        np.copyto(out, x)  # ±0 -> ±0, 1 -> 1
    else:
        np.abs(x, out=out)  # ±0 -> +0, 1 -> 1
    out.reshape(-1)[inner] = values
    return out


class Activation(abc.ABC):
    """Base class: ``act(z)`` is the value, ``act.grad(z)`` the derivative, elementwise."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def __call__(self, z: np.ndarray) -> np.ndarray:
        """``σ(z)`` elementwise, same shape as ``z``."""

    @abc.abstractmethod
    def grad(self, z: np.ndarray) -> np.ndarray:
        """``σ'(z)`` elementwise with ``σ'(0) = 0``, same shape as ``z``."""

    def terms_and_grad(self, z: np.ndarray,
                       out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[Terms, np.ndarray]:
        r"""``σ(z)`` as a sum of terms and ``σ'(z)``, in one fused pass (docs/theory.md §2).

        Parameters
        ----------
        z : ndarray of float64, any shape
            Pre-activations.
        out : (work0, work1, grad), optional
            Three float64 buffers of ``z``'s shape, overwritten; the returned arrays may be views of
            them. The base class ignores them.

        Returns
        -------
        terms : tuple of (c_k, t_k)
            ``σ(z) = Σ_k t_k / c_k`` (the divisors ``c_k`` are floats, ``1.0`` for a plain term): a
            consumer folding ``σ`` into a weighted sum (``Σ_r w_r σ(z_r)``) divides its weights by
            ``c_k`` once instead of the terms every time. The base class: ``((1.0, σ(z)),)``.
        grad : ndarray, shape of ``z``
            ``σ'(z)`` with ``σ'(0) = 0``.
        """
        return ((1.0, self(z)),), self.grad(z)

    def value_and_grad(self, z: np.ndarray,
                       out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``σ(z)`` and ``σ'(z)`` in one fused pass: the terms of :meth:`terms_and_grad` added up
        (``t_0 · (1/c_0) + t_1 · (1/c_1) + …``, in place in the buffers of ``out`` when given).

        Returns
        -------
        value, grad : ndarray, shape of ``z``
        """
        terms, grad = self.terms_and_grad(z, out)
        (c0, val), rest = terms[0], terms[1:]
        if c0 != 1.0:
            val = np.multiply(val, 1.0 / c0, out=val)
        for c, t in rest:
            if c != 1.0:
                t = np.multiply(t, 1.0 / c, out=t)
            val = np.add(val, t, out=val)
        return val, grad

    @property
    def power(self) -> float | None:
        """The power :math:`q` of the activation's head near 0 (``σ'(z) ∝ z^{q-1}``; 1 for ReLU), or
        ``None`` when the activation declares none (:mod:`cnnrank.theory` then refuses it)."""
        return None

    def kinks(self) -> tuple[float, ...]:
        """Points where the activation is not twice differentiable (for gradient checks): declared by
        each activation, there is no default."""
        raise NotImplementedError(f"{type(self).__name__} declares no kinks()")

    def spec(self) -> dict[str, Any]:
        """JSON-able description; :func:`activation_from_spec` rebuilds the activation."""
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]
