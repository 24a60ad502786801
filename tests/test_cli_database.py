"""An unusable database ends any command with one secret-free line on stderr and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.servers.databases import POSTGRES_ADMIN_URL

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "pw-never-shown-7f3a"


def _postgres(**parts: object) -> str:
    url = make_url(POSTGRES_ADMIN_URL).set(password=PASSWORD, **parts)  # type: ignore[arg-type]
    return url.render_as_string(hide_password=False)


def _missing_database(tmp: Path) -> str:
    return _postgres(database=f"mailflow_missing_{uuid.uuid4().hex[:10]}")


def _refused_port(tmp: Path) -> str:
    return _postgres(port=1)


def _unknown_role(tmp: Path) -> str:
    return _postgres(username=f"nobody_{uuid.uuid4().hex[:8]}")


def _sqlite_under_a_file(tmp: Path) -> str:
    (tmp / "plain-file").write_text("not a folder")
    return f"sqlite:///{tmp / 'plain-file' / 'mailflow.db'}"


def _sqlite_not_a_database(tmp: Path) -> str:
    (tmp / "notes.db").write_bytes("会议纪要：这不是数据库文件。\n".encode() * 200)
    return f"sqlite:///{tmp / 'notes.db'}"


LIST, UPGRADE, RUN = ["messages", "list"], ["db", "upgrade"], ["run", "--once"]
CASES: list[tuple[Callable[[Path], str], str, list[str]]] = [
    (_missing_database, "does not exist", LIST),
    (_missing_database, "does not exist", UPGRADE),
    (_missing_database, "does not exist", RUN),
    (_refused_port, "refused", RUN),
    (_unknown_role, "does not exist", LIST),
    (_sqlite_under_a_file, "cannot be used", UPGRADE),
    (_sqlite_not_a_database, "not a database", LIST),
]


@pytest.mark.parametrize(
    ("make_url_for", "reason", "command"),
    CASES,
    ids=[f"{f.__name__}-{c[0]}" for f, _, c in CASES],
)
def test_unusable_database_is_one_line_and_exit_1(
    tmp_path: Path, make_url_for: Callable[[Path], str], reason: str, command: list[str]
) -> None:
    """Each way a database can be unusable gives exit 1 and a single line naming the reason."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env |= {
        "MAILFLOW_DATABASE_URL": make_url_for(tmp_path),
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
        "MAILFLOW_SOURCE": f"maildir://{tmp_path / 'inbox'}",
        "COLUMNS": "400",  # one reason, one line: no wrapping by the console
    }
    done = subprocess.run(
        [sys.executable, "-m", "mailflow", *command],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and "cannot be used" in lines[0] and reason in lines[0], done.stderr
    assert PASSWORD not in done.stderr + done.stdout
