"""What the web view changes: it mails sign-in links, and closes items and threads.

A sign-in link is mailed through the outbox like any mail mailflow sends, to an address in the
directory only (invariant 8): the link and its outbox row are written in one transaction. The
two closing actions call the CLI's repair functions with the signed-in person as ``--by``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.organization import Organization
from mailflow.service.outmail import key_of, local_time, outbox_row
from mailflow.service.repair import Who, close_item, close_thread
from mailflow.store import outbox
from mailflow.store.db import writing
from mailflow.store.web_credentials import links_since
from mailflow.web.access import Viewer, viewer_for
from mailflow.web.auth import LINK_LIFETIME, new_link

SIGN_IN_KIND = "sign_in_link"
RULE_NAME = "web sign-in"
MAX_LINKS_PER_WINDOW = 5  # per address and 15 minutes: no mail bomb through the form


def mail_sign_in_link(
    sessions: sessionmaker[Session],
    org: Organization,
    address: str,
    base_url: str,
    tz: tzinfo,
    now: datetime,
) -> list[int]:
    """Write a sign-in link and the mail carrying it; return the new outbox ids. An address
    the directory does not know, or one asked for too often, gets nothing (and the page says
    the same either way)."""
    viewer = viewer_for(org, address)
    if viewer is None:
        return []
    with writing(sessions) as session:
        recent = links_since(session, viewer.address, now - LINK_LIFETIME)
        if recent >= MAX_LINKS_PER_WINDOW:
            return []
        secret = new_link(session, viewer.address, now)
        info = org.organization
        context: dict[str, Any] = {
            "organization": {"name": info.name, "shared_address": info.shared_address},
            "message": None,
            "recipient": {"name": viewer.name, "address": viewer.address},
            "rule": {"name": RULE_NAME},
            "sign_in": {
                "url": f"{base_url.rstrip('/')}/sign-in/{secret}",
                "expires": local_time(now + LINK_LIFETIME, tz),
            },
        }
        row = outbox_row(
            key=key_of(SIGN_IN_KIND, viewer.address, now.isoformat(), secret[:8]),
            kind=SIGN_IN_KIND,
            rule=RULE_NAME,
            to=[viewer.address],
            cc=[],
            context=context,
            domain=info.shared_address.rpartition("@")[2],
            now=now,
            auto_submitted="auto-generated",
        )
        new_id = outbox.add_if_new(session, row)
    return [new_id] if new_id else []


def may_close_thread(viewer: Viewer) -> bool:
    """Closing a thread stops every reminder in it: administrators and managers only (the
    caller has checked the thread is theirs to see)."""
    return viewer.admin or bool(viewer.departments)


def close_item_as(
    sessions: sessionmaker[Session], viewer: Viewer, item_id: int, note: str | None, now: datetime
) -> str | None:
    """Close an item as ``viewer`` (recorded as ``--by``); return its task."""
    return close_item(sessions, item_id, _who(viewer, note, now))


def close_thread_as(
    sessions: sessionmaker[Session],
    viewer: Viewer,
    message_id: str,
    note: str | None,
    now: datetime,
) -> int | None:
    """Close the thread of ``message_id`` as ``viewer``; return its message count."""
    return close_thread(sessions, message_id, _who(viewer, note, now))


def _who(viewer: Viewer, note: str | None, now: datetime) -> Who:
    by = f"{viewer.name} <{viewer.address}>" if viewer.name else viewer.address
    return Who(by=by, note=(note or "").strip() or None, at=now)
