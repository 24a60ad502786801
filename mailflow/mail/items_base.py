"""What the action-item readers share: the draft item, owner recognition and text clean-up.

A ``Draft`` is an item as one layout wrote it; ``items.py`` merges drafts that are the same item
written twice and turns them into ``ActionItem`` values. ``Reading`` carries what every reader
needs (the message Date, the business calendar, the names of people and departments) so a
reader is a pure function of lines in, drafts out. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.model import Address, ParseContext
from mailflow.mail.names import PERSON, MailNames

_ANNOTATION = re.compile(r"\s*[（(][^（）()]*[)）]\s*")  # 张三（技术部） → 张三
_NO_OWNER = re.compile(r"(?i)^(?:待定|待确认|未定|无|暂无|tbd|n/?a|-+|/|—+)$")
# 1.  1、  (1)  （一）  一、  - • * ● ▪ ① ...
LIST_MARKER = re.compile(
    r"^\s*(?:\d{1,2}\s*[.、．)）](?!\d)|[（(]\s*(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*[)）]"
    r"|[一二三四五六七八九十]{1,3}\s*[、.．]|[-•·*●○◆■▪►✓]\s*|[①-⑳])\s*(?:\[[ xX✓]?\]\s*)?"
)
_EDGE = "\t \u3000,，;；。.、:：|｜—-"


@dataclass(frozen=True)
class Draft:
    """One action item as one layout wrote it; ``line`` orders items by where they appear."""

    task: str
    owner: str | None
    deadline: date | datetime | None
    deliverable: str | None
    line: int


@dataclass(frozen=True)
class Reading:
    """What the readers need besides the text: Date, calendar and the names they may meet."""

    sent_at: datetime | None
    calendar: BusinessCalendar
    names: MailNames

    @classmethod
    def build(
        cls,
        ctx: ParseContext,
        sent_at: datetime | None,
        participants: tuple[Address, ...],
        to: tuple[Address, ...] = (),
        sender: Address | None = None,
    ) -> Reading:
        """Return the reading context: the directory's index, then the mail's participants."""
        names = MailNames.build(ctx.name_index, participants, to, sender)
        return cls(sent_at, BusinessCalendar.from_context(ctx), names)

    def is_department(self, owner: str) -> bool:
        """Return whether ``owner`` names a department (known, or by its suffix)."""
        return self.names.is_department(owner)

    def email_of(self, owner: str | None, near: str = "") -> str | None:
        """Return the address of a single person owner; departments and groups get None.
        ``near`` is the text the owner was written in: a department named there decides
        between people who share a name."""
        if owner is None or self.is_department(owner):
            return None
        return self.names.email_of(owner, near)


def _opens(value: str) -> int:
    return value.count("（") + value.count("(") - value.count("）") - value.count(")")


def clean_text(value: str) -> str:
    """Return ``value`` without separators, list markers and stray brackets at its edges."""
    value = LIST_MARKER.sub("", value.strip(_EDGE), count=1).strip(_EDGE)
    while value and (
        value[-1] in "（(" or (value[-1] in "）)" and _opens(value) < 0)
    ):  # the bracket a value sat in: 接口联调（责任人：…）
        value = value[:-1].strip(_EDGE)
    while value and (value[0] in "）)" or (value[0] in "（(" and _opens(value) > 0)):
        value = value[1:].strip(_EDGE)
    return value.strip('"“”')


def clean_owner(value: str, reading: Reading) -> str | None:
    """Return the owner as written, without annotations (张三（技术部） → 张三); None if none."""
    value = clean_text(value)
    bare = _ANNOTATION.sub("", value).strip(_EDGE) or value
    if not bare or _NO_OWNER.match(bare):
        return None
    found = reading.names.find(bare)  # 技术部 张三 / 技术部-张三: the person is the owner
    last = found[-1] if found else None
    if (
        last is not None
        and last.kind == PERSON
        and last.end == len(bare)
        and last.start > 0
        and reading.is_department(bare[: last.start].strip(_EDGE + "-—/"))
    ):
        return last.text
    return bare


def optional(value: str | None) -> str | None:
    """Return the cleaned ``value``, or None when nothing is left."""
    if value is None:
        return None
    value = clean_text(value)
    return value if value and not _NO_OWNER.match(value) else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def logical_lines(lines: Sequence[str], skip: set[int]) -> list[tuple[int, str, bool]]:
    """Return (index, text, listed) of each line, continuations joined to the line they go on.

    A line continues the one above when that one stops on a comma, or when it is indented
    deeper without a list marker of its own (a nested list item, a wrapped line).
    """
    out: list[tuple[int, str, bool]] = []
    prev = ""
    for i, line in enumerate(lines):
        if i in skip or not line.strip():
            prev = ""
            continue
        marked = bool(LIST_MARKER.match(line))
        text = LIST_MARKER.sub("", line, count=1)
        if (
            out
            and prev
            and (
                prev.rstrip().endswith(("，", ",", "、"))
                or (_indent(line) > _indent(prev) and not marked)
            )
        ):
            j, joined, listed = out[-1]
            out[-1] = (j, joined.rstrip().rstrip("，,、") + "，" + text.strip(), listed)
        else:
            out.append((i, text, marked))
        prev = line
    return out
