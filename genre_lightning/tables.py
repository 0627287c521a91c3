"""Plain-text tables for the terminal: the one formatter that every report uses."""

from __future__ import annotations


def align(rows: list[list[str]], left: int = 0) -> str:
    """Rows of cells as text columns: the first ``left`` columns left-aligned, the rest right-aligned.

    Trailing spaces are stripped, so a long last column (e.g. a list of genres) does not pad lines.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    )
