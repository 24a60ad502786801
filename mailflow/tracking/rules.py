"""The single after-store decisions, each a pure function of what it is given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from mailflow.mail.model import ParsedMessage
from mailflow.mail.numbers import item_references

# a subject-only match links mail of the same participants within this window
SUBJECT_WINDOW = timedelta(days=30)
# the guide: minutes are confirmed within 24 hours
CONFIRMATION_WINDOW = timedelta(hours=24)


class _Candidate(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def last_message_at(self) -> datetime: ...


_T = TypeVar("_T", bound=_Candidate)


def subject_match(
    candidates: Iterable[_T],
    people: Mapping[int, set[str]],
    addresses: Iterable[str],
    since: datetime,
) -> _T | None:
    """Return the newest of the threads of a subject, active since ``since``, that shares a
    participant with ``addresses`` (mail of the same subject between other people is another
    conversation)."""
    wanted = set(addresses)
    if not wanted:
        return None
    found = [
        t for t in candidates if t.last_message_at >= since and people.get(t.id, set()) & wanted
    ]
    return max(found, key=lambda t: (t.last_message_at, t.id), default=None)


def correspondents(parsed: ParsedMessage, own: frozenset[str]) -> list[str]:
    """Return the sender and recipients a subject match looks for; the shared address is on
    nearly every mail and says nothing about who talks to whom."""
    sender = [parsed.from_.address] if parsed.from_ else []
    everyone = sender + [a.address for a in (*parsed.to, *parsed.cc)]
    return [a for a in everyone if a not in own]


def asked_lines(
    parsed: ParsedMessage, addresses: Sequence[str], own: frozenset[str]
) -> dict[str, tuple[str, str]]:
    """Return who a ledger asks, as address -> (name, role: to or cc), in the order given:
    never the sender, never one of the ``own`` shared addresses, each address once."""
    names = {
        a.address: (a.name, role)
        for role, group in (("cc", parsed.cc), ("to", parsed.to))
        for a in group
    }
    sender = parsed.from_.address if parsed.from_ else None
    return {
        address: names.get(address, ("", "to"))
        for address in dict.fromkeys(a.lower() for a in addresses)
        if address != sender and address not in own
    }


def counts_early(replies_here: bool, said_at: datetime, requested_at: datetime) -> bool:
    """Return whether a confirmation read before a ledger opened answers it: it replies to the
    request's mail, or replies to nothing and was written at or after it (last week's 已阅
    does not confirm this week's minutes)."""
    return replies_here or said_at >= requested_at


class _Line(Protocol):
    @property
    def request_message_pk(self) -> int: ...

    @property
    def requested_at(self) -> datetime: ...


_L = TypeVar("_L", bound=_Line)


def line_answered(lines: Sequence[_L], request_message_pk: int | None) -> _L | None:
    """Return the ledger line (of one person in one thread) an answer fills: that of the request
    of the message answered, or else that of the newest request that asked them."""
    for line in lines:
        if line.request_message_pk == request_message_pk:
            return line
    return max(lines, key=lambda x: x.requested_at, default=None)


class _Item(Protocol):
    @property
    def position(self) -> int: ...

    @property
    def task(self) -> str: ...


_I = TypeVar("_I", bound=_Item)


def items_meant(candidates: Sequence[_I], text: str) -> list[_I]:
    """Return the items (open, of the replier, in message order) a 已完成 reply means: by number
    (第1项), else by the first words of their task, else the only one."""
    numbers = item_references(text)
    by_number = [i for i in candidates if i.position in numbers]
    if by_number:
        return by_number
    by_task = [i for i in candidates if i.task and i.task[:8] in text]
    if by_task:
        return by_task
    return list(candidates) if len(candidates) == 1 else []
