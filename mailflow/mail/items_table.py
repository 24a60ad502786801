"""Action items written as a table whose header row names the columns, whatever its words.

Rows come from text (cells separated by tabs, by ``|`` as Markdown and the HTML converter write
them, or aligned with runs of spaces) or from HTML tables (``items_html`` expands colspan and
rowspan into a grid). Header cells are classified by meaning, not by a list of exact names: a
cell naming a person (负责人, 牵头人, 经办人, 对接人, Owner) is *who*; a time (截止, 时间节点,
完成日期, Due) is *when*; 交付物, 成果要求, 产出, 提交材料 are the *deliverable*; 任务, 工作内容,
检查事项, Action are *what*; 状态, 进度, 备注 are status or remarks; 实际完成时间 is not a
deadline. A header needs *what* or a deliverable, and *who* or *when*. A remark that says
交付/提交 something gives the deliverable when there is no deliverable column. Title rows (one
cell across the table) before the header are skipped. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailflow.mail.dates import find_deadline
from mailflow.mail.items_base import Draft, Reading, clean_owner, optional
from mailflow.mail.items_english import english_deadline
from mailflow.mail.model import DEADLINE, DELIVERABLE, OWNER

TASK, REMARK, NONE = "task", "remark", ""
# first match wins: 实际完成时间 is no deadline, 交付时间 is one, 完成标准 is a deliverable
_MEANINGS = (
    (NONE, re.compile(r"(?i)实际|序号|编号|^no\.?$|^#$|^id$")),
    (REMARK, re.compile(r"(?i)备注|状态|进度|进展|status|remark|note|progress|comment")),
    (
        OWNER,
        re.compile(
            r"(?i)负责|责任|執行|负責|責任|執行|执行|承办|经办|經辦|对接|牵头|主办|跟进人|联系人"
            r"|人员|人$|部门$|owner|assignee|responsible|who|^pic$|lead"
        ),
    ),
    (
        DEADLINE,
        re.compile(
            r"(?i)时限|時限|时间|時間|日期|截止|截至|期限|节点|節點|完成于|deadline|due|date|when"
            r"|^ddl$|计划完成|完成时"
        ),
    ),
    (
        DELIVERABLE,
        re.compile(
            r"(?i)交付|成果|产出|產出|输出|輸出|材料|验收|驗收|标准|標準|要求|deliverable|output"
        ),
    ),
    (
        TASK,
        re.compile(
            r"(?i)任务|任務|事项|事項|工作|内容|內容|行动|行動|措施|问题|問題|项目|項目|计划|事宜"
            r"|action|task|item|what|topic"
        ),
    ),
)
_NUMBER = _MEANINGS[0][1]
_RULE_ROW = re.compile(r"^[\s|｜:：\-—=+]+$")  # |---|---| and +----+ lines
_SPACES = re.compile(r"\s{2,}|\u3000+")
_DELIVERED = re.compile(r"^(?:交付物?|提交|输出|出具|形成)(?:为|是|[:：])?\s*(?P<what>.+)$")
TAB, PIPE, SPACE = "tab", "pipe", "space"


def meaning(cell: str) -> str:
    """Return what a header cell names: task, owner, deadline, deliverable, remark or ""."""
    words = re.sub(r"[（(].*?[)）]|\s|[:：*]", "", cell)
    if not words or len(words) > 12:
        return NONE
    return next((kind for kind, pattern in _MEANINGS if pattern.search(words)), NONE)


def header(row: Sequence[str], reading: Reading) -> list[str] | None:
    """Return the column kinds a header row names, or None when it is no item header."""
    kinds = [meaning(c) for c in row]
    if TASK not in kinds and DELIVERABLE not in kinds and OWNER in kinds and DEADLINE in kinds:
        free = [i for i, c in enumerate(row) if kinds[i] == NONE and c and not _NUMBER.search(c)]
        if free:  # 品种 | 跟进人 | 到货时间: the first column naming neither is the work
            kinds[free[0]] = TASK
    has_task = TASK in kinds or DELIVERABLE in kinds
    if not has_task or not (OWNER in kinds or DEADLINE in kinds):
        return None
    if any(find_deadline(c, None, reading.calendar, field=True) for c in row):
        return None  # a row of data, not of names
    return kinds


def cells(line: str, kind: str | None = None) -> list[str] | None:
    """Return the cells of a table row, or None if it is no row; ``kind`` asks for one layout."""
    stripped = line.strip()
    if "\t" in stripped and kind in (None, TAB):
        parts = stripped.split("\t")
    elif ("|" in stripped or "｜" in stripped) and kind in (None, PIPE):
        parts = re.split(r"[|｜]", stripped.strip("|｜"))
    elif _SPACES.search(stripped) and kind in (None, SPACE):
        parts = _SPACES.split(stripped)
    else:
        return None
    parts = [p.strip() for p in parts]
    return parts if len(parts) >= 2 else None


def layout(line: str) -> str:
    """Return how a row separates its cells."""
    stripped = line.strip()
    if "\t" in stripped:
        return TAB
    return PIPE if "|" in stripped or "｜" in stripped else SPACE


def row_draft(kinds: list[str], row: Sequence[str], line: int, reading: Reading) -> Draft | None:
    """Return the item one table row describes, or None for an empty row."""
    values: dict[str, str] = {}
    for kind, cell in zip(kinds, row, strict=False):
        if kind and cell:
            values.setdefault(kind, cell)
    task = optional(values.get(TASK)) or optional(values.get(DELIVERABLE))
    if task is None:
        return None
    deadline = None
    if DEADLINE in values:
        deadline = english_deadline(values[DEADLINE], reading.sent_at, reading.calendar)
    deliverable = optional(values.get(DELIVERABLE))
    remark = _DELIVERED.match(values.get(REMARK, "").strip())
    if deliverable is None and remark:
        deliverable = optional(remark["what"])
    owner = values.get(OWNER)
    return Draft(
        task=task,
        owner=clean_owner(owner, reading) if owner else None,
        deadline=deadline,
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
        kinds = header(row, reading) if row else None
        if kinds is None:
            i += 1
            continue
        used.add(i)
        kind, i = layout(lines[i]), i + 1
        while i < len(lines):
            line = lines[i]
            if _RULE_ROW.match(line) and line.strip():
                used.add(i)
            elif (row := cells(line, kind)) is not None and len(row) <= len(kinds):
                used.add(i)
                if (d := row_draft(kinds, row, i, reading)) is not None:
                    drafts.append(d)
            elif line.strip() or len(cells(_at(lines, i + 1), kind) or ()) != len(kinds):
                break  # a blank line inside the table is tolerated, any other text ends it
            i += 1
    return drafts, used


def read_grid(grid: Sequence[Sequence[str]], reading: Reading) -> list[Draft]:
    """Return the items of one table given as rows of cells (an HTML table's grid)."""
    for h, row in enumerate(grid):
        if (kinds := header(row, reading)) is not None:
            drafts = (row_draft(kinds, r, -len(grid) + n, reading) for n, r in enumerate(grid))
            return [d for n, d in enumerate(drafts) if d is not None and n > h]
    return []
