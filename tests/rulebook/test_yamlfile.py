"""``scalar_at``: one value of a YAML file, read no further than needed; and the read-only
commands' timezone, read that way from organization.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailflow.rulebook.organization import ORGANIZATION_FILE
from mailflow.rulebook.yamlfile import scalar_at
from mailflow.service.reader import display_timezone
from mailflow.settings import load_settings
from mailflow.store.db import make_engine, make_session_factory

REPO = Path(__file__).resolve().parents[2]
WHERE = ("organization", "timezone")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("organization:\n  name: x\n  timezone: Europe/Berlin\npeople: []\n", "Europe/Berlin"),
        # after other sections, a nested key of the same name, and quotes
        (
            "people:\n  - {name: a, email: b}\n  - name: c\n    tags: [1, 2]\n"
            "organization:\n  nested: {timezone: no}\n  list: [timezone]\n"
            "  timezone: 'Asia/Tokyo'\n",
            "Asia/Tokyo",
        ),
        ("organization:\n  name: x\npeople: []\ntimezone: UTC\n", None),  # not under it
        ("organization: x\n", None),
        ("- organization\n- timezone\n", None),
        ("organization:\n  timezone: [Asia/Shanghai\n", None),  # does not parse
        ("organization:\n  timezone: *zone\n", None),  # an alias never defined
    ],
)
def test_the_scalar_at_a_path_of_keys(tmp_path: Path, text: str, found: str | None) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    assert scalar_at(path, WHERE) == found


def test_a_file_not_there_or_not_utf8_has_none(tmp_path: Path) -> None:
    assert scalar_at(tmp_path / "missing.yaml", WHERE) is None
    (tmp_path / "latin.yaml").write_bytes("organization:\n  timezone: Zürich\n".encode("latin-1"))
    assert scalar_at(tmp_path / "latin.yaml", WHERE) is None


def test_nothing_after_the_value_is_read(tmp_path: Path) -> None:
    """What follows the timezone may be broken: the value was read before it."""
    path = tmp_path / "f.yaml"
    path.write_text("organization:\n  timezone: Asia/Shanghai\npeople: [unclosed\n", "utf-8")
    assert scalar_at(path, WHERE) == "Asia/Shanghai"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    return tmp_path / "rules"


def test_the_commands_show_times_in_the_zone_the_file_writes(rules: Path, sqlite_url: str) -> None:
    """A person further down the directory that does not validate (or a directory too big to
    read at every command) does not stand between `status` and the organisation's timezone."""
    org = rules / ORGANIZATION_FILE
    text = org.read_text("utf-8").replace("timezone: Asia/Shanghai", "timezone: Asia/Tokyo")
    org.write_text(text + "\n  - {name: 坏, email: not-an-address}\n", "utf-8")
    settings = load_settings(database_url=sqlite_url, rules_dir=rules)
    assert display_timezone(settings, make_session_factory(make_engine(sqlite_url))) == ZoneInfo(
        "Asia/Tokyo"
    )


def test_a_zone_that_is_no_zone_is_left_to_the_whole_file(rules: Path, sqlite_url: str) -> None:
    """An unknown zone makes the rules invalid: with no good set stored, times are in UTC."""
    org = rules / ORGANIZATION_FILE
    org.write_text(
        org.read_text("utf-8").replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus"),
        "utf-8",
    )
    settings = load_settings(database_url=sqlite_url, rules_dir=rules)
    assert display_timezone(settings, make_session_factory(make_engine(sqlite_url))) == ZoneInfo(
        "UTC"
    )
