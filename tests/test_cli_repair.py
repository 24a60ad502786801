"""Repairs from the command line: per-recipient state in `outbox list`, `outbox retry` and
`outbox cancel`, `db current`, and who closed an item or a thread and why, in `thread`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailflow.cli import app
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "inbox"
# the example minutes go to 张三 with five people in Cc
ON_LEAVE, LEFT_THE_COMPANY = "wang.wu@example.com", "sun.li@example.com"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner in an empty folder with the shipped rules, the example inbox and SQLite."""
    for name in list(os.environ):
        if name.startswith("MAILFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "inbox")
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(REPO / "rules"))
    monkeypatch.setenv("MAILFLOW_TEMPLATES_DIR", str(REPO / "templates"))
    monkeypatch.setenv("MAILFLOW_SOURCE", f"maildir://{tmp_path / 'inbox'}")
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'mf.db'}")
    return CliRunner()


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(runner: CliRunner, *args: str) -> Any:
    return json.loads(_ok(runner, *args, "--json"))


def _minutes(runner: CliRunner) -> dict[str, Any]:
    [row] = [r for r in _json(runner, "outbox", "list") if r["kind"] == "minutes_received"]
    return row


def test_db_current_says_whether_the_schema_is_up_to_date(runner: CliRunner) -> None:
    """Before `db upgrade` it exits 1 and says what to run; after, it names the head."""
    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 1 and "mailflow db upgrade" in before.stdout
    _ok(runner, "db", "upgrade")
    doc = _json(runner, "db", "current")
    assert doc["current"] == doc["head"] and doc["up_to_date"] is True


def test_partial_refusal_is_listed_per_recipient_and_retried_for_the_rest(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer
) -> None:
    """Minutes to six people: one deferred, one refused; `outbox list` shows each one's state,
    `outbox retry` sends to those two alone, and the other four get one copy."""
    monkeypatch.setenv("MAILFLOW_TRANSPORT", smtp_server.url())
    monkeypatch.setenv("MAILFLOW_TRANSPORT_PASSWORD", PASSWORD)
    smtp_server.sink.refuse(ON_LEAVE, "451 4.2.1 Mailbox temporarily disabled")
    smtp_server.sink.refuse(LEFT_THE_COMPANY, "550 5.1.1 User unknown")
    _ok(runner, "db", "upgrade")
    _ok(runner, "run", "--once")
    row = _minutes(runner)
    states = {p["address"]: (p["status"], p["code"]) for p in row["recipients"]}
    assert row["status"] == "pending" and len(states) == 6
    assert states.pop(ON_LEAVE) == ("pending", 451)
    assert states.pop(LEFT_THE_COMPANY) == ("failed", 550)
    assert set(states.values()) == {("sent", None)}
    assert row["id"] in {r["id"] for r in _json(runner, "outbox", "list", "--status", "failed")}
    table = _ok(runner, "outbox", "list")
    assert "451" in table and "550" in table

    smtp_server.sink.refusals.clear()
    _ok(runner, "outbox", "retry", str(row["id"]), "--by", "运维-陈工", "--note", "邮箱已恢复")
    _ok(runner, "run", "--once")
    row = _minutes(runner)
    assert row["status"] == "sent"
    assert {p["status"] for p in row["recipients"]} == {"sent"}
    copies = [
        m.rcpt_tos
        for m in smtp_server.sink.received
        if m.message["Message-ID"] == row["message_id"]
    ]
    assert len(copies) == 2 and set(copies[1]) == {ON_LEAVE, LEFT_THE_COMPANY}
    assert not set(copies[0]) & {ON_LEAVE, LEFT_THE_COMPANY}


def test_cancel_stops_a_pending_mail_and_retry_brings_it_back(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A decided mail cancelled before the next run is not written; retried, it is."""
    _ok(runner, "db", "upgrade")
    _ok(runner, "poll", "--once")  # decides, sends nothing without a broker
    row = _minutes(runner)
    assert row["status"] == "pending"
    _ok(runner, "outbox", "cancel", str(row["id"]), "--by", "张三", "--note", "会议改期，纪要作废")
    again = runner.invoke(app, ["outbox", "cancel", str(row["id"])])
    assert again.exit_code == 1 and "cancelled already" in again.stderr
    _ok(runner, "run", "--once")
    row = _minutes(runner)
    assert row["status"] == "cancelled" and "会议改期" in row["last_error"]
    eml = [p.read_bytes() for p in (tmp_path / "var" / "outbox").glob("*.eml")]
    assert not any(row["message_id"].encode() in raw for raw in eml)

    _ok(runner, "outbox", "retry", str(row["id"]), "--by", "张三")
    _ok(runner, "run", "--once")
    assert _minutes(runner)["status"] == "sent"
    sent = runner.invoke(app, ["outbox", "retry", str(row["id"])])
    assert sent.exit_code == 1 and "nothing to retry" in sent.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["outbox", "retry"], 2, "--failed"),
        (["outbox", "retry", "7", "--failed"], 2, "--failed"),
        (["outbox", "retry", "999"], 1, "no outgoing mail has the id 999"),
        (["outbox", "cancel", "999"], 1, "no outgoing mail has the id 999"),
    ],
)
def test_repair_usage_and_unknown_ids(
    runner: CliRunner, args: list[str], code: int, words: str
) -> None:
    """Neither or both of ID and --failed is a usage error; an unknown id is a user error."""
    _ok(runner, "db", "upgrade")
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert words in result.stderr


def test_retry_failed_with_nothing_failed_says_none(runner: CliRunner) -> None:
    """`outbox retry --failed` on a healthy outbox changes nothing and says so."""
    _ok(runner, "db", "upgrade")
    _ok(runner, "run", "--once")
    result = runner.invoke(app, ["outbox", "retry", "--failed"])
    assert result.exit_code == 0 and "0 outgoing mail(s)" in result.stderr


def test_closing_records_who_and_why_and_thread_shows_it(runner: CliRunner) -> None:
    """`items close` and `thread close` with --by/--note appear, in order, in `thread`."""
    _ok(runner, "db", "upgrade")
    _ok(runner, "run", "--once")
    item = _json(runner, "items", "list")[0]
    _ok(runner, "items", "close", str(item["id"]), "--by", "李四", "--note", "已线下确认交付")
    mid = item["message_id"]
    _ok(runner, "thread", "close", mid, "--by", "张经理", "--note", "项目结项")
    view = _json(runner, "thread", mid)
    history = [(h["action"], h["by"], h["note"], h["item_id"]) for h in view["history"]]
    assert history == [
        ("item closed", "李四", "已线下确认交付", item["id"]),
        ("thread closed", "张经理", "项目结项", None),
    ]
    shown = _ok(runner, "thread", mid)
    assert "张经理" in shown and "项目结项" in shown and "已线下确认交付" in shown
    [closed] = [i for i in _json(runner, "items", "list") if i["id"] == item["id"]]
    assert closed["status"] == "done"
