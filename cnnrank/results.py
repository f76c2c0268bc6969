"""Saving and loading results: one ``.npz`` file holding the arrays and a JSON metadata record.

Every result dataclass of cnnrank inherits :class:`SavableResult`. Its array fields go to the
``.npz`` archive; every other field goes to the JSON record stored in the same archive under the key
``__metadata__`` (no pickles: files are loaded with ``allow_pickle=False``). The record also holds the
result's kind, the format version and the library version, so a foreign or corrupted file is refused
with an error that names it.

Files are written atomically: to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from cnnrank._version import __version__

FORMAT_VERSION = 1
_META_KEY = "__metadata__"

T = TypeVar("T", bound="SavableResult")


class ResultsFileError(ValueError):
    """A results file that cannot be read: missing, corrupted, or not a cnnrank result of that kind."""


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    """Save ``arrays`` and a JSON ``metadata`` record in one ``.npz`` file, atomically."""
    import io

    meta = {"format": FORMAT_VERSION, "cnnrank_version": __version__, **_to_jsonable(metadata)}
    buf = io.BytesIO()
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[_META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    np.savez(buf, **payload)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    return atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load what :func:`save_npz` wrote. ``kind`` (if given) must match the stored ``kind``.

    Raises
    ------
    ResultsFileError
        If the file is missing, not an ``.npz`` archive, lacks the metadata record, or holds a
        different kind of result. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"results file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ResultsFileError(f"results file {str(path)!r} is not a readable .npz archive ({exc})") from None
    if _META_KEY not in arrays:
        raise ResultsFileError(f"results file {str(path)!r} is not a cnnrank result (no metadata record)")
    try:
        meta = json.loads(str(arrays.pop(_META_KEY)))
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"results file {str(path)!r} has corrupted metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ResultsFileError(f"results file {str(path)!r} has an unknown format")
    if kind is not None and meta.get("kind") != kind:
        raise ResultsFileError(
            f"results file {str(path)!r} holds a {meta.get('kind')!r} result, expected {kind!r}"
        )
    return arrays, meta


class SavableResult:
    """Mixin for result dataclasses: ``save(path)`` and ``load(path)`` through :func:`save_npz`.

    Array-valued fields (``np.ndarray``) are stored in the archive; all other fields must be
    JSON-serializable (numbers, strings, lists, dicts, ``None``) and are stored in the metadata.
    ``load(save(x))`` gives back equal arrays (bit for bit) and equal metadata.
    """

    _kind: ClassVar[str] = ""

    @classmethod
    def _result_kind(cls) -> str:
        return cls._kind or cls.__name__

    def save(self, path: str | os.PathLike) -> Path:
        arrays: dict[str, np.ndarray] = {}
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                fields[f.name] = _to_jsonable(value)
        return save_npz(path, arrays, {"kind": self._result_kind(), "fields": fields})

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
        if check is not None:
            try:
                check()
            except ValueError as exc:
                raise ResultsFileError(f"results file {str(path)!r} is inconsistent: {exc}") from None
        return obj


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
