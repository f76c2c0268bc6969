"""Reading results files safely: :class:`ResultsFileError`, regular files only (a FIFO or a device is
refused before it is opened) and JSON records of bounded size (:data:`MAX_JSON_BYTES`) and depth
(:data:`MAX_JSON_DEPTH`), read by :func:`read_json_file`."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from cnnrank._memory import format_bytes

#: the largest JSON record :func:`read_json_file` reads by default (256 MiB)
MAX_JSON_BYTES = 256 << 20


#: the deepest nesting of lists and objects accepted in a JSON record (results nest a few levels)
MAX_JSON_DEPTH = 100


class ResultsFileError(ValueError):
    """A results file that cannot be read: missing, corrupted, or not a cnnrank result of that kind."""


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
