"""The guide's 内部沟通记录表 as files: XLSX for the weekly digest and CSV for spreadsheets.

Pure: rows in, bytes out. No database, no service import (the layers point the other way), so
a row is anything with ``cells()`` giving the ten values in the order of ``COLUMNS``. Dates and
datetimes are written as text (``YYYY-MM-DD`` and ``YYYY-MM-DD HH:MM``), already in the
organisation's timezone: spreadsheet programs would otherwise shift or reformat them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol

# The guide's column names (§三 内部沟通记录表), in its order.
COLUMNS: tuple[str, ...] = (
    "沟通日期",
    "沟通类型",
    "参与部门/人员",
    "沟通主题",
    "核心内容摘要",
    "行动项",
    "负责人",
    "计划完成时间",
    "实际完成时间",
    "备注",
)

# Widths in Excel character units; CJK glyphs are about two units wide.
_WIDTHS = (12, 10, 28, 30, 60, 40, 10, 18, 18, 36)
_DATE_FORMAT = "%Y-%m-%d"
_DATETIME_FORMAT = "%Y-%m-%d %H:%M"
_SHEET_TITLE_LIMIT = 31  # Excel refuses longer sheet names
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})
UTF8_BOM = b"\xef\xbb\xbf"
_TEXT_TYPE = "s"
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); mail
# text comes from outside, so such a cell gets a leading apostrophe, as OWASP advises.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | date | datetime | None


class RecordLike(Protocol):
    """A row of the record: its ten cells in the order of ``COLUMNS``."""

    def cells(self) -> Sequence[Cell]: ...


def cell_text(value: Cell) -> str:
    """Return a cell as the text the files show: dates as ``YYYY-MM-DD [HH:MM]``, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return value.strftime(_DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(_DATE_FORMAT)
    return value


def to_xlsx(rows: Iterable[RecordLike], title: str) -> bytes:
    """Return an XLSX workbook of one sheet named ``title``: a bold, frozen header row in the
    guide's column names, then one row per record row, every cell as text."""
    # imported here: openpyxl takes a tenth of the poller's start-up, which never needs it
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has its first sheet
    sheet.title = _sheet_title(title)
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([cell_text(v) for v in row.cells()])
    wrap = Alignment(wrap_text=True, vertical="top")
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            cell.alignment = wrap
            # openpyxl takes text starting with "=" for a formula; mail text must stay text
            cell.data_type = _TEXT_TYPE
    for index, width in enumerate(_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv(rows: Iterable[RecordLike]) -> bytes:
    """Return the record as RFC 4180 CSV (CRLF, quoted where needed) in UTF-8 with a BOM, so
    Excel shows the Chinese instead of guessing a legacy code page."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, dialect="excel", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_text(v) for v in row.cells()])
    return UTF8_BOM + text.getvalue().encode("utf-8")


def _csv_text(value: Cell) -> str:
    text = cell_text(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _sheet_title(title: str) -> str:
    cleaned = title.translate(_SHEET_FORBIDDEN).strip("'") or "Sheet1"
    return cleaned[:_SHEET_TITLE_LIMIT]
