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
