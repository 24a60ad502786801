"""Deliveries render only the last template set that validated, up to the real SMTP server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailflow.errors import RuleFileError
from mailflow.jobs.runner import live_rules
from mailflow.service.live import LiveRules
from mailflow.service.poll import poll_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.settings import Settings, load_settings
from mailflow.store.models import OutboxMail
from tests.jobs.scenario import TASK
from tests.servers.dovecot import ImapUser
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2023, 10, 9, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
MARK = "本回执由新版模板生成"


@pytest.fixture
def settings(
    tmp_path: Path, sqlite_url: str, imap_user: ImapUser, smtp_server: SmtpServer
) -> Settings:
    """The embedded default between Dovecot and aiosmtpd, with templates a test may edit."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "passwd").write_text("root:x:0:0:SECRET-LINE\n", encoding="utf-8")
    return load_settings(
        database_url=sqlite_url,
        source=imap_user.url(),
        source_password=imap_user.password,
        transport=smtp_server.url(),
        transport_password=PASSWORD,
        rules_dir=REPO / "rules",
        templates_dir=tmp_path / "templates",
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """The runtime built from those settings."""
    rt = build_runtime(settings)
    yield rt
    rt.close()


def _receipt_text(rt: Runtime, live: LiveRules, imap_user: ImapUser, smtp: SmtpServer) -> str:
    """Ingest the task mail, deliver its receipt through the live templates, return its text."""
    imap_user.append(TASK)
    poll_once(open_source(rt.settings), rt.sessions, rt.context, None, rt.rulebook, T0)
    with rt.sessions() as s:
        [row] = s.scalars(select(OutboxMail).where(OutboxMail.kind == "receipt"))
    assert rt.courier(T0, renderer=live).deliver(row.id) == "sent"
    [mail] = [m for m in smtp.sink.received if m.message["Subject"].startswith("【回执】")]
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.parametrize(
    "broken",
    [
        "{{ ''.__class__.__mro__ }}\n",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}\n",
        "{% include 'zh-CN/_passwd.txt' %}\n",
    ],
    ids=["mro", "nested-loops", "symlink-include"],
)
def test_refused_template_edit_never_reaches_the_wire(
    runtime: Runtime,
    settings: Settings,
    imap_user: ImapUser,
    smtp_server: SmtpServer,
    broken: str,
) -> None:
    """After a refused edit the receipt still goes out, rendered by the last good templates."""
    live = live_rules(runtime)
    good = live.current.templates
    folder = settings.templates_dir / "zh-CN"
    (folder / "_passwd.txt").symlink_to(settings.templates_dir.parent / "passwd")
    (folder / "receipt.txt").write_text(broken, encoding="utf-8")
    assert len(live.refresh(runtime.sessions)) == 1  # one notice to the administrators
    assert live.current.templates is good
    text = _receipt_text(runtime, live, imap_user, smtp_server)
    assert "准备宣传物料" in text and "SECRET" not in text and "mro" not in text
    sent = b"".join(m.data for m in smtp_server.sink.received)
    assert b"SECRET" not in sent


def test_valid_template_edit_reaches_the_wire(
    runtime: Runtime, settings: Settings, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A template edit that validates is what the next delivery renders, without a restart."""
    live = live_rules(runtime)
    receipt = settings.templates_dir / "zh-CN" / "receipt.txt"
    receipt.write_text(MARK + "\n" + receipt.read_text(encoding="utf-8"), encoding="utf-8")
    assert live.refresh(runtime.sessions) == []
    assert MARK in _receipt_text(runtime, live, imap_user, smtp_server)


def test_startup_refuses_a_folder_with_a_link_outside(settings: Settings) -> None:
    """The service does not start on templates that link out of their folder."""
    footer = settings.templates_dir / "zh-CN" / "_footer.txt"
    footer.unlink()
    footer.symlink_to(settings.templates_dir.parent / "passwd")
    with pytest.raises(RuleFileError, match="resolves outside the templates folder"):
        build_runtime(settings)
