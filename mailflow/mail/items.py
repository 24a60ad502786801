"""Action items (责任人 + 完成时限 + 交付标准) from what the sender wrote.

Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

from datetime import datetime

from mailflow.mail.model import ActionItem, Address, ParseContext


def extract_items(
    text: str, ctx: ParseContext, sent_at: datetime | None, participants: tuple[Address, ...]
) -> tuple[ActionItem, ...]:
    """Return the action items in ``text`` (placeholder: none yet)."""
    return ()
