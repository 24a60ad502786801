"""Action items written as labelled fields: ``任务：…；责任人：…；完成时限：…；交付标准：…``.

Fields may share one line (separated by ；;，, or spaces) or stand one per line; a block ends at
a line without labels, and a new item starts when a field repeats or a list marker opens a line.
``责任人+完成时限+交付标准：张三+10月15日+测试报告`` (labels joined by +, values likewise) is read
too. A block is an item only with a task (its label, the text before the first label, or the
line above the block) and at least two fields. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailflow.mail.items_base import LIST_MARKER, Draft, Reading, clean_owner, clean_text, optional
from mailflow.mail.items_english import english_deadline
from mailflow.mail.items_sentence import Parts, analyse
from mailflow.mail.model import DEADLINE, DELIVERABLE, OWNER

TASK = "task"
LABELS: dict[str, tuple[str, ...]] = {
    TASK: (
        "任务名称",
        "任务",
        "事项",
        "行动项",
        "待办事项",
        "工作内容",
        "任務",
        "事項",
        "行動項",
        "Action Item",
        "Task",
    ),
    OWNER: (
        "责任人",
        "负责人",
        "执行人",
        "承办人",
        "责任部门",
        "负责部门",
        "責任人",
        "負責人",
        "執行人",
        "負責部門",
        "负责",
        "負責",
        "Owner",
        "Assignee",
    ),
    DEADLINE: (
        "完成时限",
        "截止时间",
        "计划完成时间",
        "完成时间",
        "截止日期",
        "完成日期",
        "完成時限",
        "截止時間",
        "完成時間",
        "截止",
        "期限",
        "时限",
        "Deadline",
        "DDL",
        "Due Date",
        "Due",
    ),
    DELIVERABLE: (
        "交付标准",
        "交付物",
        "交付成果",
        "验收标准",
        "完成标准",
        "交付要求",
        "交付標準",
        "驗收標準",
        "交付",
        "Deliverables",
        "Deliverable",
    ),
}
# labels that end a value without being ours (实际完成时间 is not a deadline)
_OTHER = ("实际完成时间", "备注", "状态", "进度", "说明", "Status", "Remark", "Notes")
KIND = {label.lower(): kind for kind, labels in LABELS.items() for label in labels}
_ALL = "|".join(re.escape(x) for x in sorted([*KIND, *_OTHER], key=len, reverse=True))
# every pattern below needs one of these labels: a line without any holds no field
_ANY_LABEL = re.compile(_ALL, re.IGNORECASE)
_LABEL = re.compile(
    r"(?:^|(?<=[\s；;，,、|｜(（）)\]】.．]))(?P<label>" + _ALL + r")\s*(?P<colon>[:：])?\s*",
    re.IGNORECASE,
)
_JOINED = re.compile(
    r"(?P<labels>(?:"
    + _ALL
    + r")(?:\s*[+＋]\s*(?:"
    + _ALL
    + r"))+)\s*[:：]\s*(?P<values>[^。；;\n]+)",
    re.IGNORECASE,
)
# words that are labels only with a colon (负责：孟凡), being verbs or nouns in prose too
_COLON_ONLY = frozenset({"负责", "負責", "截止", "期限", "时限", "交付"})
_VALUE_END = re.compile(r"[。；;]")
# 【责任人】张三 and 接口联调——责任人：张三: a bracketed label, or a dash gluing the task on
_BRACKETED = re.compile(r"[【\[［〖]\s*(" + _ALL + r")\s*[】\]］〗]\s*[:：]?\s*", re.IGNORECASE)
_GLUE = re.compile(r"\s*(?:—+|-{2,}|->|→|=>)\s*(?=(?:" + _ALL + r")\s*[:：])", re.IGNORECASE)
_NOTHING = Parts("", None, None, False, False, None, False)


def _unjoin(line: str) -> str:
    """Rewrite ``责任人+完成时限：张三+10月15日`` as ``责任人：张三；完成时限：10月15日``."""
    m = _JOINED.search(line)
    if not m:
        return line
    labels = re.split(r"\s*[+＋]\s*", m["labels"])
    values = re.split(r"\s*[+＋]\s*", m["values"].strip(), maxsplit=len(labels) - 1)
    if len(values) != len(labels):
        return line
    fields = "；".join(f"{label}：{value}" for label, value in zip(labels, values, strict=True))
    return line[: m.start()] + "；" + fields + line[m.end() :]


def fields_of(line: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the text before the first label and the (kind, value) fields of ``line``.

    A label counts when a colon follows it, or when the line holds two or more labels (the
    space-separated form). Labels that are not ours end the value before them and are dropped.
    """
    if _ANY_LABEL.search(line) is None:
        return line, []  # most lines: one search instead of four
    line = _GLUE.sub("；", _BRACKETED.sub(r"；\1：", _unjoin(line)))
    found = [m for m in _LABEL.finditer(line) if m["colon"] or m["label"] not in _COLON_ONLY]
    if not any(m["colon"] for m in found) and len(found) < 2:
        return line, []
    fields = []
    for m, nxt in zip(found, [*found[1:], None], strict=True):
        value = line[m.end() : nxt.start() if nxt else len(line)]
        end = _VALUE_END.search(value)
        kind = KIND.get(m["label"].lower())
        if kind:
            fields.append((kind, value[: end.start()] if end else value))
    return (line[: found[0].start()] if found else line), fields


@dataclass
class _Block:
    """Fields gathered for one item, with the title written before them."""

    start: int
    title: str  # text before the first label, or a list line just above the fields
    inline: bool  # the title shares a line with the fields
    fields: dict[str, str] = field(default_factory=dict)


def _draft(block: _Block, reading: Reading) -> Draft | None:
    """Return the item a block describes, or None when it is too thin to be one.

    Two fields make an item (the task among them or taken from the title); a single field
    counts only behind a list marker on its own line (``1. 接口联调，负责人：张三``).
    """
    fields = block.fields
    enough = len(fields) >= 2 or (block.inline and bool(block.title) and TASK not in fields)
    if not enough:
        return None
    said = analyse(block.title, reading) if block.inline and block.title else _NOTHING
    task = optional(fields.get(TASK)) or optional(said.task) or optional(block.title)
    if task is None and len(fields) >= 3:  # labels alone: what is delivered names the task
        task = optional(fields.get(DELIVERABLE))
    if task is None:
        return None
    deadline, owner = fields.get(DEADLINE), fields.get(OWNER)
    # 10月15日, 下周五, and the English words too: Due: Nov 12
    found = english_deadline(deadline, reading.sent_at, reading.calendar) if deadline else None
    return Draft(
        task=task,
        owner=clean_owner(owner, reading) if owner else said.owner,
        deadline=found if found is not None else said.deadline,
        deliverable=optional(fields.get(DELIVERABLE)) or said.deliverable,
        line=block.start,
    )


def read_labelled(
    lines: Sequence[str], skip: set[int], reading: Reading
) -> tuple[list[Draft], set[int]]:
    """Return the labelled items in ``lines`` and the indexes of the lines they used."""
    drafts: list[Draft] = []
    used: set[int] = set()
    block: _Block | None = None
    for i, raw in enumerate([*lines, ""]):
        before, fields = fields_of(raw) if i not in skip else ("", [])
        inline = clean_text(before)
        fresh = bool(LIST_MARKER.match(raw) or inline)
        if block and (not fields or fresh or any(k in block.fields for k, _ in fields)):
            if (d := _draft(block, reading)) is not None:
                drafts.append(d)
                used.update(range(block.start, i))
            block = None
        if fields and block is None:
            above = lines[i - 1] if i else ""
            title = inline or (clean_text(above) if LIST_MARKER.match(above) else "")
            start = i if inline or not title else i - 1
            block = _Block(start, title.rstrip("：:"), bool(inline))
        for kind, value in fields:
            if block is not None and clean_text(value):
                block.fields.setdefault(kind, value)
    return drafts, used
