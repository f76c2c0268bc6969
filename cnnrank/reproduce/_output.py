"""The output folder of a command: checked, created and probed before anything is computed.

:func:`output_folder` is a context manager: on entry the folder is created (with its parents) and a
probe file is written, synced and removed, so that a folder that is a file, sits under a file, is
read-only or lies on a full disk fails in one line *before* minutes of computing; on an error inside
the block the folders it created are removed again when they hold no results (nothing is left
behind). Results are written atomically (:func:`cnnrank.results.atomic_write_bytes`), the files of one
command together (:func:`write_outputs`: all of them or none, whatever signal arrives), and the
temporary files a killed run of the command left are removed on entry.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["OutputError", "check_output_folder", "figure_bytes", "output_folder", "seed_type", "write_outputs",
           "written"]

#: files that are bookkeeping, not results: a folder holding only these (and empty folders) is removed
#: again when the command fails
_BOOKKEEPING = ("sweep.json",)
_PROBE_BYTES = 64 * 1024


class OutputError(ValueError):
    """The output folder cannot be created or written (reported in one line, exit status 2)."""


def seed_type(text: str) -> int:
    """``argparse`` type of ``--seed``: an integer >= 0 (the message names the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is invalid: a seed must be an integer >= 0")
    return value


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_folder(path: Path, option: str = "--out") -> list[Path]:
    """Create ``path`` (and its parents) and write and remove a probe file in it.

    Returns the folders created (outermost first). Raises :class:`OutputError` naming the option and
    the reason (a file is in the way, permission denied, disk full, ...).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {str(path)!r} is invalid: it is a file, not a folder")
    base = _first_existing(path.absolute())
    if not base.is_dir():
        raise OutputError(f"{option} {str(path)!r} is invalid: {str(base)!r} is a file, so no folder can be "
                          "created under it")
    created = []
    p = path.absolute()
    while p != base:
        created.append(p)
        p = p.parent
    created.reverse()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {str(path)!r} cannot be created: {exc.strerror or exc}") from None
    probe = path / f".cnnrank-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(f"{option} {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return created


def _holds_results(folder: Path) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f not in _BOOKKEEPING and not f.startswith(".") for f in files):
            return True
    return False


def remove_created(created: list[Path]) -> None:
    """Remove the folders :func:`check_output_folder` created, when they hold no results."""
    _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this command created when they hold no results (innermost first)."""
    if created and created[0].is_dir() and not _holds_results(created[0]):
        shutil.rmtree(created[0], ignore_errors=True)


@contextmanager
def output_folder(path: Path, option: str = "--out", enabled: bool = True,
                  outputs: Sequence[str] = ()) -> Iterator[Path]:
    """Check, create and probe ``path`` (:func:`check_output_folder`) and remove the temporary files a
    killed run left of the files named in ``outputs``; if the block raises (an error, a signal), remove
    what was created unless it holds results (finished sweep cells are kept for a resume)."""
    from cnnrank._signals import deferred
    from cnnrank.results import remove_stale_temps

    path = Path(path)
    created: list[Path] = []
    try:
        with deferred():  # a signal right after the folder is made still finds it in ``created``
            created += check_output_folder(path, option) if enabled else []
        if enabled:
            remove_stale_temps(path, outputs)
        yield path
    except BaseException:
        _remove_empty(created)
        raise


def figure_bytes(fig: Any, fmt: str = "png", dpi: int = 120) -> bytes:
    """The figure rendered in memory (format ``fmt``) and closed: nothing is written yet."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def write_outputs(files: Sequence[tuple[Path, bytes]]) -> list[Path]:
    """Write the result files of a command together: all of them or none
    (:func:`cnnrank.results.atomic_write_files`). Returns their paths."""
    from cnnrank.results import atomic_write_files

    return atomic_write_files(files)


def written(paths: list[Path]) -> str:
    """``"wrote a, b and c"`` for the files actually written."""
    names = [str(p) for p in paths]
    return "wrote " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace the finished cells of a different sweep in the command's output folder."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of a different earlier run in --out (its finished sweep cells "
                             "are deleted); without it such a folder is refused, and the same run resumes")


def check_sweep_store(store: Path, spec: Any, overwrite: bool, out: Path | None = None) -> None:
    """Refuse, before anything is computed, a sweep store holding the finished cells of a different
    sweep than ``spec`` (``--out`` ``out``, the folder the store lies in, names it); with ``overwrite``,
    delete those cells and the store's ``sweep.json`` instead, holding the store's lock (a sweep running
    in it is refused). The same sweep, or a store with no finished cell, passes untouched (resumed)."""
    from cnnrank.results import ResultsFileError, read_json_file
    from cnnrank.sweeps import _spec_diff, _store_paths, _StoreLock

    store = Path(store)
    out = store if out is None else Path(out)
    meta_path, cells = _store_paths(store)
    if not meta_path.is_file():
        return
    try:  # bounded (size, depth: "[" × 200000 is a one-line error, not a RecursionError)
        meta = read_json_file(meta_path, "sweep store file")
    except (OSError, ResultsFileError):
        meta = None
    fingerprint = meta.get("fingerprint") if isinstance(meta, dict) else None
    if fingerprint == spec.fingerprint():
        return
    finished = cells.is_dir() and any(cells.glob("*.json"))
    if not overwrite:
        if fingerprint is None or not finished:  # a damaged record: refused by run_sweep in its own words;
            return                               # no finished cell: run_sweep replaces the record
        diff = "; ".join(_spec_diff(meta.get("spec"), spec)) or f"fingerprint {fingerprint}"
        raise OutputError(f"--out {str(out)!r} holds a different sweep ({diff}); pass --overwrite to replace it, "
                          f"or use another folder")
    lock = _StoreLock(store)
    try:
        if cells.is_dir():
            shutil.rmtree(cells)
        meta_path.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {str(out)!r} cannot be overwritten: {exc.strerror or exc}") from None
    finally:
        lock.release()
