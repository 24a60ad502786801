"""``suggest_subject``: the subject a sender should have written, 【事由】部门-主题.

Built only from what the sender wrote: the reason and topic read from the subject, the
department named there or else the sender's own. A part that cannot be known stays as its
placeholder (【事由】, 部门) so the sender sees what to fill in. Pure.
"""

from __future__ import annotations

from mailflow.mail.model import ParsedMessage

REASON_PLACEHOLDER, DEPARTMENT_PLACEHOLDER, TOPIC_PLACEHOLDER = "事由", "部门", "主题"


def suggest_subject(parsed: ParsedMessage, sender_department: str | None) -> str:
    """Return ``【事由】部门-主题`` for ``parsed``, filling gaps from the sender's department."""
    subject = parsed.subject
    reason = (subject.reason or "").strip() or REASON_PLACEHOLDER
    department = subject.department or sender_department or DEPARTMENT_PLACEHOLDER
    topic = (subject.topic or "").strip() or TOPIC_PLACEHOLDER
    return f"【{reason}】{department}-{topic}"
