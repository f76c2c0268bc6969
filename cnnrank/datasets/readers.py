"""Readers for the standard MNIST and CIFAR-10 files a user already has on disk.

Nothing is downloaded. The data directory is given by argument or by the ``CNNRANK_DATA``
environment variable. Inside it the files are looked for directly, then in the sub-folder the
official archives unpack to (``mnist/`` or ``MNIST/raw/`` for MNIST, ``cifar-10-batches-py/`` or
``cifar10/`` for CIFAR-10).

* **MNIST IDX** (LeCun's format): ``{train,t10k}-images-idx3-ubyte`` and
  ``{train,t10k}-labels-idx1-ubyte``, plain or gzip-compressed (``.gz``; detected from the content).
  Big-endian header: magic ``0x00000803`` (unsigned bytes, 3 dimensions), count, rows, columns for
  images; magic ``0x00000801`` and count for labels; then the raw bytes.
* **CIFAR-10 python batches**: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a pickle
  of a dict with ``b'data'`` (``uint8`` array ``(N, 3072)``, the red, green and blue 32x32 planes in
  row-major order), ``b'labels'`` (list of ``N`` ints in 0..9), ``b'batch_label'`` and
  ``b'filenames'``. They are read with :class:`RestrictedUnpickler`, which builds only plain Python
  containers and numpy arrays and refuses every other global a pickle names.

Every problem with a file -- missing, wrong magic number, truncated, image and label counts that
disagree, labels out of range, a pickle that is not a CIFAR batch -- raises :class:`DatasetError`
(a ``ValueError``) whose message names the file.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import pickle
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnnrank._validation import check_choice

__all__ = [
    "DATA_ENV",
    "CIFAR10_CLASSES",
    "MNIST_CLASSES",
    "DatasetError",
    "ImageSet",
    "RestrictedUnpickler",
    "find_data_dir",
    "load_cifar10",
    "load_mnist",
    "read_cifar10_batch",
    "read_idx_images",
    "read_idx_labels",
]

#: environment variable holding the default data directory.
DATA_ENV = "CNNRANK_DATA"

MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801
_MNIST_PREFIX = {"train": "train", "test": "t10k"}
_MNIST_SUBDIRS = ("", "mnist", "MNIST", os.path.join("MNIST", "raw"), os.path.join("mnist", "raw"))
_CIFAR_SUBDIRS = ("", "cifar-10-batches-py", "cifar10", "cifar-10", "CIFAR10")
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR_SIDE = 32


class DatasetError(ValueError):
    """A data directory or file that cannot be used; the message names the directory or file."""


@dataclasses.dataclass(frozen=True, eq=False)
class ImageSet:
    """Images and integer class labels as read from disk.

    Attributes
    ----------
    images : ndarray, shape (n, H, W, C), uint8
        Pixel values 0..255, channels last (``C = 1`` for MNIST, ``3`` for CIFAR-10).
    labels : ndarray, shape (n,), int64
        Class indices ``0 .. len(classes) - 1``.
    classes : tuple of str
        Class names, indexed by label.
    name : str
        ``"mnist"`` or ``"cifar10"``.
    split : str
        ``"train"`` or ``"test"``.
    files : tuple of str
        The files read, in order.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str
    split: str
    files: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images has shape {self.images.shape} and dtype {self.images.dtype}: "
                             "must be a uint8 array (n, H, W, C)")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels has shape {self.labels.shape}: must be ({self.images.shape[0]},)")

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    def class_counts(self) -> np.ndarray:
        """Number of images of each class, shape ``(len(classes),)``."""
        return np.bincount(self.labels, minlength=len(self.classes))


# --------------------------------------------------------------------------- data directory


def find_data_dir(data_dir: str | os.PathLike | None, required: Sequence[str],
                  subdirs: Sequence[str] = ("",)) -> Path:
    """The folder holding the ``required`` files: ``data_dir`` (or ``$CNNRANK_DATA``) or a sub-folder.

    Parameters
    ----------
    data_dir : path or None
        The data directory; ``None`` means the ``CNNRANK_DATA`` environment variable.
    required : sequence of str
        File names (each may also exist with a ``.gz`` suffix) that the folder must hold.
    subdirs : sequence of str
        Sub-folders of ``data_dir`` to try, in order (``""`` is ``data_dir`` itself).

    Returns
    -------
    Path
        The first candidate folder holding all ``required`` files, or, when none holds all of them,
        the one holding most of them (so that the caller's error names the missing file).

    Raises
    ------
    DatasetError
        If no directory is given and ``CNNRANK_DATA`` is unset, or the directory does not exist.
    """
    if data_dir is None or str(data_dir) == "":
        env = os.environ.get(DATA_ENV, "")
        if not env:
            raise DatasetError(f"no data directory: pass data_dir (--data-dir) or set {DATA_ENV}")
        data_dir = env
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data directory {str(root)!r} does not exist or is not a directory")

    def present(folder: Path) -> int:
        return sum((folder / f).is_file() or (folder / (f + ".gz")).is_file() for f in required)

    best, best_count = root, -1
    for sub in subdirs:
        folder = root / sub if sub else root
        if not folder.is_dir():
            continue
        count = present(folder)
        if count == len(required):
            return folder
        if count > best_count:
            best, best_count = folder, count
    return best


def _resolve(folder: Path, name: str) -> Path:
    """``folder/name`` or ``folder/name.gz``, whichever exists; DatasetError naming both otherwise."""
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"file {str(folder / name)!r} (or {name}.gz) not found")


def _read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed if it is gzip (detected by its magic bytes)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"file {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"file {str(path)!r} is a corrupted or truncated gzip file ({exc})") from None
    return raw


# --------------------------------------------------------------------------- MNIST


def _idx_header(path: Path, data: bytes, magic: int, ndim: int, what: str) -> tuple[int, ...]:
    header_len = 4 * (1 + ndim)
    if len(data) < header_len:
        raise DatasetError(f"file {str(path)!r} is truncated: {len(data)} bytes, "
                           f"shorter than the {header_len}-byte IDX header of an {what} file")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DatasetError(f"file {str(path)!r} is not an MNIST {what} file: magic number "
                           f"0x{found:08x}, expected 0x{magic:08x}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header_len + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise DatasetError(f"file {str(path)!r} is truncated: {len(data)} bytes, the header "
                           f"{dims} announces {expected}")
    if len(data) > expected:
        raise DatasetError(f"file {str(path)!r} has {len(data) - expected} bytes after the "
                           f"{expected} its header {dims} announces")
    return dims


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST IDX image file (plain or gzip).

    Parameters
    ----------
    path : path
        An ``*-images-idx3-ubyte`` file, optionally gzip-compressed.

    Returns
    -------
    ndarray, shape (n, rows, cols), uint8

    Raises
    ------
    DatasetError
        Wrong magic number (not ``0x00000803``), truncated or over-long file; the message names it.
    """
    path = Path(path)
    data = _read_bytes(path)
    n, rows, cols = _idx_header(path, data, _IDX_IMAGES_MAGIC, 3, "image")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST IDX label file (plain or gzip).

    Parameters
    ----------
    path : path
        An ``*-labels-idx1-ubyte`` file, optionally gzip-compressed.

    Returns
    -------
    ndarray, shape (n,), int64
        Labels in 0..9.

    Raises
    ------
    DatasetError
        Wrong magic number (not ``0x00000801``), truncated or over-long file, a label above 9.
    """
    path = Path(path)
    data = _read_bytes(path)
    _idx_header(path, data, _IDX_LABELS_MAGIC, 1, "label")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)
    if labels.size and labels.max() > 9:
        raise DatasetError(f"file {str(path)!r} holds label {int(labels.max())}: MNIST labels are 0..9")
    return labels


def load_mnist(data_dir: str | os.PathLike | None = None, *, split: str = "train") -> ImageSet:
    """Load the MNIST training or test set from IDX files.

    Parameters
    ----------
    data_dir : path or None
        Folder holding the files (or a ``mnist/`` / ``MNIST/raw/`` sub-folder that does);
        ``None`` means ``$CNNRANK_DATA``.
    split : {"train", "test"}
        ``"train"`` reads ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``, ``"test"``
        reads the ``t10k-`` files; each may carry a ``.gz`` suffix.

    Returns
    -------
    ImageSet
        ``images`` of shape ``(n, 28, 28, 1)`` (uint8), ``labels`` of shape ``(n,)``.

    Raises
    ------
    DatasetError
        Missing directory or file, wrong magic number, truncated file, image and label counts
        that differ. The message names the file.

    Examples
    --------
    >>> test = load_mnist("../shared/data/mnist", split="test")   # doctest: +SKIP
    >>> test.images.shape, test.class_counts()[:2]                  # doctest: +SKIP
    ((10000, 28, 28, 1), array([ 980, 1135]))
    """
    check_choice("split", split, tuple(_MNIST_PREFIX))
    prefix = _MNIST_PREFIX[split]
    names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    folder = find_data_dir(data_dir, names, _MNIST_SUBDIRS)
    img_path, lab_path = (_resolve(folder, name) for name in names)
    images = read_idx_images(img_path)
    labels = read_idx_labels(lab_path)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"image file {str(img_path)!r} holds {images.shape[0]} images but label file "
                           f"{str(lab_path)!r} holds {labels.shape[0]} labels")
    return ImageSet(images=images[..., None], labels=labels, classes=MNIST_CLASSES, name="mnist",
                    split=split, files=(str(img_path), str(lab_path)))


# --------------------------------------------------------------------------- CIFAR-10


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
        from numpy._core.numeric import _frombuffer
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
