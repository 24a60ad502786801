"""Whether models and migrations agree: the autogenerate diff of a migrated database."""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from mailflow.store.models import Base
from mailflow.store.search import is_search_object


def described_by_models(name: str | None, type_: str, parent_names: Any) -> bool:
    """Whether a reflected name is compared with the models: the search's FTS5 table (and its
    shadow tables) and trigram index are made by migration 0011 alone."""
    return not is_search_object(name)


# SQLite's reflection cannot read an index on an expression (0013's on messages), so on SQLite
# neither side of it is compared and both libraries say so; PostgreSQL compares it, and
# tests/store/test_migrations.py compares SQLite's DDL with the models'.
_EXPRESSION_INDEX_SKIPPED = (
    "Skipped unsupported reflection of expression-based index",
    "autogenerate skipping metadata-specified expression-based index",
)


def schema_drift(engine: Engine) -> list[Any]:
    """Return the differences between the models and the database; empty when they agree."""
    with engine.connect() as conn, warnings.catch_warnings():
        for message in _EXPRESSION_INDEX_SKIPPED:
            warnings.filterwarnings("ignore", message=message)
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": described_by_models}
        )
        return list(compare_metadata(ctx, Base.metadata))
