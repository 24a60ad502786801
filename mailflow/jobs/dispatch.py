"""Hands outbox ids to workers: a shared broker's, or worker threads in this very process.

With the in-process broker (MAILFLOW_BROKER_URL unset) the dispatcher runs Dramatiq worker
threads itself, so ``mailflow run`` needs no other process; ``drain`` waits until the queue is
empty, which ``--once`` uses before it exits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType

import dramatiq
from dramatiq import Broker
from dramatiq.brokers.stub import StubBroker

from mailflow.jobs.actors import Actors, declare_actors
from mailflow.jobs.broker import QUEUE, is_in_process
from mailflow.service.deliver import Courier

WORKER_THREADS = 4
# how long an idle worker thread waits for a message before checking for shutdown
WORKER_TIMEOUT_MS = 200
# the same for a dispatcher that lives for one pass (`run --once`, `scheduler --once`): Dramatiq
# stops its worker threads, then its consumer, each after its next wait, so a pass would end
# about 0.4 s after its last mail; 20 ms waits cost nothing over a pass's few seconds
ONE_PASS_TIMEOUT_MS = 20


class Dispatcher:
    """Enqueues deliveries; owns worker threads when the broker is in-process."""

    def __init__(
        self,
        broker: Broker,
        courier_factory: Callable[[], Courier],
        *,
        serve: bool | None = None,
        threads: int = WORKER_THREADS,
        timeout_ms: int = WORKER_TIMEOUT_MS,
    ) -> None:
        """``serve`` runs worker threads here; by default only for the in-process broker. They
        wait ``timeout_ms`` at a time for a message, and stop after the wait they are in."""
        self.broker = broker
        self.actors: Actors = declare_actors(broker, courier_factory)
        serve = is_in_process(broker) if serve is None else serve
        self._worker = (
            dramatiq.Worker(broker, worker_threads=threads, worker_timeout=timeout_ms)
            if serve
            else None
        )

    def __enter__(self) -> Dispatcher:
        if self._worker is not None:
            self._worker.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def serves(self) -> bool:
        """Return True when deliveries run in this process."""
        return self._worker is not None

    def enqueue(self, outbox_ids: Iterable[int]) -> None:
        """Send the outbox ids to the delivery actor, a batch of ids per message.

        An in-process queue nobody serves (``mailflow poll`` without MAILFLOW_BROKER_URL) would
        only grow: then nothing is enqueued and the rows wait for ``run`` or ``scheduler``.
        """
        if is_in_process(self.broker) and self._worker is None:
            return
        self.actors.enqueue(list(outbox_ids))

    def drain(self) -> None:
        """Wait until every enqueued delivery ran (in-process broker only; else a no-op)."""
        if self._worker is None or not isinstance(self.broker, StubBroker):
            return
        self.broker.join(QUEUE, fail_fast=False)
        self._worker.join()

    def close(self) -> None:
        """Stop the worker threads (not daemons: a forgotten stop hangs exit), close their
        transports (QUIT; the mailbox's sessions given back) and the broker."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.actors.close()
        self.broker.close()
