"""Delivery: one outbox row becomes one sent mail, exactly once as far as mailflow can tell.

Claim the row (a short lease), render its template with the context stored at decision time,
compose it with the row's fixed Message-ID, hand it to the transport, record the outcome. A
temporary failure (4xx, a dropped connection) schedules another attempt with exponential
backoff; a permanent one (5xx) marks the row failed and tells the administrators once. A worker
killed mid-send leaves the claim to expire and the sweep enqueues the row again; the fixed
Message-ID makes that rare resend recognisable as the same mail (invariants 3 to 5).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import PermanentSendError, TemplateError, TransientSendError
from mailflow.outbound.attachments import build_attachments
from mailflow.outbound.compose import compose
from mailflow.outbound.render import Renderer
from mailflow.outbound.transports import RecipientsRefused, SendConfigurationError, Transport
from mailflow.service import journal
from mailflow.service.outmail import key_of, outbox_row
from mailflow.store import outbox, recipients
from mailflow.store.db import database_outage, writing
from mailflow.store.models import (
    RECIPIENT_FAILED,
    RECIPIENT_PENDING,
    RECIPIENT_SENT,
    OutboxMail,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # with the backoff below: about ten hours of trying before giving up
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=2)
ADMIN_NOTICE = "delivery_failed_admin"
RULES_NOTICE = "rules_error_admin"
NOTICES = frozenset({ADMIN_NOTICE, RULES_NOTICE})
SENT, RETRY, FAILED, SKIPPED = "sent", "retry", "failed", "skipped"
# how long a sent mail's row waits for a database outage to end (its claim lasts 5 min)
RECORD_PATIENCE = outbox.CLAIM - timedelta(seconds=30)


@dataclass
class Courier:
    """Everything delivery needs, built once per process (after any fork)."""

    sessions: sessionmaker[Session]
    renderer: Renderer  # a validated set: never re-reads template files (invariant 11)
    transport: Transport
    sender: str  # the shared address: From, Reply-To and envelope sender
    sender_name: str
    administrators: tuple[str, ...] = ()
    # what "now" is for due-ness and backoff: `mailflow scheduler --now` evaluates as of then
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # the organisation's timezone: a sent mail's Date header is written in it
    timezone: tzinfo = UTC

    def deliver(self, outbox_id: int, now: datetime | None = None) -> str:
        """Send one outbox row if it is due and unclaimed; return sent, retry, failed or skipped.

        Only the recipients still pending are in the envelope: after a partial refusal the
        ones who got the mail are not sent it again.
        """
        now = now or self.clock()
        with writing(self.sessions) as session:
            row = outbox.claim(session, outbox_id, now)
            if row is None:
                return SKIPPED
            job = _Job.of(row, recipients.envelope(row, recipients.settled(session, row.id)))
        try:
            raw, subject = self._compose(job)
            if not job.envelope:  # every recipient answered before a crash kept the row pending
                with writing(self.sessions) as session:
                    return _finish(session, job.id, subject, job.last_error, now)
            self.transport.send(raw, self.sender, job.envelope)
        except RecipientsRefused as e:
            return self._refused(job, e, subject, now)
        except (TransientSendError, SendConfigurationError, TemplateError) as e:
            # a wrong password or a broken template is mended by an administrator: keep the
            # mail and try again later rather than dropping it
            return self._retry(job, f"{_kind(e)}: {e}", now)
        except PermanentSendError as e:
            return self._fail(job, f"permanent: {e}", now)
        self._record_sent(job, subject)
        journal.tell_sent(job.id, job.kind, job.message_id, job.in_reply_to)
        return SENT

    def _record_sent(self, job: _Job, subject: str) -> None:
        """Mark the row sent. The mail is out: while the database is away, keep trying for
        most of the claim, since a row left pending is sent again once its claim expires."""
        deadline, delay = time.monotonic() + RECORD_PATIENCE.total_seconds(), 1.0
        while True:
            try:
                with writing(self.sessions) as session:
                    outbox.mark_sent(session, job.id, subject, datetime.now(UTC))
                return
            except Exception as e:
                outage = database_outage(e)
                if outage is None or time.monotonic() > deadline:
                    raise
                log.warning(
                    "outbox %s was sent; recording it waits for the database (%s)",
                    job.id,
                    outage.reason,
                )
                time.sleep(delay)  # a worker thread: nothing else waits on it
                delay = min(delay * 2, 30.0)

    def _compose(self, job: _Job) -> tuple[bytes, str]:
        rendered = self.renderer.render(job.kind, job.context, job.lang)
        files = build_attachments(job.context.get("files") or ())
        raw = compose(
            rendered,
            from_addr=self.sender,
            from_name=self.sender_name,
            to=job.to,
            cc=job.cc,
            message_id=job.message_id,
            in_reply_to=job.in_reply_to,
            references=job.references,
            auto_submitted=job.auto_submitted,
            date=datetime.now(self.timezone),
            attachments=files,
        )
        return raw, rendered.subject

    def _refused(self, job: _Job, e: RecipientsRefused, subject: str, now: datetime) -> str:
        """Some recipients answered alone: the accepted got it, a 5xx fails that recipient
        (the administrators hear of it), a 4xx keeps it pending for a later attempt alone."""
        if not e.refused:
            return self._fail(job, f"permanent: {e}", now)
        answers = refusal_answers(e)
        refused = {a: e.refused[a] for a, ans in answers.items() if ans.status == RECIPIENT_FAILED}
        deferred = len(refused) < len(e.refused)
        log.warning("outbox %s: %s", job.id, e)
        with writing(self.sessions) as session:
            row = session.get(OutboxMail, job.id, with_for_update=True)
            if row is None:
                return SKIPPED
            recipients.record(session, row, answers, now)
            if refused and job.kind not in NOTICES and self.administrators:
                notice = refusal_notice(row, refused, self.administrators, self.sender, now)
                outbox.add_if_new(session, notice)
            if not deferred:
                return _finish(session, job.id, subject, f"permanent: {e}", now)
        return self._retry(job, f"temporary: {e}", now)

    def _retry(self, job: _Job, error: str, now: datetime) -> str:
        if job.attempts >= MAX_ATTEMPTS:
            return self._fail(job, f"gave up after {job.attempts} attempts; last {error}", now)
        delay = min(LONGEST_RETRY, FIRST_RETRY * 2 ** (job.attempts - 1))
        at = now + delay * random.uniform(0.8, 1.2)
        log.warning("outbox %s: %s; next attempt at %s", job.id, error, at.isoformat())
        with writing(self.sessions) as session:
            outbox.mark_retry(session, job.id, error, at)
        return RETRY

    def _fail(self, job: _Job, error: str, now: datetime) -> str:
        log.error("outbox %s failed for good: %s", job.id, error)
        with writing(self.sessions) as session:
            row = outbox.mark_failed(session, job.id, error, now)
            if row is not None and job.kind not in NOTICES and self.administrators:
                notice = admin_notice(row, self.administrators, self.sender, now, self.sender_name)
                outbox.add_if_new(session, notice)
        return FAILED


def _finish(
    session: Session, outbox_id: int, subject: str, error: str | None, now: datetime
) -> str:
    """Close a row no recipient of which is pending: sent when anyone got it, else failed."""
    if recipients.any_with_status(session, outbox_id, RECIPIENT_SENT):
        outbox.mark_sent(session, outbox_id, subject, now)
        row = session.get(OutboxMail, outbox_id)
        if row is not None and error:
            row.last_error = error
        return SENT
    outbox.mark_failed(session, outbox_id, error or "no recipient is left to send to", now)
    return FAILED


def refusal_answers(e: RecipientsRefused) -> dict[str, recipients.Answer]:
    """Return each recipient's new state after a partial refusal: the accepted got it, a 4xx
    stays pending (tried again alone), a 5xx failed."""
    answers = {a: recipients.Answer(RECIPIENT_SENT) for a in e.accepted}
    for address, (code, text) in e.refused.items():
        status = RECIPIENT_PENDING if 400 <= code < 500 else RECIPIENT_FAILED
        answers[address] = recipients.Answer(status, code, text)
    return answers


def _kind(e: Exception) -> str:
    if isinstance(e, TransientSendError):
        return "temporary"
    return "template" if isinstance(e, TemplateError) else "configuration"


@dataclass(frozen=True)
class _Job:
    id: int
    kind: str
    lang: str
    context: dict[str, Any]
    to: list[str]
    cc: list[str]
    message_id: str
    in_reply_to: str | None
    references: list[str]
    auto_submitted: str
    attempts: int
    last_error: str | None
    envelope: list[str]  # the recipients still to reach: all, or those a 4xx deferred

    @classmethod
    def of(cls, row: OutboxMail, envelope: list[str]) -> _Job:
        return cls(
            row.id,
            row.kind,
            row.lang,
            dict(row.context),
            list(row.to_addrs),
            list(row.cc_addrs),
            row.message_id,
            row.in_reply_to,
            list(row.references),
            row.auto_submitted,
            row.attempts,
            row.last_error,
            envelope,
        )


def admin_notice(
    failed: OutboxMail,
    administrators: Sequence[str],
    sender: str,
    now: datetime,
    org_name: str = "",
) -> OutboxMail:
    """Return the one outbox row that tells the administrators ``failed`` could not be sent."""
    problem = (
        f"{failed.kind} to {', '.join([*failed.to_addrs, *failed.cc_addrs])}"
        f" ({failed.message_id}), {failed.attempts} attempt(s): {failed.last_error or ''}"
    )
    seed = f"admin-notice:{failed.key}"
    return _notice(ADMIN_NOTICE, seed, [problem], administrators, (org_name, sender), now)


def refusal_notice(
    row: OutboxMail,
    refused: Mapping[str, tuple[int, str]],
    administrators: Sequence[str],
    sender: str,
    now: datetime,
) -> OutboxMail:
    """Return the outbox row telling the administrators that some recipients of ``row`` were
    refused for good (once per mail and set of addresses); the others got it."""
    problems = [
        f"{row.kind} ({row.message_id}) was refused for {address}: {code} {text}"
        for address, (code, text) in sorted(refused.items())
    ]
    seed = f"admin-notice:{row.key}:" + ",".join(sorted(a.lower() for a in refused))
    org_name = str((row.context.get("organization") or {}).get("name") or "")
    return _notice(ADMIN_NOTICE, seed, problems, administrators, (org_name, sender), now)


def rules_error_notice(
    problems: Sequence[str],
    administrators: Sequence[str],
    sender: str,
    now: datetime,
    org_name: str = "",
) -> OutboxMail:
    """Return the outbox row telling the administrators a rule edit was refused (once per set)."""
    seed = "rules-error:" + "\n".join(problems)
    return _notice(RULES_NOTICE, seed, list(problems), administrators, (org_name, sender), now)


def _notice(
    kind: str,
    seed: str,
    problems: list[str],
    administrators: Sequence[str],
    org: tuple[str, str],
    now: datetime,
) -> OutboxMail:
    name, sender = org
    context = {
        "organization": {"name": name, "shared_address": sender},
        "recipient": {"name": "", "address": administrators[0]},
        "rule": {"name": kind},
        "message": None,
        "problems": problems,
    }
    return outbox_row(
        key=key_of(seed),
        kind=kind,
        rule=None,
        to=administrators,
        cc=(),
        context=context,
        domain=sender.rpartition("@")[2],
        now=now,
    )
