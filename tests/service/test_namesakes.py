"""Namesakes in a thread: the people who took part before decide which one a task means."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.items import settle_owner
from mailflow.mail.model import ActionItem
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.ingest import ingest
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import ActionItemRecord, OutboxMail

REPO = Path(__file__).resolve().parents[2]
BOTH = ("wang.wu@example.com", "wang.wu2@example.com")


def _item(**changes: object) -> ActionItem:
    base = ActionItem("提交巡检报告", "王五", None, None, "巡检报告", ("deadline", "owner"), BOTH)
    return ActionItem(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("participants", "owner_email", "missing"),
    [
        (frozenset({"wang.wu2@example.com", "gao.jie@example.com"}), "wang.wu2@example.com", ("deadline",)),
        (frozenset(BOTH), None, ("deadline", "owner")),  # both took part: still open
        (frozenset({"li.si@example.com"}), None, ("deadline", "owner")),  # neither did
        (frozenset(), None, ("deadline", "owner")),
    ],
)  # fmt: skip
def test_settle_owner(
    participants: frozenset[str], owner_email: str | None, missing: tuple[str, ...]
) -> None:
    """Exactly one namesake among the thread's earlier participants settles the owner."""
    settled = settle_owner(_item(), participants)
    assert settled.owner_email == owner_email and settled.missing == missing
    assert settled.owner_candidates == (() if owner_email else BOTH)


def test_a_resolved_item_is_left_as_it_is() -> None:
    """An owner the mail already resolved is never changed by the thread."""
    item = _item(owner_email="wang.wu@example.com", owner_candidates=(), missing=())
    assert settle_owner(item, frozenset({"wang.wu2@example.com"})) is item


def _mail(n: int, sender: str, to: str, subject: str, body: str, reply_to: str = "") -> bytes:
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
            f"Date: Mon, 07 Dec 2026 1{n}:00:00 +0800", f"Message-ID: <ns{n}@example.com>"]  # fmt: skip
    if reply_to:
        head += [f"In-Reply-To: {reply_to}", f"References: {reply_to}"]
    return "\r\n".join([*head, "Content-Type: text/plain; charset=utf-8", "", body]).encode()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_the_thread_decides_which_namesake(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """Two 王五 in the directory; the second 王五 (技术部) started the thread, so a task for 王五
    written later by 法务部's 高洁 is his, and 高洁 is not asked which 王五 she meant."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    org = rules / "organization.yaml"
    org.write_text(org.read_text(encoding="utf-8")
                   + "  - {name: 王五, email: wang.wu2@example.com, department: 技术部}\n",
                   encoding="utf-8")  # fmt: skip
    book = rules / "rules.yaml"  # items in replies are tracked here, so the reply's item is kept
    book.write_text(book.read_text(encoding="utf-8").replace(
        "when: {has_action_items: true, reply: false}", "when: {has_action_items: true}"),
        encoding="utf-8")  # fmt: skip
    settings = load_settings(rules_dir=rules, templates_dir=REPO / "templates")
    rulebook, _ = load_rules(settings)
    ctx = parse_context(rulebook.organization, settings)
    box = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    subject = "【工作协调】技术部-机房年度巡检"
    (box / "new" / "1.a").write_bytes(_mail(0, "王五 <wang.wu2@example.com>", "coord@example.com",
        subject, "各位好，机房年度巡检下周开始，我来牵头。"))  # fmt: skip
    (box / "new" / "2.b").write_bytes(_mail(1, "高洁 <gao.jie@example.com>", "coord@example.com",
        f"回复：{subject}", "王五负责在12月11日前提交巡检报告。", "<ns0@example.com>"))  # fmt: skip
    ingest(MaildirSource(box), sessions, ctx, rulebook=rulebook,
           decided_at=datetime(2026, 12, 7, 12, tzinfo=UTC), parse_workers=0)  # fmt: skip
    with sessions() as s:
        items = s.scalars(select(ActionItemRecord)).all()
        asked = s.scalars(select(OutboxMail).where(OutboxMail.kind == "missing_fields")).all()
    assert [(i.owner, i.owner_email) for i in items] == [("王五", "wang.wu2@example.com")]
    assert "owner" not in items[0].missing
    assert all("owner" not in str(m.context.get("missing")) for m in asked)
