"""Action items written as prose, read slot by slot: who, by when, and what is handed over.

The text is cut into units: logical lines (list items of any numbering with their nested or
wrapped continuations), their sentences, and the parts of a sentence that each hand work to
someone (``孟凡于周五前提交报价，质量部李晓东在17日前完成检测``; ``…, and the vendor needs
to…``). In each unit the three slots are found independently:

- the owner: any name ``names`` finds (directory, participants, departments, titled and English
  names, groups, 你/您 as the single addressee) standing where an owner stands — after 请/由/
  麻烦/@, before 负责/于/需/a task verb or a colon, opening the unit, in brackets after the task
  (``…（魏东，周五前）``), or after ``task：``; a full name the directory does not know counts
  before 于/负责/在/a verb. Names become one placeholder each, so these patterns are compiled
  once and cost the same for any directory;
- the deadline: the first one ``dates`` finds (``items_english`` for English words); one that
  hangs on an event (问题解决后3天内) is kept as written-but-unknown;
- the deliverable: the object of a delivery verb (提交, 交付, 输出, 给出, 反馈, 出具, 把X发给…).

The task is the clause the owner stood in. A unit is an item when it has an owner and a
deadline or a task verb (on a list line; in running prose the deadline is needed too), or, on
a list line, a task verb and a deadline written as a limit. Work already done (已于…提交) and
requests to confirm reading (回复已阅) are not items. English units (``Kevin to send the runbook
by May 24``, ``I will…``, ``Name: verb…``) are read by the same slots. Imports nothing of
storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from mailflow.mail.dates import find_deadline, may_hold_deadline
from mailflow.mail.items_base import (
    LIST_MARKER,
    Draft,
    Reading,
    clean_owner,
    clean_text,
    logical_lines,
)
from mailflow.mail.items_english import deliverable_of, english_deadline, modal, split_when
from mailflow.mail.names import ADDRESSEE, SELF, SURNAME, TITLES, Name
from mailflow.mail.triggers import may_match, required

_VERBS = (
    r"负责|牵头|完成(?!时间|时限|情况|率|度|标准)|提交|交付|输出|提供|准备|整理|编写|撰写|制定|确认"
    r"|联调|测试|上线|发布|评审|审核|落实|跟进|推进|处理|解决|修复|更新|安排|组织|对接|协调|出具"
    r"|汇总|梳理|设计|开发|部署|核对|补充|评估|调研|起草|修改|优化|上报|报送|反馈|给出|组织|复核"
    r"|复查|检查|核查|排查|整改|盘点|统计|收集|联系|回复|发送|安装|调试|检测|维修|更换|培训|采购"
)
TASK_VERB = re.compile(r"(?<!已)(?:" + _VERBS + ")")
# what may follow an owner: a helper word or a task verb
_AUX = (
    r"(?:主导|需要|需|须|必须|应当|应|将|要|务必|尽快|于|在|开展|进行|共同|一起|协同|配合|"
    + _VERBS
    + ")"
)
_FILLER = re.compile(
    r"^(?:[，,、\s]|负责|牵头|主导|需要|需|须|必须|应当|应|将|要|务必|尽快|请|于|在|由)+"
)
_DELIVERY = (
    r"(?:交付标准|交付物|交付成果|验收标准|交付|提交|输出|出具|形成|给出|反馈|上报|报送"
    r"|交(?![流通易接叉代由给付])|发(?:给|送)?(?=[\u4e00-\u9fff]{2}))"
)
# 把到货清单发我, 把排班表发给我: the thing moved is what is delivered
_BA = re.compile(r"把(?P<what>[^，,把]{2,24}?)(?:发|交|报|传|提交|反馈)")
_DELIVERED = re.compile(r"^(?:并且?|同时|且)?" + _DELIVERY + r"(?:为|是|[:：])?\s*(?P<what>.+)$")
# 完成样品检测并出具检测报告: the object of a delivery verb inside the task clause
_AND_DELIVERED = re.compile(r"(?:并且?|同时|且|后)" + _DELIVERY + r"\s*(?P<what>.{2,})$")
# work already done, and a request to confirm reading (a ledger, not a task)
_DONE = re.compile(
    r"已经?(?:于|在|完成|提交|交付|上线|处理|解决|发送|反馈|确认|负责|协调|安排|通知|联系|沟通|告知)"
    r"|已[^，,]{0,6}完毕"
    r"|回复\W{0,2}(?:已阅|收到)|确认收到|视为无异议|视为同意|视同无异议"
)
_DONE_NEEDS = required(_DONE)  # the characters it cannot match without (``triggers``)
# the writer's own side promising (我司在48小时内更换): a commitment, not work handed out
_PROMISE = re.compile(r"(?:^|[，,：:])\s*(?:我司|我们|我方|本公司|本单位|本部门)")
_SENTENCE = re.compile(r"[^。！!？?；;]+")
_CLAUSE = re.compile(r"[，,]")
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
_ONE = f"(?:{_TOKEN}\\s*)?{_TOKEN}(?:{TITLES})?"  # 后勤处白晓峰老师: department, person, title
_MANY = f"{_ONE}(?:\\s*[、和与及/]\\s*{_ONE})*"
_UNKNOWN = f"{SURNAME}[\\u4e00-\\u9fff]{{1,2}}"  # a full name the directory does not know
_SOON = r"(?:负责|牵头|于|需|须|务必|将于|在(?=[\d今明本下这周月年]))"
_ROLE = r"(?:[\u4e00-\u9fff]{0,4}(?:专员|经理|主管|工程师|顾问|助理|会计|律师|医生|护士|老师|同事))"
_OWNER_FORMS = (
    re.compile(rf"(?:请|麻烦|烦请|劳烦|辛苦)(?P<owner>{_MANY}){_NOTE}\s*(?={_AUX}|把|将)"),
    re.compile(rf"{_BOUNDARY}由?(?P<owner>{_MANY}){_NOTE}{_COLON}(?=请|把|{_AUX})"),
    re.compile(rf"由(?P<owner>{_MANY}){_NOTE}\s*(?={_AUX})"),
    re.compile(rf"(?:交由|交给|安排|指派)(?P<owner>{_MANY}){_NOTE}\s*(?={_AUX}|[，,。；;]|$)"),
    # 李晓东于…, 质量部李晓东在…, 市场专员刘静出具… (the deadline is already cut out)
    re.compile(
        rf"{_BOUNDARY}(?:{_TOKEN}|{_ROLE})?由?(?P<owner>{_UNKNOWN}){_NOTE}(?={_SOON}|在|{_VERBS})"
    ),
    re.compile(rf"^\s*(?P<owner>{_MANY}){_NOTE}(?![的是说已\s]|$)"),  # the unit opens with it
    re.compile(rf"[：:]\s*(?P<owner>{_MANY}){_NOTE}\s*(?=[，,；;]|$)"),  # 第3章：白老师，…
    re.compile(rf"[（(]\s*(?P<owner>{_MANY})\s*(?=[，,、；;）)])"),  # 更新分布图（魏东，周五前）
)
# parties named by their role: "the vendor needs to confirm…"
_PARTIES = (
    r"(?:vendor|supplier|client|customer|contractor|subcontractor|agency|auditors?|lawyers?"
    r"|counsel|consultant|landlord|carrier|forwarder|broker|insurer|bank|[a-z]+\s+team)"
)
# where one sentence holds two items: ，孟凡于…，质量部李晓东在…  ，另外请你…
_NEXT_UNIT = re.compile(
    rf"[，,](?=(?:另外|此外|同时|并)?(?:请|麻烦|烦请)|(?:{_TOKEN}){{1,2}}(?:{TITLES})?{_SOON}"
    rf"|(?:{_TOKEN})?{_UNKNOWN}{_SOON})"
    rf"|^[^{_TOKEN}：:]*[：:](?=(?:{_TOKEN}){{1,2}}(?:{TITLES})?{_SOON})"  # 会议议定：机务部于…
    # English: "…by Nov 16, and the vendor needs to…", "Following the alarm: Xue Gang will…"
    rf"|(?i:(?:,\s*and|\s+and|;|:)\s+(?=(?:{_TOKEN}|(?:the|our)\s+{_PARTIES})\s+{modal()}\s))"
)
_TAIL = re.compile(r"(?i)(?:[,;]?\s*\band)?[\s，,：:;]*$")


def _tokens(text: str, reading: Reading) -> tuple[str, list[int], list[Name]]:
    """Return ``text`` with each name as one placeholder, the original index of each character
    (one more for the end), and the names."""
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
    return "".join(pieces), starts, names


def units(sentence: str, reading: Reading) -> list[str]:
    """Return the parts of a sentence that each hand work to someone (usually the sentence)."""
    tokens, starts, _ = _tokens(sentence, reading)
    cuts = [starts[m.end() - 1] for m in _NEXT_UNIT.finditer(tokens) if m.end() > 1]
    bounds = [0, *cuts, len(sentence)]
    return [_TAIL.sub("", sentence[a:b]).strip("，,：: ") for a, b in pairwise(bounds)]


def _owner(text: str, reading: Reading) -> tuple[str | None, tuple[int, int]] | None:
    """Return the item's owner in ``text`` and the span to remove with it, or None.

    Known names (directory, participants, departments, titled and English names, groups, 你)
    are replaced by one placeholder each, so the owner patterns are compiled once and their cost
    does not grow with the directory.
    """
    tokens, starts, names = _tokens(text, reading)
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
    """Return the owner as written; 你/您 becomes the single addressee, or None.

    One owner written with its department or title (后勤处白晓峰老师) is the person's name;
    several (张三、王五) stay as written.
    """
    inside = [n for n in names if start <= n.start < start + len(written)]
    if len(inside) > 1 and any(c in written for c in "、和与及/"):
        return clean_owner(written, reading)
    if not inside:
        return clean_owner(written, reading)
    last = inside[-1]
    if last.kind == ADDRESSEE:
        return reading.names.addressee_name()
    if last.kind == SELF:
        return reading.names.sender_name()
    return clean_owner(last.text, reading)


def _task_and_deliverable(rest: str, at: int | None) -> tuple[str, str | None]:
    """Split what is left of a unit into the task and the deliverable.

    The task is the clause the owner stood in (what the owner does), else the first clause
    with a task verb; the deliverable is the object of a delivery verb (提交, 输出, 给出, 反馈...).
    """
    clauses: list[tuple[int, str]] = []
    pos = 0
    for raw in _CLAUSE.split(rest):
        clause = _FILLER.sub("", raw).strip()
        if clause:
            clauses.append((pos, clause))
        pos += len(raw) + 1
    mine = next((c for p, c in reversed(clauses) if at is not None and p <= at), None)
    if mine is None or len(clean_text(mine)) < 2:
        texts = [c for _, c in clauses]
        mine = next((c for c in texts if TASK_VERB.search(c)), texts[0] if texts else "")
    deliverable = None
    if (m := _DELIVERED.match(mine)) and not mine.startswith("交付标准"):
        deliverable = m["what"]  # 提交宣传物料: what is handed over
    elif m := _AND_DELIVERED.search(mine):
        deliverable, mine = m["what"], mine[: m.start()]
    elif m := _BA.search(mine):
        deliverable = m["what"]
    else:
        others = (_DELIVERED.match(c) for _, c in clauses if c != mine)
        deliverable = next((m["what"] for m in others if m), None)
    return clean_text(mine), (clean_text(deliverable) or None) if deliverable else None


_NOT_AN_ITEM = Parts(
    task="",
    owner=None,
    deadline=None,
    deadline_written=False,
    deadline_marked=False,
    deliverable=None,
    verb=False,
)


def analyse(sentence: str, reading: Reading, *, listed: bool = True) -> Parts:
    """Return the task, owner, deadline and deliverable one unit names.

    Prose outside a list (``listed`` false) is an item only with a deadline (``_wanted``):
    without one, nothing more is read of it."""
    found = find_deadline(sentence, reading.sent_at, reading.calendar)
    if found is None and not listed:
        return _NOT_AN_ITEM
    rest = sentence if found is None else sentence[: found.span[0]] + sentence[found.span[1] :]
    owner, at = None, None
    if found_owner := _owner(rest, reading):
        owner, (a, b) = found_owner
        rest, at = rest[:a].rstrip("@") + rest[b:], a
    task, deliverable = _task_and_deliverable(rest, at)
    return Parts(
        task=task,
        owner=owner,
        deadline=found.value if found else None,
        deadline_written=found is not None,
        deadline_marked=found is not None and found.marked and found.value is not None,
        deliverable=deliverable,
        verb=bool(TASK_VERB.search(sentence)) and not _done(sentence),
    )


_ENGLISH = re.compile(
    rf"(?i)^\s*@?(?:(?P<owner>{_MANY})(?:\s*[:：]\s*(?=[a-z]+\s)|\s+{modal()}\s+)"
    rf"|(?:the|our|their)\s+(?P<noun>{_PARTIES})\s+{modal()}\s+)(?P<task>.+)$"
)


_LATIN = re.compile(r"[A-Za-z]{2}")
_FIRST_PERSON = re.compile(r"^\s*(?:I|I'll|We)\s+(?:will\s+|shall\s+|am going to\s+)?(?P<task>.+)$")


def english(unit: str, reading: Reading) -> Parts | None:
    """Return what an English unit (``Kevin to send the runbook by May 24``) says, or None."""
    if not _LATIN.search(unit):
        return None
    tokens, starts, names = _tokens(unit, reading)
    if mine := _FIRST_PERSON.match(unit):  # I will circulate…: the sender's own item
        owner, task_start = reading.names.sender_name(), mine.start("task")
    elif m := _ENGLISH.match(tokens):
        if m["noun"]:  # the vendor needs to confirm…: a party named by its role
            owner = m["noun"]
        else:
            a, b = m.span("owner")
            start = starts[a]
            owner = _owner_name(unit[start : _end(starts, names, b)], names, start, reading)
        task_start = starts[m.start("task")]
    else:
        return None
    task, when = split_when(unit[task_start:])
    deadline = english_deadline(when, reading.sent_at, reading.calendar) if when else None
    return Parts(
        task=clean_text(task),
        owner=owner,
        deadline=deadline,
        deadline_written=deadline is not None,
        deadline_marked=deadline is not None,
        deliverable=deliverable_of(task),
        verb=True,
    )


def _done(text: str) -> bool:
    """Return whether ``text`` reports work done or asks to confirm reading (``_DONE``)."""
    return may_match(_DONE_NEEDS, set(text)) and _DONE.search(text) is not None


def _wanted(p: Parts, listed: bool) -> bool:
    """Return whether a unit is an item: an owner and a deadline or a task verb.

    Outside a list, prose needs both an owner and a deadline; work already done never counts.
    """
    if not p.task:
        return False
    if listed:
        return (p.owner is not None and (p.deadline_written or p.verb)) or (
            p.deadline_marked and p.verb
        )
    return p.owner is not None and p.deadline_written and (p.verb or p.deadline_marked)


def read_sentences(lines: Sequence[str], skip: set[int], reading: Reading) -> list[Draft]:
    """Return the items written as sentences in the lines not in ``skip``."""
    drafts: list[Draft] = []
    for i, line, listed in logical_lines(lines, skip):
        for sentence in _SENTENCE.findall(LIST_MARKER.sub("", line, count=1)):
            if _REFERENCE.match(sentence.strip()) or _done(sentence):
                continue
            if not (listed or _LATIN.search(sentence) or may_hold_deadline(sentence)):
                continue  # prose needs a deadline (``_wanted``), and none can be in it
            for unit in units(sentence, reading):
                p = english(unit, reading) or analyse(unit, reading, listed=listed)
                if _wanted(p, listed) and not (p.owner is None and _PROMISE.search(unit)):
                    drafts.append(Draft(p.task, p.owner, p.deadline, p.deliverable, i))
    return drafts
