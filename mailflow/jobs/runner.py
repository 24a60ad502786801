"""The long-running shapes of mailflow: run (all in one), worker, scheduler; and their --once.

Each ties a poller, the dispatcher and the sweep together; the work itself lives in
``service``. Ids are enqueued only after the transaction that wrote them committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mailflow.jobs.broker import build_broker
from mailflow.jobs.dispatch import Dispatcher
from mailflow.service.clock_mail import ClockMail, sweep_clocks
from mailflow.service.ingest import IngestReport
from mailflow.service.live import LiveRules, Rules
from mailflow.service.poll import poll_forever, poll_once
from mailflow.service.runtime import Runtime
from mailflow.service.sweep import due_outbox
from mailflow.sources.base import MailSource
from mailflow.store import outbox

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0


@dataclass
class OnceReport:
    """What ``run --once`` did: the ingest pass and the outbox afterwards."""

    ingest: IngestReport
    outbox: dict[str, int] = field(default_factory=dict)
    sent_here: bool = True


def live_rules(runtime: Runtime) -> LiveRules:
    """Return the reloadable rules, starting from the runtime's validated set."""
    return LiveRules(runtime.settings, Rules(runtime.rulebook, runtime.templates, runtime.context))


def run_once(
    runtime: Runtime,
    source: MailSource,
    on_batch: Callable[[IngestReport], None] | None = None,
    now: datetime | None = None,
) -> OnceReport:
    """Ingest what is there, decide, and send what is due; return what happened."""
    report = poll_once(
        source,
        runtime.sessions,
        runtime.context,
        on_batch,
        runtime.rulebook,
        now,
        runtime.settings.parse_workers,
    )
    tick(runtime, now)
    _, served = _send_due(runtime, now)
    with runtime.sessions() as session:
        counts = outbox.count_by_status(session)
    return OnceReport(report, counts, served)


def tick(
    runtime: Runtime, now: datetime | None = None, *, dry_run: bool = False
) -> list[ClockMail]:
    """Let every clock write what has come due as of ``now``; return those mails."""
    return sweep_clocks(
        runtime.sessions,
        runtime.rulebook,
        runtime.context,
        now or datetime.now(UTC),
        dry_run=dry_run,
    )


def sweep_once(runtime: Runtime, now: datetime | None = None) -> list[int]:
    """Run the clocks, enqueue every due outbox row (``mailflow scheduler --once``) and, with
    the in-process broker, send them."""
    tick(runtime, now)
    due, _ = _send_due(runtime, now)
    return due


def _send_due(runtime: Runtime, now: datetime | None) -> tuple[list[int], bool]:
    """Enqueue every outbox row due at ``now`` and wait until the broker's queue is drained;
    return the rows enqueued and whether this process serves the queue itself."""
    broker = build_broker(runtime.settings.broker_url)
    with Dispatcher(broker, lambda: runtime.courier(now)) as dispatcher:
        due = due_outbox(runtime.sessions, now, grace=timedelta(0))
        dispatcher.enqueue(due)
        dispatcher.drain()
        return due, dispatcher.serves


def run_forever(
    runtime: Runtime,
    source: MailSource | None,
    stop: threading.Event,
    *,
    serve: bool | None = None,
) -> None:
    """Poll (when given a source), sweep, reload rules, and serve deliveries until ``stop``.

    ``serve`` runs delivery workers in this process; by default only for the in-process broker.
    """
    live = live_rules(runtime)
    broker = build_broker(runtime.settings.broker_url)
    with Dispatcher(broker, runtime.courier, serve=serve) as dispatcher:
        poller = _start_poller(runtime, source, live, dispatcher, stop) if source else None
        while not stop.is_set():
            dispatcher.enqueue(live.refresh(runtime.sessions))
            rules = live.current
            now = datetime.now(UTC)
            fresh = sweep_clocks(runtime.sessions, rules.rulebook, rules.context, now)
            dispatcher.enqueue(m.outbox_id for m in fresh if m.outbox_id is not None)
            dispatcher.enqueue(due_outbox(runtime.sessions, now))
            stop.wait(SWEEP_EVERY_S)
        if poller is not None and source is not None:
            source.interrupt()  # an IDLE or a wait must not hold up the shutdown
            poller.join(timeout=30)


def serve_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Deliver what the shared broker hands this process (``mailflow worker``) until ``stop``."""
    broker = build_broker(runtime.settings.broker_url)
    with Dispatcher(broker, runtime.courier, serve=True):
        stop.wait()


def _start_poller(
    runtime: Runtime,
    source: MailSource,
    live: LiveRules,
    dispatcher: Dispatcher,
    stop: threading.Event,
) -> threading.Thread:
    on_batch = _Enqueuer(dispatcher)

    def poll() -> None:
        try:
            poll_forever(
                source,
                runtime.sessions,
                runtime.context,
                stop,
                runtime.settings.poll_interval_s,
                on_batch,
                live.pair,
                runtime.settings.parse_workers,
            )
        except Exception:
            log.exception("the poller stopped; mailflow stops with it")
            stop.set()

    thread = threading.Thread(target=poll, name="mailflow-poller", daemon=True)
    thread.start()
    return thread


@dataclass
class _Enqueuer:
    """Enqueues the outbox ids each committed batch added; every ingest pass has its own report."""

    dispatcher: Dispatcher
    report: IngestReport | None = None
    done: int = 0

    def __call__(self, report: IngestReport) -> None:
        if report is not self.report:
            self.report, self.done = report, 0
        self.dispatcher.enqueue(report.outbox_ids[self.done :])
        self.done = len(report.outbox_ids)
