"""CIFAR-10 python batches: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``.

Each is a pickle of a dict with ``b'data'`` (``uint8`` array ``(N, 3072)``: the red, green and blue
32x32 planes in row-major order), ``b'labels'`` (list of ``N`` ints in 0..9), ``b'batch_label'`` and
``b'filenames'``. They are read with :class:`RestrictedUnpickler`, which builds only plain Python
containers and numpy arrays and refuses every other global a pickle names. The files are looked for
in the data directory, then in ``cifar-10-batches-py/`` or ``cifar10/`` below it.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._validation import check_choice
from cnnrank.datasets._files import DatasetError, ImageSet, _read_bytes, _resolve, find_data_dir

__all__ = ["CIFAR10_CLASSES", "RestrictedUnpickler", "load_cifar10", "read_cifar10_batch"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_CIFAR_SUBDIRS = ("", "cifar-10-batches-py", "cifar10", "cifar-10", "CIFAR10")
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR_SIDE = 32


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode`` as Python 3 uses it to pickle ``bytes`` at protocol <= 2."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError("refused _codecs.encode call: only encode(str, 'latin1') is allowed")
    return text.encode("latin1")


def _safe_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` as array pickles call it, refusing object dtypes."""
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError(f"refused numpy dtype {dt}: object arrays are not allowed")
    return dt


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR-10 batch holds.

    Plain containers and scalars (dict, list, tuple, bytes, str, int, float, bool, None) need no
    global and are always built. Of the globals a pickle may name, only the numpy array
    reconstruction callables are allowed -- ``numpy.core.multiarray._reconstruct`` (and its
    numpy 2 name ``numpy._core.multiarray._reconstruct``), ``numpy.core.numeric._frombuffer``
    (protocol 5), ``numpy.ndarray`` and ``numpy.dtype`` (object dtypes refused) -- plus
    ``_codecs.encode(str, 'latin1')``, which Python 3 writes for ``bytes`` at protocol 2. Any other
    global (``os.system``, ``builtins.eval``, ...) raises :class:`pickle.UnpicklingError` before it
    is called.
    """

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        allowed = type(self)._allowed
        if allowed is None:
            allowed = type(self)._allowed = _numpy_globals()
        try:
            return allowed[(module, name)]
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
        Missing, truncated or non-pickle file, a refused global, or content other than a dict with
        ``data`` (uint8, ``(N, 3072)``) and ``labels`` (``N`` integers in 0..9).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"file {str(path)!r} not found")
    raw = _read_bytes(path)
    try:
        batch = RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise DatasetError(f"file {str(path)!r} is truncated or not a pickle "
                           f"({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: holds a "
                           f"{type(batch).__name__}, expected a dict")
    try:
        data, labels = _get(batch, "data"), _get(batch, "labels")
    except KeyError as exc:
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: no {exc.args[0]!r} entry") from None
    width = 3 * _CIFAR_SIDE * _CIFAR_SIDE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        desc = f"{data.dtype} array {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: 'data' is a {desc}, "
                           f"expected a uint8 array (N, {width})")
    if not isinstance(labels, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise DatasetError(f"file {str(path)!r} is not a CIFAR-10 batch: 'labels' must be a list of ints")
    labels_arr = np.array(labels, dtype=np.int64).reshape(-1)
    if labels_arr.shape[0] != data.shape[0]:
        raise DatasetError(f"file {str(path)!r} holds {data.shape[0]} images but {labels_arr.shape[0]} labels")
    if labels_arr.size and (labels_arr.min() < 0 or labels_arr.max() > 9):
        bad = labels_arr[(labels_arr < 0) | (labels_arr > 9)][0]
        raise DatasetError(f"file {str(path)!r} holds label {int(bad)}: CIFAR-10 labels are 0..9")
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
    folder = find_data_dir(data_dir, names, _CIFAR_SUBDIRS)
    paths = [_resolve(folder, name) for name in names]
    parts = [read_cifar10_batch(p) for p in paths]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageSet(images=images, labels=labels, classes=CIFAR10_CLASSES, name="cifar10",
                    split=split, files=tuple(str(p) for p in paths))
