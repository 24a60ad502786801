"""Migrations are tested code: they build the models' schema and walk down and up again."""

from __future__ import annotations

from sqlalchemy import text

from mailflow.store import migrate
from mailflow.store.db import make_engine
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
