"""Saving and loading results: one ``.npz`` file holding the arrays and a JSON metadata record.

Every result dataclass of cnnrank inherits :class:`SavableResult`. Its array fields go to the
``.npz`` archive; every other field goes to the JSON record stored in the same archive under the key
``__metadata__`` (no pickles: files are loaded with ``allow_pickle=False``). The record also holds the
result's kind, the format version and the library version, so a foreign or corrupted file is refused
with an error that names it. Arrays are stored compressed (``np.savez_compressed``).

Loading never trusts the archive: :func:`load_npz` reads each member's ``.npy`` header and the
zip's declared sizes before it allocates anything, and refuses a member whose header does not
match its declared size, whose dtype holds Python objects, that would expand more than
:data:`MAX_EXPANSION` times its compressed size (beyond :data:`EXPANSION_FLOOR`), or whose arrays
together would not fit in the memory the machine can spare. Every failure is a
:class:`ResultsFileError` naming the file.

Loading also checks the stored numbers against their documented ranges (fractions and accuracies in
``[0, 1]``, losses and counts ``>= 0``, counts integers, stable ranks ``0`` or at least 1, steps
increasing): a class lists its fields' ranges in ``_value_ranges`` (checked by :func:`check_values`),
and :class:`~cnnrank.train.Trajectory` adds the bounds that depend on its shapes. NaN is accepted where a
diverged run records it.

JSON records are read by :func:`read_json_file`: only a regular file (a FIFO or a device is refused
before it is opened, so nothing waits on it), at most :data:`MAX_JSON_BYTES`, nested at most
:data:`MAX_JSON_DEPTH` levels; every failure is one :class:`ResultsFileError` naming the file.

Files are written atomically: to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import os
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from cnnrank._memory import InsufficientMemory, check_allocation, format_bytes
from cnnrank._version import __version__

FORMAT_VERSION = 1
_META_KEY = "__metadata__"
#: a compressed member may expand to at most this many times its compressed size ...
MAX_EXPANSION = 100
#: ... once it is larger than this (64 MiB); results arrays of floats compress by less than 2x.
EXPANSION_FLOOR = 64 << 20
#: the longest ``.npy`` header accepted (numpy's own default limit).
_MAX_HEADER = 10000
_CHUNK = 1 << 20
#: the largest JSON record :func:`read_json_file` reads by default (256 MiB)
MAX_JSON_BYTES = 256 << 20
#: the deepest nesting of lists and objects accepted in a JSON record (results nest a few levels)
MAX_JSON_DEPTH = 100
#: relative rounding allowed at the ends of a range (a fraction computed as a ratio may exceed 1 by rounding)
RANGE_RTOL = 1e-6

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


def _temp_prefix(path: Path) -> str:
    """Temporary files of ``path`` are ``.NAME.PID.XXXXXXXX.tmp`` beside it (PID: the writing process)."""
    return f".{path.name}.{os.getpid()}."


def _write_temp(path: Path, data: bytes, temps: list[str]) -> None:
    """``data`` in a new temporary file beside ``path`` (synced, the usual permissions), its name appended
    to ``temps`` as soon as it exists (the caller removes them all on an error or a signal)."""
    from cnnrank._signals import deferred

    path.parent.mkdir(parents=True, exist_ok=True)
    with deferred():  # the file exists only once its name is in ``temps``
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        temps.append(tmp)
        fh = os.fdopen(fd, "wb")
    with fh:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return atomic_write_files([(path, data)])[0]


def atomic_write_files(items: collections.abc.Sequence[tuple[str | os.PathLike, bytes]]) -> list[Path]:
    """Write several files as one: all or none of them are replaced.

    Every file is first written to a temporary file beside it; the renames that publish them then run
    in a section a signal does not cut (:func:`cnnrank._signals.deferred`). An error or a signal before
    that removes the temporary files and leaves the targets as they were; an error in the renames
    (a disk gone) removes the files already renamed. Only a ``SIGKILL`` between two renames (a few
    microseconds) can publish a part, and a killed writer's temporary files are removed by
    :func:`remove_stale_temps`.
    """
    from cnnrank._signals import deferred

    paths = [Path(p) for p, _ in items]
    temps: list[str] = []
    done: list[Path] = []
    try:
        for path, (_, data) in zip(paths, items):
            _write_temp(path, data, temps)
        with deferred():
            for path, tmp in zip(paths, temps):
                os.replace(tmp, path)
                done.append(path)
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if done and len(done) < len(paths):
            for path in done:
                path.unlink(missing_ok=True)
        raise
    return paths


#: a temporary file of a live process older than this is stale all the same (a write takes seconds)
STALE_SECONDS = 600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, names: collections.abc.Sequence[str]) -> list[Path]:
    """Remove the temporary files that killed writers of ``folder/NAME`` (each of ``names``, a file name
    or a ``glob`` pattern such as ``probe_*.npz``) left.

    A temporary file ``.NAME.PID.XXXXXXXX.tmp`` is kept only while process ``PID`` (another one than
    this) runs and the file is younger than :data:`STALE_SECONDS`; older-style ``.NAME.XXXXXXXX.tmp``
    files are removed. Returns the files removed.
    """
    import time

    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            parts = tmp.name[: -len(".tmp")].rsplit(".", 2)  # [".NAME", "PID", "XXXXXXXX"]
            pid_text = parts[1] if len(parts) == 3 else ""
            if pid_text.isdigit() and int(pid_text) != os.getpid() and _pid_alive(int(pid_text)):
                try:
                    if time.time() - tmp.stat().st_mtime < STALE_SECONDS:
                        continue  # another command is writing it now
                except OSError:
                    continue
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> bytes:
    """The compressed ``.npz`` archive :func:`save_npz` writes, in memory."""
    import io

    meta = {"format": FORMAT_VERSION, "cnnrank_version": __version__, **_to_jsonable(metadata)}
    buf = io.BytesIO()
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[_META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    np.savez_compressed(buf, **payload)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    return buf.getvalue()


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    """Save ``arrays`` and a JSON ``metadata`` record in one compressed ``.npz`` file, atomically."""
    return atomic_write_bytes(path, npz_bytes(arrays, metadata))


class _Refused(Exception):
    """A reason to refuse the archive (turned into ResultsFileError naming the file)."""


def _member_header(fh: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from the ``.npy`` header at the start of ``fh``."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_MAX_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_MAX_HEADER)
    else:
        raise _Refused(f"member {name!r} has .npy format version {version}, expected 1.0 or 2.0")
    if dtype.hasobject:
        raise _Refused(f"member {name!r} holds Python objects (dtype {dtype}): refused")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> np.ndarray:
    """One member as an array, its declared sizes checked against ``info`` and ``budget`` first."""
    name = info.filename
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise _Refused(f"member {name!r} is stored uncompressed but declares {info.file_size} bytes "
                       f"in {info.compress_size}")
    if info.file_size > max(EXPANSION_FLOOR, MAX_EXPANSION * info.compress_size):
        raise _Refused(f"member {name!r} would expand from {format_bytes(info.compress_size)} to "
                       f"{format_bytes(info.file_size)} (more than {MAX_EXPANSION}x beyond "
                       f"{format_bytes(EXPANSION_FLOOR)}): a decompression bomb")
    with zf.open(info) as fh:
        shape, fortran, dtype = _member_header(fh, name)
        header_len = fh.tell()
        count = 1
        for d in shape:
            count *= d
        nbytes = count * dtype.itemsize
        if header_len + nbytes != info.file_size:
            raise _Refused(f"member {name!r}: its header declares {shape} {dtype} ({nbytes} bytes of data) "
                           f"but the member holds {info.file_size - header_len}")
        budget[0] -= nbytes
        if budget[0] < 0:
            raise _Refused(f"member {name!r}: the arrays need more memory than the archive's "
                           "declared sizes allow")
        out = np.empty(count, dtype=dtype)
        raw = out.view(np.uint8) if nbytes else np.empty(0, np.uint8)
        view, pos = raw.data, 0
        while pos < nbytes:
            got = fh.readinto(view[pos: pos + _CHUNK])  # type: ignore[attr-defined]  # a ZipExtFile
            if not got:
                raise _Refused(f"member {name!r} is truncated: {pos} of {nbytes} bytes")
            pos += got
        if fh.read(1):  # reading to the end also checks the member's CRC
            raise _Refused(f"member {name!r} has data after the {nbytes} bytes its header declares")
    return out.reshape(shape, order="F" if fortran else "C")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        total = sum(info.file_size for info in infos)
        on_disk = path.stat().st_size
        if total > max(EXPANSION_FLOOR, MAX_EXPANSION * on_disk):
            raise _Refused(f"its {len(infos)} members would expand from {format_bytes(on_disk)} to "
                           f"{format_bytes(total)} (more than {MAX_EXPANSION}x beyond "
                           f"{format_bytes(EXPANSION_FLOOR)}): a decompression bomb")
        try:
            check_allocation(total, f"results file {str(path)!r} ({len(infos)} arrays)")
        except InsufficientMemory as exc:
            raise _Refused(str(exc)) from None
        budget = [total]
        arrays: dict[str, np.ndarray] = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _Refused(f"member {info.filename!r} is not a .npy array")
            arrays[info.filename[:-4]] = _read_member(zf, info, budget)
    return arrays


def load_npz(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load what :func:`save_npz` wrote. ``kind`` (if given) must match the stored ``kind``.

    Each member's ``.npy`` header and zip sizes are checked before its array is allocated (see the
    module docstring); the data are then read in chunks of 1 MiB.

    Raises
    ------
    ResultsFileError
        If the file is missing, not an ``.npz`` archive, corrupted or truncated, declares sizes that
        do not match, too large or an object dtype, lacks the metadata record, or holds a different
        kind of result. The message names the file.
    """
    path = Path(path)
    check_regular_file(path)
    try:
        arrays = _read_npz(path)
    except _Refused as exc:
        raise ResultsFileError(f"results file {str(path)!r} is refused: {exc}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError,
            KeyError, IndexError, TypeError, SyntaxError, OverflowError, MemoryError) as exc:
        raise ResultsFileError(f"results file {str(path)!r} is not a readable .npz archive "
                               f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if _META_KEY not in arrays:
        raise ResultsFileError(f"results file {str(path)!r} is not a cnnrank result (no metadata record)")
    record = arrays.pop(_META_KEY)
    if record.shape != () or record.dtype.kind != "U":
        raise ResultsFileError(f"results file {str(path)!r} has corrupted metadata (a {record.dtype} array "
                               f"of shape {record.shape}, expected a string)")
    try:
        meta = json.loads(str(record))
    except (ValueError, RecursionError) as exc:
        raise ResultsFileError(f"results file {str(path)!r} has corrupted metadata ({type(exc).__name__}: "
                               f"{str(exc)[:200]})") from None
    if _json_too_deep(meta, MAX_JSON_DEPTH):
        raise ResultsFileError(f"results file {str(path)!r} has corrupted metadata (nested more than "
                               f"{MAX_JSON_DEPTH} levels, deeper than any record)")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ResultsFileError(f"results file {str(path)!r} has an unknown format")
    if kind is not None and meta.get("kind") != kind:
        raise ResultsFileError(
            f"results file {str(path)!r} holds a {meta.get('kind')!r} result, expected {kind!r}"
        )
    return arrays, meta


def open_regular_file(path: str | os.PathLike, what: str = "results file") -> int:
    """A read-only descriptor of ``path`` after checking it is a regular file.

    The file is opened without blocking (``O_NONBLOCK``) and checked with ``fstat`` before any byte is
    read, so a FIFO, a socket or a device is refused at once instead of waiting for a writer.
    Raises :class:`ResultsFileError` naming ``what`` and the file.
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ResultsFileError(f"{what} {name!r} does not exist") from None
    except OSError as exc:
        raise ResultsFileError(f"{what} {name!r} cannot be read ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device")
        raise ResultsFileError(f"{what} {name!r} is invalid: it is {kind}, not a regular file")
    return fd


def check_regular_file(path: str | os.PathLike, what: str = "results file") -> None:
    """Refuse ``path`` unless it is an existing regular file (see :func:`open_regular_file`)."""
    os.close(open_regular_file(path, what))


def _json_too_deep(value: Any, limit: int) -> bool:
    """Whether lists/objects in ``value`` nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth > limit:
                return True
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return False


def read_json_file(path: str | os.PathLike, what: str = "results file", *, max_bytes: int = MAX_JSON_BYTES,
                   hint: str = "") -> Any:
    """The JSON value in ``path``, read with limits; every failure one :class:`ResultsFileError`.

    Refused: a path that is not a regular file (before it is opened for reading, see
    :func:`open_regular_file`), a file larger than ``max_bytes``, text that is not UTF-8 JSON, numbers
    Python will not convert, and lists/objects nested more than :data:`MAX_JSON_DEPTH` levels
    (``[`` × 200000 included: the parser's ``RecursionError`` is caught). The message names ``what`` and
    the file, and ends with ``hint`` when given (e.g. how to recover).
    """
    name = str(path)
    tail = f"; {hint}" if hint else ""
    fd = open_regular_file(path, what)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise ResultsFileError(f"{what} {name!r} is invalid: {format_bytes(size)} is larger than the "
                                   f"{format_bytes(max_bytes)} a JSON record may hold{tail}")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise ResultsFileError(f"{what} {name!r} cannot be read ({exc.strerror or exc}){tail}") from None
    if len(data) > max_bytes:
        raise ResultsFileError(f"{what} {name!r} is invalid: larger than the {format_bytes(max_bytes)} a JSON "
                               f"record may hold{tail}")
    try:
        value = json.loads(data)
    except RecursionError:
        raise ResultsFileError(f"{what} {name!r} is corrupted: its JSON nests too deeply to be a record{tail}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, digits beyond Python's limit
        detail = " ".join(str(exc).split())[:200]
        raise ResultsFileError(f"{what} {name!r} is corrupted: not valid JSON ({detail}){tail}") from None
    if _json_too_deep(value, MAX_JSON_DEPTH):
        raise ResultsFileError(f"{what} {name!r} is corrupted: its JSON nests more than {MAX_JSON_DEPTH} levels, "
                               f"deeper than any record{tail}")
    return value


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
