"""The reference composer: the stdlib ``email`` package builds the mail (mailflow's composer
before it wrote headers directly). ``test_compose.py`` holds ``compose`` byte-for-byte equal
to it on many inputs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

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
    msg = EmailMessage(policy=MAIL_POLICY)
    sender = _address((from_name, from_addr))
    msg["From"] = sender
    msg["Reply-To"] = _address(from_addr)
    msg["To"] = [_address(r) for r in to]
    if cc:
        msg["Cc"] = [_address(r) for r in cc]
    msg["Subject"] = _one_line(rendered.subject, "Subject")
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = _message_id(message_id)
    _thread(msg, in_reply_to, references)
    msg["Auto-Submitted"] = auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    _body(msg, rendered, message_id)
    _attach(msg, attachments, message_id)
    return msg.as_bytes(policy=MAIL_POLICY)


def _thread(msg: EmailMessage, in_reply_to: str | None, references: Sequence[str]) -> None:
    refs = [_message_id(r) for r in references]
    if in_reply_to is not None:
        msg["In-Reply-To"] = _message_id(in_reply_to)
        if msg["In-Reply-To"] not in refs:
            refs.append(msg["In-Reply-To"])
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    if refs:
        msg["References"] = " ".join(refs)


def _body(msg: EmailMessage, rendered: RenderedMail, message_id: str) -> None:
    msg.set_content(_crlf_free(rendered.text), subtype="plain", charset="utf-8", cte="base64")
    if rendered.html is None:
        return
    msg.add_alternative(_crlf_free(rendered.html), subtype="html", charset="utf-8", cte="base64")
    # a boundary from the Message-ID keeps a resend byte-identical
    msg.set_boundary(_boundary(message_id, ""))
    for part in msg.iter_parts():
        del part["MIME-Version"]  # only the top level carries it (RFC 2045 §4)


def _attach(msg: EmailMessage, attachments: Sequence[Attachment], message_id: str) -> None:
    """Wrap the body in multipart/mixed and append each attachment after it."""
    if not attachments:
        return  # no wrapper: a mail without files is the same bytes as before attachments existed
    msg.make_mixed()
    for attachment in attachments:
        maintype, subtype, params = _content_type(attachment.content_type)
        # the name parameter too: some older clients read only Content-Type's name
        msg.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params={**params, "name": attachment.filename},
        )
    msg.set_boundary(_boundary(message_id, "mixed"))
    for part in msg.iter_parts():
        del part["MIME-Version"]


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
    """Normalise line ends to LF; the policy writes CRLF itself."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _address(recipient: Recipient) -> Address:
    name, addr = ("", recipient) if isinstance(recipient, str) else recipient
    addr = _one_line(addr, "address").strip()
    if addr.count("@") != 1 or any(c in addr for c in ' <>,;"()'):
        raise ValueError(f"not a mail address: {addr!r}")
    local, domain = addr.split("@")
    return Address(display_name=_one_line(name, "display name"), username=local, domain=domain)


def _one_line(value: str, what: str) -> str:
    if _BREAK.search(value):
        raise ValueError(f"{what} contains a line break")
    return value


def _message_id(value: str) -> str:
    value = value.strip()
    if not _MSG_ID.match(value):
        raise ValueError(f"not a Message-ID: {value!r}")
    return value
