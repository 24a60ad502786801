"""Line rules for quoted history and signatures in plain text: which line starts what.

Each rule is general (a shape that many clients share), not one client's exact text:
separator lines, header blocks (发件人/发送时间/收件人/主题 and From/Sent/To/Subject, ASCII or
full-width colons), attribution lines (``… 写道：`` / ``On … wrote:``) and mobile or ``-- ``
signatures. Lines are matched after ``normalize`` (NBSP, ideographic space and zero-width
characters become spaces). Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re

# Zero-width and non-breaking spaces that Foxmail/QQ and HTML conversion leave in separators.
_SPACES = str.maketrans({"\u00a0": " ", "\u3000": " ", "\u200b": "", "\ufeff": "", "\u2002": " "})

# ------------------ 原始邮件 ------------------, -----Original Message-----, 转发邮件, …
_SEPARATOR = re.compile(
    r"^[-_—=~*]{2,}\s*(原始邮件|原始郵件|原邮件|邮件原文|邮件原件|转发邮件|转发的邮件|已转发邮件|轉寄郵件|轉寄的郵件"
    r"|回复邮件|Original Message|Original Mail|Original|Forwarded message|Forwarded Message"
    r"|Message d'origine)"
    r"\s*(?:信息)?\s*[-_—=~*]{2,}$",
    re.IGNORECASE,
)
# Apple Mail and others introduce a forward with one line and no rule.
_FORWARD_INTRO = re.compile(
    r"^(Begin forwarded message|开始转发的邮件|以下是转发的邮件|下面是被转发的邮件|转发的邮件)"
    r"\s*[:：]$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^[-_—=~*]{5,}$")

FROM, DATE, TO, SUBJECT, CC = "from", "date", "to", "subject", "cc"
_HEADER_KEYS = {
    FROM: "发件人|寄件者|寄件人|发信人|From",
    DATE: "发送时间|发送日期|寄件日期|日期|时间|Sent|Date",
    TO: "收件人|收件者|To",
    SUBJECT: "主题|主旨|Subject",
    CC: "抄送|副本|Cc",
}
_HEADER = re.compile(
    r"^[*\s]*(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _HEADER_KEYS.items()) + r")[*\s]*[:：]",
    re.IGNORECASE,
)
HEADER_WINDOW = 6  # non-empty lines after 发件人/From in which the other header lines must sit
HEADER_SCAN_LINES = 3 * HEADER_WINDOW  # blank lines included

# The end of an attribution line; it must also carry a date, a time or an address.
_ATTRIBUTION_END = re.compile(r"(写道|寫道|wrote|writes)\s*[:：]?$", re.IGNORECASE)
_COLON_END = re.compile(r"[:：]$")
_ATTRIBUTION_EVIDENCE = re.compile(
    r"@|\d{4}|\d{1,2}:\d{2}|\d{1,2}\s*月|\d{1,2}/\d{1,2}|\d{1,2}\.\d{1,2}\.", re.IGNORECASE
)
MAX_ATTRIBUTION_CHARS = 300
MAX_ATTRIBUTION_LINES = 3
_OPENER = re.compile(
    r"^(?:(?:On|At|Le|Am|El|Il|Op)\s|在\s*\d|于\s*\d)", re.IGNORECASE
)  # Gmail and others wrap a long "On …, X <addr> wrote:" line

# One-line mobile and client signatures: the rest of the mail below them is history.
_MOBILE_SIGNATURE = re.compile(
    r"^(?:(?:发自|来自|发送自)我的\s*\S.{0,24}|从我的\s*\S.{0,24}发送"
    r"|(?:发自|来自)\s*(?:网易邮箱|QQ邮箱|手机QQ|企业微信|腾讯企业邮|Foxmail|139邮箱|阿里邮箱|钉钉"
    r"|WPS|Outlook|iPhone|iPad|Android|华为|荣耀|小米|OPPO|vivo|三星|魅族|一加|手机|移动)\S{0,16}"
    r"|Sent from (?:my |Outlook|Mail for|Yahoo|Samsung|Huawei)\S.{0,30}|Sent via \S.{0,30}"
    r"|Get Outlook for \S.{0,60}|Von meinem \S.{0,30} gesendet|Envoyé de mon \S.{0,30})$",
    re.IGNORECASE,
)
SIGNATURE_DELIMITERS = ("--", "-- ")


def normalize(line: str) -> str:
    """Return ``line`` with odd spaces made plain and outer whitespace removed, for matching."""
    return line.translate(_SPACES).strip()


def is_quoted(line: str) -> bool:
    """Return whether a normalized line is ``>``-quoted."""
    return line.startswith((">", "＞"))


def is_separator(line: str) -> bool:
    """Return whether a normalized line is a 原始邮件 / Original Message / forward separator."""
    return bool(_SEPARATOR.match(line) or _FORWARD_INTRO.match(line))


def is_rule(line: str) -> bool:
    """Return whether a normalized line is only a rule (Outlook's row of underscores)."""
    return bool(_RULE.match(line))


def header_key(line: str) -> str | None:
    """Return which quoted-header field a normalized line starts with, or None."""
    found = _HEADER.match(line)
    return found.lastgroup if found else None


def starts_header_block(lines: list[str], i: int) -> bool:
    """Return whether ``lines[i]`` opens a quoted header block.

    It must start with 发件人/From and be followed, within ``HEADER_WINDOW`` non-empty lines,
    by two more distinct fields, so a sentence like "请把发件人: 改成公司邮箱" is not one.
    """
    if header_key(lines[i]) != FROM:
        return False
    keys: set[str] = set()
    seen = 0
    for line in lines[i + 1 : i + 1 + HEADER_SCAN_LINES]:
        if not line:
            continue
        seen += 1
        if seen > HEADER_WINDOW:
            break
        key = header_key(line)
        if key and key != FROM:
            keys.add(key)
    return len(keys) >= 2


def looks_like_attribution(text: str, *, above_quote: bool = False) -> bool:
    """Return whether ``text`` reads like "<who/when> wrote:".

    Anywhere, it must end in 写道/wrote and carry a date, a time or an address. Right above
    a ``>`` block a bare "X wrote:" is enough, and so is any line ending in a colon that
    carries a date or an address (clients of every language put their attribution there).
    """
    text = text.lstrip(">＞ ").strip()
    if not text or len(text) > MAX_ATTRIBUTION_CHARS:
        return False
    if above_quote and _ATTRIBUTION_END.search(text):
        return True
    end = _COLON_END if above_quote else _ATTRIBUTION_END
    return bool(end.search(text)) and bool(_ATTRIBUTION_EVIDENCE.search(text))


def attribution_start(lines: list[str], i: int, *, above_quote: bool = False) -> int | None:
    """Return the first line of an attribution ending at ``lines[i]``, or None.

    A wrapped attribution ("On …, X <" / "x@y> wrote:") is joined from up to
    ``MAX_ATTRIBUTION_LINES`` lines, but only across a break that looks like wrapping.
    """
    if not lines[i]:
        return None
    end = _COLON_END if above_quote else _ATTRIBUTION_END
    if not end.search(lines[i]):
        return None
    j = i
    while j > 0 and i - j + 1 < MAX_ATTRIBUTION_LINES and _wrapped(lines[j - 1], lines[j]):
        j -= 1
    for start in range(j, i + 1):  # prefer the longest wrapped form that still reads right
        if looks_like_attribution(" ".join(lines[start : i + 1]), above_quote=above_quote):
            return start
    return None


def _wrapped(before: str, line: str) -> bool:
    """Return whether ``line`` continues ``before`` the way clients wrap an attribution."""
    if not before or is_quoted(before) != is_quoted(line):
        return False
    bare = before.lstrip(">＞ ")
    return (
        bare.endswith(("<", ",", "，"))
        or line.lstrip(">＞ ").startswith("<")
        or bool(_OPENER.match(bare))
    )


def is_mobile_signature(line: str) -> bool:
    """Return whether a normalized line is a client's "sent from my phone" signature."""
    return bool(_MOBILE_SIGNATURE.match(line))


def is_signature_delimiter(raw: str) -> bool:
    """Return whether a raw line is the RFC 3676 signature delimiter ``-- ``."""
    return raw.rstrip("\r") in SIGNATURE_DELIMITERS
