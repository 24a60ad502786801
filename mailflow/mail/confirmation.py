"""Confirmations (已阅 / 有异议 / 已完成) read from what the sender wrote, negations minded.

Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

from mailflow.mail.model import Confirmation


def read_confirmation(new_text: str) -> Confirmation | None:
    """Return what ``new_text`` confirms, or None (placeholder: nothing yet)."""
    return None
