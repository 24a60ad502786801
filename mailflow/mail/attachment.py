"""Recognise attachments, decode their names, and read the version and date a name carries.

Names arrive as RFC 2231 parameters (continuations, any charset), RFC 2047 encoded-words
(also where the RFC forbids them, inside quoted strings), or raw 8-bit bytes. The guide asks
attached files to name a version and a date (``项目进度跟踪表_v1.2_20231008.xlsx``).
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from datetime import date
from email.message import Message

from mailflow.mail.charset import decode_bytes
from mailflow.mail.header import decode_text, first_raw, to_bytes
from mailflow.mail.model import Attachment
from mailflow.mail.params import SafeMessage

# report parts describe a delivery; they are neither body nor attachment
REPORT_PARTS = frozenset(
    (
        "message/delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
        "text/rfc822-headers",
        "message/global-delivery-status",
        "message/global-headers",
    )
)
_VERSION = (
    re.compile(r"(?<![A-Za-z])[vV]\.?(\d+(?:\.\d+){0,3})(?![A-Za-z0-9])"),
    re.compile(r"版本?\s*[vV]?(\d+(?:\.\d+){0,3})(?![\d])"),
    re.compile(r"第\s*(\d+)\s*版|(?<![\d.])(\d+(?:\.\d+){1,3})\s*版(?!本)"),
)
MAX_FILENAME_CHARS = 255  # what file systems allow; longer is garbage or an attack
_EXTENSION = re.compile(r"\.(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,6}$")
_DATES = (
    re.compile(r"(?<!\d)((?:19|20)\d\d)(\d\d)(\d\d)(?!\d)"),
    re.compile(r"(?<!\d)((?:19|20)\d\d)([-_./])(\d{1,2})\2(\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)((?:19|20)\d\d)年(\d{1,2})月(\d{1,2})日?"),
)


def is_attachment(part: Message) -> bool:
    """Return True when ``part`` is a file the sender attached, False for body and inline parts.

    ``Content-Disposition: attachment`` always counts. Otherwise a named part counts unless it
    is an inline image referenced by ``Content-ID`` (signature logos, pasted screenshots);
    unnamed text parts are body; other unnamed content (a PDF, a forwarded message) counts.
    """
    ctype = part.get_content_type()
    disposition = part.get_content_disposition()
    if disposition == "attachment":
        return True
    if ctype in REPORT_PARTS:
        return False
    inline_image = ctype.startswith("image/") and part.get("Content-ID") is not None
    if inline_image and disposition != "attachment":
        return False
    if raw_filename(part) is not None:
        return True
    return part.get_content_maintype() not in ("text", "multipart")


def raw_filename(part: Message) -> str | tuple[str | None, str | None, str] | None:
    """Return the undecoded filename parameter (RFC 2231 triple or string), or None.

    Read from the raw header with each 8-bit byte as one Latin-1 character: the stdlib
    accessor would have replaced those bytes with U+FFFD before we could decode them.
    """
    for param, header in (("filename", "Content-Disposition"), ("name", "Content-Type")):
        raw = first_raw(part, header)
        if raw is None:
            continue
        holder = SafeMessage()
        holder[header] = to_bytes(raw).decode("latin-1")
        value = holder.get_param(param, None, header)
        if value:
            return value
    return None


def filename(part: Message, defects: list[str]) -> str | None:
    """Return the decoded file name of ``part`` without any directory, or None when unnamed."""
    value = raw_filename(part)
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _language, text = value
        decoded = decode_bytes(text.encode("latin-1", "replace"), charset or None)
        if decoded.defect:
            defects.append(f"attachment name {decoded.defect}")
        name = decode_text(decoded.text, defects) if "=?" in decoded.text else decoded.text
    else:
        latin = value.encode("latin-1", "replace").decode("ascii", "surrogateescape")
        name = decode_text(latin, defects)
    base = re.split(r"[/\\]", name.strip())[-1].strip()
    if base != name.strip():
        defects.append(f"attachment name {name[:80]!r} carried a directory; kept {base[:80]!r}")
    if len(base) > MAX_FILENAME_CHARS:
        defects.append(f"attachment name of {len(base)} characters cut to {MAX_FILENAME_CHARS}")
        base = base[:MAX_FILENAME_CHARS]
    return base or None


def to_attachment(part: Message, defects: list[str]) -> Attachment:
    """Return the ``Attachment`` value of ``part`` (size counts decoded bytes)."""
    name = filename(part, defects)
    return Attachment(
        filename=name,
        content_type=part.get_content_type(),
        size=_size(part),
        version=version_in(name or ""),
        date=date_in(name or ""),
    )


def _size(part: Message) -> int:
    if isinstance(part, SafeMessage) and part.elided_size is not None:
        return part.elided_size  # a big body the parser was spared (mime.parse_tree)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    inner = part.get_payload()
    if isinstance(inner, list):  # an attached message: its serialised size
        try:
            return sum(len(m.as_bytes()) for m in inner if isinstance(m, Message))
        except (ValueError, LookupError, UnicodeError):
            return sum(len(str(m)) for m in inner)
    return 0


def version_in(name: str) -> str | None:
    """Return the version a file name carries, as ``v1.2``, or None."""
    stem = _EXTENSION.sub("", name)
    for pattern in _VERSION:
        match = pattern.search(stem)
        if match:
            return "v" + next(g for g in match.groups() if g)
    return None


def date_in(name: str) -> date | None:
    """Return the first real calendar date written in a file name, or None."""
    stem = _VERSION[0].sub("", name)  # ``v2023.10.08`` is a version, not a date
    for pattern in _DATES:
        for match in pattern.finditer(stem):
            groups = [g for g in match.groups() if g.isdigit()]
            try:
                return date(int(groups[0]), int(groups[1]), int(groups[2]))
            except ValueError:
                continue
    return None
