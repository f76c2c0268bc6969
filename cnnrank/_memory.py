"""Memory checks before large allocations (layer 0).

A request that cannot fit fails early with a ``MemoryError`` subclass that says how much memory it
needs, how much the machine has, and what would fit — instead of a ``MemoryError`` traceback from
deep inside NumPy (or the machine swapping) after minutes of work.
"""

from __future__ import annotations

import os

__all__ = ["InsufficientMemory", "available_bytes", "check_allocation", "format_bytes"]

#: a single request may use at most this share of the memory available when it is made
SHARE = 0.8


class InsufficientMemory(MemoryError, ValueError):
    """A request needs more memory than the machine has (a ``MemoryError`` and a ``ValueError``)."""


def format_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def available_bytes() -> int:
    """Memory available to this process now (Linux ``MemAvailable``; else total physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62


def check_allocation(nbytes: float, what: str, hint: str = "", limit: float | None = None) -> None:
    """Raise :class:`InsufficientMemory` if ``nbytes`` exceeds ``SHARE`` of the available memory
    (or ``limit`` bytes when given).

    Parameters
    ----------
    nbytes : float
        The estimated size of the request.
    what : str
        What is being allocated, e.g. ``"the Gram engine's patch Gram matrix (20000 × 20000 float64)"``.
    hint : str
        What would fit, e.g. ``"use engine='feature' or a smaller n"``.
    limit : float, optional
        A fixed budget in bytes instead of the machine's available memory.
    """
    budget = SHARE * available_bytes() if limit is None else float(limit)
    if nbytes > budget:
        msg = f"{what} needs {format_bytes(nbytes)}, more than the {format_bytes(budget)} "
        msg += "allowed" if limit is not None else "this machine can spare now"
        raise InsufficientMemory(msg + (f"; {hint}" if hint else ""))
