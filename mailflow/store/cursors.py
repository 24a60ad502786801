"""Checkpoints, seen keys and leases: what the poller remembers about each mailbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow.store.db import skipping_insert
from mailflow.store.models import MailboxCheckpoint, MailboxLease, MailboxSyncState, SeenKey


def checkpoint(session: Session, source: str, folder: str) -> tuple[int, int] | None:
    """Return the committed (UIDVALIDITY, last UID) of a folder, or None."""
    row = session.scalar(
        select(MailboxCheckpoint).where(
            MailboxCheckpoint.source == source, MailboxCheckpoint.folder == folder
        )
    )
    return (row.uidvalidity, row.last_uid) if row else None


def save_checkpoint(
    session: Session, source: str, folder: str, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    """Record that ``folder`` is committed up to ``last_uid`` (a new UIDVALIDITY replaces it)."""
    row = session.scalar(
        select(MailboxCheckpoint).where(
            MailboxCheckpoint.source == source, MailboxCheckpoint.folder == folder
        )
    )
    if row is None:
        session.add(
            MailboxCheckpoint(
                source=source,
                folder=folder,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                updated_at=now,
            )
        )
        return
    if row.uidvalidity == uidvalidity:
        row.last_uid = max(row.last_uid, last_uid)
    else:
        row.uidvalidity, row.last_uid = uidvalidity, last_uid
    row.updated_at = now


def sync_state(session: Session, source: str, folder: str) -> str | None:
    """Return the committed EWS sync state of a folder, or None."""
    return session.scalar(
        select(MailboxSyncState.state).where(
            MailboxSyncState.source == source, MailboxSyncState.folder == folder
        )
    )


def save_sync_state(session: Session, source: str, folder: str, state: str, now: datetime) -> None:
    """Record the EWS sync state ``folder`` is committed up to."""
    row = session.scalar(
        select(MailboxSyncState).where(
            MailboxSyncState.source == source, MailboxSyncState.folder == folder
        )
    )
    if row is None:
        session.add(MailboxSyncState(source=source, folder=folder, state=state, updated_at=now))
    else:
        row.state, row.updated_at = state, now


def seen_keys(session: Session, source: str, folder: str) -> set[str]:
    """Return the keys of ``folder`` that are committed."""
    return set(
        session.scalars(
            select(SeenKey.key).where(SeenKey.source == source, SeenKey.folder == folder)
        )
    )


def add_seen_keys(session: Session, source: str, folder: str, keys: Iterable[str]) -> None:
    """Record ``keys`` of ``folder`` as committed; keys already recorded are left alone."""
    rows = [{"source": source, "folder": folder, "key": k} for k in dict.fromkeys(keys)]
    if not rows:
        return
    session.execute(skipping_insert(session, SeenKey).values(rows).on_conflict_do_nothing())


def acquire_lease(
    session: Session,
    source: str,
    owner: str,
    now: datetime,
    ttl: timedelta,
    abandoned: Callable[[str], bool] = lambda owner: False,
) -> MailboxLease | None:
    """Take or renew the lease on ``source``; return it, or None while another owner holds it.

    A lease is free when it expired or when ``abandoned(owner)`` says its holder is gone.
    Taking it over increments ``epoch``, the fencing token that makes a stalled former
    owner's writes fail.
    """
    query = select(MailboxLease).where(MailboxLease.source == source).with_for_update()
    lease = session.scalar(query)
    if lease is None:
        # two pollers starting together both find no row: one insert wins, the other's does
        # nothing, and both go on with the row that is there (a plain INSERT would fail one)
        row = {"source": source, "owner": owner, "epoch": 1, "expires_at": now + ttl}
        session.execute(skipping_insert(session, MailboxLease).values(row).on_conflict_do_nothing())
        lease = session.scalar(query.execution_options(populate_existing=True))
        assert lease is not None
        if lease.owner == owner:
            return lease
    if lease.owner != owner and lease.expires_at > now and not abandoned(lease.owner):
        return None
    if lease.owner != owner:
        lease.owner, lease.epoch = owner, lease.epoch + 1
    lease.expires_at = now + ttl
    return lease


def renew_lease(
    session: Session, source: str, owner: str, epoch: int, now: datetime, ttl: timedelta
) -> bool:
    """Extend the lease when ``owner`` still holds it at ``epoch``; return whether it does.

    The row stays locked until the transaction ends, so the work done in it is fenced.
    """
    lease = session.scalar(
        select(MailboxLease).where(MailboxLease.source == source).with_for_update()
    )
    if lease is None or (lease.owner, lease.epoch) != (owner, epoch) or lease.expires_at <= now:
        return False
    lease.expires_at = now + ttl
    return True


def release_lease(session: Session, source: str, owner: str) -> None:
    """Give the lease up so another poller can start at once."""
    session.execute(
        update(MailboxLease)
        .where(MailboxLease.source == source, MailboxLease.owner == owner)
        .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
    )


def lease_holder(session: Session, source: str) -> MailboxLease | None:
    """Return the lease row of ``source``, whoever holds it."""
    return session.get(MailboxLease, source)
