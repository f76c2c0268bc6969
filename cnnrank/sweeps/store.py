"""The locked store of a sweep (docs/sweeps.md): ``DIR/sweep.json`` (the definition, created
exclusively), ``DIR/cells/<id>.json`` (one file per finished cell, written atomically, carrying the
sweep's fingerprint, its coordinates and a checksum, all checked when read back) and the exclusive lock
``DIR/.sweep.lock`` held while a sweep runs; and the check, before anything is written, that the sweep
fits in memory and on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from cnnrank._memory import check_allocation, format_bytes
from cnnrank._version import __version__
from cnnrank.experiments.runs import config_from_dict
from cnnrank.results import ResultsFileError, atomic_write_text, read_json_file
from cnnrank.sweeps.result import _check_metric
from cnnrank.sweeps.spec import SweepSpec, _fmt_point, _grid_dict

#: estimated bytes per cell: its result in memory, and its file on disk (one file-system block)
CELL_MEMORY_BYTES = 4096
CELL_DISK_BYTES = 4096

STORE_FORMAT = 2
_LOCK_NAME = ".sweep.lock"


#: the largest JSON file of a store read (``sweep.json`` or a cell; both are a few KiB)
_STORE_JSON_BYTES = 64 << 20


def _store_paths(store: Path) -> tuple[Path, Path]:
    return store / "sweep.json", store / "cells"


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _check_size(spec: SweepSpec, store: Path | None, local: bool) -> None:
    """Refuse, before anything is written, a sweep whose results cannot fit in memory or on disk, or
    (run here or on a local pool) a cell whose arrays cannot fit in memory."""
    n = spec.n_cells
    hint = "use fewer seeds or grid values"
    check_allocation(n * CELL_MEMORY_BYTES, f"a sweep of {n} cells ({spec.seeds} seeds × {math.prod(spec.shape)} "
                     f"grid points; its results are kept in memory)", hint)
    if store is not None:
        base = _existing_ancestor(store)
        try:
            free = shutil.disk_usage(base).free
        except OSError:
            free = None
        if free is not None and n * CELL_DISK_BYTES > free:
            raise ValueError(f"store={str(store)!r} is invalid: a sweep of {n} cells needs about "
                             f"{format_bytes(n * CELL_DISK_BYTES)} for its cell files, more than the "
                             f"{format_bytes(free)} free there; {hint}")
    if not local:
        return
    seen = set()
    for point in spec.points():
        config = config_from_dict(point, spec.base)
        key = (config.n, config.n_test, config.patches, config.d, config.m, config.K, config.engine)
        if key in seen:
            continue
        seen.add(key)
        where = f"grid point {_fmt_point(point)}" if point else "the sweep's cell"
        if config.engine == "implicit":
            N = 2 * config.K + (config.n + config.n_test) * (config.patches - 1) + 2 * config.m
            check_allocation(3 * 8.0 * N * N, f"{where} on the implicit engine (three {N} × {N} Gram matrices)",
                             "use a smaller n")
        else:
            nbytes = 8.0 * (2 * (config.n + config.n_test) * config.patches * config.d + 4 * config.m * config.d)
            if config.engine == "gram":
                nbytes += 8.0 * (config.n * config.patches) ** 2
            check_allocation(nbytes, f"{where} (data of {config.n + config.n_test} samples × {config.patches} "
                             f"patches × d={config.d}, with a clean copy)", "use engine='implicit' (no d-dimensional "
                             "vectors) or smaller n, d")


class _StoreLock:
    """An exclusive ``flock`` on ``DIR/.sweep.lock`` (held while a sweep runs in ``DIR``)."""

    def __init__(self, store: Path) -> None:
        self.path = store / _LOCK_NAME
        self.fd: int | None = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ValueError(f"store={str(store)!r} is invalid: cannot create its lock file ({exc.strerror})") from None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: the exclusive creation of sweep.json remains
            self.fd = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(f"store={str(store)!r} is invalid: another sweep is running in it (it holds "
                             f"{str(self.path)!r}); wait for it to finish or use another folder") from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None


def _prepare_store(store: Path) -> None:
    """Create ``store`` and ``store/cells`` (errors name the folder)."""
    for folder in (store, _store_paths(store)[1]):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"store={str(store)!r} is invalid: {str(folder)!r} is a file, not a folder")
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"store={str(store)!r} is invalid: cannot create it ({exc.strerror or exc})") from None
    if not os.access(store, os.W_OK | os.X_OK):
        raise ValueError(f"store={str(store)!r} is invalid: the folder is not writable")


def _read_json(path: Path, what: str, hint: str = "") -> Any:
    """:func:`cnnrank.results.read_json_file`: a regular file only (a FIFO is refused, not waited on),
    bounded in size and nesting; one :class:`ResultsFileError` naming the file."""
    return read_json_file(path, what, max_bytes=_STORE_JSON_BYTES, hint=hint)


def _spec_diff(stored: Any, new: SweepSpec) -> list[str]:
    """What differs between a stored definition and ``new``, one ``"name: old -> new"`` per option."""
    if not isinstance(stored, dict):
        return []
    out = []
    old_base: dict[str, Any] = stored["base"] if isinstance(stored.get("base"), dict) else {}
    new_base = new.base.to_dict()
    for k in sorted(set(old_base) | set(new_base)):
        if old_base.get(k, "(default)") != new_base.get(k, "(default)"):
            out.append(f"base.{k}: {old_base.get(k, '(default)')!r} -> {new_base.get(k, '(default)')!r}")
    try:
        old_grid = {k: list(v) for k, v in _grid_dict(stored.get("grid", {})).items()}
    except ValueError:
        old_grid = {}
    new_grid = {k: list(v) for k, v in new.grid.items()}
    for k in [*old_grid, *[k for k in new_grid if k not in old_grid]]:
        if old_grid.get(k) != new_grid.get(k):
            out.append(f"grid.{k}: {old_grid.get(k, '(none)')!r} -> {new_grid.get(k, '(none)')!r}")
    if not out and list(old_grid) != list(new_grid):
        out.append(f"grid axis order: {list(old_grid)} -> {list(new_grid)}")
    for k in ("seeds", "root_seed"):
        if stored.get(k) != getattr(new, k):
            out.append(f"{k}: {stored.get(k)!r} -> {getattr(new, k)!r}")
    return out


def _create_meta(meta_path: Path, record: dict[str, Any]) -> bool:
    """Create ``sweep.json`` atomically and exclusively (complete content or nothing; never replaces).
    Returns False when the file already exists."""
    tmp = meta_path.with_name(f".sweep.json.{os.getpid()}.tmp")
    atomic_write_text(tmp, json.dumps(record, indent=2))
    try:
        os.link(tmp, meta_path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive creation, then the content
        try:
            fd = os.open(meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record, indent=2))
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _check_meta(store: Path) -> None:
    """Refuse an existing ``sweep.json`` that is not a sweep's record (read only, before the lock; the
    same check runs again under the lock in :func:`_open_store`)."""
    meta_path = _store_paths(store)[0]
    if not meta_path.is_file():
        return
    meta = _read_json(meta_path, "sweep store file")
    if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), str):
        raise ResultsFileError(f"sweep store file {str(meta_path)!r} is invalid: must be an object with the "
                               f"sweep's fingerprint and definition (found {type(meta).__name__}); use another folder")


def _open_store(store: Path, spec: SweepSpec) -> dict[str, dict]:
    """Check or create ``sweep.json`` and read the finished cells (the caller holds the lock)."""
    meta_path, cells_dir = _store_paths(store)
    record = {"store_format": STORE_FORMAT, "fingerprint": spec.fingerprint(), "spec": spec.to_file_dict(),
              "cnnrank_version": __version__}
    if meta_path.is_dir():
        raise ValueError(f"store={str(store)!r} is invalid: {str(meta_path)!r} is a folder, not a file")
    if not _create_meta(meta_path, record):
        meta = _read_json(meta_path, "sweep store file")
        if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), str):
            raise ResultsFileError(f"sweep store file {str(meta_path)!r} is invalid: must be an object with the "
                                   f"sweep's fingerprint and definition (found {type(meta).__name__}); "
                                   f"use another folder")
        if meta["fingerprint"] != spec.fingerprint():
            if not cells_dir.is_dir() or not any(cells_dir.glob("*.json")):
                atomic_write_text(meta_path, json.dumps(record, indent=2))  # nothing finished: nothing to lose
            else:
                diff = _spec_diff(meta.get("spec"), spec)
                what = "; ".join(diff) if diff else f"fingerprint {meta['fingerprint']} vs {spec.fingerprint()}"
                raise ValueError(f"store={str(store)!r} is invalid: it holds a different sweep ({what}); "
                                 f"use a new folder, or the stored definition")
    try:
        cells_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise ValueError(f"store={str(store)!r} is invalid: cannot create {str(cells_dir)!r} "
                         f"({exc.strerror or exc})") from None
    for tmp in cells_dir.glob(".*.tmp"):  # left by a process killed while writing (we hold the lock)
        tmp.unlink(missing_ok=True)
    for tmp in store.glob(".*sweep.json.*.tmp"):  # the same for sweep.json (written only under the lock)
        tmp.unlink(missing_ok=True)
    expected = {cid: (point, s) for cid, point, s in spec.cells()}
    fingerprint = spec.fingerprint()
    done = {}
    for p in sorted(cells_dir.glob("*.json")):
        cell = _read_cell(p, expected, fingerprint)
        if cell is not None:
            done[p.stem] = cell
    return done


def _read_cell(path: Path, expected: dict[str, tuple[dict, int]], fingerprint: str) -> dict | None:
    """A stored cell after checking it is this sweep's cell ``path.stem``; ``None`` to recompute it.

    Cells written before cells carried their identity (no ``sweep`` key) are recomputed: nothing
    shows which sweep they belong to, and recomputing gives the same bits. Anything else that does not
    check out (unreadable, ``{}``, ``null``, another sweep's, another cell's, edited) is refused: it
    was written by something other than this sweep, and the user should look before it is replaced. Each
    cell carries a checksum of its content (``digest``), so an edited number shows too.
    """
    fix = "delete it to recompute the cell, or use a new folder"
    cid = path.stem
    if cid not in expected:
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: this sweep has no cell {cid!r}; {fix}")
    cell = _read_json(path, "sweep cell file", hint=fix)
    if isinstance(cell, dict) and "sweep" not in cell and isinstance(cell.get("metrics"), dict) and "seed" in cell:
        return None  # an older cnnrank's cell: unverifiable, recomputed
    if not isinstance(cell, dict) or not {"sweep", "cell", "point", "seed_index", "metrics", "digest"} <= set(cell):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: not a sweep cell record "
                               f"(found {json.dumps(cell)[:60]}); {fix}")
    if cell["sweep"] != fingerprint:
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: it belongs to another sweep "
                               f"(fingerprint {cell['sweep']!r}, this sweep {fingerprint}); {fix}")
    point, s = expected[cid]
    if cell["cell"] != cid or cell["seed_index"] != s or cell["point"] != json.loads(json.dumps(point)):
        raise ResultsFileError(
            f"sweep cell file {str(path)!r} is invalid: it holds cell {cell['cell']!r} ({cell['point']!r:.80}, "
            f"seed index {cell['seed_index']!r}), not {cid} ({_fmt_point(point)}, seed index {s}): moved or "
            f"edited; {fix}")
    if cell["digest"] != _digest(cell):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: its content does not match its checksum "
                               f"(edited after it was written); {fix}")
    metrics = cell["metrics"]
    if not isinstance(metrics, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values()):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: its metrics must be numbers; {fix}")
    for k, v in metrics.items():
        try:
            _check_metric(k, v)
        except ValueError as exc:
            raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: {exc}; {fix}") from None
    seconds = cell.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: seconds={seconds!r:.40}; {fix}")
    return cell


def _digest(cell: dict[str, Any]) -> str:
    """A checksum of a cell record (every key but ``digest``): a hand edit shows."""
    body = {k: v for k, v in cell.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
