"""Apply and inspect Alembic migrations from code (``mailflow db upgrade``, tests).

The migration scripts live in the repository's top-level ``migrations/`` folder; a wheel
carries them as ``mailflow/_migrations``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from mailflow.errors import ConfigurationError
from mailflow.store.connection_errors import unusable_database
from mailflow.store.db import make_engine

_PACKAGE = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """Return the folder holding ``env.py`` and ``versions/``."""
    for candidate in (_PACKAGE.parent / "migrations", _PACKAGE / "_migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError("mailflow's migrations folder is missing from this installation")


def alembic_config() -> Config:
    """Return an Alembic config that needs no alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at ``database_url`` up to ``revision``."""
    _run(database_url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database at ``database_url`` down to ``revision``."""
    _run(database_url, lambda cfg: command.downgrade(cfg, revision))


def _run(database_url: str, action: object) -> None:
    try:
        engine = make_engine(database_url, sqlite_foreign_keys=False)
    except OSError as e:
        raise unusable_database(e, database_url) or e from e
    try:
        with engine.connect() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            action(cfg)  # type: ignore[operator]
            conn.commit()
    except Exception as e:
        unusable = unusable_database(e, database_url)
        if unusable is None:
            raise
        raise unusable from e
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None when never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
