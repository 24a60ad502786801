"""One log event per mail stored, decided and sent, each with its Message-ID.

The events go to the ``mailflow.events`` logger at INFO with ``event`` and ``message_id``
fields (``MAILFLOW_LOG_FORMAT=json`` makes them keys of each line), so a log collector can
follow a mail from the mailbox to the answers it caused. Nothing here is read back: the
database stays the record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from mailflow.store import health
from mailflow.store.models import STATUS_STORED

log = logging.getLogger("mailflow.events")


def tell_stored(
    sessions: sessionmaker[Session],
    source: str,
    stored: Sequence[tuple[str, str, str | None]],
    outbox_ids: Sequence[int],
) -> None:
    """Log each newly stored mail (Message-ID, status, quarantine reason) and what was decided
    about it: the outbox rows (kind, rule, the answer's own Message-ID) it caused."""
    if not stored or not log.isEnabledFor(logging.INFO):
        return
    for message_id, status, reason in stored:
        extra = {"event": status, "message_id": message_id, "source": source}
        if reason:
            extra["reason"] = reason
        log.info("%s %s", status, message_id, extra=extra)
    with sessions() as session:
        caused = health.outbox_by_message(session, outbox_ids)
    for message_id, status, _ in stored:
        if status != STATUS_STORED:
            continue
        answers = caused.get(message_id, [])
        log.info(
            "decided %s: %d mail(s) to send",
            message_id,
            len(answers),
            extra={
                "event": "decided",
                "message_id": message_id,
                "outbox": [{"id": a[0], "kind": a[1], "rule": a[2]} for a in answers],
            },
        )


def tell_sent(outbox_id: int, kind: str, message_id: str, in_reply_to: str | None) -> None:
    """Log that an outbox row went out (its own Message-ID and the mail it answers)."""
    log.info(
        "sent %s (%s, outbox %d)",
        message_id,
        kind,
        outbox_id,
        extra={
            "event": "sent",
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "outbox_id": outbox_id,
            "kind": kind,
        },
    )
