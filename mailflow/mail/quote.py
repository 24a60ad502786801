"""``new_text``: what the sender wrote, with quoted history and signature removed.

Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

from mailflow.mail.body import BodySources


def new_text(sources: BodySources, body_text: str, defects: list[str]) -> str:
    """Return the part of the body the sender wrote (placeholder: the whole body)."""
    return body_text
