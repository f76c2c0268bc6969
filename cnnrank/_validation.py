"""Small validators shared by every module.

Each raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) whose message names the
parameter, the value and the rule, e.g. ``"m=0 is invalid: must be an integer >= 1"``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def _fail(name: str, value: Any, rule: str) -> ValueError:
    return ValueError(f"{name}={value!r} is invalid: {rule}")


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` after checking it is an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(name, value, "must be an integer")
    value = int(value)
    if minimum is not None and value < minimum:
        raise _fail(name, value, f"must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise _fail(name, value, f"must be an integer <= {maximum}")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
) -> float:
    """Return ``value`` as a finite ``float`` after checking the requested bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(name, value, "must be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise _fail(name, value, "must be finite")
    if positive and value <= 0:
        raise _fail(name, value, "must be > 0")
    if nonnegative and value < 0:
        raise _fail(name, value, "must be >= 0")
    if minimum is not None and value < minimum:
        raise _fail(name, value, f"must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise _fail(name, value, f"must be <= {maximum}")
    if below is not None and value >= below:
        raise _fail(name, value, f"must be < {below}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Check ``value`` is one of ``choices``."""
    if value not in choices:
        raise _fail(name, value, f"must be one of {list(choices)!r}")
    return value


def as_array(
    name: str,
    value: Any,
    *,
    ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
    dtype: Any = np.float64,
    finite: bool = True,
) -> np.ndarray:
    """Convert to an ndarray of ``dtype`` and check its number of dimensions / shape / finiteness.

    ``shape`` may contain ``None`` for a free axis.
    """
    target = np.dtype(dtype)
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is invalid: cannot convert to a {target.name} array ({exc})") from None
    if raw.dtype.kind in "USVOMm" and target.kind in "biuf":
        # strings are not numbers here ("1.5" is refused), nor are objects, dates or raw bytes
        if raw.dtype.kind != "O" or not all(isinstance(v, (int, float, np.number)) and not isinstance(v, complex)
                                            for v in raw.ravel().tolist()):
            raise ValueError(f"{name} is invalid: must be numeric, got an array of dtype {raw.dtype}")
    if raw.dtype.kind == "c" and target.kind in "biuf":
        raise ValueError(f"{name} is invalid: must be real, got complex values")
    if target.kind in "iu" and raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
        raise ValueError(f"{name} is invalid: must hold integers, got non-finite values")
    try:
        arr = raw.astype(target, copy=False) if raw.dtype != object else np.asarray(value, dtype=target)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} is invalid: cannot convert to a {target.name} array ({exc})") from None
    if target.kind in "iu" and raw.dtype.kind == "f":
        if not np.array_equal(arr, raw):
            raise ValueError(f"{name} is invalid: must hold integers, got non-integral values")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} has shape {arr.shape} which is invalid: must have {ndim} dimensions")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} has shape {arr.shape} which is invalid: must have shape {want}")
    if finite and arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} is invalid: contains non-finite values")
    return arr


def check_labels(name: str, y: Any) -> np.ndarray:
    """Labels as a float64 vector with entries in {-1, +1}."""
    arr = as_array(name, y, ndim=1)
    bad = ~np.isin(arr, (-1.0, 1.0))
    if np.any(bad):
        raise ValueError(
            f"{name} is invalid: labels must be -1 or +1, found {np.unique(arr[bad])[:5].tolist()}"
        )
    return arr


def check_rng(name: str, rng: Any) -> Any:
    """Check a seed argument: ``None``, an integer ``>= 0``, a sequence of such integers, a
    ``SeedSequence``, a ``BitGenerator`` or a ``Generator``. Returns it unchanged (for
    ``np.random.default_rng``), or raises a ``ValueError``/``TypeError`` naming ``name`` and the seed."""
    if rng is None or isinstance(rng, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return rng
    if isinstance(rng, bool):
        raise TypeError(f"{name}={rng!r} is invalid: a seed must be None, an integer >= 0 or a Generator")
    if isinstance(rng, numbers.Integral):
        if int(rng) < 0:
            raise _fail(name, rng, "a seed must be an integer >= 0 (or None, or a numpy Generator)")
        return rng
    if isinstance(rng, (list, tuple, np.ndarray)):
        arr = np.asarray(rng)
        if arr.dtype.kind not in "iu" or arr.ndim != 1 or (arr.size and int(arr.min()) < 0):
            raise _fail(name, rng, "a seed sequence must be a 1-D list of integers >= 0")
        return rng
    raise TypeError(f"{name}={rng!r:.60} is invalid: a seed must be None, an integer >= 0, a list of "
                    f"them, a SeedSequence or a numpy Generator (got {type(rng).__name__})")
