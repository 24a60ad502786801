"""The operator's command line: times shown in the organisation's timezone, reading with
broken rules, and `mailflow status`."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from email import message_from_bytes
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from mailflow.cli import app
from tests.servers.smtp import free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "inbox"
MINUTES_ID = "<000001d9f9c6$2b3c4d50$81b6e7f0$@example.com>"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner in an empty folder with copies of the shipped rules and a fresh SQLite file."""
    for name in list(os.environ):
        if name.startswith("MAILFLOW_") and not name.startswith("MAILFLOW_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "inbox")
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(tmp_path / "rules"))
    monkeypatch.setenv("MAILFLOW_TEMPLATES_DIR", str(tmp_path / "templates"))
    monkeypatch.setenv("MAILFLOW_SOURCE", f"maildir://{tmp_path / 'inbox'}")
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'mf.db'}")
    return CliRunner()


def _json(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _times(doc: Any) -> list[str]:
    """Every value of a key ending in _at or named date, anywhere in ``doc``."""
    if isinstance(doc, list):
        return [t for d in doc for t in _times(d)]
    if not isinstance(doc, dict):
        return []
    found = [v for k, v in doc.items() if isinstance(v, str) and (k.endswith("_at") or k == "date")]
    return found + [t for v in doc.values() if isinstance(v, dict | list) for t in _times(v)]


def _in_zone(moment: datetime, zone: str) -> bool:
    """True when ``moment`` carries the offset ``zone`` has at that instant."""
    return moment.utcoffset() == moment.astimezone(ZoneInfo(zone)).utcoffset()


@pytest.mark.parametrize(
    ("setting", "zone"),
    [(None, "Asia/Shanghai"), ("Europe/Berlin", "Europe/Berlin"), ("America/Sao_Paulo",) * 2],
)
def test_times_shown_are_in_the_organisations_timezone(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    zone: str,
) -> None:
    """Sent mail's Date and every --json time carry the organisation's offset (from the rules,
    or MAILFLOW_TIMEZONE), summer time included, never plain UTC."""
    if setting:
        monkeypatch.setenv("MAILFLOW_TIMEZONE", setting)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["run", "--once"]).exit_code == 0
    emls = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert emls
    for eml in emls:
        date = parsedate_to_datetime(message_from_bytes(eml.read_bytes())["Date"])
        assert _in_zone(date, zone), (eml.name, date)
    times = [
        *_times(_json(runner, "messages", "list")),
        *_times(_json(runner, "outbox", "list")),
        *_times(_json(runner, "items", "list")),
        *_times(_json(runner, "thread", MINUTES_ID)),
    ]
    assert len(times) > 20
    wrong = [t for t in times if not _in_zone(datetime.fromisoformat(t), zone)]
    assert wrong == []


PROJECT_TASK = (
    "From: =?utf-8?b?6ZmI5bu65Zu9?= <chen.jianguo@example.com>\r\n"
    "To: =?utf-8?b?6LW15pWP?= <zhao.min@example.com>\r\n"
    "Cc: coord@example.com\r\n"
    "Subject: =?utf-8?b?44CQ5Lu75Yqh5YiG6YWN44CR5bel56iL6YOoLeS4nOWMujPlj7fmpbzlnLDkuIvlrqTmuJfmsLTmlbTmlLk=?=\r\n"
    "Message-ID: <c3-basement-0419@example.com>\r\n"
    "Date: Thu, 12 Oct 2023 08:47:00 +0800\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "赵敏：\r\n\r\n"
    "东区3号楼地下室昨夜雨后渗水，请安排整改。\r\n"
    "任务：复核防水层并出具整改方案；责任人：赵敏；完成时限：2023-10-16；"
    "交付标准：整改方案及现场照片\r\n\r\n"
    "陈建国\r\n工程部\r\n"
).encode()


def _break(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


BROKEN_FILES = {
    # a rule naming a template that does not exist
    "rules.yaml": ("reply: receipt", "reply: recipt"),
    # YAML that does not parse: the organisation (and its timezone) cannot be read
    "organization.yaml": ("timezone: Asia/Shanghai", "timezone: [Asia/Shanghai"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_FILES))
def test_reading_commands_work_with_broken_rules(
    runner: CliRunner, tmp_path: Path, broken: str
) -> None:
    """messages/outbox/items list and thread read the database whatever state the rule files
    are in; times stay in the organisation's timezone (from the last good rules if need be)."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["run", "--once"]).exit_code == 0
    _break(tmp_path / "rules" / broken, *BROKEN_FILES[broken])
    assert runner.invoke(app, ["rules", "check"]).exit_code == 1
    times = []
    for args in (["messages", "list"], ["outbox", "list"], ["items", "list"]):
        rows = _json(runner, *args)
        assert rows, args
        times += _times(rows)
    times += _times(_json(runner, "thread", MINUTES_ID))
    human = runner.invoke(app, ["items", "list"])
    assert human.exit_code == 0, human.output
    assert all(_in_zone(datetime.fromisoformat(t), "Asia/Shanghai") for t in times)


def test_long_running_commands_start_on_the_last_good_rules(
    runner: CliRunner, tmp_path: Path
) -> None:
    """With a rule file broken, `run` starts on the rules kept in the database, names the
    broken file and line, and answers new mail as the good rules say."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["run", "--once"]).exit_code == 0
    _break(tmp_path / "rules" / "rules.yaml", *BROKEN_FILES["rules.yaml"])
    (tmp_path / "inbox" / "new" / "1697071620.M1P1.site").write_bytes(PROJECT_TASK)
    result = runner.invoke(app, ["run", "--once"])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'rules' / 'rules.yaml'}:" in result.stderr
    assert "recipt" in result.stderr and "last good rules" in result.stderr
    answers = [
        r
        for r in _json(runner, "outbox", "list")
        if r["in_reply_to"] == "<c3-basement-0419@example.com>"
    ]
    assert [(r["kind"], r["status"]) for r in answers] == [("receipt", "sent")]
    admins = [r for r in _json(runner, "outbox", "list") if r["to"] == ["admin@example.com"]]
    assert [r["kind"] for r in admins] == ["rules_error_admin"]


def test_broken_rules_without_a_good_set_stored_still_refuse(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A first start on broken rules has nothing to fall back on: exit 1 with the problems."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    _break(tmp_path / "rules" / "rules.yaml", *BROKEN_FILES["rules.yaml"])
    result = runner.invoke(app, ["run", "--once"])
    assert result.exit_code == 1
    assert "rules are invalid" in result.stderr and "recipt" in result.stderr


def test_status_shows_rules_outbox_and_pollers_with_broken_rules(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`status --json` needs no valid rules: it shows the version in force and the last error,
    the outbox and the last fetch; with no poller running it exits 1 and says why."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["run", "--once"]).exit_code == 0
    _break(tmp_path / "rules" / "rules.yaml", *BROKEN_FILES["rules.yaml"])
    (tmp_path / "inbox" / "new" / "1697071620.M1P1.site").write_bytes(PROJECT_TASK)
    assert runner.invoke(app, ["run", "--once"]).exit_code == 0
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    assert "no poller holds a live lease" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["healthy"] is False
    assert doc["database"]["reachable"] and doc["broker"]["kind"] == "in-process"
    assert doc["rules"]["version"] == 1 and doc["rules"]["broken"] is True
    assert "recipt" in doc["rules"]["last_error"]
    assert doc["messages"] == {"stored": 16}
    assert doc["outbox"]["pending"] == 0 and doc["outbox"]["failed"] == 0
    [poller] = doc["pollers"]
    assert poller["active"] is False and _in_zone(
        datetime.fromisoformat(poller["fetched_at"]), "Asia/Shanghai"
    )
    human = runner.invoke(app, ["status"])
    assert human.exit_code == 1 and "unhealthy" in human.stdout and "version 1" in human.stdout


def test_status_before_db_upgrade_says_what_to_do(runner: CliRunner) -> None:
    """On a database without tables `status` exits 1 and names `mailflow db upgrade`."""
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    assert "mailflow db upgrade" in result.stderr
    assert json.loads(result.stdout)["database"]["reachable"] is True


@pytest.mark.parametrize(
    "args",
    [
        ["messages", "list"],
        ["items", "list", "--json"],
        ["outbox", "list"],
        ["run", "--once"],
        ["scheduler", "--once"],
        ["status", "--json"],
    ],
)
def test_an_unreachable_database_is_one_line_not_a_traceback(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """A command run while PostgreSQL is down exits 1 saying it cannot reach the database,
    without the URL's password."""
    port = free_port()  # nobody listens there
    url = f"postgresql+psycopg://mailflow:Geheim-42@127.0.0.1:{port}/mailflow"
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", url)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "cannot reach the database" in result.stderr
    assert "Geheim-42" not in result.output and "Traceback" not in result.output
