"""Plain-text tables for the command line (layer 0): :func:`format_table`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table"]


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A plain-text table; ``columns`` are ``(key, header, format)``, each column at least 9 wide.

    A value that is missing or ``None`` prints as ``-``, one the format does not apply to (a text in a
    number column) as its ``str``: printing a table never fails once the numbers are computed.

    >>> print(format_table([{"a": 1.0}, {"a": None}, {}], [("a", "alpha", ".2f")]))
        alpha
    ---------
         1.00
            -
            -
    """
    head = "  ".join(f"{h:>{max(len(h), 9)}}" for _, h, _ in columns)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append("  ".join(f"{_cell(r.get(k), fmt):>{max(len(h), 9)}}" for k, h, fmt in columns))
    return "\n".join(lines)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)
