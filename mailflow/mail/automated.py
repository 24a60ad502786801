"""Tell mail that must never get an automatic answer (DESIGN §7.7, LIBRARIES §8), and why.

Headers decide first (RFC 3834 ``Auto-Submitted``, vendor markers, list and bulk headers,
delivery reports, envelope and sender), then the subject, anchored at its start, catches
out-of-office and bounce notices from clients that mark nothing. ``X-Auto-Response-Suppress``
on inbound mail is a request, not a marker (MS-OXCMAIL; sisimai#491), so it is ignored.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message

from mailflow.mail.header import unfold
from mailflow.mail.mime import leaves
from mailflow.mail.model import Address

# header -> reason when present with any value except these
_VENDOR_MARKERS = (
    ("X-QQ-AUTO-REPLY", "X-QQ-AUTO-REPLY"),
    ("X-Autoreply", "X-Autoreply"),
    ("X-Autorespond", "X-Autorespond"),
    ("X-Failed-Recipients", "delivery report"),
    ("List-Id", "List-Id"),
    ("List-Unsubscribe", "List-Unsubscribe"),
    ("List-Post", "List-Post"),
)
# Exchange hints: signals seen on generated mail, weaker than the subject, so asked last
_EXCHANGE_MARKERS = (
    ("X-MS-Exchange-Generated-Message-Source", "X-MS-Exchange-Generated-Message-Source"),
    ("X-MS-Exchange-Inbox-Rules-Loop", "X-MS-Exchange-Inbox-Rules-Loop"),
)
_FALSE_VALUES = frozenset(("no", "false", "0", "off"))
_BULK = frozenset(("bulk", "junk", "list"))
_REPORTS = {
    "delivery-status": "delivery report",
    "disposition-notification": "read receipt",
    "feedback-report": "feedback report",
}
_REPORT_PARTS = {
    "message/delivery-status": "delivery report",
    "message/global-delivery-status": "delivery report",
    "message/disposition-notification": "read receipt",
    "message/feedback-report": "feedback report",
}
_NO_REPLY = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply)([-_.+].*)?$")
_OOO_WORDS = (
    r"(自动回复|自動回覆|自動回復|自动答复|自動答覆|自动应答|休假自动回复"
    r"|automatic reply|auto[- ]?reply|auto[- ]?response|autoresponse|auto|out of (the )?office"
    r"|abwesenheitsnotiz|automatische antwort|réponse automatique|automatyczna odpowiedź"
    r"|respuesta automática|risposta automatica)"
)
# "自动回复: <original subject>" or a bracketed tag "【自动回复】..." at the very start
_OUT_OF_OFFICE = re.compile(
    rf"^\s*(?:[【\[(（]\s*{_OOO_WORDS}\s*[】\])）]|{_OOO_WORDS}\s*[:：])", re.IGNORECASE
)
_OUT_OF_OFFICE_PHRASE = re.compile(
    r"^\s*(out of (the )?office\b|ooo\b|(我)?(正在)?休假中?\s*[:：]|(我)?不在(办公室|辦公室)"
    r"|(我)?(正在)?休假.{0,10}(自动|自動))",
    re.IGNORECASE,
)
_READ_RECEIPT_SUBJECT = re.compile(
    r"^\s*(read|not read|已读|已讀|未读|已读回执|gelesen|lu|leído|letto)\s*[:：]", re.IGNORECASE
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|returned mail|failure notice|delivery failure|系统退信|退信|邮件投递失败|未能送达)",
    re.IGNORECASE,
)


def automated_reason(
    msg: Message, sender: Address | None, subject: str, own: Iterable[str]
) -> str | None:
    """Return why ``msg`` is automatic mail (a short code-like phrase), or None for a person's."""
    first: dict[str, str] = {}  # each header's first raw value, by lower-case name
    for name, value in msg.raw_items():
        first.setdefault(name.lower(), value)
    return (
        _header_reason(first)
        or _report_reason(msg)
        or _sender_reason(first, sender, own)
        or _subject_reason(subject)
        or _marker_reason(first, _EXCHANGE_MARKERS)
    )


def _header_reason(first: dict[str, str]) -> str | None:
    auto = _value(first, "Auto-Submitted")
    if auto is not None and auto.split(";")[0].strip().lower() not in ("", "no"):
        return f"Auto-Submitted: {auto.split(';')[0].strip().lower()}"
    marker = _marker_reason(first, _VENDOR_MARKERS)
    if marker is not None:
        return marker
    precedence = (_value(first, "Precedence") or "").strip().lower()
    return f"Precedence: {precedence}" if precedence in _BULK else None


def _marker_reason(first: dict[str, str], markers: tuple[tuple[str, str], ...]) -> str | None:
    for header, reason in markers:
        value = _value(first, header)
        if value is not None and value.strip().lower() not in _FALSE_VALUES:
            return reason
    return None


def _report_reason(msg: Message) -> str | None:
    if msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type") or "").lower()
        return _REPORTS.get(report_type, "delivery report")
    for leaf in leaves(msg):
        reason = _REPORT_PARTS.get(leaf.part.get_content_type())
        if reason:
            return reason
    return _REPORT_PARTS.get(msg.get_content_type())


def _sender_reason(first: dict[str, str], sender: Address | None, own: Iterable[str]) -> str | None:
    return_path = _value(first, "Return-Path")
    if return_path is not None and re.fullmatch(r"\s*<\s*>\s*", return_path):
        return "empty Return-Path"
    if sender is None:
        return None
    local = sender.address.split("@")[0].lower()
    if local in ("mailer-daemon", "mailer_daemon", "mailerdaemon"):
        return "sender is mailer-daemon"
    if local == "postmaster":
        return "sender is postmaster"
    if _NO_REPLY.match(local):
        return "no-reply sender"
    if sender.address.lower() in {a.lower() for a in own}:
        return "own shared address"
    return None


def _subject_reason(subject: str) -> str | None:
    if _OUT_OF_OFFICE.match(subject) or _OUT_OF_OFFICE_PHRASE.match(subject):
        return "out-of-office"
    if _BOUNCE_SUBJECT.match(subject):
        return "delivery report"
    if _READ_RECEIPT_SUBJECT.match(subject):
        return "read receipt"
    return None


def _value(first: dict[str, str], name: str) -> str | None:
    """Return the first value of header ``name`` as ``first_raw`` reads it, stripped."""
    value = first.get(name.lower())
    return None if value is None else unfold(str(value)).strip()
