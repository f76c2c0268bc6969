"""Signals of a command (layer 0): SIGINT, SIGTERM and SIGHUP become :class:`Interrupted`, raised in the
main thread, so that every command ends the same way -- its ``finally`` blocks run (temporary files
removed, worker pools stopped, empty output folders removed) and the command line prints one line and
exits with status ``128 + signum``. Another signal within :data:`GRACE_SECONDS` of the first is ignored
while the command cleans up (``SIGKILL`` still ends it).

:func:`handle_signals` installs the handlers for a block (the command line wraps every command in it).
:func:`deferred` marks a short section that must not be cut in two (the renames that publish a set of
result files together): a signal arriving inside it is held and raised when the section ends.
Without :func:`handle_signals` (library use) nothing changes: Ctrl-C raises ``KeyboardInterrupt`` as
usual and :func:`deferred` only counts.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["Interrupted", "deferred", "handle_signals", "signal_name"]

#: the signals a command turns into :class:`Interrupted` (those the platform has)
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

#: seconds after a signal during which another one is ignored: the command is cleaning up (removing its
#: temporary files, stopping its workers) and a second Ctrl-C must not cut that short
GRACE_SECONDS = 10.0

_depth = [0]  # nesting depth of deferred()
_pending: list[int] = []  # signals that arrived inside deferred()
_raised_at: list[float] = []  # when the last Interrupted was raised


class Interrupted(KeyboardInterrupt):
    """The command was stopped by signal ``signum`` (a ``KeyboardInterrupt``: nothing catches it by
    accident). ``kept`` says what was kept for a resume (set by the command), or is empty."""

    def __init__(self, signum: int, kept: str = "") -> None:
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = int(signum)
        self.kept = kept


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15 (the number as text for a signal without a name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _handler(signum: int, frame: Any) -> None:
    if _depth[0] > 0:
        _pending.append(signum)
        return
    now = time.monotonic()
    if _raised_at and now - _raised_at[-1] < GRACE_SECONDS:
        return  # already stopping
    _raised_at.append(now)
    raise Interrupted(signum)


def _early_handler(signum: int, frame: Any) -> None:
    """Before any command runs (nothing written yet): one line and the status ``128 + signum``."""
    import os
    import sys

    with contextlib.suppress(OSError):
        sys.stderr.write(f"cnnrank: interrupted by {signal_name(signum)}\n")
        sys.stderr.flush()
    os._exit(128 + signum)


def install_early() -> None:
    """Handlers for the seconds ``python -m cnnrank`` spends importing (NumPy, matplotlib) before
    :func:`handle_signals` takes over: a signal then still ends the process with one line and the
    status ``128 + signum`` (nothing has been written). Main thread only."""
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _early_handler)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread (the
    previous handlers are restored after it). Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for sig in SIGNALS:
            previous[sig] = signal.signal(sig, _handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        _pending.clear()
        _raised_at.clear()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section that a signal does not cut: a signal arriving inside is raised when the section ends
    (the outermost one, when nested). Only the main thread's sections count (signals are handled
    there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
    if _depth[0] == 0 and _pending:
        signum = _pending[0]
        _pending.clear()
        _raised_at.append(time.monotonic())
        raise Interrupted(signum)
