"""The composition root: settings become an engine, sessions, the parse context and a source."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConfigurationError
from mailflow.mail.model import ParseContext
from mailflow.rulebook.context import parse_context
from mailflow.rulebook.organization import Organization, load_organization
from mailflow.settings import Settings
from mailflow.sources.base import MailSource
from mailflow.sources.imap import ImapSource
from mailflow.sources.maildir import MaildirSource
from mailflow.sources.url import ImapUrl, MaildirUrl, parse_source_url
from mailflow.store import migrate
from mailflow.store.db import make_engine, make_session_factory


@dataclass
class Runtime:
    """What a command needs, built once from the settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    organization: Organization
    context: ParseContext

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings, *, require_schema: bool = True) -> Runtime:
    """Return the runtime; raise ConfigurationError when rules or the database are not ready."""
    organization = load_organization(settings.rules_dir)
    engine = make_engine(settings.database_url)
    if require_schema:
        _check_schema(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        organization=organization,
        context=parse_context(organization, settings),
    )


def _check_schema(engine: Engine) -> None:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        engine.dispose()
        state = "has no mailflow tables" if current is None else f"is at revision {current}"
        raise ConfigurationError(
            f"the database {state}, the code needs {head}: run `mailflow db upgrade` first"
        )


def open_source(settings: Settings) -> MailSource:
    """Return the mailbox MAILFLOW_SOURCE names; raise ConfigurationError for a bad URL."""
    url = parse_source_url(settings.source)
    if isinstance(url, MaildirUrl):
        return MaildirSource(url.path)
    if isinstance(url, ImapUrl):
        return ImapSource.from_settings(settings)
    raise ConfigurationError(
        "MAILFLOW_SOURCE: ews:// (Exchange) is not supported yet; use IMAP with the same"
        " mailbox (Exchange Online retires EWS in 2026-2027)"
    )
