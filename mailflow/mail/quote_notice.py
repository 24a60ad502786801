"""Legal and confidentiality notices (保密声明, disclaimers) at the end of what the sender wrote.

Companies append them to every mail, often in two languages: 如果您错误地收到了本邮件，请立即通知
发件人并删除… / If you have received this email in error, please notify the sender… They are
not the sender's words, so ``new_text`` drops them, but only as the tail of the mail: from the
paragraph where a notice starts to the end, every paragraph must read as one (or be a heading
such as 免责声明 / Disclaimer, a rule, or a client signature). A paragraph reads as a notice
when it has at least two of the signals that notices combine: confidentiality, the intended
recipient, receipt in error, deletion, prohibition, telling the sender, liability. One signal
alone ("本邮件是关于保密协议的通知", "This message contains the confidential price list") is the
sender's own text and stays, and a notice is never the first line of a mail.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re

from mailflow.mail.quote_rules import is_mobile_signature, is_rule

__all__ = ["notice_start"]

MIN_SIGNALS = 2
MAX_HEADING_CHARS = 40
_SIGNALS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"保密|机密|機密|专有|專有|confidential|privileged|proprietary",
        r"收件人|收件者|收信人|recipient|addressee",
        r"(?:错误|錯誤|误|誤|意外)地?(?:收到|接收|送达|送達|发送|發送)|in\s+error|by\s+mistake|mistakenly",
        r"删除|刪除|销毁|銷毀|delete|destroy",
        r"禁止|严禁|嚴禁|不得|未经授权|未經授權|未经许可|prohibited|unauthori[sz]ed|must\s+not|may\s+not",
        r"(?:通知|告知|联系|聯繫)(?:发件人|寄件人|发信人|我们|我們|本人)|notify|inform\s+the\s+sender",
        r"法律责任|法律責任|免责|免責|liability|liable|病毒|virus",
    )
)
# where a notice starts inside a paragraph that begins with the sender's signature
_START = re.compile(
    r"^[\[【(（*#\s]*(?:(?:保密|机密|機密|免责|免責|法律|隐私|隱私|重要)\s*(?:声明|聲明|提示|条款|條款|须知|須知|通知)"
    r"|(?:本|此|该|該)(?:封)?(?:电子)?(?:邮件|郵件|信件|函件|信息|資訊)"
    r"|(?:如果|如|若|倘若|假如)\s*(?:您|你|阁下|閣下)|(?:注意|提示|声明|聲明)\s*[:：]"
    r"|(?:confidential(?:ity)?|disclaimer|privileged|important|legal|notice|note)\b"
    r"|this\s+(?:e-?mail|message|communication|transmission|electronic)"
    r"|the\s+(?:information|contents?)\s+(?:contained\s+)?(?:in|of)\s+this"
    r"|if\s+you\s+(?:are\s+not|have\s+received|received))",
    re.IGNORECASE,
)


def _signals(text: str) -> set[int]:
    """Return which kinds of notice signal ``text`` carries."""
    return {k for k, signal in enumerate(_SIGNALS) if signal.search(text)}


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """Return ``(start, end)`` of each run of non-empty lines."""
    found: list[tuple[int, int]] = []
    start = None
    for i, line in enumerate([*lines, ""]):
        if line and start is None:
            start = i
        elif not line and start is not None:
            found.append((start, i))
            start = None
    return found


def _extends_notice(lines: list[str], start: int, end: int) -> bool:
    """Return whether a paragraph may sit inside a notice run: heading, rule or signature."""
    if end - start != 1:
        return False
    line = lines[start]
    heading = len(line) <= MAX_HEADING_CHARS and _START.match(line) is not None
    return heading or is_rule(line) or is_mobile_signature(line)


def _notice_begins(lines: list[str], start: int, end: int) -> int | None:
    """Return where a notice begins in the paragraph ``lines[start:end]``, None if it is none.

    Signals are gathered from the paragraph's end upwards, each line read with the next one
    (a hard-wrapped "in / error"), so a paragraph of any length costs linear time.
    """
    found: set[int] = set()
    begins = None
    for i in range(end - 1, start - 1, -1):
        found |= _signals(" ".join(lines[i : i + 2]) if i + 1 < end else lines[i])
        if len(found) >= MIN_SIGNALS and _START.match(lines[i]):
            begins = i
    if len(found) < MIN_SIGNALS:
        return None
    return start if begins is None else begins


def notice_start(lines: list[str]) -> int:
    """Return the index of the first line of a trailing notice, ``len(lines)`` when none.

    ``lines`` are normalized (``quote_rules.normalize``), quoted history already removed.
    """
    paragraphs = _paragraphs(lines)
    cut, found = len(lines), False
    for start, end in reversed(paragraphs):
        begins = _notice_begins(lines, start, end)
        if begins is None and not _extends_notice(lines, start, end):
            break
        if begins is not None:
            found = True
        cut = start if begins is None else begins
        if begins is not None and begins > start:
            break  # the lines above it in this paragraph are the sender's
    if not found or not paragraphs or cut <= paragraphs[0][0]:
        return len(lines)
    return cut
