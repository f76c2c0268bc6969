"""A progress indication on stderr for long runs: tqdm when installed, a small built-in bar otherwise.

Silenced when stderr is not a terminal (unless forced with ``enabled=True``) or on request
(``enabled=False``). Library functions take ``progress=None`` meaning "only on a terminal".
"""

from __future__ import annotations

import sys
import time
from typing import Any


class _Bar:
    def __init__(self, total: int, desc: str, stream: Any) -> None:
        self.total, self.desc, self.stream = max(int(total), 1), desc, stream
        self.n, self.start, self._last = 0, time.monotonic(), 0.0

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now - self._last >= 0.2 or self.n >= self.total:
            self._last = now
            frac = min(self.n / self.total, 1.0)
            width = 30
            bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
            elapsed = now - self.start
            eta = f"eta {elapsed / frac - elapsed:5.1f}s" if frac > 0 else "eta    ?"
            self.stream.write(f"\r{self.desc} [{bar}] {self.n}/{self.total} {elapsed:5.1f}s {eta}")
            self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class _Null:
    def update(self, k: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str = "", enabled: bool | None = None) -> Any:
    """An object with ``update(k)`` and ``close()``.

    ``enabled=None`` shows the bar only when stderr is a terminal; ``True`` forces it; ``False``
    silences it.
    """
    if enabled is None:
        enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not enabled:
        return _Null()
    try:
        from tqdm import tqdm  # optional
    except ImportError:
        return _Bar(total, desc, sys.stderr)
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=True)
