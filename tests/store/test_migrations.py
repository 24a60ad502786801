"""Migrations are tested code: they build the models' schema and walk down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, text
from sqlalchemy.schema import CreateIndex

from mailflow.errors import ConfigurationError
from mailflow.store import migrate
from mailflow.store.db import make_engine
from mailflow.store.models import Base
from mailflow.store.schema_check import schema_drift
from tests.servers.databases import fresh_postgres


def test_migrations_match_models(empty_database_url: str) -> None:
    """After `upgrade head` the autogenerate diff between models and database is empty."""
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        assert schema_drift(engine) == []
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_migrations_walk_down_and_up(empty_database_url: str) -> None:
    """Every revision downgrades to an empty schema and upgrades back without drift."""
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    engine = make_engine(empty_database_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(empty_database_url)
        assert schema_drift(engine) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url: str) -> None:
    """Running `db upgrade` on an up-to-date database changes nothing."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_raw_mail_is_stored_without_compression_on_postgresql() -> None:
    """PostgreSQL keeps raw mail out of line without pglz, which costs much and gains nothing
    on attachments compressed already (revision 0004); downgrading restores the default."""
    query = text(
        "SELECT attstorage FROM pg_attribute"
        " WHERE attrelid = 'raw_messages'::regclass AND attname = 'content'"
    )
    with fresh_postgres() as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as c:
                assert c.scalar(query) == "e"  # external: out of line, uncompressed
            migrate.downgrade(url, "0003")
            with engine.connect() as c:
                assert c.scalar(query) == "x"  # extended: PostgreSQL's default for bytea
        finally:
            engine.dispose()


def test_outbox_rows_written_before_0005_keep_their_state(empty_database_url: str) -> None:
    """A mail sent under 0004 has no recipient lines after 0005: each recipient shows the row's
    status; lines and repair history written under 0005 go with a downgrade, the rows stay."""
    from mailflow.service.queries import outbox_rows
    from mailflow.store.db import make_session_factory

    migrate.upgrade(empty_database_url, "0004")
    engine = make_engine(empty_database_url)
    insert = text(
        "INSERT INTO outbox (key, kind, to_addrs, cc_addrs, lang, context, message_id,"
        ' "references", auto_submitted, status, attempts, due_at, next_attempt_at, created_at)'
        " VALUES ('k1', 'receipt', '[\"zhou.kuaiji@caiwu.example.com\"]',"
        " '[\"wu.chuna@caiwu.example.com\"]', 'zh-CN', '{}', '<m1@example.com>', '[]',"
        " 'auto-replied', 'sent', 1, :t, :t, :t)"
    )
    try:
        with engine.begin() as c:
            c.execute(insert, {"t": "2026-03-02 09:00:00+00:00"})
        migrate.upgrade(empty_database_url)
        [row] = outbox_rows(make_session_factory(engine))
        assert [(p["address"], p["field"], p["status"]) for p in row["recipients"]] == [
            ("zhou.kuaiji@caiwu.example.com", "to", "sent"),
            ("wu.chuna@caiwu.example.com", "cc", "sent"),
        ]
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO outbox_recipients (outbox_id, address, field, status, updated_at)"
                    " SELECT id, 'wu.chuna@caiwu.example.com', 'cc', 'failed', created_at FROM outbox"
                )
            )
        migrate.downgrade(empty_database_url, "0004")
        with engine.connect() as c:
            assert c.scalar(text("SELECT status FROM outbox")) == "sent"
    finally:
        engine.dispose()


def test_head_read_from_the_scripts_is_alembics() -> None:
    """Start-up reads the head from the scripts' text; Alembic, running them, agrees."""
    assert migrate.head_revision() == migrate.alembic_head_revision() is not None


def _script(folder: Path, revision: str, down: str, extra: str = "") -> None:
    (folder / f"{revision}_x.py").write_text(
        f'revision: str = "{revision}"\ndown_revision: str | None = {down}\n'
        f"depends_on: str | None = None\n{extra}"
    )


def test_head_of_scripts_not_in_the_plain_form_is_left_to_alembic(tmp_path: Path) -> None:
    """A branch, a merge or a dependency is Alembic's to read: the text gives no head."""
    _script(tmp_path, "0001", "None")
    _script(tmp_path, "0002", '"0001"')
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / ".#0003_x.py").write_text("an editor's lock file")
    assert migrate._plain_head(tmp_path) == "0002"
    _script(tmp_path, "0003", '"0001"')  # a second branch from 0001: two heads
    assert migrate._plain_head(tmp_path) is None
    _script(tmp_path, "0004", '("0002", "0003")')  # their merge
    assert migrate._plain_head(tmp_path) is None
    (tmp_path / "0004_x.py").unlink()
    (tmp_path / "0003_x.py").write_text(
        'revision = "0003"\ndown_revision = "0002"\ndepends_on = "0001"\n'
    )
    assert migrate._plain_head(tmp_path) is None


def test_a_version_table_with_two_revisions_is_refused(database_url: str) -> None:
    """Two rows in the version table (two heads applied) name both, not a traceback."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0099')"))
        with pytest.raises(ConfigurationError, match="more than one revision"):
            migrate.current_revision(engine)
    finally:
        engine.dispose()


def test_expression_indexes_on_sqlite_are_the_models(sqlite_url: str) -> None:
    """SQLite cannot reflect an index on an expression for the autogenerate check, so its DDL
    as migrated is compared with the DDL the models would write."""
    expressions = [
        index
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if any(not isinstance(e, Column) for e in index.expressions)
    ]
    assert expressions, "no index on an expression left: this test has nothing to check"
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as c:
            for index in expressions:
                migrated = c.scalar(
                    text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"),
                    {"n": index.name},
                )
                modelled = str(CreateIndex(index).compile(dialect=engine.dialect))
                assert " ".join(migrated.split()) == " ".join(modelled.split())
    finally:
        engine.dispose()
