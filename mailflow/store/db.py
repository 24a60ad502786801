"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite gets WAL, foreign keys, a busy timeout and real ``BEGIN`` handling (pysqlite defers it
otherwise, which makes transactional DDL and lock upgrades misbehave). Writers that must not
collide ask for ``BEGIN IMMEDIATE`` with the ``sqlite_immediate`` execution option.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, create_engine, event, func, insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
)
from sqlalchemy.exc import OperationalError as SqlOperationalError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from mailflow.errors import ConcurrentWrite, ConfigurationError, ServiceUnavailable

_T = TypeVar("_T")

# PostgreSQL accepts at most 65535 bound parameters; IN (...) lists stay well below that
IN_CHUNK = 1000


def skipping_insert(session: Session, target: Any) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT into ``target`` in the session's dialect, for ``ON CONFLICT DO NOTHING``
    (core SQLAlchemy's ``insert`` has no conflict clause)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(target)
    return sqlite.insert(target)


def in_chunks(values: Iterable[_T]) -> Iterator[list[_T]]:
    """Yield ``values``, repeats left out, in lists short enough for one ``IN (...)``."""
    distinct = list(dict.fromkeys(values))
    for i in range(0, len(distinct), IN_CHUNK):
        yield distinct[i : i + IN_CHUNK]


class IdPool:
    """Primary keys for rows of one table, handed out before the rows are inserted.

    A batch that creates threads, ledgers and items which refer to each other can then add
    them all and flush once: the unit of work writes rows whose keys it knows as one
    multi-row statement, where it would otherwise insert (and on SQLite, read back) one row
    at a time. PostgreSQL reserves keys from the column's sequence, ``hint`` at a time (a key
    reserved and not used leaves a harmless gap). SQLite hands out keys after the largest one
    stored, which is safe only inside a write transaction (``writing``): nobody else can
    insert until it ends.
    """

    def __init__(self, session: Session, table: Table, hint: int = 16) -> None:
        self._session, self._table, self._hint = session, table, max(1, hint)
        self._free: list[int] = []
        self._last: int | None = None  # SQLite: the last key handed out

    def take(self) -> int:
        """Return a key no row of the table has, nor will get from anyone else."""
        if self._session.get_bind().dialect.name == "sqlite":
            if self._last is None:
                self._last = self._session.scalar(select(func.max(self._table.c.id))) or 0
            self._last += 1
            return self._last
        if not self._free:
            sequence = select(func.pg_get_serial_sequence(self._table.name, "id")).scalar_subquery()
            self._free = list(
                self._session.scalars(
                    select(func.nextval(sequence)).select_from(func.generate_series(1, self._hint))
                )
            )[::-1]
            self._hint *= 2  # a batch that needs more than guessed asks less often
        return self._free.pop()


_PARAMETERS = re.compile(r"\(.*\)")  # VARCHAR(500) -> varchar, the name psycopg knows


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column values; every row names the same columns) into ``table``.

    PostgreSQL gets them by ``COPY … FROM STDIN`` on the session's own connection, so inside
    its transaction: one stream, where ``executemany`` sends and executes an INSERT per row
    (tens of thousands for a big ingest batch's addresses). Values are converted as for an
    INSERT, by each column type's bind processor. SQLite gets one ``executemany``.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        # render_nulls: rows that differ only in which values are None stay one statement
        session.execute(insert(table).execution_options(render_nulls=True), rows)
        return
    columns = list(rows[0])
    convert = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    # binary COPY: raw mail goes as it is, not as hex text the server must decode again
    types = [_PARAMETERS.sub("", table.c[c].type.compile(dialect=dialect)).lower() for c in columns]
    names = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
    target = dialect.identifier_preparer.format_table(table)
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(
                [f(row[c]) if f else row[c] for c, f in zip(columns, convert, strict=True)]
            )


def insert_objects(session: Session, objects: Sequence[Any]) -> None:
    """Insert new ORM objects of one class, keys set (``IdPool``), with ``insert_rows``, and
    put them in ``session`` as if loaded: later changes to them are UPDATEs as usual."""
    if not objects:
        return
    table = cast(Table, type(objects[0]).__table__)
    mapper = inspect(type(objects[0]))
    columns = [(c.name, mapper.get_property_by_column(c).key) for c in table.columns]
    insert_rows(session, table, [{c: getattr(o, key) for c, key in columns} for o in objects])
    for o in objects:
        make_transient_to_detached(o)
        session.add(o)


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA synchronous=NORMAL",
)


def parse_database_url(url: str) -> URL:
    """Return the SQLAlchemy URL; raise ConfigurationError for a malformed or driverless one."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message may repeat the URL, password and all
        raise ConfigurationError(
            "MAILFLOW_DATABASE_URL is not a database URL;"
            " use sqlite:///path or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 picks psycopg 3 anyway; 2.0 would want psycopg2, which we do not ship.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"MAILFLOW_DATABASE_URL: {parsed.get_backend_name()} is not supported;"
            " use sqlite:///path or postgresql+psycopg://user@host/db"
        )
    return parsed


def make_engine(url: str, *, sqlite_foreign_keys: bool = True, **kwargs: Any) -> Engine:
    """Return an engine for ``url``, creating the SQLite file's folder when needed.

    Migrations pass ``sqlite_foreign_keys=False``: Alembic's batch mode copies and drops
    tables, which foreign-key enforcement would refuse or cascade.
    """
    parsed = parse_database_url(url)
    kwargs.setdefault("json_serializer", json_text)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def json_text(value: Any) -> str:
    """Return ``value`` as the text of a JSON column: Chinese as UTF-8, not ``\\u`` escapes.

    SQLAlchemy's default (``json.dumps``) escapes every character outside ASCII: six bytes for
    each Chinese one where UTF-8 takes three. A stored mail's parse in the ingest benchmark's
    mailbox came to 3.5 KB on average instead of 2.2 KB, written, logged and read again by the
    database at that size (PostgreSQL's search index parses it). Both forms read back the same."""
    return json.dumps(value, ensure_ascii=False)


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    pragmas = [*SQLITE_PRAGMAS, f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}"]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        # the clocks' idempotency keys in SQL (``clock_queries.clock_key``)
        dbapi_connection.create_function("mailflow_sha256", 1, _sha256_hex, deterministic=True)
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sha256_hex(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory use cases open transactions with."""
    return sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: Engine) -> bool:
    """Return True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


@contextmanager
def writing(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Open a write transaction and commit it at the end (roll back on error).

    On SQLite it starts with ``BEGIN IMMEDIATE``: a transaction that reads and then writes
    would otherwise fail with "database is locked" when another writer got there first. A
    unique key broken by a row another writer inserted first raises ConcurrentWrite.
    """
    try:
        with sessions() as session, session.begin():
            session.connection(execution_options={"sqlite_immediate": True})
            yield session
    except IntegrityError as e:  # a row another writer inserted first (a unique key)
        raise ConcurrentWrite(str(e.orig)) from e


@contextmanager
def held_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Return a session that keeps one connection for a run of short writes, so that each
    write costs no pool checkout and no pre-ping.

    On PostgreSQL every statement commits on its own (autocommit): a write that is one
    statement is one round trip, and ``with session.begin()`` adds none. On SQLite each
    ``with session.begin()`` is a ``BEGIN IMMEDIATE`` transaction, as in ``writing``.
    """
    engine = sessions.kw["bind"]
    with engine.connect() as connection:
        if is_sqlite(engine):
            connection.execution_options(sqlite_immediate=True)
        else:
            connection.execution_options(isolation_level="AUTOCOMMIT")
        with Session(bind=connection, expire_on_commit=False) as session:
            yield session


def database_outage(e: BaseException) -> ServiceUnavailable | None:
    """Return ``e`` as a ServiceUnavailable when it means the database cannot be reached
    right now (refused or dropped connection, server shutting down, SQLite busy), else None.

    Errors of the statement itself (a constraint, a syntax error) are not outages.
    """
    if isinstance(e, ServiceUnavailable):
        return e
    transient = isinstance(e, SqlOperationalError | InterfaceError | DisconnectionError) or (
        isinstance(e, DBAPIError) and e.connection_invalidated
    )
    if not transient:
        return None
    original = getattr(e, "orig", None) or e
    reason = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return ServiceUnavailable("database", f"{type(original).__name__}: {reason}")


def probe_database(engine: Engine) -> None:
    """Run ``SELECT 1``; raise ServiceUnavailable when the database does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(select(1))
    except Exception as e:
        outage = database_outage(e)
        if outage is None:
            raise
        raise outage from e
