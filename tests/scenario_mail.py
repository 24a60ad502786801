"""Building scenario mail for clock and fortnight tests: Shanghai times, threaded replies."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """Return a Shanghai time from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def scenario_mail(
    prefix: str, n: int, sender: str, to: str, subject: str, body: str, date: str, reply_to: int = 0
) -> bytes:
    """Return mail ``<prefix-n@example.com>`` copied to the shared address, dated ``date``
    (Shanghai), answering ``<prefix-reply_to@example.com>`` when ``reply_to`` is given."""
    m = EmailMessage()
    m["From"], m["To"], m["Cc"] = sender, to, "协调台 <coord@example.com>"
    m["Subject"], m["Message-ID"] = subject, f"<{prefix}-{n}@example.com>"
    m["Date"] = at(date).strftime("%a, %d %b %Y %H:%M:%S +0800")
    if reply_to:
        m["In-Reply-To"] = m["References"] = f"<{prefix}-{reply_to}@example.com>"
    m.set_content(body)
    return m.as_bytes(policy=SMTP)
