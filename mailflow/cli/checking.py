"""Commands that read mail and rules without a database: ``parse``, ``rules check`` and
``rules test``. Registered on the app by ``mailflow.cli``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailflow.cli.common import JsonFlag, aware, err, fail, out, read_settings
from mailflow.errors import ConfigurationError, MailflowError, RuleFileError

if TYPE_CHECKING:
    from mailflow.mail.model import ParseContext
    from mailflow.rulebook.loader import Rulebook
    from mailflow.settings import Settings


def parse(
    file: Annotated[Path, typer.Argument(help="A message file (.eml).", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """Parse one message and print what mailflow understands. No database needed."""
    from mailflow.mail.message import parse_message
    from mailflow.mail.model import to_contract

    try:
        raw = file.read_bytes()
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    try:
        doc = to_contract(parse_message(raw, parse_context_of(read_settings())))
    except MailflowError as e:
        fail(f"{file}: {e}")
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    from mailflow.cli.views import print_parsed

    print_parsed(out, doc)


def parse_context_of(settings: Settings) -> ParseContext:
    """Return the parse context of the rules, or a bare one when there is no organization.yaml."""
    from mailflow.mail.model import ParseContext
    from mailflow.rulebook.organization import ORGANIZATION_FILE, load_organization
    from mailflow.rulebook.parse_settings import parse_context

    if not (settings.rules_dir / ORGANIZATION_FILE).is_file():
        err.print(
            f"note: no {settings.rules_dir / ORGANIZATION_FILE}; departments are not known",
            highlight=False,
        )
        return ParseContext(limits=settings.limits)
    try:
        return parse_context(load_organization(settings.rules_dir), settings)
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except ConfigurationError as e:
        fail(str(e))


def rules_check() -> None:
    """Validate rules and templates; print file:line: message for every problem, exit 1 if any."""
    from mailflow.service.runtime import load_rules

    settings = read_settings()
    try:
        rulebook, templates = load_rules(settings)
    except RuleFileError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        err.print(f"[bold red]{len(e.problems)} problem(s)[/]; nothing was changed")
        raise typer.Exit(1) from None
    err.print(
        f"rules in {settings.rules_dir} ({len(rulebook.rules)} rules) and templates in"
        f" {settings.templates_dir} ({len(templates.names())} templates) are valid",
        highlight=False,
    )
    _warn_calendar_gaps(settings, rulebook)


def _warn_calendar_gaps(settings: Settings, rulebook: Rulebook) -> None:
    """Warn when this year or the next has no PRC holiday data (weekends only, silently)."""
    from mailflow.mail.calendar import BusinessCalendar
    from mailflow.rulebook.organization import ORGANIZATION_FILE
    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.rulebook.statutory import calendar_warnings

    try:
        ctx = parse_context(rulebook.organization, settings)
    except ConfigurationError as e:
        fail(str(e))
    today = datetime.now(ctx.timezone).date()
    calendar = BusinessCalendar.from_context(ctx)
    for warning in calendar_warnings(settings.rules_dir / ORGANIZATION_FILE, calendar, today):
        print(warning, file=sys.stderr)


def rules_test(
    file: Annotated[Path, typer.Argument(help="A message file (.eml).", show_default=False)],
    now: Annotated[
        datetime | None,
        typer.Option(
            help="Decide as of this instant (ISO 8601), as `run --once --now` would.",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Dry run: which rules match FILE, which mails would be sent, and the ledgers, items and
    clocks (reminders, chases, escalations) it would start. Nothing stored or sent: the mail
    goes through ingestion's own code into a scratch database that is thrown away."""
    from mailflow.cli import outbox_view
    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.service.dryrun import dry_run
    from mailflow.service.runtime import load_rules

    settings = read_settings()
    try:
        raw = file.read_bytes()
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    try:
        rulebook, templates = load_rules(settings)
        ctx = parse_context(rulebook.organization, settings)
        moment = aware(now, ctx.timezone) if now else None
        result = dry_run(raw, rulebook, templates, ctx, moment)
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(f"{file}: {e}")
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        outbox_view.print_dry_run(out, result)
