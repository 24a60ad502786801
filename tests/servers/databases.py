"""Real databases for tests: a SQLite file and a fresh PostgreSQL database per test.

PostgreSQL is the machine's (``MAILFLOW_TEST_POSTGRES_URL``, by default the trust-auth server
on 127.0.0.1:5432). A missing server fails the test with the reason; it is never skipped.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "MAILFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


def _libpq(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    name = f"mailflow_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {e}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_sqlite() -> Iterator[str]:
    """Yield the URL of a new SQLite file in a throwaway folder."""
    with tempfile.TemporaryDirectory(prefix="mailflow-sqlite-") as d:
        yield f"sqlite:///{Path(d) / 'mailflow.db'}"


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """Yield the URL of an empty database of ``backend`` (sqlite or postgresql)."""
    with fresh_postgres() if backend == "postgresql" else fresh_sqlite() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    with fresh_database(request.param) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    from mailflow.store.migrate import upgrade

    with fresh_database(request.param) as url:
        upgrade(url)
        yield url


@pytest.fixture
def sqlite_url() -> Iterator[str]:
    """A migrated SQLite database (the embedded default)."""
    from mailflow.store.migrate import upgrade

    with fresh_sqlite() as url:
        upgrade(url)
        yield url
