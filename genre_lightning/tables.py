"""Plain-text tables for the terminal, or Markdown for the docs: the one formatter that every report uses; and
how a name (a file's path) is shown in a table, a text list or an error line."""

from __future__ import annotations


def shown(name: object) -> str:
    """``name`` as text, as it is when every character prints; otherwise (a tab, a newline...) or where it
    starts with a quote, as a Python string literal (quotes, and \\t, \\n... escapes; ast.literal_eval reads
    it back): one name stays one cell or line, and names the real file."""
    text = str(name)
    return text if text.isprintable() and not text.startswith(("'", '"')) else repr(text)


def align(rows: list[list[str]], left: int = 0, markdown: bool = False) -> str:
    """Rows of cells as text columns: the first ``left`` columns left-aligned, the rest right-aligned; a cell
    with a character that does not print (a file name with a tab or newline) escaped as ``shown`` does, so
    that it stays one cell of one line (a column of names: pass them through ``shown``).

    Trailing spaces are stripped, so a long last column (e.g. a list of genres) does not pad lines.
    ``markdown``: a Markdown table instead, its first row the header, aligned the same way in the source and
    when rendered.
    """
    rows = [[cell if cell.isprintable() else repr(cell) for cell in row] for row in rows]
    widths = [max(3 if markdown else 0, *(len(row[i]) for row in rows)) for i in range(len(rows[0]))]

    def cells(row: list[str]) -> list[str]:
        return [cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]

    if not markdown:
        return "\n".join("  ".join(cells(row)).rstrip() for row in rows)
    rule = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join(f"| {' | '.join(line)} |" for line in [cells(rows[0]), rule, *map(cells, rows[1:])])
