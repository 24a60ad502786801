"""Line rules for quoted history and signatures in plain text: which line starts what.

Each rule is general (a shape that many clients share), not one client's exact text:
separator lines, header blocks (发件人/发送时间/收件人/主题 and From/Sent/To/Subject, ASCII
or full-width colons, or NetEase Mail Master's ``| 发件人 | … |`` table rows), attribution
lines (``… 写道：`` / ``On … wrote:``) and mobile or ``-- `` signatures. Lines are matched
after ``normalize`` (NBSP, ideographic space and zero-width characters become spaces).
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re

# Zero-width and non-breaking spaces that Foxmail/QQ and HTML conversion leave in separators.
_SPACES = str.maketrans({"\u00a0": " ", "\u3000": " ", "\u200b": "", "\ufeff": "", "\u2002": " "})

# ------------------ 原始邮件 ------------------, -----Original Message-----, 转发邮件,
# NetEase Mail Master's ---- 回复的原邮件 ---- / ---- Replied Message ----, …
_SEPARATOR = re.compile(
    r"^[-_—=~*]{2,}\s*(?:回复的|回覆的|答复的|转发的|轉寄的|被转发的)?\s*"
    r"(原始邮件|原始郵件|原邮件|原郵件|邮件原文|邮件原件|转发邮件|转发的邮件|已转发邮件|轉寄郵件|轉寄的郵件"
    r"|回复邮件|邮件|郵件|Original Message|Original Mail|Original|Forwarded message"
    r"|Forwarded Message|Replied Message|Reply Message|Message d'origine)"
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
    DATE: "发送时间|发件时间|发送日期|寄件日期|日期|时间|Sent|Date",
    TO: "收件人|收件者|To",
    SUBJECT: "主题|主旨|Subject",
    CC: "抄送人|抄送至|抄送|副本|Cc",
}


def _spaced(keys: str) -> str:
    """Return ``keys`` with optional spaces between CJK characters (Alibaba Mail's ``主　题``)."""
    return "|".join(r"\s?".join(key) if not key.isascii() else key for key in keys.split("|"))


# ``发件人: …``, ``*From:* …``, and NetEase Mail Master's table rows ``| 发件人 | … |``
_HEADER = re.compile(
    r"^[*|\s]*(?:"
    + "|".join(f"(?P<{k}>{_spaced(v)})" for k, v in _HEADER_KEYS.items())
    + r")[*\s]*(?:[:：]|\|)",
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

# One-line mobile and client signatures: the rest of the mail below them is history. Each form
# must end like a client's line (a device, a product, 发送), so a sentence that merely starts
# with 来自/发自 ("来自客户的反馈：…", "来自我的观察，…") is never one.
_BRANDS = (
    r"网易邮箱大师|网易邮件大师|邮箱大师|网易邮箱|QQ邮箱|手机QQ|企业微信|腾讯企业邮箱?|Foxmail|139邮箱|189邮箱"
    r"|阿里邮箱|阿里云邮箱|钉钉|DingTalk|飞书|Lark|WPS|Outlook|iPhone|iPad|Android|华为|荣耀|小米|OPPO"
    r"|vivo|三星|魅族|一加|新浪邮箱|搜狐邮箱|沃邮箱|Coremail|Windows(?:\s*\d+)?\s*版?\s*邮件(?:应用)?"
)
_ENDINGS = r"客户端|端|版|App|应用|邮箱|邮件|商务邮箱|专属商务邮箱|大师|手机|平板"
_DEVICE = (
    r"[^，。；！？,;!?]{0,22}(?:手机|平板|电脑|设备|邮箱|客户端|微信|钉钉|飞书|[A-Za-z0-9)）])"
)
_MOBILE_SIGNATURE = re.compile(
    r"^(?:(?:发自|来自|发送自|寄自|傳送自)\s*我的\s*"
    + _DEVICE  # 发自我的华为手机, 来自我的 iPad
    + r"|(?:从|從)\s*我的\s*"
    + _DEVICE
    + r"\s*(?:发送|傳送|寄出)"  # 从我的 iPad 发送
    + r"|(?:发自|来自|发送自|寄自|使用)\s*(?:"
    + _BRANDS
    + r")"  # 来自网易邮箱大师, 发自钉钉
    + r"(?:[A-Za-z0-9 .+-]{0,20}|\s?\S{0,10}?(?:"
    + _ENDINGS
    + r"))(?:\s*(?:发送|傳送))?"
    + r"|(?:从|從)\s*(?:"
    + _BRANDS
    + r")\S{0,10}\s*(?:发送|傳送|寄出)"  # 从 Windows 版邮件发送
    + r"|(?:发自|来自)\s*(?:手机|移动)(?:QQ|客户端|端|版|邮箱)?"
    # 获取 Outlook for iOS, 获取适用于 Android 的 Outlook
    + r"|(?:获取|獲取|取得|下载|下載)\s*(?:适用于\s*\S{1,12}\s*的\s*)?Outlook"
    + r"(?:\s*(?:for|版)\s*\S.{0,40})?"
    + r"|(?:获取|獲取|取得)\s*\S{1,12}\s*版\s*Outlook\S{0,40}"  # 获取 Android 版 Outlook
    + r"|Sent from (?:my\s+\S.{0,30}|(?:Outlook|Mail|Yahoo|Samsung|Huawei|AOL|Gmail|Zoho|Proton"
    + r"|Spark|BlueMail|Edison|NetEase|WPS|Lark|DingTalk|Foxmail|QQ|iPhone|iPad|Android)\b.{0,40})"
    + r"|签名由\s*\S.{0,20}定制"  # the footer of NetEase Mail Master's signature card
    + r"|Sent (?:with|via) \S.{0,30}|Get Outlook for \S.{0,60}"
    + r"|Von meinem \S.{0,30} gesendet|Envoyé de mon \S.{0,30})$",
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
