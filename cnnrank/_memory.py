"""Memory checks before large allocations (layer 0).

A request that cannot fit fails early with a ``MemoryError`` subclass that says how much memory it
needs, how much the machine has, and what would fit — instead of a ``MemoryError`` traceback from
deep inside NumPy (or the machine swapping) after minutes of work.
"""

from __future__ import annotations

import os

__all__ = ["InsufficientMemory", "address_space_left", "available_bytes", "check_allocation", "format_bytes"]

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
    """Memory available to this process now: the machine's (Linux ``MemAvailable``; else total
    physical memory), and no more than what the process's address-space limit leaves
    (``RLIMIT_AS`` soft limit minus the current virtual size, :func:`address_space_left`)."""
    left = address_space_left()
    machine = _machine_available()
    return machine if left is None else min(machine, left)


def address_space_left() -> int | None:
    """Bytes the process may still map under its ``RLIMIT_AS`` soft limit (``ulimit -v``), or ``None``
    when there is no such limit (or it cannot be read: not POSIX, or no ``/proc/self/status``)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (AttributeError, OSError, ValueError):  # pragma: no cover
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except OSError:  # pragma: no cover - no procfs: the whole limit
        pass
    return max(int(soft) - used, 0)


def _machine_available() -> int:
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
        msg += "allowed" if limit is not None else "this process can spare now"
        raise InsufficientMemory(msg + (f"; {hint}" if hint else ""))
