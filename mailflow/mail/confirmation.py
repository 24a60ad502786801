"""Confirmations (已阅 / 有异议 / 已完成) read from what the sender wrote, negations minded.

Only ``new_text`` is read, and only up to the sender's sign-off (此致, Best regards, ``--``) or
a quoted mail's header left in (-----原始邮件-----, 在…写道：, On … wrote:); client footers
(发自我的iPhone, 来自华为Mate 60, ——来自企业微信) and ``>`` lines are skipped. Automatic mail
(``automated``) and autoresponder wording (自动回复, out of office) confirm nothing.

A reply is read as a small grammar, ``[greeting] head [tail]``, sentence by sentence and clause by
clause: emoji and WeChat emoticons ([抱拳]) are dropped, the tail of particles, punctuation and
thanks is trimmed, negated and hedged forms are masked (无异议 → ack, 未完成 → nothing, 不是不同意
→ nothing, 收到您的邮件 → nothing), then the heads of ``confirm_phrases`` are looked for. A head
does not count inside quotes (回复“已阅”), after a scope word in its clause (如有异议…, 请回复已阅,
是否已完成, 我没说已阅, 谁说已阅) or in a question (已阅了吗, 收到没, Did you receive it). When a
mail carries several kinds, objection outranks done, which outranks ack (已阅，有异议：… is an
objection; 收到，已完成 reports the work done).

Decisions: 好的 / OK / 👌 / 没问题 acknowledge only as a whole reply (nothing else said); within a
longer reply they are politeness. 收到 counts only as a clause of its own or at the start of one
(收到，方案可以接受 yes, 收到的设备死机 no); 确认 and 同意 count only where they open a clause,
since mid-sentence they describe work (设计部确认视觉方案); 建议修改/调整 is an objection only when
it proposes changing something (建议调整为10月24日), not 建议召开协调会. Imports nothing of
storage/sources/jobs.
"""

from __future__ import annotations

import re

from mailflow.mail.confirm_phrases import (
    ASSENT_WORD,
    AUTORESPONDER,
    BARE_ASSENT,
    CLIENT_FOOTER,
    KINDS,
    NEGATED_OBJECTION,
    NEUTRAL,
    NOT_A_STATEMENT,
    QUESTION_END,
    QUESTION_START,
    QUOTE_PAIRS,
    RANK,
    REPLY_HEADER,
    SIGN_OFF,
    TRADITIONAL,
)
from mailflow.mail.model import ACK, Confirmation
from mailflow.mail.triggers import may_match, required

MAX_TEXT_CHARS = 200
# A confirmation is said near the top of a reply; reading further only costs time on huge mail.
MAX_READ_CHARS = 20_000
# A sign-off, a client footer or a quoted mail's header is a short line: the line patterns read
# this much of a line, so no pattern's work grows with a longer one (as in items.py)
MAX_LINE_CHARS = 2_000
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n|(?<=\.)\s+")
_CLAUSE_BREAK = re.compile(r"[，,：:、（）()]")
_TRAILING = "。.!！；;~～… \t"
_MASK = "□"
# emoji, their modifiers and joiners, and the bracketed emoticons of WeChat / WeCom ([抱拳])
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\u20e3\u3030\u303d]"
    r"|\[[\u4e00-\u9fffA-Za-z]{1,4}\]"
)
# the characters each pattern cannot match without (``triggers``): most clauses lack them, and
# testing that is far cheaper than running the pattern
_EMOJI_NEEDS, _NEUTRAL_NEEDS, _NEGATED_NEEDS = map(required, (_EMOJI, NEUTRAL, NEGATED_OBJECTION))
_QUESTION_END_NEEDS, _QUESTION_START_NEEDS = required(QUESTION_END), required(QUESTION_START)
_KINDS = tuple((kind, pattern, required(pattern)) for kind, pattern in KINDS)
# a clause with none of these can match no pattern of the grammar: each pattern needs one of them
_CLAUSE_NEEDS = (_QUESTION_END_NEEDS, _QUESTION_START_NEEDS, _NEUTRAL_NEEDS, _NEGATED_NEEDS)
_ANY_CLAUSE = (
    frozenset().union(*(min(n, key=len) for n in (*_CLAUSE_NEEDS, *(k[2] for k in _KINDS))))
    if all(_CLAUSE_NEEDS) and all(needs for _, _, needs in _KINDS)
    else None
)


def read_confirmation(new_text: str, *, automated: bool = False) -> Confirmation | None:
    """Return what ``new_text`` confirms (the strongest kind it carries), or None.

    Automatic mail (``automated``) and text in an autoresponder's wording confirm nothing.
    """
    text = written_part(new_text[:MAX_READ_CHARS])
    if automated or AUTORESPONDER.search(text):
        return None
    found: Confirmation | None = None
    for sentence in sentences(text):
        kind = sentence_kind(sentence)
        if kind and (found is None or RANK[kind] > RANK[found.kind]):
            found = Confirmation(kind=kind, text=_excerpt(sentence))
    if found is None and BARE_ASSENT.match(text) and ASSENT_WORD.search(text):
        found = Confirmation(kind=ACK, text=_excerpt(" ".join(text.split())))
    return found


def written_part(text: str) -> str:
    """Return ``text`` up to its sign-off, signature delimiter or a quoted mail's header, without
    client footers and ``>`` quoted lines (a safety net for what quote stripping left in)."""
    kept: list[str] = []
    for line in text.splitlines():
        head = line[:MAX_LINE_CHARS]
        if SIGN_OFF.match(head) or REPLY_HEADER.match(head):
            break
        if not (CLIENT_FOOTER.match(head) or line.lstrip().startswith(">")):
            kept.append(line)
    return "\n".join(kept).strip()


def sentences(text: str) -> list[str]:
    """Return the non-empty sentences and lines of ``text``, trimmed."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def sentence_kind(sentence: str) -> str | None:
    """Return the strongest confirmation kind one sentence carries, or None."""
    plain = _plain(sentence)
    if _question(plain, set(plain)):
        return None
    best: str | None = None
    for clause in _CLAUSE_BREAK.split(plain):
        # a piece of plain text is plain already: _plain would only trim its end again
        kind = _plain_clause_kind(clause.strip().strip(_TRAILING))
        if kind and (best is None or RANK[kind] > RANK[best]):
            best = kind
    return best


def clause_kind(clause: str) -> str | None:
    """Return the strongest kind one clause states, minding negation and conditions."""
    return _plain_clause_kind(_plain(clause).strip(_TRAILING))


def _plain_clause_kind(clause: str) -> str | None:
    """``clause_kind`` of a clause already plain (``_plain``) and trimmed."""
    chars = {*clause, _MASK}  # what the clause holds now and after masking
    if _ANY_CLAUSE is not None and _ANY_CLAUSE.isdisjoint(chars):
        return None  # most clauses: no pattern below could match
    if not clause or _question(clause, chars):
        return None
    if may_match(_NEUTRAL_NEEDS, chars):
        clause = _mask(NEUTRAL, clause)
    acked = False
    if may_match(_NEGATED_NEEDS, chars):
        acked = _states(NEGATED_OBJECTION, clause)
        clause = _mask(NEGATED_OBJECTION, clause)
    for kind, pattern, needs in _KINDS:
        if may_match(needs, chars) and _states(pattern, clause):
            return kind
    return ACK if acked else None


def _question(text: str, chars: set[str]) -> bool:
    """Return whether ``text`` (made of ``chars``) is a question."""
    if may_match(_QUESTION_END_NEEDS, chars) and QUESTION_END.search(text):
        return True
    return may_match(_QUESTION_START_NEEDS, chars) and QUESTION_START.search(text) is not None


def _plain(text: str) -> str:
    """Return ``text`` in simplified script without emoji and emoticons, spaces collapsed,
    trailing noise trimmed."""
    text = text.translate(TRADITIONAL)
    if may_match(_EMOJI_NEEDS, set(text)):
        text = _EMOJI.sub(" ", text)
    return " ".join(text.split()).rstrip(_TRAILING)


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
