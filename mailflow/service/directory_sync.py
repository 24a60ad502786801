"""``mailflow directory sync``: the directory follows LDAP / Active Directory or the HR sheet.

One sync reads the whole source, compares it with the last synced directory
(``rules/organization.synced.yaml``) and, unless the removal guard refuses, writes the new file
in one atomic rename; the running services pick it up like any rule edit. What it never does:
apply half a read (a failed read changes nothing), remove more than ``max_removed_share`` of the
people on its own (the administrators are told instead), or drop the open items of people who
left (their former department's managers are told, once per person and set of items).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConfigurationError, MailflowError
from mailflow.rulebook.directory_config import DirectorySync
from mailflow.rulebook.organization import (
    SYNCED_FILE,
    Organization,
    Person,
    SyncedDirectory,
    load_organization,
    load_synced,
)
from mailflow.rulebook.roster import DirectoryRead, SyncPlan
from mailflow.service.outmail import key_of, local_time, outbox_row
from mailflow.settings import Settings
from mailflow.store import outbox, owners
from mailflow.store.db import writing
from mailflow.store.models import OutboxMail

log = logging.getLogger(__name__)

OWNER_LEFT = "owner_left"
SYNC_REFUSED = "directory_sync_refused"
RULE_NAME = "directory_sync"
_HEADER = (
    "# 由 mailflow directory sync 生成，请勿手改；organization.yaml 中手写的人员和部门优先。\n"
    "# Written by `mailflow directory sync`; do not edit. Entries written in organization.yaml\n"
    "# win over these.\n"
)
_REFUSED_LISTED = 30  # how many of the people a refused sync would remove the notice names


@dataclass(frozen=True)
class SyncReport:
    """What one sync found and did."""

    plan: SyncPlan
    source: str
    applied: bool
    path: Path
    notices: tuple[int, ...]  # outbox ids queued: leavers' items to managers, refusals to admins


def sync_directory(
    settings: Settings,
    sessions: sessionmaker[Session] | None,
    now: datetime,
    *,
    dry_run: bool = False,
    allow_removals: bool = False,
) -> SyncReport:
    """Read the directory source, compare, and (unless ``dry_run``) apply; return what happened.

    Raises ConfigurationError when organization.yaml has no ``directory_sync``, and
    DirectorySourceError when the source cannot be read whole (nothing is changed then).
    """
    rules_dir = settings.rules_dir
    current = load_organization(rules_dir)
    config = current.directory_sync
    if config is None:
        raise ConfigurationError(
            f"{rules_dir / 'organization.yaml'}: no directory_sync section; "
            "see docs/directory.md for the LDAP and HR sheet setups"
        )
    read = read_directory(config, rules_dir, settings)
    before = load_synced(rules_dir)
    plan = SyncPlan.of(read, before, config.max_removed_share)
    path = rules_dir / SYNCED_FILE
    if dry_run:
        return SyncReport(plan, read.source, False, path, ())
    if plan.refused and not allow_removals:
        log.error("directory sync refused: %s; nothing changed", plan.refused)
        ids = _tell_administrators(sessions, current, plan, read.source, now)
        return SyncReport(plan, read.source, False, path, ids)
    ids = _report_leavers(sessions, current, plan.change.left, now) if sessions else ()
    # written even when nothing changed: synced_at is when the scheduler syncs next
    local = now.astimezone(ZoneInfo(current.organization.timezone))
    write_synced(path, plan.roster.document(read.source, local.isoformat(timespec="seconds")))
    log.info(
        "directory synced from %s: %d added, %d moved, %d left, %d department(s) with new managers",
        read.source,
        len(plan.change.added),
        len(plan.change.moved),
        len(plan.change.left),
        len(plan.change.managers),
    )
    return SyncReport(plan, read.source, True, path, ids)


def read_directory(config: DirectorySync, rules_dir: Path, settings: Settings) -> DirectoryRead:
    """Return one whole read of the configured source; raise DirectorySourceError."""
    # imported here: ldap3 and openpyxl cost every process that loads them (the poller and
    # the scheduler import this module for its clock, and most never sync)
    if config.source == "ldap":
        from mailflow.directories.ldap import read_ldap

        assert config.ldap is not None  # validated: from: ldap needs an ldap section
        return read_ldap(config.ldap, settings.directory_secret())
    from mailflow.directories.sheet import read_sheet

    assert config.sheet is not None
    return read_sheet(config.sheet, rules_dir)


def write_synced(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically, after checking it loads as a synced directory."""
    SyncedDirectory.model_validate(document)  # a roster that does not load is a bug: fail here
    text = _HEADER + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def due_for_sync(config: DirectorySync, synced: SyncedDirectory | None, now: datetime) -> bool:
    """Return whether the scheduler should sync now: never synced, or ``every`` has passed."""
    if synced is None or not synced.synced_at:
        return True
    try:
        last = datetime.fromisoformat(synced.synced_at)
    except ValueError:
        return True
    return now - last >= config.interval().timedelta()


def _report_leavers(
    sessions: sessionmaker[Session] | None,
    org: Organization,
    left: Sequence[Person],
    now: datetime,
) -> tuple[int, ...]:
    if sessions is None or not left:
        return ()
    tz = ZoneInfo(org.organization.timezone)
    ids: list[int] = []
    with writing(sessions) as session:
        for person in left:
            found = owners.open_items_of(session, person.addresses())
            if not found:
                continue
            row = _owner_left_notice(org, person, found, tz, now)
            if row is not None and (new_id := outbox.add_if_new(session, row)):
                ids.append(new_id)
    return tuple(ids)


def _owner_left_notice(
    org: Organization, person: Person, found: Sequence[Any], tz: tzinfo, now: datetime
) -> OutboxMail | None:
    department = person.department
    managers = list(org.departments[department].managers) if department in org.departments else []
    to = managers or list(org.organization.administrators)
    if not to:
        log.warning("%s left with open items, but nobody to tell", person.email)
        return None
    items = [
        {
            "task": item.task,
            "owner": item.owner,
            "owner_email": item.owner_email,
            "deadline": local_time(item.due_at, tz) if item.due_at else item.deadline,
            "deliverable": item.deliverable,
            "missing": list(item.missing or []),
            "source_subject": message.subject,
        }
        for item, message in found
    ]
    info = org.organization
    context = {
        "organization": {"name": info.name, "shared_address": info.shared_address},
        "message": None,
        "recipient": {"name": "", "address": to[0]},
        "rule": {"name": RULE_NAME},
        "items": items,
        "department": department,
        "person": {"name": person.name, "address": person.email},
    }
    seed = sorted(item.id for item, _ in found)
    return outbox_row(
        key=key_of(OWNER_LEFT, person.email, *seed),
        kind=OWNER_LEFT,
        rule=RULE_NAME,
        to=to,
        cc=[],
        context=context,
        domain=info.shared_address.rpartition("@")[2],
        now=now,
    )


def _tell_administrators(
    sessions: sessionmaker[Session] | None,
    org: Organization,
    plan: SyncPlan,
    source: str,
    now: datetime,
) -> tuple[int, ...]:
    info = org.organization
    if sessions is None or not info.administrators or plan.refused is None:
        return ()
    leaving = [f"{p.name} <{p.email}>" for p in plan.change.left]
    problems = [f"{source}: {plan.refused}", *leaving[:_REFUSED_LISTED]]
    if len(leaving) > _REFUSED_LISTED:
        problems.append(f"… and {len(leaving) - _REFUSED_LISTED} more")
    context = {
        "organization": {"name": info.name, "shared_address": info.shared_address},
        "message": None,
        "recipient": {"name": "", "address": info.administrators[0]},
        "rule": {"name": RULE_NAME},
        "problems": problems,
    }
    by_day = now.date().isoformat()  # one notice a day while the source stays wrong
    row = outbox_row(
        key=key_of(SYNC_REFUSED, source, len(leaving), by_day),
        kind=SYNC_REFUSED,
        rule=RULE_NAME,
        to=list(info.administrators),
        cc=[],
        context=context,
        domain=info.shared_address.rpartition("@")[2],
        now=now,
    )
    with writing(sessions) as session:
        new_id = outbox.add_if_new(session, row)
    return (new_id,) if new_id else ()


class DirectorySyncClock:
    """The scheduler's directory sync: runs when ``every`` has passed since the last one.

    A failed or refused sync is tried again after ``RETRY_AFTER``, not on every sweep; the last
    synced directory stays in force meanwhile.
    """

    RETRY_AFTER = timedelta(hours=1)

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._next_try: datetime | None = None

    def tick(self, sessions: sessionmaker[Session], org: Organization, now: datetime) -> list[int]:
        """Sync when due; return the outbox ids of the notices it queued."""
        config = org.directory_sync
        if config is None or (self._next_try is not None and now < self._next_try):
            return []
        try:
            if not due_for_sync(config, load_synced(self._settings.rules_dir), now):
                return []
            report = sync_directory(self._settings, sessions, now)
        except MailflowError as e:
            log.error("directory sync failed; the last synced directory stays in force: %s", e)
            self._next_try = now + self.RETRY_AFTER
            return []
        self._next_try = None if report.applied else now + self.RETRY_AFTER
        return list(report.notices)
