"""Whether a message asks its recipients to confirm it (已阅 or an objection).

Minutes (会议纪要) always do, as the guide says; other mail does when it asks in words
(请确认, 请回复已阅, 阅后请回复). Rules may ask for confirmation of more kinds of mail.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re

from mailflow.mail.model import ParsedMessage

CONFIRMED_REASONS = frozenset({"会议纪要", "会议记录", "纪要"})
_ASKS = re.compile(
    r"(请|烦请|麻烦)(各位|大家|您|你)?[^。\n]{0,12}(确认|回复\s*[“\"「]?已阅|回复收到)"
    r"|阅后(请)?回复|please\s+(confirm|acknowledge)",
    re.IGNORECASE,
)


def asks_for_confirmation(parsed: ParsedMessage) -> bool:
    """Return True when ``parsed`` asks every recipient to confirm it."""
    if parsed.automated or parsed.subject.prefixes:
        return False  # replies and automatic mail answer requests; they do not make them
    if parsed.subject.reason in CONFIRMED_REASONS:
        return True
    return bool(_ASKS.search(parsed.new_text))
