"""``rules test`` predicts what ingestion and the scheduler then do: the same mails, ledgers,
items and clocks, at the same moments (invariant 15: it runs the same code)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.clock_mail import sweep_clocks
from mailflow.service.dryrun import dry_run
from mailflow.service.ingest import ingest
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import ActionItemRecord, ConfirmationRequest, OutboxMail
from tests.scenario_mail import at, scenario_mail

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(rules_dir=REPO / "rules", templates_dir=REPO / "templates")
RULEBOOK, TEMPLATES = load_rules(SETTINGS)
CTX = parse_context(RULEBOOK.organization, SETTINGS)

# a design review's follow-up: two owners with deadlines, and "请确认" asking everyone on it
REVIEW = scenario_mail(
    "dry",
    1,
    "孙丽 <sun.li@example.com>",
    "赵六 <zhao.liu@example.com>, 王五 <wang.wu@example.com>",
    "【任务分配】设计部-展台方案评审后续",
    "赵六、王五：\n\n展台方案评审的后续安排如下，请确认。\n\n"
    "1. 修改展台效果图；责任人：赵六；完成时限：2026-03-06；交付标准：效果图终稿（JPG+源文件）\n"
    "2. 核对搭建报价；责任人：王五；完成时限：2026-03-10 12:00；交付标准：报价对比表\n\n"
    "孙丽\n设计部\n",
    "2026-03-02 09:10",
)
DECIDED = at("2026-03-02 09:15")


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _ingest(sessions: sessionmaker[Session], tmp_path: Path, raw: bytes) -> None:
    box = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    (box / "new" / "1772413800.M1.test").write_bytes(raw)
    ingest(MaildirSource(box), sessions, CTX, rulebook=RULEBOOK, decided_at=DECIDED)


def _local(moment: datetime | None) -> str | None:
    return moment.astimezone(CTX.timezone).isoformat() if moment else None


def _stored(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as s:
        mails = sorted(
            (r.kind, tuple(r.to_addrs), tuple(r.cc_addrs)) for r in s.scalars(select(OutboxMail))
        )
        ledgers = [
            (sorted(a.address for a in r.answers), _local(r.due_at))
            for r in s.scalars(select(ConfirmationRequest))
        ]
        items = sorted(
            (i.position, i.owner_email, _local(i.due_at))
            for i in s.scalars(select(ActionItemRecord))
        )
    return {"mails": mails, "ledgers": ledgers, "items": items}


def test_rules_test_the_scheduler_and_a_real_run_agree(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The mails, the ledger (请确认 opens one), the items and every clock ``rules test`` shows
    are what ingestion stores and what the scheduler, dry or not, sends at each moment."""
    predicted = dry_run(REVIEW, RULEBOOK, TEMPLATES, CTX, DECIDED)
    _ingest(sessions, tmp_path, REVIEW)
    stored = _stored(sessions)
    assert stored["mails"] == sorted(
        (m["template"], tuple(m["to"]), tuple(m["cc"])) for m in predicted["mails"]
    )
    assert stored["ledgers"] == [
        (sorted(r["from"]), r["due"]) for r in predicted["confirmation_requests"]
    ]
    assert stored["ledgers"], "请确认 opens a ledger, and rules test says so"
    assert stored["items"] == sorted(
        (i["position"], i["owner_email"], i["due_at"]) for i in predicted["items"]
    )
    clocks = predicted["clocks"]
    kinds = {c["kind"] for c in clocks}
    assert {"confirmation_reminder", "deadline_reminder", "deadline_overdue"} <= kinds
    assert {"confirmation_escalation", "deadline_escalation"} <= kinds
    for moment in sorted({c["due_at"] for c in clocks}):
        expected = sorted(
            (c["kind"], tuple(c["to"]), tuple(c["cc"])) for c in clocks if c["due_at"] == moment
        )
        when = datetime.fromisoformat(moment)
        for dry in (True, False):  # the weekly record is the week's, not this mail's
            swept = sweep_clocks(sessions, RULEBOOK, CTX, when, dry_run=dry)
            found = sorted((m.kind, m.to, m.cc) for m in swept if m.kind != "weekly_digest")
            assert found == expected, (moment, dry)
