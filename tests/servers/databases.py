"""Real databases for tests: a SQLite file and a fresh PostgreSQL database per test.

PostgreSQL is the machine's (``MAILFLOW_TEST_POSTGRES_URL``, by default the trust-auth server
on 127.0.0.1:5432). A missing server fails the test with the reason; it is never skipped.

A migrated database is a copy of one migrated once per test process: the migrations run for
real (a broken one fails every test that needs a migrated database), but once, not per test.
PostgreSQL copies with ``CREATE DATABASE … TEMPLATE``, SQLite with its backup API.
``tests/store/test_migrations.py`` still runs them on empty databases of its own.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {e}")


def _url_of(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)


@contextmanager
def fresh_postgres(template: str | None = None) -> Iterator[str]:
    """Create a PostgreSQL database (empty, or a copy of the database ``template``), yield its
    URL, drop it afterwards."""
    name = f"mailflow_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        copy = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
        try:
            yield _url_of(name)
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


class PostgresCopies:
    """Copies of PostgreSQL databases for tests, each test a copy of its own: a thread makes
    the next copy of a template while a test runs, another drops the copies of finished tests
    (each takes the server about half a second, mostly waiting). ``close`` waits for both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._copier = ThreadPoolExecutor(1, thread_name_prefix="test-database-copy")
        self._dropper = ThreadPoolExecutor(1, thread_name_prefix="test-database-drop")
        self._spares: dict[str, Future[str]] = {}
        self._drops: list[Future[None]] = []

    def take(self, template: str) -> str:
        """Return the name of a new copy of the database ``template``, which no session may
        use from now until ``forget(template)``."""
        with self._lock:
            spare = self._spares.pop(template, None)
            self._spares[template] = self._copier.submit(_copy, template)
        if spare is not None and spare.exception() is None:
            return spare.result()
        return _copy(template)  # none made ahead, or made while a session used the template

    def forget(self, template: str) -> None:
        """Make no more copies of ``template``; the copy made ahead is dropped later."""
        with self._lock:
            spare = self._spares.pop(template, None)
            if spare is not None:
                self._drops.append(self._dropper.submit(_drop_copy, spare))

    def drop_later(self, name: str) -> None:
        """Drop the copy ``name`` in the background."""
        with self._lock:
            self._drops.append(self._dropper.submit(_drop, name))

    def close(self) -> None:
        """Wait until every copy is dropped; raise the first error a drop met."""
        for template in list(self._spares):
            self.forget(template)
        self._copier.shutdown(wait=True)
        self._dropper.shutdown(wait=True)
        for drop in self._drops:
            drop.result()


def _copy(template: str) -> str:
    name = f"mailflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop(name: str) -> None:
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _drop_copy(copy: Future[str]) -> None:
    if copy.exception() is None:  # a copy that failed left nothing to drop
        _drop(copy.result())


class _Migrated:
    """The databases migrated to head once in this process, one per backend, that every
    migrated test database is copied from; removed when the test session ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._postgres: str | None = None  # a database name on the machine's server
        self._sqlite: Path | None = None  # a file
        self.copies: PostgresCopies | None = None

    def postgres(self) -> str:
        """Return the name of the migrated PostgreSQL database (migrate it the first time)."""
        from mailflow.store.migrate import upgrade

        with self._lock:
            if self._postgres is None:
                name = f"mailflow_template_{uuid.uuid4().hex[:12]}"
                with _admin() as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    upgrade(_url_of(name))  # disposes its engine: no session is left on it
                except BaseException:
                    _drop(name)
                    raise
                self._postgres = name
            return self._postgres

    def sqlite(self) -> Path:
        """Return the migrated SQLite file (migrate it the first time)."""
        from mailflow.store.migrate import upgrade

        with self._lock:
            if self._sqlite is None:
                path = Path(tempfile.mkdtemp(prefix="mailflow-sqlite-template-")) / "mailflow.db"
                upgrade(f"sqlite:///{path}")
                self._sqlite = path
            return self._sqlite

    def remove(self) -> None:
        with self._lock:
            template, self._postgres = self._postgres, None
            sqlite, self._sqlite = self._sqlite, None
        if sqlite is not None:
            shutil.rmtree(sqlite.parent, ignore_errors=True)
        if template is not None:
            _drop(template)


MIGRATED = _Migrated()
COPIES = PostgresCopies()


@pytest.fixture(scope="session", autouse=True)
def _test_databases() -> Iterator[None]:
    """Drop this process's copies and migrated databases when its tests are done."""
    yield
    try:
        COPIES.close()
    finally:
        MIGRATED.remove()


@contextmanager
def migrated_database(backend: str) -> Iterator[str]:
    """Yield the URL of a database of ``backend`` at the head revision, a copy of its own of the
    database this process migrated once (dropped or removed afterwards)."""
    if backend == "postgresql":
        name = COPIES.take(MIGRATED.postgres())
        try:
            yield _url_of(name)
        finally:
            COPIES.drop_later(name)
        return
    template = MIGRATED.sqlite()
    with fresh_sqlite() as url:
        target = sqlite3.connect(url.removeprefix("sqlite:///"))
        source = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    with fresh_database(request.param) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    with migrated_database(request.param) as url:
        yield url


@pytest.fixture
def sqlite_url() -> Iterator[str]:
    """A migrated SQLite database (the embedded default)."""
    with migrated_database("sqlite") as url:
        yield url
