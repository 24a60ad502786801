"""Action items written as a table whose header row names the columns.

Rows are plain-text tables separated by tabs or ``|`` (Markdown style included) or HTML tables
the body converter joined with " | ". The header must name a task or deliverable column and an
owner or deadline column: the guide's 内部沟通记录表 (行动项, 负责人, 计划完成时间, 实际完成时间,
备注) and variants (任务, 责任人, 截止时间, 交付物, 完成标准, English names). 实际完成时间 is not a
deadline. A 备注 cell that says 交付/提交 something gives the deliverable when there is no
deliverable column. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailflow.mail.dates import find_deadline
from mailflow.mail.items_base import Draft, Reading, clean_owner, optional
from mailflow.mail.items_labels import KIND, TASK
from mailflow.mail.model import DEADLINE, DELIVERABLE, OWNER

REMARK = "remark"
_COLUMNS = {re.sub(r"\s", "", k): v for k, v in KIND.items()}
_COLUMNS.update({name: REMARK for name in ("备注", "说明", "remark", "remarks", "notes")})
_COLUMNS.update({"序号": "", "no.": "", "#": "", "实际完成时间": ""})
_RULE_ROW = re.compile(r"^[\s|｜:：\-—=+]+$")  # |---|---| and +----+ lines
_DELIVERED = re.compile(r"^(?:交付物?|提交|输出|出具|形成)(?:为|是|[:：])?\s*(?P<what>.+)$")


def cells(line: str, tabs: bool | None = None) -> list[str] | None:
    """Return the cells of a table row, or None if it is no row.

    Cells are tab separated or ``|`` separated; ``tabs`` asks for one of the two kinds.
    """
    if "\t" in line.strip() and tabs is not False:
        parts = line.strip().split("\t")
    elif ("|" in line or "｜" in line) and not tabs:
        parts = re.split(r"[|｜]", line.strip().strip("|｜"))
    else:
        return None
    parts = [p.strip() for p in parts]
    return parts if len(parts) >= 2 else None


def _header(row: list[str]) -> list[str] | None:
    """Return the column kinds a header row names, or None when it is no item header."""
    kinds = [_COLUMNS.get(re.sub(r"[（(].*?[)）]|\s|[:：*]", "", c).lower(), "") for c in row]
    has_task = TASK in kinds or DELIVERABLE in kinds
    if not has_task or not (OWNER in kinds or DEADLINE in kinds):
        return None
    return kinds


def _row_draft(kinds: list[str], row: list[str], line: int, reading: Reading) -> Draft | None:
    """Return the item one table row describes, or None for an empty row."""
    values: dict[str, str] = {}
    for kind, cell in zip(kinds, row, strict=False):
        if kind and cell:
            values.setdefault(kind, cell)
    task = optional(values.get(TASK)) or optional(values.get(DELIVERABLE))
    if task is None:
        return None
    found = None
    if DEADLINE in values:
        found = find_deadline(values[DEADLINE], reading.sent_at, reading.calendar, field=True)
    deliverable = optional(values.get(DELIVERABLE))
    remark = _DELIVERED.match(values.get(REMARK, "").strip())
    if deliverable is None and remark:
        deliverable = optional(remark["what"])
    owner = values.get(OWNER)
    return Draft(
        task=task,
        owner=clean_owner(owner, reading) if owner else None,
        deadline=found.value if found else None,
        deliverable=deliverable,
        line=line,
    )


def _at(lines: Sequence[str], i: int) -> str:
    return lines[i] if i < len(lines) else ""


def read_tables(lines: Sequence[str], reading: Reading) -> tuple[list[Draft], set[int]]:
    """Return the items of every item table in ``lines`` and the indexes of the lines used."""
    drafts: list[Draft] = []
    used: set[int] = set()
    i = 0
    while i < len(lines):
        row = cells(lines[i])
        kinds = _header(row) if row else None
        if kinds is None:
            i += 1
            continue
        used.add(i)
        tabs, i = "\t" in lines[i].strip(), i + 1
        while i < len(lines):
            line = lines[i]
            if _RULE_ROW.match(line) and line.strip():
                used.add(i)
            elif (row := cells(line, tabs)) is not None and len(row) <= len(kinds):
                used.add(i)
                if (d := _row_draft(kinds, row, i, reading)) is not None:
                    drafts.append(d)
            elif line.strip() or len(cells(_at(lines, i + 1), tabs) or ()) != len(kinds):
                break  # a blank line inside the table is tolerated, any other text ends it
            i += 1
    return drafts, used
