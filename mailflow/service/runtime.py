"""The composition root: settings become an engine, sessions, rules, templates, a source and a
courier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConfigurationError, RuleFileError
from mailflow.mail.model import ParseContext
from mailflow.outbound.render import TemplateSet
from mailflow.outbound.transports import open_transport
from mailflow.rulebook.loader import Rulebook, load_rulebook
from mailflow.rulebook.organization import Organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.deliver import Courier
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
    rulebook: Rulebook
    templates: TemplateSet
    context: ParseContext

    @property
    def organization(self) -> Organization:
        return self.rulebook.organization

    def courier(self, now: datetime | None = None) -> Courier:
        """Return a courier with its own transport (one per worker process or thread);
        ``now`` fixes the instant it judges due-ness by (``scheduler --now``)."""
        info = self.organization.organization
        clock = (lambda: now) if now else (lambda: datetime.now(UTC))
        return Courier(
            sessions=self.sessions,
            renderer=self.templates,
            transport=open_transport(self.settings),
            sender=info.shared_address,
            sender_name=info.name,
            administrators=tuple(info.administrators),
            clock=clock,
        )

    def close(self) -> None:
        self.engine.dispose()


def load_rules(settings: Settings) -> tuple[Rulebook, TemplateSet]:
    """Return the validated rules and templates; raise RuleFileError listing every problem."""
    templates = TemplateSet(settings.templates_dir)
    problems = templates.check()
    try:
        rulebook = load_rulebook(settings.rules_dir, templates.names())
    except RuleFileError as e:
        raise RuleFileError([*e.problems, *problems]) from None
    if problems:
        raise RuleFileError(problems)
    return rulebook, templates


def build_runtime(settings: Settings, *, require_schema: bool = True) -> Runtime:
    """Return the runtime; raise ConfigurationError when rules or the database are not ready."""
    rulebook, templates = load_rules(settings)
    engine = make_engine(settings.database_url)
    if require_schema:
        _check_schema(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        rulebook=rulebook,
        templates=templates,
        context=parse_context(rulebook.organization, settings),
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
