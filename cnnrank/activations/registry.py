r"""Your own activation (docs/guide.md, "Your own activation"): :func:`register_activation`, the registry of
this process, :class:`RegisteredActivation` (which registers itself in a process that unpickles it),
:class:`ActivationName`, and :func:`check_activation` / :func:`activation_from_spec`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnrank._validation import check_real
from cnnrank.activations.base import Activation
from cnnrank.activations.builtin import _BUILTIN, _SHORT
from cnnrank.activations.contract import _contract_error, _read_only

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")


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
    >>> from cnnrank.activations import parse_activation
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
