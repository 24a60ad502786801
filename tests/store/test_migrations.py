"""Migrations are tested code: they build the models' schema and walk down and up again."""

from __future__ import annotations

from mailflow.store import migrate
from mailflow.store.db import make_engine
from mailflow.store.schema_check import schema_drift


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
