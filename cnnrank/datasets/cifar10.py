"""CIFAR-10 python batches: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``.

Each is a pickle of a dict with ``b'data'`` (``uint8`` array ``(N, 3072)``: the red, green and blue
32x32 planes in row-major order), ``b'labels'`` (list of ``N`` ints in 0..9), ``b'batch_label'`` and
``b'filenames'``. They are read with :class:`RestrictedUnpickler`, which builds only plain Python
containers and numpy arrays and refuses every other global a pickle names, and which builds at
most as many bytes of arrays as the file itself could hold (twice its size plus 1 MiB): a pickle
that calls ``numpy.ndarray((600000, 3072), 'u1')`` from a 1 MB file is refused before the array is
allocated. Before unpickling, the opcodes are scanned once: declared lengths must fit in the file
and memo indices may run at most 65536 past the number of opcodes read (a ``LONG_BINPUT 2**31``
would make the unpickler allocate a memo table of gigabytes). A gzip-compressed batch is decompressed as a stream within the limits of
:mod:`cnnrank.datasets._files`. The files are looked for in the data directory, then in
``cifar-10-batches-py/`` or ``cifar10/`` below it.
"""

from __future__ import annotations

import io
import operator
import os
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._validation import check_choice
from cnnrank.datasets._files import (
    CHUNK_BYTES,
    MAX_FILE_BYTES,
    DatasetError,
    ImageSet,
    _read_bytes,
    _resolve,
    data_hint,
    find_data_dir,
)

__all__ = ["CIFAR10_CLASSES", "RestrictedUnpickler", "load_cifar10", "read_cifar10_batch"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_CIFAR_SUBDIRS = ("", "cifar-10-batches-py", "cifar10", "cifar-10", "CIFAR10")
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR_SIDE = 32


def _safe_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` as array pickles call it, refusing object dtypes."""
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError(f"refused numpy dtype {dt}: object arrays are not allowed")
    return dt


def _declared_nbytes(shape: Any, dtype: Any) -> int:
    """The size in bytes of an array of ``shape`` and ``dtype``, computed without allocating it."""
    dt = dtype if isinstance(dtype, np.dtype) else _safe_dtype(dtype)
    if dt.hasobject:
        raise pickle.UnpicklingError(f"refused numpy dtype {dt}: object arrays are not allowed")
    dims = (shape,) if not isinstance(shape, (tuple, list)) else tuple(shape)
    n = 1
    for d in dims:
        d = operator.index(d)
        if d < 0:
            raise pickle.UnpicklingError(f"refused array shape {dims!r:.80}: negative dimension")
        n *= d
    return n * dt.itemsize


def _numpy_callables() -> tuple[Any, Any]:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]
    return _reconstruct, _frombuffer


def _state_shape_dtype(state: Any) -> tuple[Any, Any]:
    """Shape and dtype of an ``ndarray.__setstate__`` argument (with or without its version)."""
    if isinstance(state, tuple) and len(state) == 5:
        return state[1], state[2]
    if isinstance(state, tuple) and len(state) == 4:
        return state[0], state[1]
    raise pickle.UnpicklingError(f"refused ndarray state of type {type(state).__name__}")


_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
#: how far past the number of opcodes read a memo index may point (pickle writers number densely)
_MEMO_SLACK = 1 << 16


def _prescan(raw: bytes | bytearray) -> None:
    """Scan the opcodes once: declared lengths must fit in ``raw``, memo indices must stay near-dense.

    ``pickletools.genops`` reads each argument from an in-memory stream (a length that runs past
    the end raises, nothing is allocated for it); the C unpickler would allocate the declared length
    first, and grow its memo table to any index a ``PUT`` names.
    """
    count = 0
    ops = pickletools.genops(raw)
    while True:
        try:
            opcode, arg, _pos = next(ops)
        except StopIteration:
            break
        except ValueError as exc:
            if "unknown" in str(exc):  # the unpickler's own words for a byte that is no opcode
                raise pickle.UnpicklingError(f"invalid load key ({exc})") from None
            raise
        count += 1
        if opcode.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg <= count + _MEMO_SLACK):
            raise pickle.UnpicklingError(f"refused memo index {arg!r:.40} at opcode {count}: the "
                                         f"unpickler would grow its memo table to it (at most {_MEMO_SLACK} "
                                         "past the opcode count is allowed)")
        if opcode.name == "FRAME" and isinstance(arg, int) and arg > len(raw):
            raise pickle.UnpicklingError(f"refused frame of {arg} bytes in a {len(raw)}-byte pickle")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR-10 batch holds, within a byte budget.

    Plain containers and scalars (dict, list, tuple, bytes, str, int, float, bool, None) need no
    global and are always built. Of the globals a pickle may name, only the numpy array
    reconstruction callables are allowed -- ``numpy.core.multiarray._reconstruct`` (and its
    numpy 2 name ``numpy._core.multiarray._reconstruct``), ``numpy.core.numeric._frombuffer``
    (protocol 5), ``numpy.ndarray`` and ``numpy.dtype`` (object dtypes refused) -- plus
    ``_codecs.encode(str, 'latin1')``, which Python 3 writes for ``bytes`` at protocol 2. Any other
    global (``os.system``, ``builtins.eval``, ...) raises :class:`pickle.UnpicklingError` before it
    is called.

    Every array the pickle constructs (``numpy.ndarray(shape, dtype)``, ``_reconstruct``,
    ``_frombuffer``, and the ``__setstate__`` that fills an array) and every ``_codecs.encode``
    result is charged, by its declared size and before it is allocated, to ``max_bytes``; past it
    :class:`pickle.UnpicklingError` is raised. Arrays come back as a private subclass of
    ``numpy.ndarray``; ``np.asarray`` gives the plain array.

    Parameters
    ----------
    file : binary file
        The pickle.
    max_bytes : int
        The budget in bytes for arrays and encoded bytes (e.g. twice the pickle's size); default
        ``MAX_FILE_BYTES`` (1 GiB).
    **kwargs
        Passed to :class:`pickle.Unpickler` (e.g. ``encoding="bytes"``).
    """

    def __init__(self, file: Any, *, max_bytes: int = MAX_FILE_BYTES, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.max_bytes = int(max_bytes)
        self.charged = 0
        self._allowed = self._make_allowed()

    def _charge(self, nbytes: int, what: str) -> None:
        self.charged += nbytes
        if self.charged > self.max_bytes:
            raise pickle.UnpicklingError(
                f"refused {what}: the arrays built so far would take {self.charged} bytes, more than "
                f"the {self.max_bytes} bytes a pickle of this size can hold")

    def _make_allowed(self) -> dict[tuple[str, str], Any]:
        unpickler = self
        real_reconstruct, real_frombuffer = _numpy_callables()

        class _Array(np.ndarray):
            """``numpy.ndarray`` as the pickle sees it: construction and ``__setstate__`` are charged."""

            def __new__(cls, shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> Any:
                dt = _safe_dtype(dtype)
                unpickler._charge(_declared_nbytes(shape, dt), f"numpy.ndarray({shape!r:.60}, {dt})")
                return np.ndarray.__new__(cls, shape, dt, *args, **kwargs)

            def __setstate__(self, state: Any) -> None:
                shape, dtype = _state_shape_dtype(state)
                unpickler._charge(_declared_nbytes(shape, dtype), f"an array of shape {shape!r:.60}")
                super().__setstate__(state)

        def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
            if subtype is not _Array:
                raise pickle.UnpicklingError("refused _reconstruct of anything but numpy.ndarray")
            unpickler._charge(_declared_nbytes(shape, _safe_dtype(dtype)), f"_reconstruct({shape!r:.60})")
            return real_reconstruct(subtype, shape, dtype)

        def frombuffer(buf: Any, dtype: Any, shape: Any, order: Any, axis_order: Any = None) -> Any:
            dt = _safe_dtype(dtype)
            unpickler._charge(_declared_nbytes(shape, dt), f"_frombuffer of shape {shape!r:.60}")
            return real_frombuffer(buf, dt, shape, order, axis_order)

        def latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
            """Stand-in for ``_codecs.encode`` as Python 3 uses it to pickle ``bytes`` at protocol <= 2."""
            if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
                raise pickle.UnpicklingError("refused _codecs.encode call: only encode(str, 'latin1') is allowed")
            unpickler._charge(len(text), "_codecs.encode")
            return text.encode("latin1")

        allowed: dict[tuple[str, str], Any] = {
            ("numpy", "ndarray"): _Array,
            ("numpy", "dtype"): _safe_dtype,
            ("_codecs", "encode"): latin1_encode,
        }
        for core in ("numpy.core", "numpy._core"):
            allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
            allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
        return allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: a CIFAR-10 batch holds only dicts, lists, "
                "bytes, strings, integers and numpy arrays"
            ) from None


def _get(batch: dict, key: str) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise KeyError(key)


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch with :class:`RestrictedUnpickler`.

    Parameters
    ----------
    path : path
        A ``data_batch_*`` or ``test_batch`` file (optionally gzip-compressed).

    Returns
    -------
    images : ndarray, shape (N, 32, 32, 3), uint8
        Channels last (the file stores the red, green and blue 32x32 planes of each row in turn).
    labels : ndarray, shape (N,), int64
        Class indices 0..9.

    Raises
    ------
    DatasetError
        Missing, truncated or non-pickle file, a refused global, arrays larger than the file could
        hold, a file or decompressed content above the limits of :mod:`cnnrank.datasets._files`,
        or content other than a dict with ``data`` (uint8, ``(N, 3072)``) and ``labels`` (``N``
        integers in 0..9).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"file {str(path)!r} not found")
    raw = _read_bytes(path)
    try:
        _prescan(raw)
        unpickler = RestrictedUnpickler(io.BytesIO(raw), max_bytes=2 * len(raw) + CHUNK_BYTES, encoding="bytes")
        batch = unpickler.load()
    except pickle.UnpicklingError as exc:
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: {exc}") from None
    except Exception as exc:  # anything a malformed pickle raises (EOFError, ValueError, MemoryError, ...)
        raise DatasetError(f"file {str(path)!r} is truncated or not a pickle "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from None
    del raw
    if not isinstance(batch, dict):
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: holds a "
                           f"{type(batch).__name__}, expected a dict")
    try:
        data, labels = _get(batch, "data"), _get(batch, "labels")
    except KeyError as exc:
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: no {exc.args[0]!r} entry") from None
    width = 3 * _CIFAR_SIDE * _CIFAR_SIDE
    if isinstance(data, np.ndarray):
        data = np.asarray(data)  # the unpickler's private subclass -> a plain array (a view)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        desc = f"{data.dtype} array {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: 'data' is a {desc}, "
                           f"expected a uint8 array (N, {width})")
    if not isinstance(labels, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: 'labels' must be a list of ints")
    if len(labels) != data.shape[0]:
        raise DatasetError(f"file {str(path)!r} holds {data.shape[0]} images but {len(labels)} labels")
    bad = next((v for v in labels if not 0 <= v <= 9), None)
    if bad is not None:  # checked before any conversion: 10**100 does not fit an int64
        shown = str(bad) if abs(bad) < 10**12 else f"{'-' if bad < 0 else ''}{abs(bad).bit_length()}-bit integer"
        raise DatasetError(f"file {str(path)!r} holds label {shown}: CIFAR-10 labels are 0..9")
    labels_arr = np.array(labels, dtype=np.int64).reshape(-1)
    images = data.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels_arr


def load_cifar10(data_dir: str | os.PathLike | None = None, *, split: str = "train") -> ImageSet:
    """Load the CIFAR-10 training (``data_batch_1..5``) or test (``test_batch``) set.

    Parameters
    ----------
    data_dir : path or None
        Folder holding the batches (or a ``cifar-10-batches-py/`` sub-folder that does);
        ``None`` means ``$CNNRANK_DATA``.
    split : {"train", "test"}
        ``"train"``: the five ``data_batch_*`` files, all required; ``"test"``: ``test_batch``.

    Returns
    -------
    ImageSet
        ``images`` of shape ``(n, 32, 32, 3)`` (uint8), ``labels`` of shape ``(n,)``.

    Raises
    ------
    DatasetError
        Missing directory or file, or a file that is not a CIFAR-10 batch (see
        :func:`read_cifar10_batch`). The message names the file.
    """
    check_choice("split", split, tuple(_CIFAR_FILES))
    names = _CIFAR_FILES[split]
    hint = data_hint("cifar10", names)
    folder = find_data_dir(data_dir, names, _CIFAR_SUBDIRS, hint)
    paths = [_resolve(folder, name, hint) for name in names]
    parts = [read_cifar10_batch(p) for p in paths]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageSet(images=images, labels=labels, classes=CIFAR10_CLASSES, name="cifar10",
                    split=split, files=tuple(str(p) for p in paths))
