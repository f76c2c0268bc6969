"""Result dataclasses that save and load themselves (:class:`SavableResult`), their fields' types checked
on load and their numbers against documented ranges (:func:`check_values`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from cnnrank.results.atomic import atomic_write_bytes
from cnnrank.results.json_files import ResultsFileError
from cnnrank.results.npz import _to_jsonable, load_npz, npz_bytes

#: relative rounding allowed at the ends of a range (a fraction computed as a ratio may exceed 1 by rounding)
RANGE_RTOL = 1e-6


T = TypeVar("T", bound="SavableResult")


def check_values(name: str, values: Any, *, lo: float | None = None, hi: float | None = None,
                 integer: bool = False, nan: bool = True, zero: bool = False, increasing: bool = False,
                 rule: str = "") -> None:
    """Refuse numbers outside their documented range with one ``ValueError`` naming ``name``.

    Every element ``v`` of ``values`` must satisfy ``lo <= v <= hi`` (each end to a relative rounding
    of :data:`RANGE_RTOL`, none for integers), or be ``0`` when ``zero`` (a stable rank: 0 for a zero
    matrix, else at least 1), or be NaN when ``nan`` (a diverged run's record); ``integer``: whole
    numbers; ``increasing``: strictly increasing along the first axis. ``rule`` names the bound in the
    message (e.g. ``"min(2m, 2K)"``).
    """
    a = np.asarray(values)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {a.dtype} which is invalid: must be numbers")
    if a.size == 0:
        return
    x = a.astype(np.float64, copy=False)
    isnan = np.isnan(x)
    bad = isnan if not nan else np.zeros(x.shape, dtype=bool)
    ok_zero = (x == 0) if zero else np.zeros(x.shape, dtype=bool)
    if integer:
        bad = bad | (~isnan & ~(np.isfinite(x) & (x == np.round(x))))
    if lo is not None:
        low = lo if integer else lo - RANGE_RTOL * max(1.0, abs(lo))
        bad = bad | ((x < low) & ~ok_zero)
    if hi is not None:
        high = hi if integer else hi + RANGE_RTOL * max(1.0, abs(hi))
        bad = bad | ((x > high) & ~ok_zero)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f" (at index {where[0] if len(where) == 1 else where})" if a.ndim else ""
        what = "an integer" if integer else "a number"
        span = (f"in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else f">= {lo:g}" if lo is not None
                else f"<= {hi:g}" if hi is not None else "")
        if zero:
            span = f"0 or {span}"
        bound = f" ({rule})" if rule else ""
        nan_note = ", not NaN" if np.isnan(x[where if a.ndim else ()]) else ""
        raise ValueError(f"{name}={a[where if a.ndim else ()].item()!r}{at} is invalid: must be {what} {span}{bound}"
                         f"{nan_note}".replace("  ", " ").rstrip())
    if increasing and x.ndim == 1 and x.size > 1 and np.any(~(np.diff(x) > 0)):
        i = int(np.flatnonzero(~(np.diff(x) > 0))[0]) + 1
        raise ValueError(f"{name}={a[i].item()!r} (at index {i}) is invalid: must be strictly increasing "
                         f"(the previous value is {a[i - 1].item()!r})")


class SavableResult:
    """Mixin for result dataclasses: ``save(path)`` and ``load(path)`` through :func:`save_npz`.

    Array-valued fields (``np.ndarray``) are stored in the archive; all other fields must be
    JSON-serializable (numbers, strings, lists, dicts, ``None``) and are stored in the metadata.
    ``load(save(x))`` gives back equal arrays (bit for bit) and equal metadata.
    """

    _kind: ClassVar[str] = ""
    #: documented ranges of fields, checked on load: field name -> keyword arguments of :func:`check_values`
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def _result_kind(cls) -> str:
        return cls._kind or cls.__name__

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_bytes(path, self.to_npz_bytes())

    def to_npz_bytes(self) -> bytes:
        """What :meth:`save` writes, in memory (to write it together with other files)."""
        arrays: dict[str, np.ndarray] = {}
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                fields[f.name] = _to_jsonable(value)
        return npz_bytes(arrays, {"kind": self._result_kind(), "fields": fields})

    @classmethod
    def load(cls: type[T], path: str | os.PathLike) -> T:
        arrays, meta = load_npz(path, kind=cls._result_kind())
        values = dict(meta.get("fields", {}))
        values.update(arrays)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        missing = names - set(values)
        if missing:
            raise ResultsFileError(f"results file {str(path)!r} lacks fields {sorted(missing)}")
        _check_field_types(cls, values, path)
        obj = cls(**{k: values[k] for k in names})
        check = getattr(obj, "_check_loaded", None)
        try:
            if check is not None:
                check()
            obj._check_value_ranges()
        except ValueError as exc:
            raise ResultsFileError(f"results file {str(path)!r} is inconsistent: {exc}") from None
        return obj

    def _check_value_ranges(self) -> None:
        """:func:`check_values` of every field listed in ``_value_ranges`` (``None`` fields skipped)."""
        for name, rng in self._value_ranges.items():
            value = getattr(self, name)
            if value is not None:
                check_values(name, value, **rng)


_SIMPLE = {"float": (float, int), "int": (int,), "str": (str,), "bool": (bool,), "dict": (dict,),
           "list": (list,), "tuple": (list, tuple), "np.ndarray": (np.ndarray,), "ndarray": (np.ndarray,),
           "None": (type(None),)}


def _check_field_types(cls: type, values: dict[str, Any], path: Any) -> None:
    """Refuse a loaded field whose value does not have its annotated type (``lr="abc"``, ``engine=5``).

    Annotations are read as written (``float``, ``str``, ``np.ndarray | None``, ``dict``, ...); a field
    with any other annotation is not checked here (its class checks it in ``_check_loaded``).
    """
    for f in dataclasses.fields(cls):
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        options = [a.strip() for a in ann.split("|")]
        options = [o.split("[")[0] for o in options]
        if not options or any(o not in _SIMPLE for o in options):
            continue
        allowed = tuple(t for o in options for t in _SIMPLE[o])
        value = values[f.name]
        if isinstance(value, bool) and bool not in allowed:
            ok = False
        else:
            ok = isinstance(value, allowed)
        if isinstance(value, np.ndarray) and np.ndarray in allowed and value.dtype.kind not in "biuf":
            ok = False  # arrays of results are numbers
        if not ok:
            raise ResultsFileError(f"results file {str(path)!r} has field {f.name}={value!r:.60} which is invalid: "
                                   f"must be {ann}")
