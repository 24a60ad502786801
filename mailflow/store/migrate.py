"""Apply and inspect Alembic migrations from code (``mailflow db upgrade``, tests).

The migration scripts live in the repository's top-level ``migrations/`` folder; a wheel
carries them as ``mailflow/_migrations``.

Every command checks that the database is at the code's head revision before it starts. That
check reads the version table with one query and the scripts' ``revision``/``down_revision``
lines as text, without Alembic: importing Alembic and executing every script cost each start
0.13 s of CPU and 12 MiB. Alembic itself is imported only to migrate, and answers
the head whenever a script is not written in the plain form (tests compare both answers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from mailflow.errors import ConfigurationError
from mailflow.store.connection_errors import unusable_database
from mailflow.store.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic's defaults, which migrations/env.py keeps
VERSION_TABLE = "alembic_version"
# ``revision: str = "0012"`` and ``down_revision: str | None = "0011"`` (or None) at the start
# of a line, as ``alembic revision`` writes them, with ``depends_on = None``
_QUOTED = r"""["']([^"'\n]+)["']"""
_REVISION = re.compile(rf"^revision(?:\s*:[^=\n]*)?\s*=\s*{_QUOTED}\s*$", re.MULTILINE)
_DOWN_REVISION = re.compile(
    rf"^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:{_QUOTED}|None)\s*$", re.MULTILINE
)
_NO_DEPENDENCY = re.compile(r"^depends_on(?:\s*:[^=\n]*)?\s*=\s*None\s*$", re.MULTILINE)
# the script files Alembic reads (alembic.script.base: not editor backups, not __init__)
_SCRIPT = re.compile(r"^(?!\.#|__init__)(.*)\.py$")

_PACKAGE = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """Return the folder holding ``env.py`` and ``versions/``."""
    for candidate in (_PACKAGE.parent / "migrations", _PACKAGE / "_migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError("mailflow's migrations folder is missing from this installation")


def alembic_config() -> Config:
    """Return an Alembic config that needs no alembic.ini."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at ``database_url`` up to ``revision``."""
    from alembic import command

    _run(database_url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database at ``database_url`` down to ``revision``."""
    from alembic import command

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
    """Return the revision the database is at, or None when never migrated.

    What Alembic's ``MigrationContext.get_current_revision`` answers, read with one query;
    a version table holding more than one revision raises ConfigurationError."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        found = list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(found) > 1:
        raise ConfigurationError(
            f"the database's {VERSION_TABLE} holds more than one revision"
            f" ({', '.join(sorted(found))}); see `mailflow db current`"
        )
    return found[0] if found else None


def head_revision() -> str | None:
    """Return the newest revision the code knows.

    Read from the scripts' text when each names its revision and a single down_revision in the
    plain form and they make one head; otherwise Alembic answers (and raises on several heads).
    """
    return _plain_head(migrations_dir() / "versions") or alembic_head_revision()


def alembic_head_revision() -> str | None:
    """Return the newest revision as Alembic finds it, executing every script."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _plain_head(versions: Path) -> str | None:
    """Return the one head of the scripts in ``versions``, or None when any script is not in
    the plain form or the revisions do not make exactly one chain end."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in versions.iterdir():
        if not _SCRIPT.match(path.name) or not path.is_file():
            continue
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.findall(source)
        down = _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1 or not _NO_DEPENDENCY.search(source):
            return None
        revisions.add(revision[0])
        if down[0]:
            downs.add(down[0])
    heads = revisions - downs
    if len(heads) != 1 or not downs <= revisions:
        return None
    return heads.pop()
