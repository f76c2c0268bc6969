"""What the MNIST and CIFAR-10 readers share: the data directory, the error type, the image set.

Nothing is downloaded. The data directory is given by argument or by the ``CNNRANK_DATA``
environment variable; inside it the files are looked for directly, then in the sub-folders the
official archives unpack to. Every problem with a file raises :class:`DatasetError` (a
``ValueError``) whose message names the file.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["DATA_ENV", "DatasetError", "ImageSet", "find_data_dir"]

#: environment variable holding the default data directory.
DATA_ENV = "CNNRANK_DATA"


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
