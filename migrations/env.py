"""Alembic environment: runs against the connection mailflow hands over, or the settings' URL.

``render_as_batch`` makes autogenerate write ``batch_alter_table`` blocks, which SQLite needs
and PostgreSQL runs as plain ALTERs.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from mailflow.store.models import Base, UtcDateTime
from mailflow.store.schema_check import described_by_models

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write our UtcDateTime as the plain column type, so migrations never import models."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        include_name=described_by_models,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from mailflow.settings import load_settings
    from mailflow.store.db import make_engine

    engine = make_engine(load_settings().database_url, sqlite_foreign_keys=False)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("mailflow migrations run online only: use `mailflow db upgrade`")
run_migrations_online()
