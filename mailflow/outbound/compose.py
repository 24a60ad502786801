"""Build the RFC 5322 bytes of an outgoing mail from a rendered template (DESIGN.md §7 inv. 3, 7).

Every mail carries From and Reply-To the shared address, the thread's ``In-Reply-To`` and
``References``, a Message-ID derived from its outbox row's idempotency key (so a resend after a
crash is the same mail), ``Auto-Submitted`` and ``X-Auto-Response-Suppress: All``. Header values
are checked for line breaks and encoded as the ``email`` package encodes them (RFC 2047, UTF-8);
bodies are UTF-8 in base64, which any SMTP server accepts. With attachments the mail becomes
multipart/mixed around the text (or text-and-HTML alternative) part; file names are encoded per
RFC 2231, and every boundary derives from the Message-ID, so a resend stays byte-identical.

The bytes are exactly those the stdlib ``email`` package writes for the same mail
(``EmailMessage`` with ``policy.SMTP``; ``tests/outbound/test_compose.py`` holds the two
equal on many varied inputs), but written directly: a header that is plain ASCII and fits on
its line is written as it is, every other header (addresses, non-ASCII subjects, attachment
parameters) is folded by the ``email`` package once per distinct value and remembered. The
header registry costs about a millisecond and a half per mail otherwise, a quarter of a
delivery worker's CPU. Decides nothing about who gets what; imports nothing of mailflow but
``errors`` and its own package.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from functools import lru_cache

from mailflow.errors import ConfigurationError
from mailflow.outbound.attachments import Attachment
from mailflow.outbound.render import RenderedMail

AUTO_SUBMITTED_VALUES = frozenset({"auto-replied", "auto-generated"})
MAX_REFERENCES = 20  # RFC 5322 §3.6.4 allows trimming; keep the root and the latest ids
MESSAGE_ID_PREFIX = "mailflow"
_MSG_ID = re.compile(r"^<[^<>\s\"]+@[^<>\s\"]+>$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_BREAK = re.compile(r"[\r\n\x00\u2028\u2029\x85]")
# CRLF line ends and 78-column folding: the form SMTP carries and .eml readers expect
MAIL_POLICY = policy.SMTP
_NL = b"\r\n"
_MAX_LINE = 78  # MAIL_POLICY.max_line_length
_B64_CHUNK = _MAX_LINE // 4 * 3  # 57 bytes a line: 76 base64 characters, as the email package
# what the email package writes unchanged when the line fits: ids of atoms and dots, and
# ASCII words separated by single spaces without anything that looks like an encoded word
_PLAIN_ID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>")
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
_TEXT_HEAD = b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
_HEADER_CACHE = 4096  # distinct folded header values remembered (addresses, subjects, files)

Recipient = str | tuple[str, str]  # "a@b" or (display name, "a@b")


def outgoing_message_id(key: str, domain: str) -> str:
    """Return ``<mailflow.HASH@domain>``, the same for the same idempotency key, every time."""
    if not _DOMAIN.match(domain):
        raise ConfigurationError(f"not a mail domain for a Message-ID: {domain!r}")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{MESSAGE_ID_PREFIX}.{digest}@{domain.lower()}>"


def compose(
    rendered: RenderedMail,
    *,
    from_addr: str,
    from_name: str,
    to: Sequence[Recipient],
    cc: Sequence[Recipient] = (),
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-replied",
    date: datetime,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """Return the mail as bytes with CRLF line ends; raise ValueError for an unsafe header value.

    ``attachments`` follow the body in order, each base64 with ``Content-Disposition: attachment``.
    """
    if auto_submitted not in AUTO_SUBMITTED_VALUES:
        raise ValueError(f"Auto-Submitted must be one of {sorted(AUTO_SUBMITTED_VALUES)}")
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date of a mail must be timezone-aware")
    if not to:
        raise ValueError("a mail needs at least one To recipient")
    head = [
        _addresses("From", (_recipient((from_name, from_addr)),)),
        _addresses("Reply-To", (_recipient(from_addr),)),
        _addresses("To", tuple(_recipient(r) for r in to)),
    ]
    if cc:
        head.append(_addresses("Cc", tuple(_recipient(r) for r in cc)))
    head.append(_text("Subject", _one_line(rendered.subject, "Subject")))
    head.append(_text("Date", format_datetime(date)))
    head.append(_ids("Message-ID", [_message_id(message_id)]))
    head.extend(_thread(in_reply_to, references))
    head.append(b"Auto-Submitted: " + auto_submitted.encode("ascii") + _NL)
    head.append(b"X-Auto-Response-Suppress: All\r\n")
    parts = [_text_part("plain", rendered.text)]
    if rendered.html is not None:
        parts.append(_text_part("html", rendered.html))
    files = [_attachment_part(a) for a in attachments]
    if len(parts) == 1 and not files:  # the text alone: its headers go on the mail itself
        return b"".join(head) + parts[0][0] + b"MIME-Version: 1.0\r\n" + _NL + parts[0][1]
    head.append(b"MIME-Version: 1.0\r\n")
    if not files:
        return b"".join(head) + _multipart("alternative", _boundary(message_id, ""), parts)
    body = parts[0]
    if len(parts) > 1:
        boundary = _boundary(message_id, "")
        body = (_content_type_multipart("alternative", boundary), _parts(boundary, parts))
    mixed = _boundary(message_id, "mixed")
    return b"".join(head) + _multipart("mixed", mixed, [body, *files])


def _thread(in_reply_to: str | None, references: Sequence[str]) -> list[bytes]:
    refs = [_message_id(r) for r in references]
    lines = []
    if in_reply_to is not None:
        parent = _message_id(in_reply_to)
        lines.append(_ids("In-Reply-To", [parent]))
        if parent not in refs:
            refs.append(parent)
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    if refs:
        lines.append(_ids("References", refs))
    return lines


# ------------------------------------------------------------------ headers


def _text(name: str, value: str) -> bytes:
    """An unstructured header (Subject, Date): as it is when plain and short, else folded."""
    fits = len(name) + 2 + len(value) <= _MAX_LINE
    if fits and _PLAIN_TEXT.fullmatch(value) and "=?" not in value:
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


def _ids(name: str, ids: list[str]) -> bytes:
    """Message-ID, In-Reply-To, References: as they are when plain ids fit on the line."""
    value = " ".join(ids)
    if len(name) + 2 + len(value) <= _MAX_LINE and all(_PLAIN_ID.fullmatch(i) for i in ids):
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


def _addresses(name: str, recipients: tuple[tuple[str, str, str], ...]) -> bytes:
    return _folded_addresses(name, recipients)


@lru_cache(maxsize=_HEADER_CACHE)
def _folded(name: str, value: str) -> bytes:
    """Return the header line as the email package folds it (once per distinct value)."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg[name] = value
    return _header_lines(msg)


@lru_cache(maxsize=_HEADER_CACHE)
def _folded_addresses(name: str, recipients: tuple[tuple[str, str, str], ...]) -> bytes:
    msg = EmailMessage(policy=MAIL_POLICY)
    msg[name] = [Address(display_name=n, username=u, domain=d) for n, u, d in recipients]
    return _header_lines(msg)


def _header_lines(msg: MIMEPart) -> bytes:
    return b"".join(MAIL_POLICY.fold_binary(h, v) for h, v in msg.raw_items())


def _recipient(recipient: Recipient) -> tuple[str, str, str]:
    """Return (display name, local part, domain) of a checked address."""
    name, addr = ("", recipient) if isinstance(recipient, str) else recipient
    addr = _one_line(addr, "address").strip()
    if addr.count("@") != 1 or any(c in addr for c in ' <>,;"()'):
        raise ValueError(f"not a mail address: {addr!r}")
    local, domain = addr.split("@")
    return _one_line(name, "display name"), local, domain


# ------------------------------------------------------------------ body


def _text_part(subtype: str, text: str) -> tuple[bytes, bytes]:
    """Return (headers, body) of a UTF-8 text part in base64, as ``set_content`` makes it."""
    data = _NL.join(_crlf_free(text).encode("utf-8").splitlines()) + _NL
    return _TEXT_HEAD % subtype.encode("ascii"), _base64(data)


def _attachment_part(attachment: Attachment) -> tuple[bytes, bytes]:
    return _attachment_head(attachment.content_type, attachment.filename), _base64(attachment.data)


@lru_cache(maxsize=_HEADER_CACHE)
def _attachment_head(content_type: str, filename: str) -> bytes:
    """Return an attachment part's headers as ``add_attachment`` writes them (they depend on
    its type and file name only, not on its bytes)."""
    maintype, subtype, params = _content_type(content_type)
    msg = EmailMessage(policy=MAIL_POLICY)
    # the name parameter too: some older clients read only Content-Type's name
    msg.add_attachment(
        b"",
        maintype=maintype,
        subtype=subtype,
        filename=filename,
        params={**params, "name": filename},
    )
    (part,) = msg.iter_parts()
    del part["MIME-Version"]  # only the top level carries it (RFC 2045 §4)
    return _header_lines(part)


def _base64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended by CRLF (``email``'s ``_encode_base64``)."""
    return b"".join(
        binascii.b2a_base64(data[i : i + _B64_CHUNK], newline=False) + _NL
        for i in range(0, len(data), _B64_CHUNK)
    )


def _content_type_multipart(subtype: str, boundary: str) -> bytes:
    """Content-Type of a multipart; the email package breaks it before the boundary when the
    line would pass 78 characters (alternative does with the 34-character boundary)."""
    line = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(line) <= _MAX_LINE:
        return line.encode("ascii") + _NL
    return f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode("ascii")


def _multipart(subtype: str, boundary: str, parts: list[tuple[bytes, bytes]]) -> bytes:
    return _content_type_multipart(subtype, boundary) + _NL + _parts(boundary, parts)


def _parts(boundary: str, parts: list[tuple[bytes, bytes]]) -> bytes:
    """Return the body of a multipart: each part after its delimiter, then the close."""
    delimiter = b"--" + boundary.encode("ascii")
    out = [delimiter + _NL]
    for n, (head, body) in enumerate(parts):
        if n:
            out.append(_NL + delimiter + _NL)
        out.append(head + _NL + body)
    out.append(_NL + delimiter + b"--" + _NL)
    return b"".join(out)


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """Split ``type/subtype; key=value`` into its type, subtype and parameters."""
    head, *rest = (piece.strip() for piece in _one_line(value, "content type").split(";"))
    maintype, _, subtype = head.lower().partition("/")
    if not maintype or not subtype or maintype == "multipart":
        raise ValueError(f"not a content type for an attachment: {value!r}")
    params: dict[str, str] = {}
    for piece in rest:
        key, sep, param = piece.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad parameter {piece!r} in content type {value!r}")
        params[key.strip().lower()] = param.strip().strip('"')
    return maintype, subtype, params


def _boundary(message_id: str, level: str) -> str:
    """Return a boundary fixed by the Message-ID; "=_" never occurs in base64 bodies."""
    seed = message_id if not level else f"{level}:{message_id}"
    return "=_" + hashlib.sha256(seed.encode("ascii")).hexdigest()[:32]


def _crlf_free(text: str) -> str:
    """Normalise line ends to LF; the body is written with CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _one_line(value: str, what: str) -> str:
    if _BREAK.search(value):
        raise ValueError(f"{what} contains a line break")
    return value


def _message_id(value: str) -> str:
    value = value.strip()
    if not _MSG_ID.match(value):
        raise ValueError(f"not a Message-ID: {value!r}")
    return value
