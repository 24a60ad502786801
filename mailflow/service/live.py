"""Rules and templates that follow the administrators' edits without a restart (invariant 11).

``refresh`` notices a change in the rules or templates folder (names, sizes, modification
times), loads and validates everything, and swaps the new set in only when all of it is valid.
A broken edit leaves the last good rules running and queues one mail to the administrators per
distinct set of problems. Deliveries render through ``LiveRules.render``: always the templates of
the set in force, held in memory, never the files on disk behind the check. Each good set is
kept in the database (``rulestore``), so a restart during a broken edit starts on it; each error
is recorded there for ``mailflow status``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import RuleFileError
from mailflow.mail.model import ParseContext
from mailflow.outbound.render import DEFAULT_LANG, RenderedMail, TemplateSet
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service import rulestore
from mailflow.service.admin_notices import rules_error_notice
from mailflow.service.runtime import load_rules
from mailflow.settings import Settings
from mailflow.store import outbox
from mailflow.store.db import writing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rules:
    """One consistent, validated set: the rulebook, its templates and the parse context."""

    rulebook: Rulebook
    templates: TemplateSet
    context: ParseContext


def fingerprint(*folders: Path) -> str:
    """Return a digest of every file's name, size and modification time under ``folders``."""
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file():
                st = path.stat()
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class LiveRules:
    """The rules in force; ``refresh`` reloads them when their files change."""

    def __init__(self, settings: Settings, rules: Rules) -> None:
        self._settings = settings
        self._rules = rules
        self._lock = threading.Lock()
        self._seen = fingerprint(settings.rules_dir, settings.templates_dir)

    @property
    def current(self) -> Rules:
        return self._rules

    def render(
        self, name: str, context: Mapping[str, Any], lang: str = DEFAULT_LANG
    ) -> RenderedMail:
        """Render with the templates of the last set that validated (``Renderer`` for couriers)."""
        return self._rules.templates.render(name, context, lang)

    def pair(self) -> tuple[ParseContext, Rulebook | None]:
        """Return (context, rulebook) for the poller."""
        rules = self._rules
        return rules.context, rules.rulebook

    def refresh(self, sessions: sessionmaker[Session]) -> list[int]:
        """Reload after an edit; return outbox ids of an administrator notice, if one was queued.

        A good set is kept in the database as the last good one; an error is recorded there."""
        now_print = fingerprint(self._settings.rules_dir, self._settings.templates_dir)
        with self._lock:
            if now_print == self._seen:
                return []
            previous, self._seen = self._seen, now_print
            try:
                return self._reload(sessions)
            except Exception:
                # the database was away while recording: the same edit is taken up next turn
                self._seen = previous
                raise

    def _reload(self, sessions: sessionmaker[Session]) -> list[int]:
        try:
            rulebook, templates = load_rules(self._settings)
        except RuleFileError as e:
            log.error("rules not reloaded, the last good ones stay in force:\n%s", e)
            rulestore.record_error(sessions, e.problems)
            return self.tell_administrators(sessions, e.problems)
        settings = self._settings
        version = rulestore.remember(
            sessions, settings.rules_dir, settings.templates_dir, "files", templates.verdict_key
        )
        self._rules = Rules(rulebook, templates, parse_context(rulebook.organization, settings))
        log.info("rules and templates reloaded (version %d)", version)
        return []

    def tell_administrators(
        self, sessions: sessionmaker[Session], problems: list[str]
    ) -> list[int]:
        """Queue one notice to the administrators per distinct set of ``problems``; return its
        outbox id (none when it was queued before or nobody administers)."""
        info = self._rules.rulebook.organization.organization
        if not info.administrators:
            return []
        row = rules_error_notice(
            problems, info.administrators, info.shared_address, datetime.now(UTC)
        )
        with writing(sessions) as session:
            new_id = outbox.add_if_new(session, row)
        return [new_id] if new_id else []
