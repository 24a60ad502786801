"""Whether models and migrations agree: the autogenerate diff of a migrated database."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from mailflow.store.models import Base


def schema_drift(engine: Engine) -> list[Any]:
    """Return the differences between the models and the database; empty when they agree."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))
