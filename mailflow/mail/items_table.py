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
_DELIVERED = re.compile(
    r"^(?:交付物?|提交|输出|出具|形成|交(?![流通易接叉代]))(?:为|是|[:：])?\s*(?P<what>.+)$"
)
TAB, PIPE, SPACE = "tab", "pipe", "space"


def meaning(cell: str) -> str:
    """Return what a header cell names: task, owner, deadline, deliverable, remark or ""."""
    words = re.sub(r"[（(].*?[)）]|\s|[:：*]", "", cell)
    if not words or len(words) > 12:
        return NONE
    return next((kind for kind, pattern in _MEANINGS if pattern.search(words)), NONE)


def header(row: Sequence[str], body: Sequence[Sequence[str]], reading: Reading) -> list[str] | None:
    """Return the column kinds a header row names, or None when it is no item header.

    Cells are read by their words first; a column whose words say nothing (编导, 播出前完成)
    is read by its content below: mostly dates make it *when*, mostly names *who*.
    """
    if len({c for c in row if c}) < 2:
        return None  # a title row: one cell, or one cell spread across the table
    if any(find_deadline(c, None, reading.calendar, field=True) for c in row):
        return None  # a row of data, not of names
    kinds = [meaning(c) for c in row]
    for i, kind in enumerate(kinds):
        column = [r[i] for r in body if i < len(r) and r[i]]
        if kind == NONE and row[i] and not _NUMBER.search(row[i]) and column:
            kinds[i] = _by_content(column, reading)
    if TASK not in kinds and OWNER in kinds and DEADLINE in kinds:
        free = [i for i, c in enumerate(row) if kinds[i] == NONE and c and not _NUMBER.search(c)]
        if free:  # 品种 | 跟进人 | 到货时间: the first column naming neither is the work
            kinds[free[0]] = TASK
    has_task = TASK in kinds or DELIVERABLE in kinds
    if not has_task or not (OWNER in kinds or DEADLINE in kinds):
        return None
    return kinds


SAMPLE_CELLS = 20  # cells of an unnamed column read to tell what it holds
HEADER_ROWS = 6  # rows of a table where its header may stand


def _by_content(column: Sequence[str], reading: Reading) -> str:
    """Return OWNER or DEADLINE when most cells of a column are names or dates, else NONE.

    The first ``SAMPLE_CELLS`` cells decide: a column's kind shows in its first rows, and a
    table of thousands of rows must not cost a date reading per cell."""
    column = column[:SAMPLE_CELLS]
    dates = sum(english_deadline(c, reading.sent_at, reading.calendar) is not None for c in column)
    names = sum(_is_name(c, reading) for c in column)
    if 2 * dates > len(column):
        return DEADLINE
    return OWNER if 2 * names > len(column) else NONE


def _is_name(cell: str, reading: Reading) -> bool:
    found = reading.names.find(cell)
    return bool(found) and sum(n.end - n.start for n in found) >= len(cell.strip()) - 1


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


def _blocks(lines: Sequence[str]) -> list[list[int]]:
    """Return the runs of lines laid out as one table (rule rows and single blanks inside)."""
    blocks: list[list[int]] = []
    i = 0
    while i < len(lines):
        first = cells(lines[i])
        if first is None:
            i += 1
            continue
        kind, block = layout(lines[i]), [i]
        i += 1
        while i < len(lines):
            line = lines[i]
            if (_RULE_ROW.match(line) and line.strip()) or cells(line, kind) is not None:
                block.append(i)
            elif line.strip() or len(cells(_at(lines, i + 1), kind) or ()) != len(first):
                break  # a blank line inside the table is tolerated, any other text ends it
            i += 1
        blocks.append(block)
    return blocks


def read_tables(lines: Sequence[str], reading: Reading) -> tuple[list[Draft], set[int]]:
    """Return the items of every item table in ``lines`` and the indexes of the lines used."""
    drafts: list[Draft] = []
    used: set[int] = set()
    for block in _blocks(lines):
        kind = layout(lines[block[0]])
        rows = [(i, r) for i in block if (r := cells(lines[i], kind)) is not None]
        found = _read(rows, reading)
        if found is not None:
            drafts.extend(found)
            used.update(block)
    return drafts, used


def _read(rows: Sequence[tuple[int, list[str]]], reading: Reading) -> list[Draft] | None:
    """Return the items of a table's rows (line, cells), or None when it has no item header.

    The header is looked for among the first ``HEADER_ROWS`` rows (title rows come first)."""
    for h, (_, row) in enumerate(rows[:HEADER_ROWS]):
        body = [r for _, r in rows[h + 1 :]]
        if (kinds := header(row, body, reading)) is not None:
            drafts = (
                row_draft(kinds, r, i, reading)
                for i, r in rows[h + 1 :]
                if len(r) <= len(kinds) + 1
            )
            return [d for d in drafts if d is not None]
    return None


def read_grid(grid: Sequence[Sequence[str]], reading: Reading) -> list[Draft]:
    """Return the items of one table given as rows of cells (an HTML table's grid)."""
    rows = [(n - len(grid), list(r)) for n, r in enumerate(grid)]
    return _read(rows, reading) or []
