"""The long-running commands and their ``--once``: ``poll``, ``run``, ``worker``, ``scheduler``.
Registered on the app by ``mailflow.cli``."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from mailflow.cli.common import (
    JsonFlag,
    OnceFlag,
    aware,
    err,
    fail,
    guard,
    open_runtime,
    out,
    read_settings,
)
from mailflow.errors import MailflowError

if TYPE_CHECKING:
    from mailflow.service.runtime import Runtime
    from mailflow.sources.base import MailSource


def poll(once: OnceFlag = False) -> None:
    """Read the mailbox, store new mail and decide about it (IDLE where the server has it).

    Deliveries go to the broker; without MAILFLOW_BROKER_URL they wait for `mailflow run` or
    `mailflow scheduler`.
    """
    from mailflow.cli import views
    from mailflow.service.heap import fix_mmap_threshold, freeze_start_up
    from mailflow.service.poll import poll_once

    fix_mmap_threshold()
    if once:
        _parse_ahead()
    stop = None if once else _serve()
    with open_runtime(last_good=True, wait=stop) as runtime, guard():
        source = _source(runtime)
        freeze_start_up()  # the rules and the directory live as long as the command
        if stop is not None:
            from mailflow.jobs.runner import run_forever

            with _metrics(runtime, "poll"):
                run_forever(runtime, source, stop, serve=False)
            return
        with views.IngestProgress(err, source.name) as progress:
            report = poll_once(
                source,
                runtime.sessions,
                runtime.context,
                progress.update,
                runtime.rulebook,
                parse_workers=runtime.settings.parse_workers,
            )
        if runtime.settings.broker_url:
            from mailflow.jobs.broker import build_broker
            from mailflow.jobs.dispatch import Dispatcher

            with Dispatcher(build_broker(runtime.settings.broker_url), runtime.courier) as d:
                d.enqueue(report.outbox_ids)
        views.print_report(err, report)


def run(once: OnceFlag = False) -> None:
    """Poller, workers and scheduler in one process (the embedded default)."""
    from mailflow.cli import outbox_view, views
    from mailflow.jobs.runner import run_forever, run_once
    from mailflow.service.heap import fix_mmap_threshold, freeze_start_up

    fix_mmap_threshold()
    if once:
        _parse_ahead()
    stop = None if once else _serve()
    with open_runtime(last_good=True, wait=stop) as runtime, guard():
        source = _source(runtime)
        freeze_start_up()  # the rules and the directory live as long as the command
        if stop is not None:
            err.print(f"mailflow runs on {source.name}; Ctrl-C stops")
            with _metrics(runtime, "run"):
                run_forever(runtime, source, stop)
            return
        with views.IngestProgress(err, source.name) as progress:
            result = run_once(runtime, source, progress.update)
        views.print_report(err, result.ingest)
        views.print_messages(out, runtime.sessions, runtime.context.timezone, limit=50)
        outbox_view.print_outbox(out, runtime.sessions, runtime.context.timezone, limit=50)
        outbox_view.print_outbox_summary(err, result.outbox, runtime.settings.transport)


def worker() -> None:
    """Deliver outgoing mail from the shared broker (MAILFLOW_BROKER_URL) until stopped."""
    from mailflow.jobs.runner import serve_forever
    from mailflow.service.heap import fix_mmap_threshold, freeze_start_up

    if not read_settings().broker_url:
        fail(
            "MAILFLOW_BROKER_URL is not set: with the in-process broker `mailflow run`"
            " delivers mail itself; set redis://… or amqp://… to run separate workers"
        )
    fix_mmap_threshold()
    stop = _serve()
    with open_runtime(last_good=True, wait=stop) as runtime, guard():
        sessions = runtime.delivery_threads
        shared = ", the mailbox's limit for all workers" if runtime.sessions_shared else ""
        err.print(
            f"worker started: up to {sessions} mails at once (sessions={sessions}{shared});"
            " Ctrl-C stops"
        )
        freeze_start_up()
        with _metrics(runtime, "worker"):
            serve_forever(runtime, stop)


def scheduler(
    once: OnceFlag = False,
    now: Annotated[
        datetime | None,
        typer.Option(
            help="Evaluate as of this instant (ISO 8601), e.g. to preview.",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --once: list what is due; write nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The clocks (reminders, chases, escalations, the weekly record) and the outbox sweep."""
    from mailflow.cli import outbox_view
    from mailflow.jobs.runner import run_forever, sweep_once, tick

    if dry_run and not once:
        fail("--dry-run goes with --once")
    stop = None if once else _serve()
    with open_runtime(last_good=not dry_run, wait=stop) as runtime, guard():
        moment = aware(now, runtime.context.timezone) if now else None
        if dry_run:
            due = tick(runtime, moment, dry_run=True)
            if as_json:
                tz = runtime.context.timezone
                print(json.dumps([outbox_view.clock_row(m, tz) for m in due], ensure_ascii=False))
            else:
                outbox_view.print_clock_mails(out, due, runtime.context.timezone)
            return
        if once:
            ids = sweep_once(runtime, moment)
            err.print(f"{len(ids)} outbox row(s) were due and enqueued")
            return
        assert stop is not None
        with _metrics(runtime, "scheduler"):
            run_forever(runtime, None, stop)


def _source(runtime: Runtime) -> MailSource:
    from mailflow.service.runtime import open_source

    try:
        return open_source(runtime.settings)
    except MailflowError as e:
        fail(str(e))


def _parse_ahead() -> None:
    """Start the parse workers' forkserver as a one-off pass starts (``--once``): it imports
    the parser on the other core while this process reads its rules and templates, so a
    backlog's first batch does not wait for it. Long-running commands start it at their first
    big batch instead, so a service that only ever sees a mail or two keeps no extra process."""
    from mailflow.service.parsing import start_forkserver

    start_forkserver(read_settings().parse_workers)


def _serve() -> threading.Event:
    """Set up a long-running command: its progress is logged (INFO) and SIGINT/SIGTERM stop it;
    return the event they set."""
    from mailflow.cli.logs import at_least

    at_least(logging.INFO)
    return _stop_on_signals()


@contextmanager
def _metrics(runtime: Runtime, command: str) -> Iterator[None]:
    """Serve Prometheus metrics while ``command`` runs, when MAILFLOW_METRICS_PORT is set."""
    from mailflow.jobs.metrics import serving_metrics

    with serving_metrics(runtime, command):
        yield


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
