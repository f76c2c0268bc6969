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

**Your own activation** (docs/guide.md, "Your own activation"): :func:`register_activation` ``(name,
value, derivative, power=None)`` with ``value`` and ``derivative`` vectorized NumPy functions of ``z``
returns a :class:`RegisteredActivation`; the name then works wherever a built-in's does
(:func:`parse_activation`, ``RunConfig(activation=name)``, sweeps, ``--activation name``, saved
trajectories, :mod:`cnnrank.theory` with the declared power). The contract, checked when registered
and at network creation (:func:`check_activation`), is that of docs/theory.md §2: ``σ(0) = 0`` and
``σ'(0) = 0`` exactly, ``σ`` and ``σ'`` finite on the test grid :data:`CHECK_GRID`, and ``σ'`` the
derivative of ``σ`` (central finite differences, tolerance :data:`FD_TOLERANCE`). Subclassing
:class:`Activation` directly is reserved for the built-ins: a network refuses any other subclass.

The engines that step in coefficient space need ``σ`` and ``σ'`` of the same pre-activations in one
pass: :meth:`Activation.terms_and_grad` is the fused form (one home per activation: the value as a sum
of terms ``σ(z) = Σ_k t_k(z) / c_k``, the derivative, optionally into preallocated buffers) and
:meth:`Activation.value_and_grad` adds the terms up. They equal ``act(z)`` and ``act.grad(z)`` up to
rounding (the fused form reuses ``σ'`` to build ``σ``).
"""

from __future__ import annotations

import abc
import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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
            np.power(u, e, out=grad)
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
            np.power(zp, e, out=b1)
        np.multiply(b1, self.q, out=grad)
        return ((1.0, np.multiply(b1, zp, out=b1)),), grad


#: the built-in activation classes by their :meth:`Activation.spec` name
_BUILTIN: dict[str, type[Activation]] = {cls.name: cls for cls in (HuberizedReLU, ReLU, PolyReLU)}

#: the short names :func:`parse_activation` lists and suggests (any ``q >= 1`` works: ``huber2.5``)
SHORT_NAMES = ("relu", "huber2", "huber3", "huber4", "poly2", "poly3", "poly4")

#: the test grid of the contract: ``z`` in ``[-8, 8]`` in steps of ``1/128`` (``0`` included, every
#: point exact in binary) and ``±1e-6``, ``±1e-3`` close to the origin
CHECK_GRID = np.concatenate([np.arange(-1024, 1025) / 128.0, [-1e-3, -1e-6, 1e-6, 1e-3]])

#: step ``h = 2⁻²⁰`` of the central difference ``(σ(z+h) - σ(z-h)) / 2h`` of the contract
FD_STEP = 2.0**-20

#: ``σ'`` must match the central difference to ``FD_TOLERANCE · max(1, |σ'(z)|)`` at every point of
#: :data:`CHECK_GRID` farther than ``2h`` from a declared kink (the rounding error of the difference
#: is about ``1e-10 |σ|``, its truncation error ``h² |σ'''| / 6 ≈ 1e-13 |σ'''|``)
FD_TOLERANCE = 1e-5

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_SHORT = re.compile(r"(huber|poly)(\d+(?:\.\d+)?)")


def _contract_error(value: Callable[[np.ndarray], Any], derivative: Callable[[np.ndarray], Any],
                    kinks: tuple[float, ...]) -> str | None:
    """How ``(value, derivative)`` break the contract of docs/theory.md §2 (module doc), as the end of
    a one-line message; ``None`` when they keep it."""
    z = CHECK_GRID

    def call(fn: Callable[[np.ndarray], Any], which: str, x: np.ndarray) -> np.ndarray:
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(fn(_read_only(x.copy())))  # as an engine calls it: z is read-only
        except Exception as exc:
            raise _Broken(f"{which}(z) on a float64 array of shape {x.shape} raised "
                          f"{type(exc).__name__}: {exc}") from None
        if out.shape != x.shape or out.dtype.kind not in "biuf":
            raise _Broken(f"{which}(z) returned {out.dtype} of shape {out.shape} for a float64 array of shape "
                          f"{x.shape}: must be vectorized (real, elementwise, the shape of z)")
        return out.astype(np.float64)

    try:
        for fn, which, sym in ((value, "value", "σ"), (derivative, "derivative", "σ'")):
            out = call(fn, which, z)
            bad = np.flatnonzero(~np.isfinite(out))
            if bad.size:
                return f"{sym}(z) = {out[bad[0]]} at z = {z[bad[0]]:g}: must be finite on [-8, 8]"
            at0 = float(out[z == 0.0][0])
            if at0 != 0.0:
                return f"{sym}(0) = {at0:g}: must be 0 (docs/theory.md §2)"
            block = z[:2048].reshape(8, 16, 16)
            if not np.allclose(call(fn, which, block), out[:2048].reshape(block.shape), rtol=1e-12, atol=0.0):
                return (f"{which}(z) is not elementwise: on an array of shape {block.shape} it differs from the "
                        "same points given as a 1-D array")
            if which == "value":
                lo, hi = call(fn, which, z - FD_STEP), call(fn, which, z + FD_STEP)
            else:
                grad = out
    except _Broken as exc:
        return str(exc)
    with np.errstate(all="ignore"):
        fd = (hi - lo) / (2.0 * FD_STEP)
    far = np.ones(z.shape, dtype=bool)
    for k in kinks:
        far &= np.abs(z - k) > 2.0 * FD_STEP
    bad = np.flatnonzero(far & ~(np.abs(fd - grad) <= FD_TOLERANCE * np.maximum(1.0, np.abs(grad))))
    if bad.size:
        i = bad[0]
        return (f"derivative is not the derivative of value: at z = {z[i]:g}, σ'(z) = {grad[i]:.6g} but "
                f"(σ(z+h) - σ(z-h))/2h = {fd[i]:.6g} (h = 2^-20, tolerance {FD_TOLERANCE:g}·max(1, |σ'|)); "
                "a kink there must be declared with kinks=")
    return None


def _read_only(z: Any) -> np.ndarray:
    """A read-only float64 view of ``z``: a user function writing into it fails loudly instead of
    changing an engine's pre-activations."""
    view = np.asarray(z, dtype=np.float64).view()
    view.flags.writeable = False
    return view


class _Broken(Exception):
    """Internal: a call of a user function broke the contract."""


@dataclass(frozen=True)
class RegisteredActivation(Activation):
    r"""An activation from :func:`register_activation`: ``σ = value``, ``σ' = derivative``.

    Attributes
    ----------
    name : str
        The registered name (:meth:`spec` is ``{"name": name}``).
    value, derivative : callable
        Vectorized NumPy functions of ``z`` (any shape, elementwise).
    q : float or None
        The declared power of the head near 0 (:attr:`power`), ``None`` when not declared.
    kink_points : tuple of float
        The declared points where ``σ`` is not twice differentiable (:meth:`kinks`).

    Creating one checks the contract (module doc); a network accepts it only while it is the
    activation registered under its name. Pickling it carries the functions (by reference for
    module-level functions), and unpickling registers it in the receiving process: a worker of a
    process pool needs no registration of its own.
    """

    name: str = field()  # type: ignore[misc]  # (field(): no default, not the base class's "")
    value: Callable[[np.ndarray], Any]
    derivative: Callable[[np.ndarray], Any]
    q: float | None = None
    kink_points: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        _check_name(self.name)
        for arg in ("value", "derivative"):
            if not callable(getattr(self, arg)):
                raise TypeError(f"{arg}={getattr(self, arg)!r:.60} is invalid: must be a vectorized function of z")
        if self.q is not None:
            object.__setattr__(self, "q", check_real("power", self.q, minimum=1.0))
        try:
            kinks = tuple(check_real("kinks", k) for k in self.kink_points)
        except TypeError:
            raise TypeError(f"kinks={self.kink_points!r:.60} is invalid: must be a tuple of real numbers") from None
        object.__setattr__(self, "kink_points", kinks)
        problem = _contract_error(self.value, self.derivative, kinks)
        if problem is not None:
            raise ValueError(f"activation={self.name!r} is invalid: {problem}")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.value(_read_only(z)), dtype=np.float64)

    def grad(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.derivative(_read_only(z)), dtype=np.float64)

    @property
    def power(self) -> float | None:
        """The declared ``q`` (``None``: not declared)."""
        return self.q

    def kinks(self) -> tuple[float, ...]:
        return self.kink_points

    def spec(self) -> dict[str, Any]:
        return {"name": self.name}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_activation, (self.name, self.value, self.derivative, self.q, self.kink_points))


#: the activations registered in this process, by name
_REGISTERED: dict[str, RegisteredActivation] = {}


def _restore_activation(name: str, value: Any, derivative: Any, q: float | None,
                        kinks: tuple[float, ...]) -> RegisteredActivation:
    """Unpickle a :class:`RegisteredActivation`: the entry of the sending process is registered here
    (replacing another under the name: the sender's configuration is the one to run)."""
    act = RegisteredActivation(name, value, derivative, q, kinks)
    if _REGISTERED.get(name) != act:
        _REGISTERED[name] = act
    return _REGISTERED[name]


class ActivationName(str):
    """The canonical name of a registered activation, carrying the activation (:attr:`activation`).

    It is a ``str`` everywhere (``==``, hashing, JSON), and it carries the registry entry when a
    configuration is pickled to another process (a process-pool or Dask worker): unpickling it
    registers the activation there.
    """

    activation: RegisteredActivation

    def __new__(cls, name: str, activation: RegisteredActivation) -> ActivationName:
        self = super().__new__(cls, name)
        self.activation = activation
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # the activation registered now under the name (the one this process would run)
        return (ActivationName, (str(self), _REGISTERED.get(str(self), self.activation)))


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name={name!r:.60} is invalid: must be a string of letters, digits, '_' and '-' "
                         "starting with a letter")
    low = name.lower()
    if low in _BUILTIN or low == "relu" or _SHORT.fullmatch(low) or low in ("huber", "poly"):
        raise ValueError(f"name={name!r} is invalid: it is a built-in activation's name (relu, huber<q>, "
                         "poly<q>, huberized_relu, poly_relu); choose another")
    return name


def register_activation(name: str, value: Callable[[np.ndarray], Any], derivative: Callable[[np.ndarray], Any],
                        power: float | None = None, *, kinks: Sequence[float] = (0.0,),
                        overwrite: bool = False) -> RegisteredActivation:
    r"""Register your own activation ``σ = value`` with ``σ' = derivative`` under ``name``.

    After it, ``name`` works wherever a built-in activation's name does: :func:`parse_activation`,
    ``RunConfig(activation=name)``, sweeps (also on process pools and Dask: the configuration carries
    the activation, :class:`ActivationName`), ``--activation name`` on the command line (a script
    that registers, then calls :func:`cnnrank.cli.main`), :meth:`cnnrank.Trajectory.load` of its
    runs, and :mod:`cnnrank.theory` with the declared ``power``. The returned activation can be
    passed to :meth:`cnnrank.TwoLayerCNN.init` directly.

    The contract (docs/theory.md §2), checked here and at network creation: ``σ(0) = 0`` and
    ``σ'(0) = 0`` exactly; ``σ`` and ``σ'`` finite on :data:`CHECK_GRID` (``z ∈ [-8, 8]``);
    ``derivative`` the derivative of ``value``: ``|(σ(z+h) - σ(z-h))/2h - σ'(z)| <= 1e-5 · max(1,
    |σ'(z)|)`` with ``h = 2⁻²⁰`` at every grid point farther than ``2h`` from a declared kink.

    Parameters
    ----------
    name : str
        Letters, digits, ``_`` and ``-``, starting with a letter; not a built-in's name
        (``relu``, ``huber<q>``, ``poly<q>``). Case-sensitive.
    value, derivative : callable
        Vectorized NumPy functions: ``value(z)`` and ``derivative(z)`` for a float64 array ``z`` of
        any shape return real arrays of its shape, elementwise. To use the name on a process pool,
        define them at module level (they are pickled by reference; Dask also sends lambdas).
    power : float >= 1, optional
        The power ``q`` of the head near 0 (``σ'(z) ∝ z^{q-1}`` for small ``z > 0``), used by
        :mod:`cnnrank.theory` (``benign_indicator``, ``regime``, …). ``None``: the theory functions
        that need it refuse the activation.
    kinks : sequence of float, default (0.0,)
        Points where ``σ`` is not twice differentiable (excluded from the finite-difference check
        and returned by :meth:`Activation.kinks` for gradient checks).
    overwrite : bool, default False
        Replace another activation registered under ``name`` (else ``ValueError``). Registering the
        same functions again returns the registered activation.

    Returns
    -------
    RegisteredActivation

    Examples
    --------
    >>> def cube(z): return np.maximum(z, 0.0) ** 3
    >>> def cube_grad(z): return 3.0 * np.maximum(z, 0.0) ** 2
    >>> act = register_activation("my_cube", cube, cube_grad, power=3)
    >>> parse_activation("my_cube") is act
    True
    >>> unregister_activation("my_cube")  # (the example leaves the registry as it found it)
    """
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite={overwrite!r:.40} is invalid: must be True or False")
    _check_name(name)
    if isinstance(kinks, (str, bytes)) or not isinstance(kinks, Sequence):
        raise TypeError(f"kinks={kinks!r:.60} is invalid: must be a sequence of real numbers")
    act = RegisteredActivation(name, value, derivative, power, tuple(kinks))
    old = _REGISTERED.get(name)
    if old is not None and old != act and not overwrite:
        raise ValueError(f"name={name!r} is invalid: another activation is registered under it; pass "
                         "overwrite=True to replace it")
    if old == act:
        return old
    _REGISTERED[name] = act
    return act


def unregister_activation(name: str) -> None:
    """Remove a registered activation (``KeyError``-free: ``ValueError`` naming it when unknown)."""
    if name not in _REGISTERED:
        raise ValueError(f"name={name!r:.60} is invalid: no activation is registered under it "
                         f"(registered: {sorted(_REGISTERED)})")
    del _REGISTERED[name]


def registered_activations() -> dict[str, RegisteredActivation]:
    """The registered activations by name (a copy)."""
    return dict(_REGISTERED)


def _not_registered(name: str) -> str:
    return (f"activation={name!r} is invalid: no activation is registered under that name in this process; call "
            f"cnnrank.register_activation({name!r}, value, derivative, power=...) first (built-in: "
            f"{sorted(_BUILTIN)}; registered: {sorted(_REGISTERED) or 'none'})")


def check_activation(activation: Any, full: bool = False) -> Activation:
    """The activation a network may use: a built-in, or the :class:`RegisteredActivation` registered
    under its name (with ``full``, its contract is checked again). Anything else is refused with one
    line: a plain :class:`Activation` subclass cannot be saved, loaded or named in a configuration,
    and nothing checks its ``σ'(0) = 0``, ``power`` or ``kinks``.

    Raises
    ------
    TypeError
        Not an activation, or a subclass of :class:`Activation` other than the built-ins.
    ValueError
        A registered activation that is not (any more) the one registered under its name, or that
        breaks the contract.
    """
    if type(activation) in _BUILTIN.values():
        return activation
    if type(activation) is RegisteredActivation:
        if _REGISTERED.get(activation.name) != activation:
            raise ValueError(_not_registered(activation.name) if activation.name not in _REGISTERED else
                             f"activation={activation.name!r} is invalid: another activation has been registered "
                             "under its name since; use cnnrank.activations.parse_activation(name)")
        if full:
            problem = _contract_error(activation.value, activation.derivative, activation.kink_points)
            if problem is not None:
                raise ValueError(f"activation={activation.name!r} is invalid: {problem}")
        return activation
    if isinstance(activation, Activation):
        raise TypeError(f"activation={type(activation).__name__} is invalid: a custom activation must come from "
                        "cnnrank.register_activation(name, value, derivative, power=q), which checks it and makes "
                        "it savable (docs/guide.md); subclasses of Activation are not supported")
    hint = " (parse a name with cnnrank.activations.parse_activation)" if isinstance(activation, str) else ""
    raise TypeError(f"activation={activation!r:.60} is invalid: must be a cnnrank Activation such as "
                    f"HuberizedReLU(), ReLU(), PolyReLU() or one from cnnrank.register_activation{hint}")


def activation_from_spec(spec: dict[str, Any] | Activation) -> Activation:
    """Rebuild an activation from :meth:`Activation.spec` (an activation is returned as is).

    A registered activation's spec is its name: it must be registered in this process (else a
    one-line ``ValueError`` naming it).
    """
    if isinstance(spec, Activation):
        return spec
    name = spec.get("name") if isinstance(spec, dict) else None
    if isinstance(name, str) and name in _REGISTERED and name not in _BUILTIN:
        if set(spec) != {"name"}:
            raise ValueError(f"activation={spec!r:.80} is invalid: a registered activation's spec is its name only")
        return _REGISTERED[name]
    if not isinstance(name, str) or name not in _BUILTIN:
        if isinstance(name, str) and _NAME.fullmatch(name):
            raise ValueError(_not_registered(name))
        raise ValueError(f"activation={spec!r:.80} is invalid: must be a dict whose 'name' is one of "
                         f"{sorted(_BUILTIN)} or a registered activation's")
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        return _BUILTIN[name](**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"activation={spec!r:.80} is invalid: {exc}") from None


def _format_q(q: float) -> str:
    return str(int(q)) if q.is_integer() else repr(q)


def _parse(text: Any, kappa: float = 1.0) -> tuple[str, Activation]:
    if not isinstance(text, str):
        hint = f" (this activation's name is {text.name!r})" if isinstance(text, Activation) and text.name else ""
        raise TypeError(f"activation={text!r:.60} is invalid: must be a name such as 'huber3', 'relu' or "
                        f"'poly3'{hint}")
    t = text.strip()
    if t in _REGISTERED:
        act = _REGISTERED[t]
        return ActivationName(t, act), act
    low = t.lower()
    if low == "relu":
        return "relu", ReLU()
    match = _SHORT.fullmatch(low)
    if match is not None:
        kind, q = match.group(1), float(match.group(2))
        try:
            built: Activation = HuberizedReLU(kappa=kappa, q=q) if kind == "huber" else PolyReLU(q=q)
        except ValueError as exc:
            raise ValueError(f"activation={text!r} is invalid: {exc}") from None
        return kind + _format_q(q), built
    raise ValueError(_unknown(text, t, low))


def _unknown(text: str, t: str, low: str) -> str:
    """The one-line refusal of an activation name that is not one: the choices and a suggestion."""
    registered = sorted(_REGISTERED)
    rule = ("must be 'relu', 'huber<q>' or 'poly<q>' (q >= 1, e.g. huber3)"
            + (f" or a registered name {registered}" if registered else
               " (your own: cnnrank.register_activation)"))
    choices = [*SHORT_NAMES, *registered]
    starts = [c for c in choices if t and (c.startswith(t) or c.lower().startswith(low))]
    if low in ("huber", "poly"):
        return (f"activation={text!r} is ambiguous: name the power, one of {', '.join(repr(c) for c in starts)} "
                f"(any q >= 1 as {low}<q>); did you mean {low + '3'!r}?")
    if len(starts) > 1:
        kinds = {c.rstrip("0123456789.") for c in starts}
        best = kinds.pop() + "3" if len(kinds) == 1 and f"{next(iter(starts)).rstrip('0123456789.')}3" in starts \
            else starts[0]
        return (f"activation={text!r} is ambiguous: it could be {', '.join(repr(c) for c in starts)} "
                f"(names are not abbreviated); did you mean {best!r}?")
    close = starts or difflib.get_close_matches(t, choices, n=1, cutoff=0.7) \
        or difflib.get_close_matches(low, choices, n=1, cutoff=0.7)
    return f"activation={text!r} is invalid: {rule}" + (f"; did you mean {close[0]!r}?" if close else "")


def canonical_activation_name(text: str) -> str:
    """The canonical name of the activation ``text`` names: what a configuration stores.

    Built-in names are read case-insensitively and stored canonically (``"HUBER3"`` and
    ``"huber3.0"`` are ``"huber3"``); a registered name is matched exactly and returned as an
    :class:`ActivationName` carrying the activation. Bare ``"huber"``/``"poly"`` and abbreviations are
    refused (``ValueError`` listing the choices, with a suggestion).
    """
    return _parse(text)[0]


def parse_activation(text: str, kappa: float = 1.0) -> Activation:
    """The activation a name denotes: ``"relu"``, ``"huber<q>"`` (Huberized ReLU of power ``q`` and
    threshold ``kappa``, e.g. ``"huber3"``), ``"poly<q>"``, or a name given to
    :func:`register_activation`. See :func:`canonical_activation_name` for what is accepted."""
    return _parse(text, kappa)[1]
