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

from mailflow.errors import ServiceUnavailable
from mailflow.jobs.broker import broker_outage, build_broker, probe_broker
from mailflow.jobs.dispatch import ONE_PASS_TIMEOUT_MS, Dispatcher
from mailflow.service.clock_mail import ClockMail, sweep_clocks
from mailflow.service.directory_sync import DirectorySyncClock
from mailflow.service.ingest import IngestReport
from mailflow.service.live import LiveRules, Rules
from mailflow.service.outage import Outage
from mailflow.service.poll import poll_forever, poll_once
from mailflow.service.runtime import Runtime
from mailflow.service.sweep import STUCK_AFTER, due_outbox, settle_interrupted
from mailflow.sources.base import MailSource
from mailflow.store import outbox
from mailflow.store.db import database_outage, probe_database

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
    """Let every clock write what has come due as of ``now``; return those mails. Then keep
    PostgreSQL's statistics up with what the clocks and deliveries changed (``store.planner``)."""
    written = sweep_clocks(
        runtime.sessions,
        runtime.rulebook,
        runtime.context,
        now or datetime.now(UTC),
        dry_run=dry_run,
    )
    if not dry_run:
        runtime.planner.refresh()
    return written


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
    threads = runtime.delivery_threads
    courier = lambda: runtime.courier(now)  # noqa: E731
    with Dispatcher(broker, courier, threads=threads, timeout_ms=ONE_PASS_TIMEOUT_MS) as dispatcher:
        settle_interrupted(runtime.sessions, runtime.sent_folder, now)
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
    A database or broker that goes away is waited for (``Watch``); the outbox is the truth,
    so what could not be enqueued meanwhile is found again by the sweep.
    """
    live = live_rules(runtime)
    directory = DirectorySyncClock(runtime.settings)
    broker = build_broker(runtime.settings.broker_url)
    watch = Watch("scheduler" if source is None else "run", runtime.settings.broker_url)
    courier = lambda: runtime.courier(renderer=live)  # noqa: E731 - deliveries follow reloads
    with Dispatcher(broker, courier, serve=serve, threads=runtime.delivery_threads) as dispatcher:
        poller = _start_poller(runtime, source, live, dispatcher, stop) if source else None

        def turn() -> None:
            sweep_turn(runtime, live, dispatcher, directory, broker_was_down=watch.down("broker"))

        while not stop.is_set():
            stop.wait(watch.attempt(turn) or SWEEP_EVERY_S)
        if poller is not None and source is not None:
            source.interrupt()  # an IDLE or a wait must not hold up the shutdown
            poller.join(timeout=30)


def sweep_turn(
    runtime: Runtime,
    live: LiveRules,
    dispatcher: Dispatcher,
    directory: DirectorySyncClock,
    *,
    broker_was_down: bool = False,
) -> None:
    """One turn of the scheduler: reload rules, run the clocks and the directory sync, enqueue
    what is due.

    Rows are normally enqueued when they are decided; the sweep takes those a worker has not
    claimed after STUCK_AFTER. The first turn after a broker outage takes every due row at
    once: what was decided meanwhile could not be enqueued, and a broker that keeps nothing
    on disk (Redis by default) has lost its queue. A row enqueued twice is delivered once
    (the courier claims it)."""
    dispatcher.enqueue(live.refresh(runtime.sessions))
    rules = live.current
    now = datetime.now(UTC)
    fresh = sweep_clocks(runtime.sessions, rules.rulebook, rules.context, now)
    dispatcher.enqueue(m.outbox_id for m in fresh if m.outbox_id is not None)
    settle_interrupted(runtime.sessions, runtime.sent_folder, now)
    grace = timedelta(0) if broker_was_down else STUCK_AFTER
    dispatcher.enqueue(due_outbox(runtime.sessions, now, grace))
    dispatcher.enqueue(directory.tick(runtime.sessions, rules.rulebook.organization, now))


def serve_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Deliver what the shared broker hands this process (``mailflow worker``) until ``stop``;
    template and rule edits that validate take effect here too, others never do.

    Dramatiq's consumers reconnect by themselves; the watch checks the broker and the
    database every few seconds and says when either is away, and for how long.
    """
    live = live_rules(runtime)
    broker = build_broker(runtime.settings.broker_url)
    watch = Watch("worker", runtime.settings.broker_url)
    courier = lambda: runtime.courier(renderer=live)  # noqa: E731 - deliveries follow reloads
    with Dispatcher(broker, courier, serve=True, threads=runtime.delivery_threads) as dispatcher:

        def turn() -> None:
            dispatcher.enqueue(live.refresh(runtime.sessions))
            watch.probe(runtime)

        while not stop.is_set():
            stop.wait(watch.attempt(turn) or SWEEP_EVERY_S)


class Watch:
    """The database and the broker as one long-running component sees them."""

    def __init__(self, component: str, broker_url: str | None) -> None:
        self.component, self.broker_url = component, broker_url
        self.outages = {
            "database": Outage(component, "database", log),
            "broker": Outage(component, "broker", log),
        }

    def classify(self, e: BaseException) -> ServiceUnavailable | None:
        """Return the outage ``e`` means (database or broker), or None."""
        return database_outage(e) or broker_outage(e)

    def down(self, server: str) -> bool:
        """Return whether the last attempt found ``server`` (database, broker) unreachable."""
        return self.outages[server].down_for_s is not None

    def probe(self, runtime: Runtime) -> None:
        """Raise ServiceUnavailable unless both the database and the broker answer."""
        probe_broker(self.broker_url)
        probe_database(runtime.engine)

    def attempt(self, work: Callable[[], object]) -> float | None:
        """Run ``work``, then check the broker (so its outage is told even when there was
        nothing to enqueue); on an outage say so and return the seconds to wait, else None."""
        try:
            work()
        except Exception as e:
            return self._failed(e)
        self.outages["database"].recovered()
        try:
            probe_broker(self.broker_url)
        except Exception as e:
            return self._failed(e)
        self.outages["broker"].recovered()
        return None

    def _failed(self, e: Exception) -> float:
        outage = self.classify(e)
        if outage is None:
            raise e
        if outage.server == "broker":
            self.outages["database"].recovered()  # the broker is only used after the database
        return self.outages[outage.server].failed(outage)


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
        try:
            self.dispatcher.enqueue(report.outbox_ids[self.done :])
        except Exception as e:
            # committed already: the sweep enqueues these rows once the broker is back
            if broker_outage(e) is None:
                raise
            log.warning(
                "could not enqueue %d mail(s) now (%s); the sweep will",
                len(report.outbox_ids) - self.done,
                e,
            )
        self.done = len(report.outbox_ids)
