"""What the MNIST and CIFAR-10 readers share: the data directory, the error type, the image set.

Nothing is downloaded. The data directory is given by argument or by the ``CNNRANK_DATA``
environment variable; inside it the files are looked for directly, then in the sub-folders the
official archives unpack to. Every problem with a file raises :class:`DatasetError` (a
``ValueError``) whose message names the file.

Files are never trusted to be small. The readers check headers and declared sizes before they
allocate, decompress gzip as a stream in bounded chunks, and refuse any file whose content (declared
or decompressed) exceeds :data:`MAX_FILE_BYTES` (1 GiB), or a compressed file that would expand more
than :data:`MAX_EXPANSION` times its size beyond :data:`EXPANSION_FLOOR` (64 MiB). The largest
standard files are far below: MNIST ``train-images`` is 47 MB (9.9 MB gzip), a CIFAR-10 batch 31 MB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import zlib
from collections.abc import Iterator, Sequence
from io import BufferedIOBase
from pathlib import Path

import numpy as np

from cnnrank._memory import InsufficientMemory, check_allocation, format_bytes

__all__ = ["DATA_ENV", "EXPANSION_FLOOR", "MAX_EXPANSION", "MAX_FILE_BYTES", "SOURCES", "DatasetError", "ImageSet",
           "data_hint", "find_data_dir"]

#: environment variable holding the default data directory.
DATA_ENV = "CNNRANK_DATA"

#: the largest content (declared by a header, or decompressed) a reader accepts from one file: 1 GiB.
MAX_FILE_BYTES = 1 << 30
#: a gzip file may decompress to at most ``MAX_EXPANSION`` times its size (or ``EXPANSION_FLOOR``).
MAX_EXPANSION = 100
#: below this decompressed size (64 MiB) the expansion ratio of a gzip file is not checked.
EXPANSION_FLOOR = 64 << 20
#: bytes read or decompressed per call when streaming a file.
CHUNK_BYTES = 1 << 20


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
        if not isinstance(self.images, np.ndarray) or self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images has shape {np.shape(self.images)} and dtype "
                             f"{getattr(self.images, 'dtype', type(self.images).__name__)}: "
                             "must be a uint8 array (n, H, W, C)")
        if not isinstance(self.labels, np.ndarray) or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels has shape {np.shape(self.labels)}: must be ({self.images.shape[0]},)")
        if self.labels.dtype.kind not in "iu":
            raise ValueError(f"labels has dtype {self.labels.dtype}: must hold integers")
        if not isinstance(self.classes, tuple) or not self.classes:
            raise ValueError(f"classes is {self.classes!r}: must be a non-empty tuple of class names")
        n_classes = len(self.classes)
        bad = (self.labels < 0) | (self.labels >= n_classes)
        if bad.any():
            raise ValueError(f"labels holds {int(self.labels[bad][0])}: labels must lie in "
                             f"0..{n_classes - 1} (one per class of {self.classes!r:.80})")

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    def class_counts(self) -> np.ndarray:
        """Number of images of each class, shape ``(len(classes),)``."""
        return np.bincount(self.labels, minlength=len(self.classes))


# --------------------------------------------------------------------------- data directory

#: a required file: one name, or alternative spellings of it (e.g. ``t10k-images-idx3-ubyte`` and
#: ``t10k-images.idx3-ubyte``); each may also carry a ``.gz`` suffix.
FileName = str | Sequence[str]


def _spellings(name: FileName) -> tuple[str, ...]:
    return (name,) if isinstance(name, str) else tuple(name)


#: where the files of each data set come from, named when they are missing (nothing is downloaded)
SOURCES: dict[str, str] = {
    "mnist": "the official MNIST distribution (the MNIST database of handwritten digits of LeCun, Cortes "
             "and Burges), gzip-compressed as distributed or unpacked",
    "cifar10": "the python version of the official CIFAR-10 distribution (Krizhevsky, Nair and Hinton's "
               "cifar-10-python.tar.gz), unpacked: its folder cifar-10-batches-py",
}


def data_hint(dataset: str, required: Sequence[FileName], suffix: str = "") -> str:
    """What a missing-data message adds: the files expected (first spelling, with ``suffix``), where
    they come from (:data:`SOURCES`) and how to point at their folder."""
    files = [_spellings(name)[0] + suffix for name in required]
    listed = files[0] if len(files) == 1 else ", ".join(files[:-1]) + " and " + files[-1]
    return (f"expected {listed} from {SOURCES.get(dataset, dataset)}; pass their folder with --data-dir "
            f"(data_dir=) or the {DATA_ENV} environment variable; nothing is downloaded")


def find_data_dir(data_dir: str | os.PathLike | None, required: Sequence[FileName],
                  subdirs: Sequence[str] = ("",), hint: str = "") -> Path:
    """The folder holding the ``required`` files: ``data_dir`` (or ``$CNNRANK_DATA``) or a sub-folder.

    Parameters
    ----------
    data_dir : path or None
        The data directory; ``None`` means the ``CNNRANK_DATA`` environment variable.
    required : sequence of str or of tuples of str
        File names (each may also exist with a ``.gz`` suffix) that the folder must hold; a tuple
        lists alternative spellings of one file.
    subdirs : sequence of str
        Sub-folders of ``data_dir`` to try, in order (``""`` is ``data_dir`` itself).
    hint : str
        Appended to the errors (:func:`data_hint`: the files expected and where they come from).

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
            raise DatasetError(f"no data directory: {hint or f'pass data_dir (--data-dir) or set {DATA_ENV}'}")
        data_dir = env
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data directory {str(root)!r} does not exist or is not a directory"
                           + (f"; {hint}" if hint else ""))

    def present(folder: Path) -> int:
        return sum(any((folder / f).is_file() or (folder / (f + ".gz")).is_file() for f in _spellings(name))
                   for name in required)

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


def _resolve(folder: Path, name: FileName, hint: str = "") -> Path:
    """``folder/name`` or ``folder/name.gz`` (for each spelling), whichever exists first; DatasetError
    otherwise (``hint`` appended)."""
    names = _spellings(name)
    for spelling in names:
        for candidate in (folder / spelling, folder / (spelling + ".gz")):
            if candidate.is_file():
                return candidate
    others = ", ".join([f"{names[0]}.gz"] + [f"{n}[.gz]" for n in names[1:]])
    raise DatasetError(f"file {str(folder / names[0])!r} (or {others}) not found" + (f"; {hint}" if hint else ""))


# --------------------------------------------------------------------------- bounded reading


def _corrupted(path: Path, exc: BaseException) -> DatasetError:
    return DatasetError(f"file {str(path)!r} is a corrupted or truncated gzip file ({exc})")


@contextlib.contextmanager
def _open_stream(path: Path) -> Iterator[tuple[BufferedIOBase, bool, int]]:
    """Open ``path`` for streaming: ``(file, is_gzip, size on disk)``; gzip detected by its magic bytes.

    A gzip file is decompressed as it is read, never more than the caller asks for.
    """
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"file {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    try:
        size = os.fstat(raw.fileno()).st_size
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if gz:
            with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
                yield fh, True, size
        else:
            yield raw, False, size
    except OSError as exc:
        raise DatasetError(f"file {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    finally:
        raw.close()


def _content_limit(gz: bool, size_on_disk: int) -> int:
    """The most content a file of ``size_on_disk`` bytes may hold (decompressed if ``gz``)."""
    if not gz:
        return MAX_FILE_BYTES
    return min(MAX_FILE_BYTES, max(EXPANSION_FLOOR, MAX_EXPANSION * size_on_disk))


def _check_content_size(path: Path, nbytes: int, what: str, gz: bool, size_on_disk: int) -> None:
    """Refuse ``nbytes`` of content above the stated limits or the memory this machine can spare."""
    limit = _content_limit(gz, size_on_disk)
    if nbytes > limit:
        why = (f"the {format_bytes(MAX_FILE_BYTES)} a reader accepts (MAX_FILE_BYTES)" if limit == MAX_FILE_BYTES
               else f"the {format_bytes(limit)} a {format_bytes(size_on_disk)} gzip file may expand to "
                    f"(at most {MAX_EXPANSION}x its size above {format_bytes(EXPANSION_FLOOR)})")
        raise DatasetError(f"file {str(path)!r} is refused: {what} is {nbytes} bytes, more than {why}")
    try:
        check_allocation(nbytes, f"file {str(path)!r}: {what}")
    except InsufficientMemory as exc:
        raise DatasetError(str(exc)) from None


def _read_into(path: Path, fh: BufferedIOBase, out: memoryview) -> int:
    """Fill ``out`` from ``fh`` in chunks of at most :data:`CHUNK_BYTES`; the number of bytes read."""
    pos, n = 0, len(out)
    try:
        while pos < n:
            got = fh.readinto(out[pos: pos + CHUNK_BYTES])
            if not got:
                break
            pos += got
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupted(path, exc) from None
    return pos


def _read_exact(path: Path, fh: BufferedIOBase, nbytes: int, what: str) -> np.ndarray:
    """Exactly ``nbytes`` bytes of ``fh`` as a uint8 array (the caller has checked ``nbytes``)."""
    out = np.empty(nbytes, dtype=np.uint8)
    got = _read_into(path, fh, out.data)
    if got < nbytes:
        raise DatasetError(f"file {str(path)!r} is truncated: {what} announces {nbytes} bytes, "
                           f"the file holds {got}")
    return out


def _trailing_bytes(path: Path, fh: BufferedIOBase) -> int:
    """How many bytes are left in ``fh`` (counted up to :data:`CHUNK_BYTES` + 1, not further)."""
    try:
        return len(fh.read(CHUNK_BYTES + 1))
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupted(path, exc) from None


def _read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed if it is gzip, within :func:`_content_limit`.

    Read in chunks; a gzip file is refused as soon as its decompressed content passes the limit.
    """
    with _open_stream(path) as (fh, gz, size):
        limit = _content_limit(gz, size)
        if not gz:
            _check_content_size(path, size, "the file", gz, size)
        buf = bytearray()
        try:
            while True:
                chunk = fh.read(CHUNK_BYTES)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > limit:
                    _check_content_size(path, len(buf), "the decompressed content (at least)", gz, size)
        except (OSError, EOFError, zlib.error) as exc:
            raise _corrupted(path, exc) from None
        return bytes(buf)
