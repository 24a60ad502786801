"""What the commands that only read need: the database, its schema checked, and the
organisation's timezone to show times in (``status``, ``messages list``, ``thread`` …).

No valid rules are needed, and nothing here imports rules, templates, sources or transports
(``service.runtime`` composes those): ``mailflow status`` is run by health checks, and would
otherwise load Jinja2, the IMAP and SMTP clients and Dramatiq's actors to show a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    RuleFileError,
    ServiceUnavailable,
)
from mailflow.rulebook.organization import ORGANIZATION_FILE, load_organization
from mailflow.rulebook.yamlfile import scalar_at
from mailflow.settings import Settings
from mailflow.store import migrate
from mailflow.store.connection_errors import unusable_database
from mailflow.store.db import database_outage, make_engine, make_session_factory


@dataclass
class Reader:
    """What a command that only reads (or closes an item) needs: no valid rules required."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    timezone: tzinfo  # the organisation's, to show times in

    def close(self) -> None:
        self.engine.dispose()


def build_reader(settings: Settings) -> Reader:
    """Return the database and the organisation's timezone; raise ConfigurationError when the
    database is not ready. Broken rule files do not matter here."""
    engine = make_engine(settings.database_url)
    check_schema(engine, settings.database_url)
    sessions = make_session_factory(engine)
    return Reader(settings, engine, sessions, display_timezone(settings, sessions))


def display_timezone(settings: Settings, sessions: sessionmaker[Session]) -> tzinfo:
    """MAILFLOW_TIMEZONE, else the rules' timezone: the files', else the last good set's.

    The files' is read as written, up to its line only (``scalar_at``): validating the whole
    directory for it took 0.7 s with 10,000 people, at every ``status`` or ``thread``."""
    name = settings.timezone
    if not name and (declared := _declared_zone(settings)) is not None:
        return declared
    if not name:
        try:
            name = load_organization(settings.rules_dir).organization.timezone
        except (RuleFileError, OSError):
            from mailflow.service import rulestore  # tarfile and tempfile, for this case only

            unpacked = rulestore.unpack_newest(sessions)
            try:
                org = load_organization(unpacked.rules_dir) if unpacked else None
            except RuleFileError:
                org = None
            finally:
                if unpacked is not None:
                    unpacked.discard()
            name = org.organization.timezone if org else "UTC"
    try:
        return ZoneInfo(name)
    except Exception as e:
        raise ConfigurationError(f"MAILFLOW_TIMEZONE: unknown timezone {name!r}") from e


def _declared_zone(settings: Settings) -> ZoneInfo | None:
    """Return the zone organization.yaml writes as organization.timezone, or None (then the
    whole file is read, to report it or fall back)."""
    name = scalar_at(settings.rules_dir / ORGANIZATION_FILE, ("organization", "timezone"))
    try:
        return ZoneInfo(name) if name else None
    except Exception:  # not a zone
        return None


def check_schema(engine: Engine, url: str) -> None:
    """Raise ConfigurationError unless the schema is current. A database that does not answer
    raises ServiceUnavailable (long-running commands wait for it), with the one-line reason
    and never the password; one that cannot be used at all raises DatabaseUnavailable."""
    try:
        current = migrate.current_revision(engine)
    except Exception as e:
        engine.dispose()
        unusable = _unusable(e, url)
        outage = database_outage(e)
        if outage is not None:
            reason = str(unusable) if isinstance(unusable, DatabaseUnavailable) else outage.reason
            raise ServiceUnavailable("database", reason) from e
        raise unusable from e
    head = migrate.head_revision()
    if current != head:
        engine.dispose()
        state = "has no mailflow tables" if current is None else f"is at revision {current}"
        raise ConfigurationError(
            f"the database {state}, the code needs {head}: run `mailflow db upgrade` first"
        )


def _unusable(error: Exception, url: str) -> Exception:
    """Return the DatabaseUnavailable ``error`` means, or ``error`` itself (a bug)."""
    return unusable_database(error, url) or error
