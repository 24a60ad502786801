"""The dispatcher hands ids to workers, and never fills a queue nobody serves."""

from __future__ import annotations

from dramatiq.brokers.stub import StubBroker

from mailflow.jobs.actors import BATCH, SPREAD, batches
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
        def deliver_many(self, outbox_ids: list[int]) -> dict[int, str]:
            delivered.extend(outbox_ids)
            return dict.fromkeys(outbox_ids, "sent")

    with Dispatcher(StubBroker(), Courier) as dispatcher:  # type: ignore[arg-type]
        dispatcher.enqueue([1, 2, 3])
        dispatcher.drain()
    assert sorted(delivered) == [1, 2, 3]


def test_thousands_of_ids_go_in_batches() -> None:
    """5,000 ids are 250 broker messages of 20, in order, each id once."""
    broker = StubBroker()
    ids = list(range(1, 5001))
    with Dispatcher(broker, _no_courier, serve=True) as dispatcher:
        dispatcher._worker.stop()  # type: ignore[union-attr]  # keep the messages in the queue
        dispatcher.enqueue(ids)
        queued = [m.args[0] for m in _messages(broker)]
    assert len(queued) == 5000 // BATCH
    assert [i for batch in queued for i in batch] == ids


def test_a_few_ids_are_spread_over_many_threads() -> None:
    """Fewer ids than BATCH * SPREAD are cut smaller; one id is one batch."""
    assert batches([7]) == [[7]]
    assert batches(list(range(SPREAD))) == [[i] for i in range(SPREAD)]
    assert [len(b) for b in batches(list(range(SPREAD * 3)))] == [3] * SPREAD
    assert batches([]) == []


def _messages(broker: StubBroker) -> list:  # type: ignore[type-arg]
    from dramatiq import Message

    queue = broker.queues[QUEUE]
    found = []
    while not queue.empty():
        found.append(Message.decode(queue.get_nowait()))
    return found
