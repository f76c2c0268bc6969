r"""Activations of the two-layer CNN (docs/theory.md §2), vectorized, with their derivatives.

All use the convention :math:`\sigma'(0) = 0` and vanish for :math:`z \le 0`.

* :class:`HuberizedReLU` -- threshold :math:`\kappa > 0`, power :math:`q \ge 1`:

  .. math::
     \sigma(z) = \begin{cases} 0 & z \le 0\\ z^q / (q\kappa^{q-1}) & 0 < z \le \kappa\\
                 z - (1 - 1/q)\kappa & z > \kappa \end{cases},\qquad
     \sigma'(z) = \min((z/\kappa)^{q-1}, 1)\ \ (z > 0).

* :class:`ReLU` -- :math:`\max(z, 0)`, derivative :math:`1(z > 0)`.
* :class:`PolyReLU` -- :math:`\max(z, 0)^q`, derivative :math:`q\max(z, 0)^{q-1}` (0 at 0).

Each activation is a frozen dataclass, callable on arrays of any shape, with ``.grad(z)`` and
``.spec()`` (a JSON-able dict; :func:`activation_from_spec` inverts it).

The engines that step in coefficient space need ``σ`` and ``σ'`` of the same pre-activations in one
pass: :meth:`Activation.terms_and_grad` is the fused form (one home per activation: the value as a sum
of terms ``σ(z) = Σ_k t_k(z) / c_k``, the derivative, optionally into preallocated buffers) and
:meth:`Activation.value_and_grad` adds the terms up. They equal ``act(z)`` and ``act.grad(z)`` up to
rounding (the fused form reuses ``σ'`` to build ``σ``).
"""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from cnnrank._validation import check_real

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
    def power(self) -> float:
        """The power :math:`q` of the activation's head near 0 (1 for ReLU)."""
        return float(getattr(self, "q", 1.0))

    def kinks(self) -> tuple[float, ...]:
        """Points where the activation is not twice differentiable (for gradient checks)."""
        return (0.0,)

    def spec(self) -> dict[str, Any]:
        """JSON-able description; :func:`activation_from_spec` rebuilds the activation."""
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class HuberizedReLU(Activation):
    """Huberized ReLU with threshold ``kappa`` > 0 and power ``q`` >= 1 (default 3).

    Parameters
    ----------
    kappa : float
        Threshold between the polynomial head and the linear tail.
    q : float
        Power of the head. ``q = 2`` is the Huberized ReLU of Frei, Chatterji and Bartlett.

    Examples
    --------
    >>> act = HuberizedReLU(kappa=1.0, q=3)
    >>> float(act(np.array(1.0))), float(act.grad(np.array(0.5)))
    (0.3333333333333333, 0.25)
    """

    kappa: float = 1.0
    q: float = 3.0
    name: ClassVar[str] = "huberized_relu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kappa", check_real("kappa", self.kappa, positive=True))
        object.__setattr__(self, "q", check_real("q", self.q, minimum=1.0))
        log_c = math.log(self.q) + (self.q - 1.0) * math.log(self.kappa)  # log of q κ^(q-1)
        if not -700.0 < log_c < 700.0:
            raise ValueError(f"kappa={self.kappa:g}, q={self.q:g} is invalid: the head's constant q·κ^(q-1) = "
                             f"e^{log_c:.0f} is outside float64; use a smaller q or a kappa closer to 1")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        zc = np.clip(z, 0.0, self.kappa)
        out = _pow(zc, self.q)
        out *= 1.0 / (self.q * self.kappa ** (self.q - 1.0))
        out += np.maximum(z - self.kappa, 0.0)
        return out

    def grad(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        zc = np.clip(z, 0.0, self.kappa)
        zc *= 1.0 / self.kappa
        out = _pow(zc, self.q - 1.0)
        if self.q == 1.0:
            out = np.where(z > 0.0, out, 0.0)  # σ'(0) = 0 also when the head is linear
        return out

    def kinks(self) -> tuple[float, ...]:
        return (0.0, self.kappa)

    def terms_and_grad(self, z: np.ndarray,
                       out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[Terms, np.ndarray]:
        """Fused form: ``u = min(z⁺, κ)/κ``, ``σ' = u^{q-1}``, ``σ = min(z⁺, κ) σ' / q + (z - κ)⁺``
        (terms ``(q, min(z⁺, κ) σ')`` and ``(1, (z - κ)⁺)``); see :meth:`Activation.terms_and_grad`."""
        if self.q == 1.0:
            return super().terms_and_grad(z, out)
        z = np.asarray(z, dtype=np.float64)
        b0, b1, grad = (np.empty_like(z), np.empty_like(z), np.empty_like(z)) if out is None else out
        kappa, e = self.kappa, self.q - 1.0
        zc = np.clip(z, 0.0, kappa, out=b0)
        u = zc if kappa == 1.0 else np.multiply(zc, 1.0 / kappa, out=b1)
        if e == 2.0:
            np.multiply(u, u, out=grad)
        elif e == 1.0:
            grad[...] = u
        else:
            np.power(u, e, out=grad)
        head = np.multiply(zc, grad, out=b1)  # zc^q / κ^(q-1)
        tail = np.maximum(np.subtract(z, kappa, out=b0), 0.0, out=b0)
        return ((self.q, head), (1.0, tail)), grad


@dataclass(frozen=True)
class ReLU(Activation):
    """Plain ReLU ``max(z, 0)`` with derivative ``1(z > 0)``."""

    name: ClassVar[str] = "relu"

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(z, dtype=np.float64), 0.0)

    def grad(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=np.float64) > 0.0).astype(np.float64)

    def terms_and_grad(self, z: np.ndarray,
                       out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[Terms, np.ndarray]:
        """Fused form: ``σ = z⁺``, ``σ' = 1(z > 0)``; see :meth:`Activation.terms_and_grad`."""
        z = np.asarray(z, dtype=np.float64)
        if out is None:
            return ((1.0, np.maximum(z, 0.0)),), (z > 0.0).astype(np.float64)
        b0, _, grad = out
        np.greater(z, 0.0, out=grad)
        return ((1.0, np.maximum(z, 0.0, out=b0)),), grad


@dataclass(frozen=True)
class PolyReLU(Activation):
    """Polynomial ReLU ``max(z, 0)**q`` with ``q`` >= 1 (Cao et al. use ``q > 2``)."""

    q: float = 3.0
    name: ClassVar[str] = "poly_relu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "q", check_real("q", self.q, minimum=1.0))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return _pow(np.maximum(np.asarray(z, dtype=np.float64), 0.0), self.q)

    def grad(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        out = self.q * _pow(np.maximum(z, 0.0), self.q - 1.0)
        if self.q == 1.0:
            out = np.where(z > 0.0, out, 0.0)
        return out

    def terms_and_grad(self, z: np.ndarray,
                       out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[Terms, np.ndarray]:
        """Fused form: ``σ = (z⁺)^{q-1} z⁺``, ``σ' = q (z⁺)^{q-1}``; see :meth:`Activation.terms_and_grad`."""
        if self.q == 1.0:
            return super().terms_and_grad(z, out)
        z = np.asarray(z, dtype=np.float64)
        b0, b1, grad = (np.empty_like(z), np.empty_like(z), np.empty_like(z)) if out is None else out
        e = self.q - 1.0
        zp = np.maximum(z, 0.0, out=b0)
        if e == 2.0:
            np.multiply(zp, zp, out=b1)
        elif e == 1.0:
            b1[...] = zp
        else:
            np.power(zp, e, out=b1)
        np.multiply(b1, self.q, out=grad)
        return ((1.0, np.multiply(b1, zp, out=b1)),), grad


_REGISTRY: dict[str, type[Activation]] = {
    cls.name: cls for cls in (HuberizedReLU, ReLU, PolyReLU)
}


def activation_from_spec(spec: dict[str, Any] | Activation) -> Activation:
    """Rebuild an activation from :meth:`Activation.spec` (an activation is returned as is)."""
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, dict) or spec.get("name") not in _REGISTRY:
        raise ValueError(f"activation={spec!r} is invalid: must name one of {sorted(_REGISTRY)}")
    params = {k: v for k, v in spec.items() if k != "name"}
    return _REGISTRY[spec["name"]](**params)


def parse_activation(text: str, kappa: float = 1.0) -> Activation:
    """Parse a short name: ``"huber"``/``"huber3"`` (q=3), ``"huber2"``, ``"relu"``, ``"poly3"``."""
    if not isinstance(text, str):
        raise TypeError(f"activation={text!r} is invalid: must be a name such as 'huber3', 'relu' or 'poly3'")
    t = text.strip().lower()
    try:
        if t == "relu":
            return ReLU()
        if t.startswith("huber"):
            return HuberizedReLU(kappa=kappa, q=float(t[5:] or 3))
        if t.startswith("poly"):
            return PolyReLU(q=float(t[4:] or 3))
    except ValueError as exc:
        raise ValueError(f"activation={text!r} is invalid: {exc}") from None
    raise ValueError(
        f"activation={text!r} is invalid: must be 'relu', 'huber<q>' (e.g. huber3) or 'poly<q>'"
    )
