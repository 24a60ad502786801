"""The scheduler's turn: what it enqueues, and what it enqueues at once after a broker outage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from mailflow.jobs.broker import QUEUE
from mailflow.jobs.dispatch import Dispatcher
from mailflow.jobs.runner import Watch, live_rules, sweep_turn
from mailflow.service.directory_sync import DirectorySyncClock
from mailflow.service.poll import poll_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.store.migrate import upgrade
from tests.example_site import example_settings


@pytest.fixture
def decided(tmp_path: Path) -> Iterator[tuple[Runtime, list[int]]]:
    """The example inbox stored and decided a moment ago, its outbox rows never enqueued (as
    when the broker was away): the runtime and those rows' ids."""
    url = f"sqlite:///{tmp_path / 'mailflow.db'}"
    upgrade(url)
    settings = example_settings(tmp_path, url, transport=f"file://{tmp_path / 'sent'}")
    runtime = build_runtime(settings)
    try:
        report = poll_once(
            open_source(settings), runtime.sessions, runtime.context, None, runtime.rulebook
        )
        assert report.outbox_ids
        yield runtime, sorted(report.outbox_ids)
    finally:
        runtime.close()


def _turn(runtime: Runtime, *, broker_was_down: bool) -> list[int]:
    """Run one scheduler turn against a queue nobody takes from; return the ids it enqueued."""
    broker = StubBroker()
    with Dispatcher(broker, runtime.courier, serve=True) as dispatcher:
        dispatcher._worker.stop()  # type: ignore[union-attr]  # keep the messages in the queue
        sweep_turn(
            runtime,
            live_rules(runtime),
            dispatcher,
            DirectorySyncClock(runtime.settings),
            broker_was_down=broker_was_down,
        )
        queue = broker.queues.get(QUEUE)
        ids: list[int] = []
        while queue is not None and not queue.empty():
            ids.extend(Message.decode(queue.get_nowait()).args[0])
    return sorted(ids)


def test_rows_decided_a_moment_ago_are_left_to_the_enqueue_that_decided_them(
    decided: tuple[Runtime, list[int]],
) -> None:
    """A row younger than STUCK_AFTER was enqueued when it was decided: the sweep leaves it."""
    runtime, _ = decided
    assert _turn(runtime, broker_was_down=False) == []


def test_the_first_turn_after_a_broker_outage_enqueues_every_due_row(
    decided: tuple[Runtime, list[int]],
) -> None:
    """Rows decided while the broker was away (or lost with its queue) go out at once, not
    STUCK_AFTER later."""
    runtime, ids = decided
    assert _turn(runtime, broker_was_down=True) == ids


def test_the_watch_says_the_broker_is_down_until_an_attempt_reaches_it() -> None:
    """`Watch.down` is what `run` and `scheduler` pass as ``broker_was_down``."""
    watch = Watch("scheduler", None)  # the in-process broker: the probe always answers

    def refused() -> None:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    assert not watch.down("broker")
    assert watch.attempt(refused) is not None
    assert watch.down("broker") and not watch.down("database")
    assert watch.attempt(lambda: None) is None
    assert not watch.down("broker")
