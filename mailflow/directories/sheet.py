"""Read people from the HR department's spreadsheet: XLSX or CSV, columns named in the rules.

HR sheets are written for people: a title row merged across the top, a two-row header under a
merged group cell (联系方式 over 邮箱 and 手机), a department cell merged down over its members,
names padded with full-width spaces to line up (王　伟). The reader finds the header rows by
the configured column names (compared without any spaces), fills merged cells, and returns one
``Entry`` per row with a name. A row's e-mail is its key; 直属上级 may be an address or a name.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from mailflow.errors import DirectorySourceError
from mailflow.rulebook.directory_config import SheetSource
from mailflow.rulebook.roster import DirectoryRead, Entry

HEADER_SEARCH_ROWS = 10  # header rows are looked for among the first rows only
_SPACES = re.compile(r"\s+")
_CJK_ONLY = re.compile(r"^[\u3400-\u9fff\u00b7·\s]+$")
_LIST_SEPARATORS = re.compile(r"[,;，；、\s]+")
_CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # Excel in China saves CSV as GBK


def read_sheet(config: SheetSource, rules_dir: Path) -> DirectoryRead:
    """Return the people of the sheet; raise DirectorySourceError saying what is wrong."""
    path = Path(config.path)
    path = path if path.is_absolute() else rules_dir / path
    try:
        rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _xlsx_rows(path, config.sheet)
    except OSError as e:
        raise DirectorySourceError(f"{path}: {e.strerror or e}") from e
    return DirectoryRead(source=str(path), entries=tuple(entries_of(rows, config, path)))


def entries_of(rows: Sequence[Sequence[Any]], config: SheetSource, path: Path) -> Iterator[Entry]:
    """Yield one entry per data row of ``rows`` (a sheet's cells, merged cells already filled)."""
    columns, header_end = _header(rows, config, path)
    left = {_squash(v).lower() for v in config.left_values}
    for row in rows[header_end + 1 :]:
        cell = {field: _cell(row, index) for field, index in columns.items()}
        name = _name(cell.get("name", ""))
        if not name:
            continue
        email = cell.get("email", "").strip().lower() or None
        status = _squash(cell.get("status", "")).lower()
        yield Entry(
            key=email or name,
            name=name,
            email=email,
            aliases=tuple(a.lower() for a in _LIST_SEPARATORS.split(cell.get("aliases", "")) if a),
            department=_squash(cell.get("department", "")) or None,
            manager=_name(cell.get("manager", "")) or None,
            disabled=bool(status) and status in left,
        )


def _header(
    rows: Sequence[Sequence[Any]], config: SheetSource, path: Path
) -> tuple[dict[str, int], int]:
    wanted = {f: _squash(n) for f, n in config.columns.model_dump().items() if n}
    columns: dict[str, int] = {}
    header_end = -1
    for r, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        for c, value in enumerate(row):
            text = _squash(_text(value))
            for field, name in wanted.items():
                if text == name and field not in columns:
                    columns[field] = c
                    header_end = max(header_end, r)
    missing = [f"{wanted[f]!r} ({f})" for f in ("name", "email", "department") if f not in columns]
    if missing:
        raise DirectorySourceError(
            f"{path}: no column {', '.join(missing)} in the first {HEADER_SEARCH_ROWS} rows; "
            "set directory_sync.sheet.columns in organization.yaml to the sheet's headers"
        )
    absent = [f"{wanted[f]!r}" for f in wanted if f not in columns]
    if absent:
        raise DirectorySourceError(f"{path}: no column {', '.join(absent)} in the header")
    return columns, header_end


def _xlsx_rows(path: Path, sheet: str | None) -> list[list[Any]]:
    from openpyxl import load_workbook  # imported here: loading openpyxl costs start-up time
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, ValueError) as e:
        raise DirectorySourceError(f"{path}: not a readable XLSX workbook ({e})") from e
    if sheet is not None and sheet not in book.sheetnames:
        raise DirectorySourceError(
            f"{path}: no worksheet {sheet!r}; it has {', '.join(book.sheetnames)}"
        )
    ws = book[sheet] if sheet is not None else book.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    for merged in ws.merged_cells.ranges:
        top_left = rows[merged.min_row - 1][merged.min_col - 1]
        for r in range(merged.min_row - 1, merged.max_row):
            for c in range(merged.min_col - 1, merged.max_col):
                rows[r][c] = top_left
    return rows


def _csv_rows(path: Path) -> list[list[Any]]:
    raw = path.read_bytes()
    for encoding in _CSV_ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DirectorySourceError(f"{path}: neither UTF-8 nor GB18030 text")
    return [list(r) for r in csv.reader(text.splitlines())]


def _cell(row: Sequence[Any], index: int) -> str:
    return _text(row[index]) if index < len(row) else ""


def _text(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip() if value is not None else ""


def _squash(text: str) -> str:
    """Return ``text`` without any spaces (full-width ones included), for comparing headers."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def _name(text: str) -> str:
    """Return a person's name as written, without the spaces that pad Chinese names."""
    text = _text(text)
    return _squash(text) if _CJK_ONLY.match(text) else _SPACES.sub(" ", text)
