"""Mail still waiting in the mailbox: the poller counts it after each batch, and `mailflow
status` (table and --json) and the metrics show it, on a real Dovecot and on a Maildir."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from mailflow.cli import app
from mailflow.jobs.metrics import HealthCollector
from mailflow.service.ingest import IngestReport
from mailflow.service.poll import poll_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.settings import Settings, load_settings
from mailflow.sources.base import MailSource
from mailflow.sources.maildir import MaildirSource
from tests.servers.dovecot import ImapUser

REPO = Path(__file__).resolve().parents[2]
MAILS, BATCH = 10, 3


def mail(n: int) -> bytes:
    """Return a small conforming message numbered ``n``."""
    return (
        f"Message-ID: <backlog-{n}@example.com>\r\n"
        "From: =?UTF-8?B?5byg5LiJ?= <zhang.san@example.com>\r\n"
        "To: coord@example.com\r\n"
        "Date: Sun, 08 Oct 2023 10:00:00 +0800\r\n"
        "Subject: =?UTF-8?B?44CQ6YCa55+l44CR6L+Q6JCl6YOoLeebmOeCueWuieaOkg==?=\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"第{n}封\r\n"
    ).encode()


@dataclass(frozen=True)
class Mailbox:
    """A mailbox of one kind holding ``MAILS`` mails, read ``BATCH`` at a time."""

    source: str
    password: str | None
    open: Callable[[Settings], MailSource]


@pytest.fixture(params=["maildir", "imap"])
def mailbox(request: pytest.FixtureRequest, tmp_path: Path) -> Mailbox:
    """A Maildir folder, or the Dovecot user's INBOX, holding ``MAILS`` mails."""
    if request.param == "imap":
        user: ImapUser = request.getfixturevalue("imap_user")
        for n in range(MAILS):
            user.append(mail(n))
        return Mailbox(user.url(batch=str(BATCH)), user.password, open_source)
    box = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for n in range(MAILS):
        (box / "new" / f"{1700000000 + n}.M{n}P1.test").write_bytes(mail(n))
    return Mailbox(f"maildir://{box}", None, lambda _: MaildirSource(box, batch_size=BATCH))


@pytest.fixture
def runtime(
    mailbox: Mailbox, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """The embedded default on ``mailbox``; the environment says the same for the CLI."""
    env = {
        "MAILFLOW_DATABASE_URL": sqlite_url,
        "MAILFLOW_SOURCE": mailbox.source,
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
    }
    if mailbox.password:
        env["MAILFLOW_SOURCE_PASSWORD"] = mailbox.password
    for name in list(os.environ):
        if name.startswith("MAILFLOW_") and not name.startswith("MAILFLOW_TEST_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rt = build_runtime(load_settings())
    yield rt
    rt.close()


class Interrupted(Exception):
    """Raised when the test stops a pass after its first batch, as a crash would."""


def _pass(
    box: Mailbox, rt: Runtime, on_batch: Callable[[IngestReport], None] | None = None
) -> IngestReport:
    source = box.open(rt.settings)
    try:
        return poll_once(source, rt.sessions, rt.context, on_batch)
    finally:
        source.close()


def _status(name: str) -> tuple[dict[str, Any], str]:
    """Return the poller entry of `status --json` for ``name`` and the human output."""
    runner = CliRunner()
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code in (0, 1), result.output
    [poller] = [p for p in json.loads(result.stdout)["pollers"] if p["source"] == name]
    return poller, runner.invoke(app, ["status"]).stdout


def _metric(rt: Runtime, name: str, source: str) -> float | None:
    registry = CollectorRegistry()
    registry.register(HealthCollector(rt, "poll"))
    return registry.get_sample_value(name, {"source": source})


def test_each_batch_records_what_is_left_in_the_mailbox(mailbox: Mailbox, runtime: Runtime) -> None:
    """Ten mails read three at a time: after each committed batch status counts 7, 4, 1, 0."""
    name = mailbox.open(runtime.settings).name
    counted: list[int | None] = []

    def after_batch(report: IngestReport) -> None:
        counted.append(_status(name)[0]["mailbox_backlog"])

    report = _pass(mailbox, runtime, after_batch)
    assert report.stored == MAILS and report.mailbox_backlog == 0
    assert counted == [7, 4, 1, 0]


def test_an_interrupted_pass_shows_the_remainder_until_the_next_pass(
    mailbox: Mailbox, runtime: Runtime
) -> None:
    """A pass stopped after its first batch leaves 7 mails waiting in status (table and JSON)
    and the metric; the next pass reads them and all three say 0."""
    name = mailbox.open(runtime.settings).name

    def stop(report: IngestReport) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        _pass(mailbox, runtime, stop)
    poller, human = _status(name)
    assert poller["mailbox_backlog"] == 7 and poller["mailbox_backlog_more"] is True
    assert poller["mailbox_backlog_at"] is not None
    # the console wraps a long mailbox path (pytest-xdist's tmp paths are longer): compared
    # without the white space, the sentence and the whole path must still be there
    assert "".join(f"7 mail(s) still waiting in {name}".split()) in "".join(human.split())
    assert "the poller is catching up" in human
    assert _metric(runtime, "mailflow_mailbox_backlog", name) == 7.0
    assert _metric(runtime, "mailflow_mailbox_backlog_more", name) == 1.0

    assert _pass(mailbox, runtime).stored == MAILS - BATCH
    poller, human = _status(name)
    assert poller["mailbox_backlog"] == 0 and poller["mailbox_backlog_more"] is False
    assert "catching up" not in human
    assert _metric(runtime, "mailflow_mailbox_backlog", name) == 0.0
    assert _metric(runtime, "mailflow_mailbox_backlog_more", name) == 0.0

    assert _pass(mailbox, runtime).stored == 0  # an empty pass counts 0 too
    assert _status(name)[0]["mailbox_backlog"] == 0
