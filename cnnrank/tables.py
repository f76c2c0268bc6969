"""Plain-text tables for the command line (layer 0): :func:`format_table`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table"]


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A plain-text table; ``columns`` are ``(key, header, format)``, each column at least 9 wide and as wide as its widest cell.

    A value that is missing or ``None`` prints as ``-``, one the format does not apply to (a text in a
    number column) as its ``str``: printing a table never fails once the numbers are computed.

    >>> print(format_table([{"a": 1.0}, {"a": None}, {}], [("a", "alpha", ".2f")]))
        alpha
    ---------
         1.00
            -
            -
    """
    cells = [[_cell(r.get(k), fmt) for k, _, fmt in columns] for r in rows]
    widths = [max([len(h), 9, *(len(row[j]) for row in cells)]) for j, (_, h, _) in enumerate(columns)]
    head = "  ".join(f"{h:>{w}}" for (_, h, _), w in zip(columns, widths))
    lines = [head, "-" * len(head)]
    for row in cells:
        lines.append("  ".join(f"{c:>{w}}" for c, w in zip(row, widths)))
    return "\n".join(lines)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)
