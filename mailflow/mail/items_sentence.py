"""Action items written as sentences: ``1. 张三负责在10月15日前完成接口联调，交付联调报告``.

The owner is a person or department that is the subject of 负责/牵头/需/完成/提交... , follows
请 (``请市场部于下周五前提交宣传物料``) or 由 (``由技术部牵头``); known names come from the
directory, the mail's participants and the departments in the rules, and any word ending in
部/中心/组... counts as a department. The deadline is the first one ``dates`` finds; a clause
that starts with 交付/提交/输出 gives the deliverable. Ordinary prose never becomes an item: a
sentence needs a task verb and, on a numbered or bulleted line, an owner or a deadline written
as a limit (10月15日前, 3天内; a date in passing such as 计划10月16日完成 is not), elsewhere
both an owner and a deadline. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from mailflow.mail.dates import find_deadline
from mailflow.mail.items_base import LIST_MARKER, Draft, Reading, clean_owner, clean_text
from mailflow.mail.names import ADDRESSEE, SURNAMES, Name

_VERBS = (
    r"负责|牵头|完成(?!时间|时限|情况|率|度|标准)|提交|交付|输出|提供|准备|整理|编写|撰写|制定|确认"
    r"|联调|测试|上线|发布|评审|审核|落实|跟进|推进|处理|解决|修复|更新|安排|组织|对接|协调|出具"
    r"|汇总|梳理|设计|开发|部署|核对|补充|评估|调研|起草|修改|优化"
)
TASK_VERB = re.compile(r"(?<!已)(?:" + _VERBS + ")")
# what may follow an owner: a helper word or a task verb
_AUX = r"(?:主导|需要|需|须|必须|应当|应|将|要|务必|尽快|于|在|开展|进行|" + _VERBS + ")"
_FILLER = re.compile(
    r"^(?:[，,、\s]|负责|牵头|主导|需要|需|须|必须|应当|应|将|要|务必|尽快|请|于|在|由)+"
)
_DELIVERED = re.compile(
    r"^(?:并且?|同时|且)?(?:交付标准|交付物|交付成果|验收标准|交付|提交|输出|出具|形成)"
    r"(?:为|是|[:：])?\s*(?P<what>.+)$"
)
_SENTENCE = re.compile(r"[^。！!？?；;]+")
_CLAUSE = re.compile(r"[，,]|(?=(?:并且?|同时)(?:交付|提交|输出|出具|形成))")
_REFERENCE = re.compile(r"^第\s*\d+\s*项")  # 第2项请… speaks of an item listed before
_NOTE = r"(?:\s*[（(][^（）()]*[)）])?"
_BOUNDARY = r"(?:^|(?<=[，,：:\s@]))"
_COLON = r"\s*[:：]?\s*"  # 张三：10月15日前完成…


@dataclass(frozen=True)
class Parts:
    """What one sentence says about an item; ``verb`` tells whether it asks for work at all."""

    task: str
    owner: str | None
    deadline: date | datetime | None
    deadline_written: bool
    deadline_marked: bool  # 10月15日前, 3天内: a limit rather than a date in passing
    deliverable: str | None
    verb: bool


_TOKEN = "\ue000"  # one known name, in the text the owner patterns read
_MANY = f"{_TOKEN}(?:\\s*[、和与及/]\\s*{_TOKEN})*"
_OWNER_FORMS = (
    re.compile(rf"请(?P<owner>{_MANY}){_NOTE}\s*(?={_AUX})"),
    re.compile(rf"{_BOUNDARY}由?(?P<owner>{_MANY}){_NOTE}{_COLON}(?=请|{_AUX})"),
    re.compile(rf"由(?P<owner>{_MANY}){_NOTE}\s*(?={_AUX})"),
    re.compile(rf"(?:交由|交给|安排|指派)(?P<owner>{_MANY}){_NOTE}\s*(?={_AUX}|[，,。；;]|$)"),
    # a full name the directory does not know: 李晓东于周五前提交, 由周彤负责
    re.compile(
        rf"{_BOUNDARY}由?(?P<owner>[{SURNAMES}][\u4e00-\u9fff]{{1,2}}){_NOTE}"
        r"(?=负责|牵头|于|需|须|务必|将于)"
    ),
)


def _owner(text: str, reading: Reading) -> tuple[str | None, tuple[int, int]] | None:
    """Return the item's owner in ``text`` and the span it was written in, or None.

    Known names (directory, participants, departments, titled and English names, groups, 你)
    are replaced by one placeholder each, so the owner patterns are compiled once and their cost
    does not grow with the directory.
    """
    names = reading.names.find(text)
    pieces: list[str] = []
    starts: list[int] = []
    pos = 0
    for n in names:
        pieces.append(text[pos : n.start])
        starts.extend(range(pos, n.start))
        pieces.append(_TOKEN)
        starts.append(n.start)
        pos = n.end
    pieces.append(text[pos:])
    starts.extend(range(pos, len(text) + 1))
    tokens = "".join(pieces)
    for form in _OWNER_FORMS:
        if m := form.search(tokens):
            a, b = m.span("owner")
            start, end = starts[a], _end(starts, names, b)
            return _owner_name(text[start:end], names, start, reading), (
                starts[m.start()],
                starts[m.end()],
            )
    return None


def _end(starts: list[int], names: list[Name], b: int) -> int:
    """Return the original end of a token span ending at ``b`` in the placeholder text."""
    last = starts[b - 1]
    return next((n.end for n in names if n.start == last), last + 1)


def _owner_name(written: str, names: list[Name], start: int, reading: Reading) -> str | None:
    """Return the owner as written; 你/您 becomes the single addressee, or None."""
    inside = [n for n in names if start <= n.start < start + len(written)]
    if len(inside) == 1 and inside[0].kind == ADDRESSEE:
        return reading.names.addressee_name()
    return clean_owner(written, reading)


def _task_and_deliverable(rest: str) -> tuple[str, str | None]:
    """Split what is left of a sentence into the task and the deliverable clause."""
    clauses = [_FILLER.sub("", c).strip() for c in _CLAUSE.split(rest)]
    clauses = [c for c in clauses if c]
    deliverable = None
    for i, clause in enumerate(clauses[1:], start=1):
        if m := _DELIVERED.match(clause):
            deliverable = clean_text(m["what"])
            del clauses[i]
            break
    task = next((c for c in clauses if TASK_VERB.search(c)), clauses[0] if clauses else "")
    if deliverable is None and (m := _DELIVERED.match(task)) and not task.startswith("交付标准"):
        deliverable = clean_text(m["what"])  # 提交宣传物料: what is handed over
    return clean_text(task), deliverable or None


def analyse(sentence: str, reading: Reading) -> Parts:
    """Return the task, owner, deadline and deliverable one sentence names."""
    found = find_deadline(sentence, reading.sent_at, reading.calendar)
    rest = sentence if found is None else sentence[: found.span[0]] + sentence[found.span[1] :]
    owner = None
    if found_owner := _owner(rest, reading):
        owner, (a, b) = found_owner
        rest = rest[:a].rstrip("@") + rest[b:]
    task, deliverable = _task_and_deliverable(rest)
    return Parts(
        task=task,
        owner=owner,
        deadline=found.value if found else None,
        deadline_written=found is not None,
        deadline_marked=found is not None and found.marked and found.value is not None,
        deliverable=deliverable,
        verb=bool(TASK_VERB.search(sentence)),
    )


def read_sentences(lines: Sequence[str], skip: set[int], reading: Reading) -> list[Draft]:
    """Return the items written as sentences in the lines not in ``skip``."""
    drafts: list[Draft] = []
    for i, line in enumerate(lines):
        if i in skip or not line.strip():
            continue
        listed = bool(LIST_MARKER.match(line))
        for sentence in _SENTENCE.findall(LIST_MARKER.sub("", line, count=1)):
            if _REFERENCE.match(sentence.strip()):
                continue
            p = analyse(sentence, reading)
            has_owner = p.owner is not None
            wanted = (
                (has_owner or p.deadline_marked) if listed else has_owner and p.deadline_written
            )
            if p.verb and p.task and wanted:
                drafts.append(Draft(p.task, p.owner, p.deadline, p.deliverable, i))
    return drafts
