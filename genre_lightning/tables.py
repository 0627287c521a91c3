"""Plain-text tables for the terminal, or Markdown for the docs: the one formatter that every report uses."""

from __future__ import annotations


def align(rows: list[list[str]], left: int = 0, markdown: bool = False) -> str:
    """Rows of cells as text columns: the first ``left`` columns left-aligned, the rest right-aligned.

    Trailing spaces are stripped, so a long last column (e.g. a list of genres) does not pad lines.
    ``markdown``: a Markdown table instead, its first row the header, aligned the same way in the source and
    when rendered.
    """
    widths = [max(3 if markdown else 0, *(len(row[i]) for row in rows)) for i in range(len(rows[0]))]

    def cells(row: list[str]) -> list[str]:
        return [cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]

    if not markdown:
        return "\n".join("  ".join(cells(row)).rstrip() for row in rows)
    rule = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join(f"| {' | '.join(line)} |" for line in [cells(rows[0]), rule, *map(cells, rows[1:])])
