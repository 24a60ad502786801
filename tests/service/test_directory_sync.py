"""``directory sync`` end to end: a real slapd, the rules folder, the database and the outbox."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import DirectorySourceError
from mailflow.rulebook.organization import SYNCED_FILE, load_organization, load_synced
from mailflow.service.directory_sync import (
    OWNER_LEFT,
    SYNC_REFUSED,
    DirectorySyncClock,
    due_for_sync,
    sync_directory,
)
from mailflow.service.runtime import load_rules
from mailflow.settings import Settings, load_settings
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.models import ITEM_OPEN, ActionItemRecord, Message, OutboxMail
from tests.directories.people import STAFF_DN, company
from tests.servers.slapd import SERVICE_DN, SERVICE_PASSWORD, SlapdServer
from tests.servers.tcpcut import cutting_relay

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PEOPLE = company(60)


def _sync_section(url: str, cafile: str, starttls: bool = True) -> str:
    return f"""
directory_sync:
  from: ldap
  every: 24h
  ldap:
    url: {url}
    starttls: {str(starttls).lower()}
    cafile: {cafile}
    bind_dn: "{SERVICE_DN}"
    base_dn: "{STAFF_DN}"
    filter: "(objectClass=inetOrgPerson)"
    page_size: 25
"""


@pytest.fixture
def rules(tmp_path: Path, small_slapd: SlapdServer) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(REPO / "rules", folder)
    org = folder / "organization.yaml"
    org.write_text(
        org.read_text(encoding="utf-8") + _sync_section(small_slapd.url, small_slapd.cafile),
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def settings(rules: Path, sqlite_url: str) -> Settings:
    return load_settings(
        rules_dir=rules,
        templates_dir=REPO / "templates",
        database_url=sqlite_url,
        directory_password=SERVICE_PASSWORD,
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _disable(server: SlapdServer, *numbers: int) -> None:
    by_n = {p.n: p for p in PEOPLE}
    server.ldapmodify("".join(
        f"dn: {by_n[n].dn}\nchangetype: modify\nreplace: userAccountControl\n"
        "userAccountControl: 514\n\n" for n in numbers
    ))  # fmt: skip


def _open_item(sessions: sessionmaker[Session], owner_email: str, task: str) -> None:
    with writing(sessions) as session:
        message = Message(
            message_id=f"<task-{owner_email}@example.com>", status="stored", source="test",
            folder="INBOX", source_key=owner_email, received_at=NOW, date=NOW,
            subject="【任务分配】技术部-年终盘点", from_address="li.si@example.com",
        )  # fmt: skip
        session.add(message)
        session.flush()
        session.add(ActionItemRecord(
            message_pk=message.id, position=1, task=task, owner="员工", owner_email=owner_email,
            deadline="2026-12-20", deliverable="盘点表", missing=[], status=ITEM_OPEN,
            created_at=NOW,
        ))  # fmt: skip


def _outbox(sessions: sessionmaker[Session], kind: str) -> list[OutboxMail]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMail).where(OutboxMail.kind == kind)))


def test_first_sync_writes_a_directory_the_rules_accept(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The synced people and managers join the hand-written directory and the rules validate."""
    report = sync_directory(settings, sessions, NOW)
    assert report.applied and (settings.rules_dir / SYNCED_FILE).is_file()
    active = [p for p in PEOPLE if p.email and not p.disabled]
    assert len(report.plan.change.added) == len(active)
    org = load_organization(settings.rules_dir)
    emails = {p.email for p in org.people}
    assert {p.email for p in active} <= emails and "li.si@example.com" in emails
    head = next(p for p in PEOPLE if p.department == "物流部" and p.manager == 0)
    assert org.departments["物流部"].managers == [head.email]
    # 技术部 is written by hand in organization.yaml: its managers stay the hand-written ones
    assert org.departments["技术部"].managers == ["li.si@example.com"]
    load_rules(settings)  # rules and templates, as `mailflow rules check` checks them
    again = sync_directory(settings, sessions, NOW)
    assert again.applied and again.plan.change.empty


def test_dry_run_changes_nothing(settings: Settings) -> None:
    """A dry run reports what would be added and writes no file."""
    report = sync_directory(settings, None, NOW, dry_run=True)
    assert not report.applied and report.plan.change.added
    assert not (settings.rules_dir / SYNCED_FILE).exists()


def test_leaver_with_open_items_is_reported_to_the_former_department(
    settings: Settings, sessions: sessionmaker[Session], small_slapd: SlapdServer
) -> None:
    """Someone disabled in the directory leaves the roster; their open items go, once, to the
    managers of the department they were in."""
    sync_directory(settings, sessions, NOW)
    leaver = next(p for p in PEOPLE if p.department == "物流部" and p.manager and p.email
                  and not p.disabled and p.manager != 0)  # fmt: skip
    head = next(p for p in PEOPLE if p.department == "物流部" and p.manager == 0)
    _open_item(sessions, leaver.email or "", "完成年终仓库盘点")
    _disable(small_slapd, leaver.n)
    report = sync_directory(settings, sessions, NOW)
    assert [p.email for p in report.plan.change.left] == [leaver.email]
    (notice,) = _outbox(sessions, OWNER_LEFT)
    assert notice.to_addrs == [head.email]
    assert notice.context["person"]["address"] == leaver.email
    assert [i["task"] for i in notice.context["items"]] == ["完成年终仓库盘点"]
    assert leaver.email not in {p.email for p in load_organization(settings.rules_dir).people}
    sync_directory(settings, sessions, NOW)  # the next sync tells nobody again
    assert len(_outbox(sessions, OWNER_LEFT)) == 1


def test_removal_guard_stops_a_sync_and_tells_the_administrators(
    settings: Settings, sessions: sessionmaker[Session], small_slapd: SlapdServer
) -> None:
    """Losing more than 10 % of the people stops the sync: the file stays, the administrators
    hear once that day, and --allow-removals applies it."""
    sync_directory(settings, sessions, NOW)
    before = (settings.rules_dir / SYNCED_FILE).read_bytes()
    victims = [p.n for p in PEOPLE if p.email and not p.disabled and p.manager][:8]
    _disable(small_slapd, *victims)
    report = sync_directory(settings, sessions, NOW)
    assert not report.applied and "8 of" in (report.plan.refused or "")
    assert (settings.rules_dir / SYNCED_FILE).read_bytes() == before
    sync_directory(settings, sessions, NOW)
    (notice,) = _outbox(sessions, SYNC_REFUSED)
    assert notice.to_addrs == ["admin@example.com"]
    assert len(notice.context["problems"]) == 1 + len(victims)
    forced = sync_directory(settings, sessions, NOW, allow_removals=True)
    assert forced.applied and len(forced.plan.change.left) == len(victims)


def test_a_connection_dropped_mid_sync_changes_nothing(
    settings: Settings, sessions: sessionmaker[Session], small_slapd: SlapdServer, rules: Path
) -> None:
    """A read cut off after its first page raises and leaves the last synced file as it was."""
    sync_directory(settings, sessions, NOW)
    before = (rules / SYNCED_FILE).read_bytes()
    with cutting_relay(small_slapd.port, cut_after_bytes=4_000) as port:
        org = rules / "organization.yaml"
        text = org.read_text(encoding="utf-8")
        org.write_text(text.replace(small_slapd.url, f"ldap://127.0.0.1:{port}")
                       .replace("starttls: true", "starttls: false"), encoding="utf-8")  # fmt: skip
        with pytest.raises(DirectorySourceError):
            sync_directory(settings, sessions, NOW)
    assert (rules / SYNCED_FILE).read_bytes() == before


def test_the_scheduler_syncs_when_the_interval_has_passed(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """A directory never synced is due; one synced less than `every` ago is not."""
    org = load_organization(settings.rules_dir)
    assert org.directory_sync is not None
    assert due_for_sync(org.directory_sync, None, NOW)
    sync_directory(settings, sessions, NOW)
    synced = load_synced(settings.rules_dir)
    assert not due_for_sync(org.directory_sync, synced, NOW.replace(hour=20))
    assert due_for_sync(org.directory_sync, synced, NOW.replace(day=8, hour=9))


@pytest.mark.parametrize(("lang", "words"), [("zh-CN", "已离职或账号停用"), ("en", "has left")])
def test_notices_render_in_each_language(
    settings: Settings,
    sessions: sessionmaker[Session],
    small_slapd: SlapdServer,
    lang: str,
    words: str,
) -> None:
    """The leaver notice renders from the shipped templates with the item and the person."""
    from mailflow.outbound.render import TemplateSet

    sync_directory(settings, sessions, NOW)
    leaver = next(
        p for p in PEOPLE if p.department == "质量部" and p.email and not p.disabled and p.manager
    )
    _open_item(sessions, leaver.email or "", "提交质量月报")
    _disable(small_slapd, leaver.n)
    sync_directory(settings, sessions, NOW)
    (notice,) = _outbox(sessions, OWNER_LEFT)
    mail = TemplateSet(settings.templates_dir).render(OWNER_LEFT, notice.context, lang)
    assert leaver.name in mail.subject and "质量部" in mail.subject
    assert words in mail.text and "提交质量月报" in mail.text and leaver.email in mail.text


def test_the_scheduler_clock_syncs_once_per_interval_and_waits_after_a_failure(
    settings: Settings, sessions: sessionmaker[Session], small_slapd: SlapdServer
) -> None:
    """The clock syncs when due, not again within `every`; after a failed read it waits an
    hour before trying, whatever the directory does meanwhile."""
    org = load_organization(settings.rules_dir)
    clock = DirectorySyncClock(settings)
    clock.tick(sessions, org, NOW)
    first = (settings.rules_dir / SYNCED_FILE).read_bytes()
    clock.tick(sessions, org, NOW.replace(hour=12))
    assert (settings.rules_dir / SYNCED_FILE).read_bytes() == first  # not due: not rewritten
    small_slapd.stop()
    clock.tick(sessions, org, NOW.replace(day=8, hour=10))  # due, but the server is down
    assert (settings.rules_dir / SYNCED_FILE).read_bytes() == first
    small_slapd.start()
    clock.tick(sessions, org, NOW.replace(day=8, hour=10, minute=30))  # within the hour: waits
    assert (settings.rules_dir / SYNCED_FILE).read_bytes() == first
    clock.tick(sessions, org, NOW.replace(day=8, hour=11, minute=1))
    synced = load_synced(settings.rules_dir)
    assert synced is not None and synced.synced_at == "2026-12-08T19:01:00+08:00"  # local time
