"""The web view over the example inbox: a real database filled by `mailflow run --once`, once
on SQLite and once on PostgreSQL; each test gets a copy of its own."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from mailflow.cli import app as cli
from mailflow.mail.calendar import BusinessCalendar
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.settings import load_settings
from mailflow.web.app import WebContext, create_app
from mailflow.web.auth import CookieSigner
from tests.servers.databases import (
    BACKENDS,
    COPIES,
    POSTGRES_ADMIN_URL,
    _libpq,
    fresh_database,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "inbox"


@pytest.fixture(scope="module", params=BACKENDS)
def example_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The example inbox processed once into a database of each backend; yields the
    MAILFLOW_* settings."""
    tmp = tmp_path_factory.mktemp("web")
    shutil.copytree(EXAMPLES, tmp / "inbox")
    with fresh_database(request.param) as url:
        try:
            yield from _processed(tmp, url)
        finally:
            if request.param == "postgresql":
                COPIES.forget(make_url(url).database or "")


def _processed(tmp: Path, url: str) -> Iterator[dict[str, str]]:
    env = {
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
        "MAILFLOW_SOURCE": f"maildir://{tmp / 'inbox'}",
        "MAILFLOW_DATABASE_URL": url,
        "MAILFLOW_TRANSPORT": f"file://{tmp / 'outbox'}",
    }
    saved = {k: v for k, v in os.environ.items() if k.startswith("MAILFLOW_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(env)
    try:
        runner = CliRunner()
        for args in (["db", "upgrade"], ["run", "--once"]):
            result = runner.invoke(cli, args)
            assert result.exit_code == 0, result.output
        yield env
    finally:
        for name in env:
            os.environ.pop(name, None)
        os.environ.update(saved)


@pytest.fixture
def runtime(
    example_db: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Runtime]:
    """The rules and templates of the example organisation, and a copy of its database of
    its own for each test (tests that close items change it)."""
    for name in list(os.environ):
        if name.startswith("MAILFLOW_"):
            monkeypatch.delenv(name)
    for name, value in example_db.items():
        monkeypatch.setenv(name, value)
    with copied_database(example_db["MAILFLOW_DATABASE_URL"], tmp_path) as copy:
        monkeypatch.setenv("MAILFLOW_DATABASE_URL", copy)
        monkeypatch.setenv("MAILFLOW_TRANSPORT", f"file://{tmp_path / 'outbox'}")
        built = build_runtime(load_settings())
        try:
            yield built
        finally:
            built.close()


@contextmanager
def copied_database(url: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a copy of the database at ``url``: a file copy of SQLite, a database
    made from it as a template on PostgreSQL (made ahead, dropped afterwards: COPIES)."""
    if url.startswith("sqlite:///"):
        shutil.copyfile(url.removeprefix("sqlite:///"), tmp_path / "mf.db")
        yield f"sqlite:///{tmp_path / 'mf.db'}"
        return
    original = make_url(url)
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
        # a template must have no other session: a pool the CLI left open is closed first
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (original.database,),
        )
    name = COPIES.take(original.database or "")
    try:
        yield original.set(database=name).render_as_string(False)
    finally:
        COPIES.drop_later(name)


@pytest.fixture
def sent_ids() -> list[int]:
    """The outbox ids the web view handed to delivery."""
    return []


@pytest.fixture
def web(runtime: Runtime, sent_ids: list[int]) -> WebContext:
    """The web view's context over the example database; delivery only records the ids."""
    return WebContext(
        sessions=runtime.sessions,
        organization=lambda: runtime.organization,
        timezone=runtime.context.timezone,
        signer=CookieSigner("test-secret", timedelta(hours=1)),
        base_url="http://testserver",
        send=sent_ids.extend,
        clocks=lambda: (runtime.rulebook, BusinessCalendar.from_context(runtime.context)),
    )


@pytest.fixture
def client(web: WebContext) -> TestClient:
    """A client of the application."""
    return TestClient(create_app(web), follow_redirects=False)
