"""Instants as people and scripts read them: ISO 8601 in the organisation's timezone.

The database keeps UTC; everything shown (tables, ``--json``, logs, a sent mail's Date) is
turned into the organisation's local time with its offset here, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def local_iso(moment: datetime | None, tz: tzinfo = UTC) -> str | None:
    """Return ``moment`` as ISO 8601 with its offset in ``tz`` (None stays None)."""
    return moment.astimezone(tz).isoformat() if moment is not None else None
