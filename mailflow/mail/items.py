"""Action items (责任人 + 完成时限 + 交付标准) from what the sender wrote.

Three readers run, each in its own module, each line used by one of them only: tables
(``items_table``: text tables and, read from the markup, the mail's HTML tables via
``items_html``; columns classified by meaning), labelled fields (``items_labels``: ``责任人：…``,
``【责任人】…``, 負責人, labels alone) and prose (``items_sentence``: units, each read slot by
slot). When a mail has a section headed 行动项/待办/任务/分工 (``三、行动项``), prose counts only
inside such sections, so a meeting summary above them gives no items; tables and labelled
fields count anywhere. The same item written twice (a numbered list and a tracking table, say)
is merged: same owner (or one unnamed), similar task, deadlines on the same day or one missing;
the first wording wins and the other fills its gaps, a deadline with a time of day beating the
bare day. Owners resolve to an address through the directory (``ctx.people``, matched by the
automaton ``ctx.name_index`` built once per rulebook version), then the participants' display
names; departments, groups and several owners get none. The first ``MAX_DRAFTS`` items
written are read (a task mail has a few dozen; a table of thousands of rows is not read
past them). Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from mailflow.mail.dates import find_deadline
from mailflow.mail.items_base import Draft, Reading
from mailflow.mail.items_html import html_tables
from mailflow.mail.items_labels import fields_of, read_labelled
from mailflow.mail.items_sentence import read_sentences
from mailflow.mail.items_table import read_grid, read_tables
from mailflow.mail.model import DEADLINE, DELIVERABLE, OWNER, ActionItem, Address, ParseContext

__all__ = ["extract_items", "settle_owner"]

MAX_TASK = 80  # characters; a longer task is cut with …
# drafts merged per mail, in the order they are written; a task mail has a few dozen. Merging
# compares each draft with those kept before it, and thousands of drafts of one owner (or of
# none) cost seconds
MAX_DRAFTS = 500
# an item is written on a line or a few: a longer line is read this far only, and a run of
# blanks (table alignment needs a few) is read as eight, so no reader's work grows with them
MAX_LINE_CHARS = 2_000
_BLANK_RUN = re.compile(r"[ \t\u3000\u00a0]{9,}")
_HEADING = re.compile(
    r"^\s*(?:[一二三四五六七八九十]{1,3}\s*[、.．]|[（(][一二三四五六七八九十]{1,3}[)）]|#{1,6}|【)"
    r"\s*(?P<title>[^，。；;,]{1,16}?)\s*[】:：]?\s*$"
    r"|^\s*(?P<colon>[^，。；;,:：]{1,16})[:：]\s*$"
)
_ITEM_SECTION = re.compile(r"(?i)行动项|待办|任务|分工|工作安排|后续|下一步|跟进事项|action|to-?do")
_SPACE = re.compile(r"\s+")
_GENERIC = re.compile(r"完成|负责|进行|开展|做好|[\s\W_]")


def extract_items(
    text: str,
    ctx: ParseContext,
    sent_at: datetime | None,
    participants: tuple[Address, ...],
    *,
    to: tuple[Address, ...] = (),
    html: tuple[str, ...] = (),
    sender: Address | None = None,
    defects: list[str] | None = None,
) -> tuple[ActionItem, ...]:
    """Return the action items in ``text``, in the order the mail first names them.

    ``sent_at`` is the message's Date (relative deadlines need it; None leaves them unplaced),
    ``participants`` its From, To and Cc, whose display names resolve owners, and ``to`` its To
    recipients: when there is one, 你/您 in a task means that person. ``html`` is the markup
    of the mail's HTML parts, quoted history cut off: its tables are read from the markup.
    ``sender`` is whom "I will…" means. Past ``MAX_DRAFTS`` drafts, the rest are dropped and
    ``defects`` (when given) says so.
    """
    reading = Reading.build(ctx, sent_at, participants, to, sender)
    lines = [
        _BLANK_RUN.sub(" " * 8, line)[:MAX_LINE_CHARS]
        for line in text.replace("\r\n", "\n").replace("\u00a0", " ").split("\n")
    ]
    tables, in_tables = read_tables(lines, reading)
    tables = [*_html_drafts(html, text, reading, defects), *tables]
    labelled, in_labels = read_labelled(lines, in_tables, reading)
    skip = in_tables | in_labels | _outside_item_sections(lines, reading)
    drafts = sorted(
        [*tables, *labelled, *read_sentences(lines, skip, reading)], key=lambda d: d.line
    )
    if len(drafts) > MAX_DRAFTS and defects is not None:
        defects.append(
            f"{len(drafts)} action items written: the first {MAX_DRAFTS} read, the rest ignored"
        )
    drafts = drafts[:MAX_DRAFTS]
    return tuple(_finish(d, reading, _near(lines, d)) for d in _merge(drafts, reading))


def _near(lines: list[str], draft: Draft) -> str:
    """Return the line a draft was read from (an HTML table's task, when it has no line)."""
    return lines[draft.line] if 0 <= draft.line < len(lines) else draft.task


def _html_drafts(
    html: tuple[str, ...], text: str, reading: Reading, defects: list[str] | None
) -> list[Draft]:
    """Return the items of the HTML tables whose tasks the sender wrote (are in ``text``)."""
    written = _SPACE.sub("", text)
    found: list[Draft] = []
    for markup in html:
        for grid in html_tables(markup, defects):
            pairs = _key_values(grid)
            found += read_labelled(pairs, set(), reading)[0] if pairs else read_grid(grid, reading)
    compact = [_SPACE.sub("", line) for line in text.split("\n")]
    # the lines joined: a task (no white space) found in it lies within one line, whose number
    # is looked up from where the lines start; scanning every line for every task was quadratic
    joined = "\n".join(compact)
    starts = list(itertools.accumulate((len(c) + 1 for c in compact[:-1]), initial=0))
    kept = []
    for d in found:  # placed on the last line naming the task: text order decides merges
        task = _SPACE.sub("", d.task)
        if task in written:
            at = joined.rfind(task)
            line = bisect.bisect_right(starts, at) - 1 if at >= 0 else len(compact)
            kept.append(replace(d, line=line))
    return kept


def _key_values(grid: list[list[str]]) -> list[str] | None:
    """Return a two-column table of labels and values (任务 | …, 负责人 | …) as labelled lines."""
    if len(grid) < 2 or any(len(row) < 2 for row in grid):
        return None
    labels = sum(bool(fields_of(f"{row[0]}：{row[1]}")[1]) for row in grid)
    return [f"{row[0]}：{row[1]}" for row in grid] if labels >= 2 else None


def _outside_item_sections(lines: list[str], reading: Reading) -> set[int]:
    """Return the lines outside 行动项-like sections, or none when the mail has no such section."""
    outside: set[int] = set()
    inside, any_section = False, False
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        title = m and (m["title"] or m["colon"])
        if title and find_deadline(title, reading.sent_at, reading.calendar) is None:
            inside = bool(_ITEM_SECTION.search(title))
            any_section = any_section or inside
        if not inside:
            outside.add(i)
    return outside if any_section else set()


def _key(task: str) -> str:
    return _GENERIC.sub("", task).lower()


def _similar(a: str, b: str) -> bool:
    """Return whether two task wordings name the same work (containment or shared bigrams)."""
    return _Signature.of(a).similar(_Signature.of(b))


@dataclass(frozen=True)
class _Signature:
    """What ``_similar`` compares of a task, computed once per draft, not once per pair."""

    key: str
    pairs: frozenset[str]

    @classmethod
    def of(cls, task: str) -> _Signature:
        key = _key(task)
        return cls(key, frozenset(key[i : i + 2] for i in range(len(key) - 1)))

    def similar(self, other: _Signature) -> bool:
        ka, kb, ga, gb = self.key, other.key, self.pairs, other.pairs
        if not ka or not kb:
            return False
        if ka in kb or kb in ka:
            return True
        return bool(ga and gb) and len(ga & gb) / len(ga | gb) >= 0.6


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class _Kept:
    """A merged draft with what ``_same`` compares: its owner as an address (or name), its day."""

    draft: Draft
    owner: str | None
    day: date | None
    task: _Signature

    @classmethod
    def of(cls, d: Draft, reading: Reading, task: _Signature) -> _Kept:
        owner = (reading.email_of(d.owner) or d.owner) if d.owner else None
        return cls(d, owner, _day(d.deadline), task)

    def same(self, other: _Kept) -> bool:
        """Return whether two drafts are one item written twice."""
        return (
            (self.owner is None or other.owner is None or self.owner == other.owner)
            and (self.day is None or other.day is None or self.day == other.day)
            and self.task.similar(other.task)
        )


def _combine(a: Draft, b: Draft) -> Draft:
    """Return ``a`` with its gaps filled from ``b``; a deadline with a time beats a bare day."""
    deadline = a.deadline if a.deadline is not None else b.deadline
    if isinstance(b.deadline, datetime) and not isinstance(a.deadline, datetime):
        deadline = b.deadline
    return replace(
        a, owner=a.owner or b.owner, deadline=deadline, deliverable=a.deliverable or b.deliverable
    )


def _merge(drafts: list[Draft], reading: Reading) -> list[Draft]:
    """Return ``drafts`` with the same item written twice merged into its first wording.

    A draft is compared only with the kept ones whose owner is its own or unnamed (``by_owner``,
    kept in order): a table of thousands of rows for different people was compared pair by
    pair before, millions of owner lookups (seconds).
    """
    merged: list[_Kept] = []
    by_owner: dict[str | None, list[int]] = {}
    for d in drafts:
        new = _Kept.of(d, reading, _Signature.of(d.task))
        if new.owner is None:
            candidates: Iterable[int] = range(len(merged))
        else:
            candidates = heapq.merge(by_owner.get(new.owner, ()), by_owner.get(None, ()))
        i = next((i for i in candidates if merged[i].same(new)), None)
        if i is None:
            by_owner.setdefault(new.owner, []).append(len(merged))
            merged.append(new)
            continue
        kept = merged[i]
        merged[i] = _Kept.of(_combine(kept.draft, d), reading, kept.task)
        if merged[i].owner != kept.owner:  # an unnamed owner filled in: file it under its owner
            by_owner[kept.owner].remove(i)
            bisect.insort(by_owner.setdefault(merged[i].owner, []), i)
    return [k.draft for k in merged]


def _finish(d: Draft, reading: Reading, near: str) -> ActionItem:
    """Return the contract value of a draft, naming what the mail left out.

    An owner whose name several people in the directory share, and whom the mail does not
    decide between, counts as missing: the sender is asked which one (``owner_candidates``).
    """
    task = d.task if len(d.task) <= MAX_TASK else d.task[: MAX_TASK - 1] + "…"
    email = reading.email_of(d.owner, near)
    candidates = reading.names.candidates(d.owner) if email is None else ()
    present = (
        (OWNER, d.owner if not candidates else None),
        (DEADLINE, d.deadline),
        (DELIVERABLE, d.deliverable),
    )
    return ActionItem(
        task=task,
        owner=d.owner,
        owner_email=email,
        deadline=d.deadline,
        deliverable=d.deliverable,
        missing=tuple(name for name, value in present if value is None),
        owner_candidates=candidates,
    )


def settle_owner(item: ActionItem, participants: Collection[str]) -> ActionItem:
    """Return ``item`` with its owner resolved when, of the people who share the owner's name,
    exactly one took part in the thread before (``participants``: lower-cased addresses);
    otherwise ``item`` as it is. The thread is the first thing that decides between
    namesakes; the parse itself can only look at the mail."""
    if item.owner_email is not None or not item.owner_candidates:
        return item
    chosen = [c for c in item.owner_candidates if c.lower() in participants]
    if len(chosen) != 1:
        return item
    missing = tuple(m for m in item.missing if m != OWNER)
    return replace(item, owner_email=chosen[0], missing=missing, owner_candidates=())
