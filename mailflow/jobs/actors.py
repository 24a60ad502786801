"""Thin, idempotent actors that carry outbox ids only (invariant 4), a batch of them a message.

Actors are declared on the broker they are given, never on Dramatiq's global one. A delivery
never raises into Dramatiq: retries are the outbox's business (``next_attempt_at`` and the
sweep), so a broker's own retries, dead letters and delays never hold mail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import dramatiq
from dramatiq import Broker

from mailflow.jobs.broker import QUEUE
from mailflow.service.deliver import Courier
from mailflow.store.db import database_outage

log = logging.getLogger(__name__)

DELIVER = "mailflow.deliver"  # one id a message: still served for messages already queued
DELIVER_BATCH = "mailflow.deliver_batch"
# ids per message: a claim and an enqueue per BATCH mails, yet small enough that a few hundred
# ids still spread over every worker thread
BATCH = 20
SPREAD = 16  # a short list is cut so that at least this many threads can share it


@dataclass(frozen=True)
class Actors:
    """The actors of one broker, and the couriers their worker threads built."""

    deliver: dramatiq.Actor[[int], None]
    deliver_batch: dramatiq.Actor[[list[int]], None]
    couriers: list[Courier] = field(default_factory=list)

    def enqueue(self, outbox_ids: list[int]) -> None:
        """Send the ids in batches of at most BATCH, one message each."""
        for batch in batches(outbox_ids):
            self.deliver_batch.send(batch)

    def close(self) -> None:
        """Close every courier's transport once its thread has stopped: an SMTP session says
        QUIT and gives back the mailbox's session it held (``sessions=``). Never raises."""
        while self.couriers:
            transport = getattr(self.couriers.pop(), "transport", None)
            try:
                if transport is not None:
                    transport.close()
            except Exception as e:
                log.warning("closing the transport %s: %s", transport, e)


def batches(outbox_ids: list[int]) -> list[list[int]]:
    """Return ``outbox_ids`` cut into batches of at most BATCH, in order; fewer than
    BATCH * SPREAD ids are cut smaller, so that many threads share them."""
    size = max(1, min(BATCH, -(-len(outbox_ids) // SPREAD)))
    return [outbox_ids[i : i + size] for i in range(0, len(outbox_ids), size)]


def declare_actors(broker: Broker, courier_factory: Callable[[], Courier]) -> Actors:
    """Declare mailflow's actors on ``broker``; the courier is built on first use."""
    local = threading.local()  # one courier (and SMTP connection) per worker thread
    built: list[Courier] = []

    def courier() -> Courier:
        found: Courier | None = getattr(local, "courier", None)
        if found is None:
            found = local.courier = courier_factory()
            built.append(found)
        return found

    def deliver_batch(outbox_ids: list[int]) -> None:
        try:
            courier().deliver_many(outbox_ids)
        except Exception as e:  # the sweep will enqueue them again; never a broker retry storm
            which = ", ".join(map(str, outbox_ids))
            outage = database_outage(e)
            if outage is None:
                log.exception("delivering outbox %s failed; the sweep will retry", which)
            else:  # one line, not a traceback per queued batch, while the database is away
                log.warning("outbox %s waits: %s; the sweep will retry", which, outage)

    def deliver(outbox_id: int) -> None:
        deliver_batch([outbox_id])

    def declare(name: str) -> Callable[[Callable[..., None]], dramatiq.Actor[..., None]]:
        return dramatiq.actor(broker=broker, actor_name=name, queue_name=QUEUE, max_retries=0)

    return Actors(
        deliver=declare(DELIVER)(deliver),
        deliver_batch=declare(DELIVER_BATCH)(deliver_batch),
        couriers=built,
    )
