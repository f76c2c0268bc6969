"""Files written atomically: to a temporary file ``.NAME.PID.XXXXXXXX.tmp`` in the same folder, then
renamed, several files as one (:func:`atomic_write_files`); the temporary files of killed writers are
removed by :func:`remove_stale_temps`."""

from __future__ import annotations

import collections.abc
import os
import tempfile
from pathlib import Path


def _temp_prefix(path: Path) -> str:
    """Temporary files of ``path`` are ``.NAME.PID.XXXXXXXX.tmp`` beside it (PID: the writing process)."""
    return f".{path.name}.{os.getpid()}."


def _write_temp(path: Path, data: bytes, temps: list[str]) -> None:
    """``data`` in a new temporary file beside ``path`` (synced, the usual permissions), its name appended
    to ``temps`` as soon as it exists (the caller removes them all on an error or a signal)."""
    from cnnrank._signals import deferred

    path.parent.mkdir(parents=True, exist_ok=True)
    with deferred():  # the file exists only once its name is in ``temps``
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        temps.append(tmp)
        fh = os.fdopen(fd, "wb")
    with fh:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return atomic_write_files([(path, data)])[0]


def atomic_write_files(items: collections.abc.Sequence[tuple[str | os.PathLike, bytes]]) -> list[Path]:
    """Write several files as one: all or none of them are replaced.

    Every file is first written to a temporary file beside it; the renames that publish them then run
    in a section a signal does not cut (:func:`cnnrank._signals.deferred`). An error or a signal before
    that removes the temporary files and leaves the targets as they were; an error in the renames
    (a disk gone) removes the files already renamed. Only a ``SIGKILL`` between two renames (a few
    microseconds) can publish a part, and a killed writer's temporary files are removed by
    :func:`remove_stale_temps`.
    """
    from cnnrank._signals import deferred

    paths = [Path(p) for p, _ in items]
    temps: list[str] = []
    done: list[Path] = []
    try:
        for path, (_, data) in zip(paths, items):
            _write_temp(path, data, temps)
        with deferred():
            for path, tmp in zip(paths, temps):
                os.replace(tmp, path)
                done.append(path)
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if done and len(done) < len(paths):
            for path in done:
                path.unlink(missing_ok=True)
        raise
    return paths


#: a temporary file of a live process older than this is stale all the same (a write takes seconds)
STALE_SECONDS = 600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, names: collections.abc.Sequence[str]) -> list[Path]:
    """Remove the temporary files that killed writers of ``folder/NAME`` (each of ``names``, a file name
    or a ``glob`` pattern such as ``probe_*.npz``) left.

    A temporary file ``.NAME.PID.XXXXXXXX.tmp`` is kept only while process ``PID`` (another one than
    this) runs and the file is younger than :data:`STALE_SECONDS`; older-style ``.NAME.XXXXXXXX.tmp``
    files are removed. Returns the files removed.
    """
    import time

    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            parts = tmp.name[: -len(".tmp")].rsplit(".", 2)  # [".NAME", "PID", "XXXXXXXX"]
            pid_text = parts[1] if len(parts) == 3 else ""
            if pid_text.isdigit() and int(pid_text) != os.getpid() and _pid_alive(int(pid_text)):
                try:
                    if time.time() - tmp.stat().st_mtime < STALE_SECONDS:
                        continue  # another command is writing it now
                except OSError:
                    continue
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
