"""The composition root: settings become an engine, sessions, the parse context and a source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConfigurationError
from mailflow.mail.model import ParseContext
from mailflow.rulebook.context import parse_context
from mailflow.rulebook.organization import Organization, load_organization
from mailflow.settings import Settings
from mailflow.sources.base import MailSource
from mailflow.sources.maildir import MaildirSource
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
    url = settings.source
    scheme = urlsplit(url).scheme.lower()
    if scheme == "maildir":
        return MaildirSource(_maildir_path(url))
    raise ConfigurationError(
        f"MAILFLOW_SOURCE: unsupported scheme {scheme or '(none)'!r};"
        " use maildir://, imap://, imaps:// or ews://"
    )


def _maildir_path(url: str) -> Path:
    rest = url.split("://", 1)[1] if "://" in url else ""
    if not rest:
        raise ConfigurationError(
            "MAILFLOW_SOURCE: maildir:// needs a folder, e.g. maildir:///srv/mail"
        )
    return Path(rest)
