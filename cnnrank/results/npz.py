"""One compressed ``.npz`` file holding the arrays and a JSON metadata record; loading never trusts the
archive (each member's ``.npy`` header, sizes, dtype and expansion are checked before it is read)."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._memory import InsufficientMemory, check_allocation, format_bytes
from cnnrank._version import __version__
from cnnrank.results.atomic import atomic_write_bytes
from cnnrank.results.json_files import MAX_JSON_DEPTH, ResultsFileError, _json_too_deep, check_regular_file

FORMAT_VERSION = 1


_META_KEY = "__metadata__"


#: a compressed member may expand to at most this many times its compressed size ...
MAX_EXPANSION = 100


#: ... once it is larger than this (64 MiB); results arrays of floats compress by less than 2x.
EXPANSION_FLOOR = 64 << 20


#: the longest ``.npy`` header accepted (numpy's own default limit).
_MAX_HEADER = 10000


_CHUNK = 1 << 20


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
