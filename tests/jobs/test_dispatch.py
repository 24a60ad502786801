"""The dispatcher hands ids to workers, and never fills a queue nobody serves."""

from __future__ import annotations

from dramatiq.brokers.stub import StubBroker

from mailflow.jobs.broker import QUEUE
from mailflow.jobs.dispatch import Dispatcher


def _no_courier():  # type: ignore[no-untyped-def]
    raise AssertionError("nothing should be delivered")


def test_unserved_in_process_queue_stays_empty() -> None:
    """`mailflow poll` without a shared broker enqueues nothing: the sweep of `run` sends later."""
    broker = StubBroker()
    with Dispatcher(broker, _no_courier, serve=False) as dispatcher:
        dispatcher.enqueue([1, 2, 3])
        assert broker.queues.get(QUEUE) is None or broker.queues[QUEUE].qsize() == 0


def test_served_in_process_queue_runs_deliveries() -> None:
    """With worker threads in this process, each enqueued id is handed to a courier."""
    delivered: list[int] = []

    class Courier:
        def deliver(self, outbox_id: int) -> str:
            delivered.append(outbox_id)
            return "sent"

    with Dispatcher(StubBroker(), Courier) as dispatcher:  # type: ignore[arg-type]
        dispatcher.enqueue([1, 2, 3])
        dispatcher.drain()
    assert sorted(delivered) == [1, 2, 3]
