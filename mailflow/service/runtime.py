"""The composition root: settings become an engine, sessions, rules, templates, a source and a
courier."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import RuleFileError
from mailflow.mail.model import ParseContext
from mailflow.oauth import AccessTokens, open_tokens, refresh
from mailflow.outbound.render import Renderer, TemplateSet
from mailflow.outbound.transports import (
    SmtpTransport,
    SmtpUrl,
    Transport,
    open_transport,
    parse_transport_url,
    sessions_for,
)
from mailflow.rulebook.loader import Rulebook, load_rulebook
from mailflow.rulebook.organization import Organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service import rulestore
from mailflow.service.admin_notices import rules_error_notice
from mailflow.service.deliver import Courier
from mailflow.service.oauth_keeper import DatabaseKeeper
from mailflow.service.reader import check_schema
from mailflow.service.session_slots import SessionSlots
from mailflow.settings import Settings
from mailflow.sources.base import MailSource
from mailflow.sources.imap import ImapSource
from mailflow.sources.maildir import MaildirSource
from mailflow.sources.sent import SentCopies, open_sent_folder
from mailflow.sources.url import ImapUrl, MaildirUrl, parse_source_url
from mailflow.store import outbox
from mailflow.store.connection_errors import unusable_database
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.planner import PlannerStatistics

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a command needs, built once from the settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    rulebook: Rulebook
    templates: TemplateSet
    context: ParseContext
    # the stored version of the rules in force (long-running commands), and, when the files
    # were broken at start, their problems and the private folder of the stored set in force
    rules_version: int | None = None
    rule_problems: list[str] = field(default_factory=list)
    unpacked: rulestore.Unpacked | None = None
    # keeps PostgreSQL's statistics up with the tables the clocks and deliveries change
    planner: PlannerStatistics = field(init=False)
    # where OAuth2 refresh tokens a server rotates are kept (a refresh_token grant only)
    refresh_keeper: DatabaseKeeper | None = field(init=False, default=None)
    # the OAuth2 access tokens of MAILFLOW_OAUTH_*, made when first needed (access_tokens)
    _tokens: AccessTokens | None = field(init=False, default=None, repr=False)
    _tokens_lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.planner = PlannerStatistics(self.sessions)
        grant = self.settings.oauth_grant.strip().lower()
        if self.settings.oauth_provider and grant == "refresh_token":
            self.refresh_keeper = DatabaseKeeper(self.sessions)
            refresh.keep_in(self.refresh_keeper)

    @property
    def organization(self) -> Organization:
        return self.rulebook.organization

    def access_tokens(self) -> AccessTokens:
        """Return the OAuth2 access tokens of ``MAILFLOW_OAUTH_*``, one set for the runtime: its
        delivery threads and the Sent folder ask for a token once an hour together, not each
        on its own. Raise ConfigurationError when those settings are wrong."""
        with self._tokens_lock:
            if self._tokens is None:
                self._tokens = open_tokens(self.settings)
            return self._tokens

    def sent_folder(self) -> SentCopies | None:
        """Return the source mailbox's Sent folder, where interrupted deliveries are looked
        for (``sweep.settle_interrupted``); None for a Maildir source."""
        return open_sent_folder(self.settings, self.access_tokens)

    @property
    def delivery_threads(self) -> int:
        """How many mails this process delivers at once (``sessions=`` of an SMTP transport)."""
        return sessions_for(self.settings)

    @property
    def sessions_shared(self) -> bool:
        """Whether ``delivery_threads`` is the mailbox's limit, shared by every worker."""
        url = parse_transport_url(self.settings.transport)
        return isinstance(url, SmtpUrl) and url.shared_sessions

    def transport(self) -> Transport:
        """Return a new transport; an SMTP one whose account has a session limit
        (``sessions=``, Microsoft 365) shares it with every worker through the database."""
        transport = open_transport(self.settings, self.access_tokens)
        if isinstance(transport, SmtpTransport) and transport.url.shared_sessions:
            url = transport.url
            transport.gate = SessionSlots(self.sessions, url.name, url.sessions)
        return transport

    def courier(self, now: datetime | None = None, renderer: Renderer | None = None) -> Courier:
        """Return a courier with its own transport (one per worker process or thread);
        ``now`` fixes the instant it judges due-ness by (``scheduler --now``); ``renderer``
        (the live templates of a long-running process) defaults to the validated startup set."""
        info = self.organization.organization
        clock = (lambda: now) if now else (lambda: datetime.now(UTC))
        return Courier(
            sessions=self.sessions,
            renderer=renderer or self.templates,
            transport=self.transport(),
            sender=info.shared_address,
            sender_name=info.name,
            administrators=tuple(info.administrators),
            clock=clock,
            timezone=self.context.timezone,
        )

    def close(self) -> None:
        if self.refresh_keeper is not None and refresh.kept_in() is self.refresh_keeper:
            refresh.keep_in(None)
        self.engine.dispose()
        if self.unpacked is not None:
            self.unpacked.discard()


# the verdict_keys of the template sets that passed their check in this process
_PASSED_HERE: set[str] = set()


def load_rules(settings: Settings, passed: str | None = None) -> tuple[Rulebook, TemplateSet]:
    """Return the validated rules and templates; raise RuleFileError listing every problem.

    ``passed`` is the ``verdict_key`` of templates that passed their check before (the rule
    store remembers it): templates with that same key are not checked again, which saves a
    starting process about 0.35 s of CPU (docs/benchmarks.md). The rules are always read and
    validated. Templates that passed in this process are not checked again either (a
    reload of unchanged templates, the web view's runtime beside the CLI's)."""
    templates = TemplateSet(settings.templates_dir)
    key = templates.verdict_key
    known = key is not None and (key == passed or key in _PASSED_HERE)
    problems = [] if known else templates.check()
    if not known and not problems and key is not None:
        _PASSED_HERE.add(key)  # what this process checked itself
    try:
        rulebook = load_rulebook(settings.rules_dir, templates.names())
    except RuleFileError as e:
        raise RuleFileError([*e.problems, *problems]) from None
    if problems:
        raise RuleFileError(problems)
    return rulebook, templates


def build_runtime(
    settings: Settings, *, require_schema: bool = True, last_good: bool = False
) -> Runtime:
    """Return the runtime; raise ConfigurationError when rules or the database are not ready.

    ``last_good`` is for long-running commands: rules that validate are kept in the database
    as the last good set; broken ones are reported and the newest stored set runs instead
    (RuleFileError only when none was ever stored)."""
    if last_good:
        return _build_on_last_good(settings)
    rulebook, templates = load_rules(settings)
    try:
        engine = make_engine(settings.database_url)
    except OSError as e:
        raise (unusable_database(e, settings.database_url) or e) from e
    if require_schema:
        check_schema(engine, settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        rulebook=rulebook,
        templates=templates,
        context=parse_context(rulebook.organization, settings),
    )


def _build_on_last_good(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    check_schema(engine, settings.database_url)
    sessions = make_session_factory(engine)
    unpacked: rulestore.Unpacked | None = None
    problems: list[str] = []
    try:
        rulebook, templates = load_rules(settings, rulestore.templates_passed(sessions))
        version = rulestore.remember(
            sessions, settings.rules_dir, settings.templates_dir, "files", templates.verdict_key
        )
    except RuleFileError as e:
        unpacked = rulestore.unpack_newest(sessions)
        if unpacked is None:
            engine.dispose()
            raise
        problems, version = e.problems, unpacked.version
        log.error(
            "rules are invalid; running on the last good rules (version %d) kept in the"
            " database until they are mended:\n%s",
            version,
            e,
        )
        stored = settings.model_copy(
            update={"rules_dir": unpacked.rules_dir, "templates_dir": unpacked.templates_dir}
        )
        rulebook, templates = load_rules(stored)
        rulestore.record_error(sessions, problems, version)
        _tell_administrators(sessions, rulebook.organization, problems)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        rulebook=rulebook,
        templates=templates,
        context=parse_context(rulebook.organization, settings),
        rules_version=version,
        rule_problems=problems,
        unpacked=unpacked,
    )


def _tell_administrators(
    sessions: sessionmaker[Session], org: Organization, problems: list[str]
) -> None:
    """Queue the broken-rules notice (once per distinct set of problems); the sweep sends it."""
    info = org.organization
    if info.administrators:
        notice = rules_error_notice(
            problems, info.administrators, info.shared_address, datetime.now(UTC)
        )
        with writing(sessions) as session:
            outbox.add_if_new(session, notice)


def open_source(settings: Settings) -> MailSource:
    """Return the mailbox MAILFLOW_SOURCE names; raise ConfigurationError for a bad URL."""
    url = parse_source_url(settings.source)
    if isinstance(url, MaildirUrl):
        return MaildirSource(url.path, batch_bytes=settings.batch_bytes)
    if isinstance(url, ImapUrl):
        return ImapSource.from_settings(settings)
    # imported here: exchangelib costs ~40 MB of memory in every process that loads it
    from mailflow.sources.ews import EwsSource

    return EwsSource.from_settings(settings, url)
