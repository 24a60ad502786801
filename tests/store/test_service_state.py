"""Revision 0006 (rule sets, service states) walks down and up; its store functions keep one
row per rule set and merge state changes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect

from mailflow.store import migrate, service_state
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.schema_check import schema_drift

T0 = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
NEW_TABLES = {"rule_sets", "service_states"}


def test_revision_0006_walks_down_and_up(empty_database_url: str) -> None:
    """Down to 0004 the two tables are gone, other data stays; up again they are back."""
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        migrate.downgrade(empty_database_url, "0004")
        tables = set(inspect(engine).get_table_names())
        assert not tables & NEW_TABLES and "outbox" in tables
        migrate.upgrade(empty_database_url)
        assert set(inspect(engine).get_table_names()) >= NEW_TABLES
        assert schema_drift(engine) == []
    finally:
        engine.dispose()


def test_a_rule_set_is_kept_once_per_digest(database_url: str) -> None:
    """Saving the same archive twice returns the same version; a new one gets the next."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with writing(sessions) as s:
            first = service_state.save_rule_set(s, "a" * 64, b"\x00tar\xff", T0)
            again = service_state.save_rule_set(s, "a" * 64, b"\x00tar\xff", T0)
            second = service_state.save_rule_set(s, "b" * 64, b"other", T0)
        assert first == again and second > first
        with sessions() as s:
            newest = service_state.newest_rule_set(s)
            assert newest is not None and (newest.id, newest.archive) == (second, b"other")
    finally:
        engine.dispose()


def test_state_changes_merge(database_url: str) -> None:
    """A state keeps the keys a later change does not name; prefixes find a family of states."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with writing(sessions) as s:
            service_state.update_state(s, "poller:imap://a", {"fetched_at": "x", "n": 1}, T0)
        with writing(sessions) as s:
            service_state.update_state(s, "poller:imap://a", {"n": 2, "error": None}, T0)
            service_state.update_state(s, "rules", {"version": 3}, T0)
        with sessions() as s:
            assert service_state.state(s, "poller:imap://a") == {
                "fetched_at": "x",
                "n": 2,
                "error": None,
            }
            assert list(service_state.states(s, "poller:")) == ["poller:imap://a"]
            assert service_state.state(s, "nothing") is None
    finally:
        engine.dispose()
