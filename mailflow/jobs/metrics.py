"""Prometheus metrics for poll, worker, scheduler and run (prometheus-client), opt-in.

``MAILFLOW_METRICS_PORT`` turns them on; they listen on ``MAILFLOW_METRICS_HOST``
(127.0.0.1 unless told otherwise, since they need no password). Each scrape takes one
health snapshot (``service.health``), the same ``mailflow status`` shows: the database is
the record, so every process reports the same counts and a scrape of any one is enough.
Each process's own resource use comes from the standard process collector, and what it did
from its log events: ``mailflow_events_total{event}`` counts the mails it stored, decided and
sent, the outages it saw begin and end, its poller's changes of role.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from mailflow.errors import ConfigurationError
from mailflow.jobs.broker import broker_kind, probe_broker
from mailflow.service.health import Health, check
from mailflow.service.runtime import Runtime

log = logging.getLogger(__name__)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"mailflow_{name}", doc, labels=labels)


class HealthCollector(Collector):
    """Turns one health snapshot per scrape into gauges."""

    def __init__(self, runtime: Runtime, component: str) -> None:
        self.runtime, self.component = runtime, component

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        url = self.runtime.settings.broker_url
        found = check(
            self.runtime.engine, self.runtime.sessions, lambda: probe_broker(url), broker_kind(url)
        )
        info = InfoMetricFamily("mailflow_process", "This mailflow process.", labels=["command"])
        info.add_metric([self.component], {"broker": found.broker["kind"]})
        yield info
        up = _gauge("up", "1 when the server answers.", ["server"])
        for server in ("database", "broker"):
            up.add_metric([server], 1.0 if getattr(found, server)["reachable"] else 0.0)
        yield up
        healthy = _gauge("healthy", "1 when `mailflow status` would exit 0.")
        healthy.add_metric([], 1.0 if found.healthy else 0.0)
        yield healthy
        yield from _stored(found)


def _stored(found: Health) -> Iterator[GaugeMetricFamily]:
    outbox = _gauge("outbox_mails", "Outgoing mails by status.", ["status"])
    for status, n in sorted(found.outbox.get("by_status", {}).items()):
        outbox.add_metric([status], float(n))
    yield outbox
    backlog = _gauge("outbox_backlog", "Pending outgoing mails that are due now.")
    backlog.add_metric([], float(found.outbox.get("backlog", 0)))
    yield backlog
    age = _gauge("outbox_oldest_pending_age_seconds", "How long the longest-waiting due mail has.")
    age.add_metric([], float(found.outbox.get("oldest_pending_age_s", 0)))
    yield age
    cut_short = _gauge(
        "outbox_cut_short", "Pending outgoing mails a worker died while sending (claim run out)."
    )
    cut_short.add_metric([], float(found.outbox.get("cut_short", 0)))
    yield cut_short
    held = _gauge(
        "smtp_sessions_held",
        "SMTP sessions delivery threads hold of an account's shared limit (sessions=).",
        ["account"],
    )
    limit = _gauge("smtp_sessions_limit", "An account's shared SMTP session limit.", ["account"])
    for s in found.outbox.get("smtp_sessions", ()):
        held.add_metric([s["account"]], float(s["held"]))
        limit.add_metric([s["account"]], float(s["limit"]))
    yield held
    yield limit
    messages = _gauge("messages", "Stored messages by status.", ["status"])
    for status, n in sorted(found.messages.items()):
        messages.add_metric([status], float(n))
    yield messages
    active = _gauge("poller_active", "1 while a poller holds the mailbox's lease.", ["source"])
    left = _gauge(
        "poller_lease_seconds_left", "Seconds the mailbox's lease still runs.", ["source"]
    )
    fetched = _gauge(
        "poller_last_fetch_timestamp_seconds", "When the mailbox was last read.", ["source"]
    )
    for p in found.pollers:
        active.add_metric([p["source"]], 1.0 if p["active"] else 0.0)
        left.add_metric([p["source"]], float(p["lease_left_s"]))
        if p["fetched_at"]:
            stamp = datetime.fromisoformat(p["fetched_at"]).timestamp()
            fetched.add_metric([p["source"]], stamp)
    yield from (active, left, fetched)
    yield from _mailbox_backlog(found)
    version = _gauge("rules_version", "The stored version of the rules in force.")
    version.add_metric([], float(found.rules.get("version") or 0))
    broken = _gauge("rules_broken", "1 while the rule files do not validate.")
    broken.add_metric([], 1.0 if found.rules.get("broken") else 0.0)
    yield from (version, broken)


def _mailbox_backlog(found: Health) -> Iterator[GaugeMetricFamily]:
    """The mail still waiting in each mailbox; no count sample while the source gives none."""
    count = _gauge(
        "mailbox_backlog",
        "Mails still waiting in the mailbox after the poller's last batch (absent when the"
        " source does not count them, as Exchange's sync).",
        ["source"],
    )
    more = _gauge(
        "mailbox_backlog_more", "1 while mail is still waiting in the mailbox.", ["source"]
    )
    for p in found.pollers:
        if p["mailbox_backlog"] is not None:
            count.add_metric([p["source"]], float(p["mailbox_backlog"]))
        more.add_metric([p["source"]], 1.0 if p["mailbox_backlog_more"] else 0.0)
    yield from (count, more)


class EventCounter(logging.Handler):
    """Counts the log records of mailflow's loggers that carry an ``event`` field."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(logging.INFO)
        self.total = Counter(
            "mailflow_events",
            "Events this process logged: stored, quarantined, decided, sent, unreachable, ...",
            ["event"],
            registry=registry,
        )

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if isinstance(event, str):
            self.total.labels(event).inc()


@contextmanager
def serving_metrics(runtime: Runtime, component: str) -> Iterator[int | None]:
    """Serve ``/metrics`` while the block runs when MAILFLOW_METRICS_PORT is set; yield the
    port it listens on (None when off)."""
    port = runtime.settings.metrics_port
    if port is None:
        yield None
        return
    registry = CollectorRegistry()
    registry.register(HealthCollector(runtime, component))
    ProcessCollector(registry=registry)
    counter = EventCounter(registry)
    host = runtime.settings.metrics_host
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:  # the port is taken, or the address is not this host's
        raise ConfigurationError(
            f"MAILFLOW_METRICS_PORT: cannot listen on {host}:{port}: {e.strerror or e}"
        ) from e
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    mailflow_log = logging.getLogger("mailflow")
    mailflow_log.addHandler(counter)
    try:
        yield server.server_port
    finally:
        mailflow_log.removeHandler(counter)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
