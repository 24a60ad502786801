"""The tables of an HTML mail as grids of cell text, merged cells repeated where they span.

Mail clients flatten an HTML table in the plain-text alternative (a cell a line, or the row
joined with spaces), so the item reader reads the table from the markup when there is one.
``rowspan`` and ``colspan`` are expanded: a cell spanning three rows gives its text to each of
them, so 经办人 written once for two tasks owns both. Nested tables are read as their own
tables. Uses the stdlib ``html.parser``, which never raises on bad markup; the work is bounded
by ``MAX_CELLS``. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_CELLS = 5_000  # per mail; past it the remaining markup is not read as tables
MAX_SPAN = 50
# cells of all the tables of one markup once spans are expanded: 800 rows of 50x50 spans made
# 2,000,000 (seconds), and so did 800 tables of one such cell each
MAX_GRID_CELLS = 20_000
_CHUNK_CHARS = 65_536
_BREAKS = frozenset({"br", "p", "div", "li"})
_UNCLOSED_START = re.compile(r"<(?=[^<>]*<)")


class _Cell:
    def __init__(self, rowspan: int, colspan: int) -> None:
        self.text: list[str] = []
        self.rowspan, self.colspan = rowspan, colspan


class _Table:
    def __init__(self) -> None:
        self.rows: list[list[_Cell]] = []
        self.cell: _Cell | None = None


def _span(value: str | None) -> int:
    try:
        return max(1, min(MAX_SPAN, int(value or "1")))
    except ValueError:
        return 1


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[_Table] = []
        self.done: list[_Table] = []
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        table = self.open[-1] if self.open else None
        if tag == "table":
            self.open.append(_Table())
        elif table is not None and tag == "tr":
            table.rows.append([])
        elif table is not None and tag in ("td", "th") and self.cells < MAX_CELLS:
            if not table.rows:
                table.rows.append([])
            a = dict(attrs)
            table.cell = _Cell(_span(a.get("rowspan")), _span(a.get("colspan")))
            table.rows[-1].append(table.cell)
            self.cells += 1
        elif table is not None and table.cell is not None and tag in _BREAKS:
            table.cell.text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.open:
            self.done.append(self.open.pop())
        elif tag in ("td", "th") and self.open:
            self.open[-1].cell = None

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1].cell is not None:
            self.open[-1].cell.text.append(data)


def _grid(table: _Table, allowance: int) -> tuple[list[list[str]], int]:
    """Return the table as rows of cell text, spans expanded, up to ``allowance`` cells (the
    rows from the one where the expanded cells would pass it are left out), and its cells."""
    grid: list[list[str]] = []
    pending: dict[tuple[int, int], str] = {}  # (row, column) filled by a rowspan above
    cells = 0
    for r, row in enumerate(table.rows):
        size = sum(cell.colspan * cell.rowspan for cell in row)
        if cells + size > allowance:
            break
        cells += size
        out: list[str] = []
        col = 0
        for cell in row:
            while (r, col) in pending:
                out.append(pending.pop((r, col)))
                col += 1
            text = " ".join("".join(cell.text).split())
            for c in range(col, col + cell.colspan):
                out.append(text)
                for below in range(r + 1, r + cell.rowspan):
                    pending[(below, c)] = text
            col += cell.colspan
        while (r, col) in pending:
            out.append(pending.pop((r, col)))
            col += 1
        grid.append(out)
    return grid, cells


def html_tables(markup: str, defects: list[str] | None = None) -> list[list[list[str]]]:
    """Return every table of ``markup`` as a grid of cell text, in the order they close, up to
    ``MAX_CELLS`` cells read and ``MAX_GRID_CELLS`` expanded cells in all (``defects``, when
    given, says when a cap left cells unread).

    Markup without a table is not parsed at all. A ``<`` that another ``<`` follows before any
    ``>`` opens no tag and is read as text: the standard parser rescans the rest of the markup
    for each such start tag, which made 12,000 of them cost 15 s.
    """
    if "<table" not in markup.lower():
        return []
    parser, text = _TableParser(), _UNCLOSED_START.sub("&lt;", markup)
    try:
        # fed in chunks, and no further once MAX_CELLS cells are read: the parser took 6 s
        # to go through the rest of a 3 MB table whose cells past the cap were not kept.
        # What the parser holds back unread (a start tag not closed yet) it reads again from
        # its start with each chunk, so a chunk is never smaller than that: an unclosed tag
        # of megabytes is read again a few times, not once per 64 KB
        start = 0
        while start < len(text) and parser.cells < MAX_CELLS:
            end = start + max(_CHUNK_CHARS, len(parser.rawdata))
            parser.feed(text[start:end])
            start = end
        parser.close()
    except (AssertionError, ValueError):  # very old Pythons raised on some broken markup
        pass
    if parser.cells >= MAX_CELLS and defects is not None:
        defects.append(f"HTML tables: the first {MAX_CELLS} cells read for action items")
    grids, allowance, left_out = [], MAX_GRID_CELLS, False
    for table in [*parser.done, *parser.open]:
        if not table.rows:
            continue
        size = sum(cell.colspan * cell.rowspan for row in table.rows for cell in row)
        if allowance <= 0:
            left_out = True
            continue
        grid, cells = _grid(table, allowance)
        grids.append(grid)
        allowance -= cells
        left_out = left_out or cells < size
    if left_out and defects is not None:
        defects.append(
            f"HTML tables: spans expanded to {MAX_GRID_CELLS} cells; the rest not read for "
            "action items"
        )
    return grids
