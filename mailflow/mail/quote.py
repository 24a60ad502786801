"""``new_text``: what the sender wrote, with quoted history and signature removed.

Decision: a small rule set of our own, not mail-parser-reply 1.36. That library's ``zh``
rules need an ASCII colon after 发件人 and a ``YYYY年M月D日…写道：`` date, so they miss the
forms Chinese clients write most (full-width colons, ``原始邮件`` separators, NetEase's ISO
dates, Gmail-zh's ``于…写道``); its signature list cuts at ordinary words such as "谢谢，";
it reads text only, so HTML quote containers would still need code of ours; and extending it
means changing its module-level tables. The rules here are shapes many clients share
(see ``quote_rules``), applied in three steps:

1. cut at the first line that starts history: a separator (原始邮件 / Original Message /
   转发邮件 / Forwarded message), a 发件人/From header block with two more fields, or an
   attribution ("… 写道：", "On … wrote:") that is not followed by ``>`` lines;
2. drop ``>``-quoted blocks with the attribution line above them, so a reply written below
   or between the quotes survives;
3. cut a trailing legal or confidentiality notice (``quote_notice``);
4. cut at a ``-- `` delimiter or a "发自我的iPhone" / "Sent from my …" line.

HTML-only mail is first cut at its quote containers (``quote_html``), then converted with
``body.html_to_text`` and put through the same steps. Stripping is best effort: the whole
body stays in ``body_text``. When nothing is left, the empty string is returned, never the
quote. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
import textwrap

from mailflow.mail.body import BodySources, html_texts
from mailflow.mail.budget import WorkBudget
from mailflow.mail.quote_html import cut_quoted_html
from mailflow.mail.quote_notice import notice_start
from mailflow.mail.quote_rules import (
    attribution_start,
    is_mobile_signature,
    is_quoted,
    is_rule,
    is_separator,
    is_signature_delimiter,
    normalize,
    starts_header_block,
)

MAX_QUOTE_GAP = 2  # blank lines allowed inside one ">" block
# new_text is read from this much of the body: what the sender wrote comes first, and reading
# megabytes of history line by line would cost seconds
MAX_BODY_CHARS = 200_000
SIGNATURE_ZONE = 12  # a "-- " delimiter counts only among the last non-empty lines


def new_text(
    sources: BodySources,
    body_text: str,
    defects: list[str],
    budget: WorkBudget | None = None,
    *,
    laid_out: bool = False,
    cut: tuple[str, ...] | None = None,
) -> str:
    """Return the part of the body the sender wrote: history and signature removed.

    ``body_text`` is what ``body.body_text`` made of ``sources``; with ``laid_out``, even when
    it is empty (else an empty one may stand for "not given", and the HTML is laid out here).
    ``cut`` is each HTML part up to its quoted history, when the caller has it already."""
    if sources.plain is None and sources.html:
        if cut is None:
            cut = tuple(cut_quoted_html(markup) for markup in sources.html)
        uncut = all(c is m for c, m in zip(cut, sources.html, strict=True))
        if (body_text or laid_out) and uncut:
            # nothing quoted: ``body_text`` is this markup laid out already (layout costs
            # up to a second for dense markup; a laid-out text has no blank-only part)
            return strip_quotes(_leading(body_text, defects))
        text = "\n".join(t for t in html_texts(cut, defects, budget) if t.strip())
        return strip_quotes(_leading(text, defects))
    return strip_quotes(_leading(body_text, defects))


def _leading(text: str, defects: list[str]) -> str:
    """Return the first ``MAX_BODY_CHARS`` of ``text`` in whole lines (all of it when shorter)."""
    if len(text) <= MAX_BODY_CHARS:
        return text
    defects.append(f"body of {len(text)} characters: new_text read from the first {MAX_BODY_CHARS}")
    cut = text.rfind("\n", 0, MAX_BODY_CHARS)
    return text[: cut if cut > 0 else MAX_BODY_CHARS]


def strip_quotes(text: str) -> str:
    """Return ``text`` without quoted history and signature (plain-text rules only)."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    norm = [normalize(line) for line in raw]
    cut = history_start(norm)
    raw, norm = raw[:cut], norm[:cut]
    keep = _unquoted(norm)
    raw = [line for line, kept in zip(raw, keep, strict=True) if kept]
    norm = [line for line, kept in zip(norm, keep, strict=True) if kept]
    notice = notice_start(norm)
    raw, norm = raw[:notice], norm[:notice]
    end = _signature_start(raw, norm)
    return _tidy(raw[:end])


def history_start(lines: list[str]) -> int:
    """Return the index of the first line of quoted history, ``len(lines)`` when none."""
    for i, line in enumerate(lines):
        if is_quoted(line) or not line:
            continue
        if is_separator(line) or starts_header_block(lines, i):
            return _extend_up(lines, i)
        start = attribution_start(lines, i)
        if start is not None and not _quote_follows(lines, i):
            return _extend_up(lines, start)
    return len(lines)


def _extend_up(lines: list[str], i: int) -> int:
    """Return ``i`` moved above the blank lines and rules (``____``) that introduce history."""
    while i > 0 and (not lines[i - 1] or is_rule(lines[i - 1])):
        i -= 1
    return i


def _quote_follows(lines: list[str], i: int) -> bool:
    """Return whether the next non-empty line after ``lines[i]`` is ``>``-quoted."""
    return next((is_quoted(lines[k]) for k in range(i + 1, len(lines)) if lines[k]), False)


def _unquoted(lines: list[str]) -> list[bool]:
    """Return, per line, whether it stays: ``>`` blocks and their attributions go.

    A mail quotes when one block is long, trailing or under an attribution; then every
    block goes (an interleaved reply keeps only its answers). A lone ``>`` line in a mail
    that quotes nothing is text ("> 50% 已升级") and stays.
    """
    keep = [True] * len(lines)
    last = max((i for i, line in enumerate(lines) if line), default=-1)
    blocks = [(start, end, _attribution_above(lines, start)) for start, end in _quote_blocks(lines)]
    quoting = any(
        end - start >= 2 or above is not None or end > last for start, end, above in blocks
    )
    if not quoting:
        return keep
    for start, end, above in blocks:
        for k in range(start if above is None else above, end):
            keep[k] = False
    return keep


def _quote_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """Return ``(start, end)`` of each run of ``>`` lines (short blank gaps included)."""
    blocks: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if not is_quoted(lines[i]):
            i += 1
            continue
        start = end = i
        j = i
        while j < len(lines) and (is_quoted(lines[j]) or _gap_inside(lines, j)):
            if is_quoted(lines[j]):
                end = j
            j += 1
        blocks.append((start, end + 1))
        i = j
    return blocks


def _gap_inside(lines: list[str], j: int) -> bool:
    """Return whether blank ``lines[j]`` sits in a short gap that more ``>`` lines follow."""
    if lines[j]:
        return False
    for line in lines[j + 1 : j + 1 + MAX_QUOTE_GAP]:
        if line:
            return is_quoted(line)
    return False


def _attribution_above(lines: list[str], start: int) -> int | None:
    """Return the first line of the attribution right above a ``>`` block, or None."""
    i = start - 1
    while i >= 0 and not lines[i]:
        i -= 1
    if i < 0 or start - i > MAX_QUOTE_GAP + 1:
        return None
    return attribution_start(lines, i, above_quote=True)


def _signature_start(raw: list[str], norm: list[str]) -> int:
    """Return where the signature starts: a mobile line or a late ``-- `` delimiter."""
    filled = [i for i, line in enumerate(norm) if line]
    zone = set(filled[-SIGNATURE_ZONE:])
    for i in filled:
        delimiter = i in zone and is_signature_delimiter(raw[i])
        if delimiter or is_mobile_signature(norm[i]):
            if i > filled[0]:
                return i
            raw[i] = ""  # the signature line is all there is above the rest: drop just it
    return len(raw)


def _tidy(lines: list[str]) -> str:
    """Return ``lines`` joined: trailing rules, blank runs and the common indent removed."""
    kept = [line.rstrip() for line in lines]
    while kept and (not kept[-1].strip() or is_rule(normalize(kept[-1]))):
        kept.pop()
    # HTML conversion indents every line of nested <div>s; the common indent is layout
    return textwrap.dedent(re.sub(r"\n{3,}", "\n\n", "\n".join(kept))).strip("\n")
