"""MNIST in LeCun's IDX format: ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``.

Plain or gzip-compressed (``.gz``; detected from the content); the common spelling with a dot
(``t10k-images.idx3-ubyte``) is found too. Big-endian header: magic ``0x00000803`` (unsigned bytes,
3 dimensions), count, rows, columns for images; magic ``0x00000801`` and count for labels; then the
raw bytes. The header is read first (a gzip file is decompressed as a stream), its dimensions are
checked (none zero) and the size they declare is refused above
:data:`~cnnrank.datasets._files.MAX_FILE_BYTES` before anything is allocated; then exactly that many
bytes are read in bounded chunks and trailing data is refused. Wrong magic numbers, zero
dimensions, oversized declarations, truncated or over-long files, labels above 9 and image / label
counts that disagree raise :class:`DatasetError` naming the file. The files are looked for in the
data directory, then in ``mnist/``, ``MNIST/`` and ``MNIST/raw/`` below it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnrank._validation import check_choice
from cnnrank.datasets._files import (
    CHUNK_BYTES,
    DatasetError,
    ImageSet,
    _check_content_size,
    _open_stream,
    _read_exact,
    _read_into,
    _resolve,
    _trailing_bytes,
    data_hint,
    find_data_dir,
)

__all__ = ["MNIST_CLASSES", "load_mnist", "read_idx_images", "read_idx_labels"]

MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))

_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801
_MNIST_PREFIX = {"train": "train", "test": "t10k"}
_MNIST_SUBDIRS = ("", "mnist", "MNIST", os.path.join("MNIST", "raw"), os.path.join("mnist", "raw"))


def _read_idx(path: Path, magic: int, ndim: int, what: str) -> tuple[tuple[int, ...], np.ndarray]:
    """The dimensions and the raw bytes of an IDX file, checked before anything large is allocated."""
    header_len = 4 * (1 + ndim)
    with _open_stream(path) as (fh, gz, size):
        header = bytearray(header_len)
        got = _read_into(path, fh, memoryview(header))
        if got < header_len:
            raise DatasetError(f"file {str(path)!r} is truncated: {got} bytes, "
                               f"shorter than the {header_len}-byte IDX header of an {what} file")
        found = int.from_bytes(header[:4], "big")
        if found != magic:
            raise DatasetError(f"file {str(path)!r} is not an MNIST {what} file: magic number "
                               f"0x{found:08x}, expected 0x{magic:08x}")
        dims = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        if 0 in dims:
            raise DatasetError(f"file {str(path)!r} has dimensions {dims}: an MNIST {what} file has "
                               "no zero dimension")
        declared = 1
        for d in dims:  # Python integers: the product of three 32-bit dimensions cannot overflow
            declared *= d
        expected = header_len + declared
        if not gz and size != expected:  # a plain file: its length is known before reading
            if size < expected:
                raise DatasetError(f"file {str(path)!r} is truncated: {size} bytes, the header "
                                   f"{dims} announces {expected}")
            raise DatasetError(f"file {str(path)!r} has {size - expected} bytes after the "
                               f"{expected} its header {dims} announces")
        _check_content_size(path, declared, f"the data its header {dims} declares", gz, size)
        data = _read_exact(path, fh, declared, f"the header {dims}")
        if gz:
            extra = _trailing_bytes(path, fh)
            if extra:
                count = f"more than {CHUNK_BYTES}" if extra > CHUNK_BYTES else str(extra)
                raise DatasetError(f"file {str(path)!r} has {count} bytes after the {expected} its "
                                   f"header {dims} announces")
    return dims, data


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
        Wrong magic number (not ``0x00000803``), a zero dimension, a declared size above
        ``MAX_FILE_BYTES`` (1 GiB; for gzip also above 100 times the file's size, beyond 64 MiB),
        truncated or over-long file, corrupted gzip stream; the message names the file.
    """
    path = Path(path)
    (n, rows, cols), data = _read_idx(path, _IDX_IMAGES_MAGIC, 3, "image")
    return data.reshape(n, rows, cols)


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
        Wrong magic number (not ``0x00000801``), zero count, oversized declaration, truncated or
        over-long file, a label above 9.
    """
    path = Path(path)
    _, data = _read_idx(path, _IDX_LABELS_MAGIC, 1, "label")
    labels = data.astype(np.int64)
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
        reads the ``t10k-`` files; each may carry a ``.gz`` suffix, and may be spelled with a dot
        (``t10k-images.idx3-ubyte``) as some distributions do.

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
    names = ((f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"),
             (f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"))
    hint = data_hint("mnist", names, ".gz")
    folder = find_data_dir(data_dir, names, _MNIST_SUBDIRS, hint)
    img_path, lab_path = (_resolve(folder, name, hint) for name in names)
    images = read_idx_images(img_path)
    labels = read_idx_labels(lab_path)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"image file {str(img_path)!r} holds {images.shape[0]} images but label file "
                           f"{str(lab_path)!r} holds {labels.shape[0]} labels")
    return ImageSet(images=images[..., None], labels=labels, classes=MNIST_CLASSES, name="mnist",
                    split=split, files=(str(img_path), str(lab_path)))
