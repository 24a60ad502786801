"""Delivery: one outbox row becomes one sent mail, exactly once as far as mailflow can tell.

Claim the row (a short lease), render its template with the context stored at decision time,
compose it with the row's fixed Message-ID, hand it to the transport, record the outcome. A
temporary failure (4xx, a dropped connection) schedules another attempt with exponential
backoff; a permanent one (5xx) marks the row failed and tells the administrators once. A worker
killed mid-send leaves the claim to expire and the sweep enqueues the row again; the fixed
Message-ID makes that rare resend recognisable as the same mail (invariants 3 to 5).

``deliver_many`` takes a batch of ids (one broker message): one statement claims every row of
the batch, the rows are composed and sent one by one, and each sent mail is recorded (one
UPDATE on a connection held for the batch) before the next one goes out, so batching does not
widen the window in which a killed worker leaves a sent mail unrecorded.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import PermanentSendError, SessionsBusy, TemplateError, TransientSendError
from mailflow.outbound.attachments import build_attachments
from mailflow.outbound.compose import compose
from mailflow.outbound.render import Renderer
from mailflow.outbound.transports import RecipientsRefused, SendConfigurationError, Transport
from mailflow.service import journal
from mailflow.service.admin_notices import NOTICES, admin_notice, refusal_notice
from mailflow.store import outbox, recipients
from mailflow.store.db import database_outage, held_session, writing
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
SENT, RETRY, FAILED, SKIPPED = "sent", "retry", "failed", "skipped"
# how long a sent mail's row waits for a database outage to end (its claim lasts 5 min)
RECORD_PATIENCE = outbox.CLAIM - timedelta(seconds=30)
# a batch stops using its claims after this; the rest are released for another worker
BATCH_CLAIM_USE = outbox.CLAIM / 2


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
        return self.deliver_many([outbox_id], now).get(outbox_id, SKIPPED)

    def deliver_many(
        self, outbox_ids: Iterable[int], now: datetime | None = None
    ) -> dict[int, str]:
        """Claim the rows among ``outbox_ids`` that are due and unclaimed, in one statement,
        and send them one after the other; return each id's outcome (skipped when not claimed).

        Each sent mail is recorded before the next goes out. Rows still unsent when the batch
        has used half its claim are released for the sweep to hand out again.
        """
        now = now or self.clock()
        ids = list(dict.fromkeys(outbox_ids))
        outcome = dict.fromkeys(ids, SKIPPED)
        with held_session(self.sessions) as held:
            jobs = _claim(held, ids, now)
            started = time.monotonic()
            record: Session | None = held
            for n, job in enumerate(jobs):
                if n and time.monotonic() - started > BATCH_CLAIM_USE.total_seconds():
                    with held.begin():
                        outbox.release(held, [j.id for j in jobs[n:]])
                    break
                try:
                    outcome[job.id], record = self._deliver_job(job, now, record)
                except SessionsBusy as e:  # other threads hold every session the mailbox allows
                    log.warning("outbox %s: %s; back to the outbox", _ids(jobs[n:]), e)
                    with writing(self.sessions) as session:
                        outbox.release(session, [j.id for j in jobs[n:]])
                    break
        return outcome

    def _deliver_job(
        self, job: _Job, now: datetime, record: Session | None
    ) -> tuple[str, Session | None]:
        """Send one claimed row; return its outcome and the session to record the next one
        with (None once the held connection failed: then each record opens its own)."""
        quick: _QuickRecord | None = None
        try:
            raw, subject = self._compose(job)
            if not job.envelope:  # every recipient answered before a crash kept the row pending
                with writing(self.sessions) as session:
                    return _finish(session, job.id, subject, job.last_error, now), record
            quick = _QuickRecord(job, subject, record) if record and not job.has_lines else None
            self.transport.send(raw, self.sender, job.envelope, quick)
        except SessionsBusy:
            raise  # not this mail's failure: the batch goes back unsent, no attempt counted
        except RecipientsRefused as e:
            return self._refused(job, e, subject, now), _still(record, quick)
        except (TransientSendError, SendConfigurationError, TemplateError) as e:
            # a wrong password or a broken template is mended by an administrator: keep the
            # mail and try again later rather than dropping it
            return self._retry(job, f"{_kind(e)}: {e}", now), _still(record, quick)
        except PermanentSendError as e:
            return self._fail(job, f"permanent: {e}", now), _still(record, quick)
        if quick is None or not quick.done:
            self._record_patiently(job, subject)
            record = None if quick is not None else record
        journal.tell_sent(job.id, job.kind, job.message_id, job.in_reply_to)
        return SENT, record

    def _record_patiently(self, job: _Job, subject: str) -> None:
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
            to=job.to_addrs,
            cc=job.cc_addrs,
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


@dataclass
class _QuickRecord:
    """Records a sent mail the moment the server accepted it: one UPDATE on the held
    connection, run by the transport before it even returns (for SMTP in its event loop's
    thread, one thread hop earlier than the courier could). Never raises: a failure leaves
    ``done`` false and the courier records the row the patient way."""

    job: _Job
    subject: str
    held: Session
    entered: bool = False
    done: bool = False

    def __call__(self) -> None:
        self.entered = True
        try:
            with self.held.begin():
                outbox.mark_sent_alone(
                    self.held, self.job.id, self.subject, datetime.now(UTC), self.job.context
                )
            self.done = True
        except Exception as e:
            log.warning("outbox %s was sent; recording it at once failed: %s", self.job.id, e)


def _still(record: Session | None, quick: _QuickRecord | None) -> Session | None:
    """Return the held session unless a quick record may still be using it or failed."""
    return None if quick is not None and quick.entered and not quick.done else record


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


def _ids(jobs: list[_Job]) -> str:
    return ", ".join(str(job.id) for job in jobs)


def _kind(e: Exception) -> str:
    if isinstance(e, TransientSendError):
        return "temporary"
    return "template" if isinstance(e, TemplateError) else "configuration"


@dataclass(frozen=True)
class _Job(outbox.Claimed):
    """A claimed row and what delivery still has to do for it."""

    envelope: list[str] = field(default_factory=list)  # the recipients still to reach
    has_lines: bool = False  # some recipient was answered for alone (a partial refusal) before

    @classmethod
    def of(cls, row: outbox.Claimed, envelope: list[str], has_lines: bool = False) -> _Job:
        return cls(**{f.name: getattr(row, f.name) for f in fields(row)},
                   envelope=envelope, has_lines=has_lines)  # fmt: skip


def _claim(session: Session, outbox_ids: list[int], now: datetime) -> list[_Job]:
    """Claim the due rows among ``outbox_ids`` (one statement) and read what each still has
    to reach (one query for the recipient lines of them all)."""
    with session.begin():
        rows = outbox.claim_many(session, outbox_ids, now)
        lines = recipients.of_rows(session, [row.id for row in rows])
    jobs = []
    for row in rows:
        settled = {
            line.address.lower()
            for line in lines.get(row.id, [])
            if line.status != RECIPIENT_PENDING
        }
        jobs.append(_Job.of(row, recipients.envelope(row, settled), row.id in lines))
    return jobs
