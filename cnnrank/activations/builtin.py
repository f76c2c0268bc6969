r"""The built-in activations (docs/theory.md §2): :class:`HuberizedReLU`, :class:`ReLU`, :class:`PolyReLU`,
and their short names (``relu``, ``huber<q>``, ``poly<q>``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cnnrank._validation import check_real
from cnnrank.activations.base import Activation, Terms, _pow, power_off_fixed_points


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

    @property
    def power(self) -> float:
        """``q``."""
        return float(self.q)

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
            power_off_fixed_points(u, e, grad)
        head = np.multiply(zc, grad, out=b1)  # zc^q / κ^(q-1)
        tail = np.maximum(np.subtract(z, kappa, out=b0), 0.0, out=b0)
        return ((self.q, head), (1.0, tail)), grad


@dataclass(frozen=True)
class ReLU(Activation):
    """Plain ReLU ``max(z, 0)`` with derivative ``1(z > 0)``."""

    name: ClassVar[str] = "relu"

    @property
    def power(self) -> float:
        """1."""
        return 1.0

    def kinks(self) -> tuple[float, ...]:
        return (0.0,)

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

    @property
    def power(self) -> float:
        """``q``."""
        return float(self.q)

    def kinks(self) -> tuple[float, ...]:
        return (0.0,)

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
            power_off_fixed_points(zp, e, b1)
        np.multiply(b1, self.q, out=grad)
        return ((1.0, np.multiply(b1, zp, out=b1)),), grad


#: the built-in activation classes by their :meth:`Activation.spec` name
_BUILTIN: dict[str, type[Activation]] = {cls.name: cls for cls in (HuberizedReLU, ReLU, PolyReLU)}


#: the short names :func:`parse_activation` lists and suggests (any ``q >= 1`` works: ``huber2.5``)
SHORT_NAMES = ("relu", "huber2", "huber3", "huber4", "poly2", "poly3", "poly4")


_SHORT = re.compile(r"(huber|poly)(\d+(?:\.\d+)?)")
