"""Confirmations (已阅 / 有异议 / 已完成) read from what the sender wrote, negations minded.

Only ``new_text`` is read, so a 已阅 in the quoted minutes never counts. Each sentence is cut
into clauses; in a clause, negated and hedged forms are masked first (无异议 → ack,
未完成 → nothing, 不是不同意 → nothing), then the phrases of ``confirm_phrases`` are looked
for. A phrase does not count inside quotes (回复“已阅”), after a condition or request in
its clause (如有异议…, 请回复已阅, 是否已完成) or in a question. When a mail carries several
kinds, objection outranks done, which outranks ack (已阅，有异议：… is an objection;
收到，已完成 reports the work done).

Decisions: 好的 / OK / 没问题 are politeness, not an acknowledgement of minutes, and are not
read; 收到 counts only as a clause of its own or at the start of one (收到，方案可以接受 yes,
收到的设备死机 no); 确认 and 同意 count only where they open a clause, since mid-sentence they
describe work (设计部确认视觉方案); 建议修改/调整 is an objection only when it proposes
changing something (建议调整为10月24日), not 建议召开协调会. English is read lightly:
acknowledged/noted/agreed, I object/disagree, done/completed. Imports nothing of
storage/sources/jobs.
"""

from __future__ import annotations

import re

from mailflow.mail.confirm_phrases import (
    KINDS,
    NEGATED_OBJECTION,
    NEUTRAL,
    NOT_A_STATEMENT,
    QUESTION_END,
    QUOTE_PAIRS,
    RANK,
)
from mailflow.mail.model import ACK, Confirmation

MAX_TEXT_CHARS = 200
# A confirmation is said near the top of a reply; reading further only costs time on huge mail.
MAX_READ_CHARS = 20_000
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n|(?<=\.)\s+")
_CLAUSE_BREAK = re.compile(r"[，,：:、（）()]")
_TRAILING = "。.!！；;~～ \t"
_MASK = "□"


def read_confirmation(new_text: str) -> Confirmation | None:
    """Return what ``new_text`` confirms (the strongest kind it carries), or None."""
    found: Confirmation | None = None
    for sentence in sentences(new_text[:MAX_READ_CHARS]):
        kind = sentence_kind(sentence)
        if kind and (found is None or RANK[kind] > RANK[found.kind]):
            found = Confirmation(kind=kind, text=_excerpt(sentence))
    return found


def sentences(text: str) -> list[str]:
    """Return the non-empty sentences and lines of ``text``, trimmed."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def sentence_kind(sentence: str) -> str | None:
    """Return the strongest confirmation kind one sentence carries, or None."""
    if QUESTION_END.search(sentence):
        return None
    best: str | None = None
    for clause in _CLAUSE_BREAK.split(sentence):
        kind = clause_kind(clause.strip())
        if kind and (best is None or RANK[kind] > RANK[best]):
            best = kind
    return best


def clause_kind(clause: str) -> str | None:
    """Return the strongest kind one clause states, minding negation and conditions."""
    if not clause or QUESTION_END.search(clause):
        return None
    clause = _mask(NEUTRAL, clause)
    acked = _states(NEGATED_OBJECTION, clause)
    clause = _mask(NEGATED_OBJECTION, clause)
    for kind, pattern in KINDS:
        if _states(pattern, clause):
            return kind
    return ACK if acked else None


def _states(pattern: re.Pattern[str], clause: str) -> bool:
    """Return whether ``pattern`` occurs in ``clause`` as a statement of the sender."""
    for match in pattern.finditer(clause):
        before = clause[: match.start()]
        if NOT_A_STATEMENT.search(before) or _inside_quotes(before):
            continue
        return True
    return False


def _inside_quotes(before: str) -> bool:
    """Return whether text following ``before`` sits inside an open quotation."""
    if any(before.count(o) > before.count(c) for o, c in QUOTE_PAIRS):
        return True
    return before.count('"') % 2 == 1


def _mask(pattern: re.Pattern[str], clause: str) -> str:
    """Return ``clause`` with each match of ``pattern`` blanked out, positions kept."""
    return pattern.sub(lambda m: _MASK * len(m.group(0)), clause)


def _excerpt(sentence: str) -> str:
    """Return the sentence as the confirmation's text: trimmed, at most 200 characters."""
    text = " ".join(sentence.split()).rstrip(_TRAILING)
    return text[:MAX_TEXT_CHARS].rstrip()
