"""Files attached to outgoing mail, built at send time from the JSON specs an outbox row stores.

The outbox keeps only JSON data, so a template context may carry ``files``: a list of specs such
as ``{"type": "ics", …}`` (an action item's deadline, see ``ics.py``) or ``{"type": "xlsx", …}``
(the guide's 内部沟通记录表, written by ``record.to_xlsx``). ``build_attachments`` turns them into
``Attachment`` values for ``compose``; the same specs always give the same bytes. Pure: no
database, no network. Imports nothing of mailflow but ``errors`` and its own package.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mailflow.errors import TemplateError
from mailflow.outbound.record_format import COLUMNS

ICS_CONTENT_TYPE = "text/calendar; method=PUBLISH; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_DEFAULT_FILENAME = "内部沟通记录表.xlsx"
XLSX_DEFAULT_TITLE = "内部沟通记录表"
RECORD_MODULE = "mailflow.outbound.record_format"
MAX_FILENAME_CHARS = 120
_BAD_FILENAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85/\\\"]")
_CONTENT_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+(\s*;.*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Attachment:
    """One file to attach: its name, its MIME type (parameters allowed) and its bytes."""

    filename: str
    content_type: str
    data: bytes

    def __post_init__(self) -> None:
        """Refuse a file name that is empty, too long, a path or not one line."""
        name = self.filename
        if not name.strip() or len(name) > MAX_FILENAME_CHARS or _BAD_FILENAME.search(name):
            raise TemplateError(f"not a usable attachment file name: {name!r}")
        if not _CONTENT_TYPE.match(self.content_type):
            raise TemplateError(f"not a MIME content type: {self.content_type!r}")


def build_attachments(files: Sequence[Mapping[str, Any]]) -> list[Attachment]:
    """Return the attachments the specs describe, in order; raise TemplateError for a bad spec."""
    if isinstance(files, str | bytes | Mapping):
        raise TemplateError("files must be a list of attachment specs")
    return [_build(spec, index) for index, spec in enumerate(files, start=1)]


def _build(spec: Mapping[str, Any], index: int) -> Attachment:
    if not isinstance(spec, Mapping):
        raise TemplateError(f"files[{index}] must be a mapping with a 'type', not {spec!r}")
    kind = spec.get("type")
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        known = ", ".join(sorted(_BUILDERS))
        raise TemplateError(f"files[{index}]: unknown attachment type {kind!r} (known: {known})")
    return builder(spec)


def ics_attachment(spec: Mapping[str, Any]) -> Attachment:
    """Return the .ics file for an ``{"type": "ics", …}`` spec (an item's deadline)."""
    # imported here: icalendar is needed only when a mail carries a deadline's .ics
    from mailflow.outbound.ics import deadline_from_spec, deadline_ics, ics_filename

    deadline = deadline_from_spec(spec)
    filename = spec.get("filename") or ics_filename(deadline)
    return Attachment(str(filename), ICS_CONTENT_TYPE, deadline_ics(deadline))


def xlsx_attachment(spec: Mapping[str, Any]) -> Attachment:
    """Return the workbook for an ``{"type": "xlsx", "filename", "rows", "title"}`` spec.

    Rows are dicts keyed by the record's Chinese column names; ``record.to_xlsx`` writes them.
    Raises TemplateError when that writer is not installed or the spec is malformed.
    """
    rows = spec.get("rows")
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        raise TemplateError("xlsx attachment: rows must be a list of row mappings")
    if not all(isinstance(row, Mapping) for row in rows):
        raise TemplateError("xlsx attachment: every row must be a mapping of column -> value")
    title = spec.get("title") or XLSX_DEFAULT_TITLE
    filename = spec.get("filename") or XLSX_DEFAULT_FILENAME
    if not isinstance(title, str) or not isinstance(filename, str):
        raise TemplateError("xlsx attachment: title and filename must be text")
    data = record_writer()([_RecordRow(row) for row in rows], title)
    if not isinstance(data, bytes):
        raise TemplateError(f"xlsx attachment: to_xlsx returned {type(data).__name__}, not bytes")
    return Attachment(filename, XLSX_CONTENT_TYPE, data)


class _RecordRow(dict[str, Any]):
    """A JSON row keyed by the record's column names that also offers ``cells()``.

    ``record.to_xlsx`` reads rows through ``cells()`` (the ten values in the guide's order); a
    dict that has it serves both that and a writer that reads the mapping itself.
    """

    def cells(self) -> list[str | None]:
        """Return the values in the order of the guide's columns, text or None."""
        return [_cell(self.get(column)) for column in COLUMNS]


def _cell(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def record_writer(
    module_name: str = RECORD_MODULE,
) -> Callable[[list[_RecordRow], str], bytes]:
    """Return ``to_xlsx`` of the record module, imported late: the XLSX writer is optional."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise TemplateError(f"xlsx attachment: {module_name} needs {e.name}") from e
        raise TemplateError(f"xlsx attachment: {module_name} is not installed") from e
    writer = getattr(module, "to_xlsx", None)
    if not callable(writer):
        raise TemplateError(f"xlsx attachment: {module_name} has no to_xlsx(rows, title)")
    return writer  # type: ignore[no-any-return]


_BUILDERS: Mapping[str, Callable[[Mapping[str, Any]], Attachment]] = {
    "ics": ics_attachment,
    "xlsx": xlsx_attachment,
}
