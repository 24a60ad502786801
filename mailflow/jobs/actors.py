"""Thin, idempotent actors that carry outbox ids only (invariant 4).

Actors are declared on the broker they are given, never on Dramatiq's global one. A delivery
never raises into Dramatiq: retries are the outbox's business (``next_attempt_at`` and the
sweep), so a broker's own retries, dead letters and delays never hold mail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
from dramatiq import Broker

from mailflow.jobs.broker import QUEUE
from mailflow.service.deliver import Courier
from mailflow.store.db import database_outage

log = logging.getLogger(__name__)

DELIVER = "mailflow.deliver"


@dataclass(frozen=True)
class Actors:
    """The actors of one broker."""

    deliver: dramatiq.Actor[[int], None]

    def enqueue(self, outbox_ids: list[int]) -> None:
        """Send one message per outbox id."""
        for outbox_id in outbox_ids:
            self.deliver.send(outbox_id)


def declare_actors(broker: Broker, courier_factory: Callable[[], Courier]) -> Actors:
    """Declare mailflow's actors on ``broker``; the courier is built on first use."""
    local = threading.local()  # one courier (and SMTP connection) per worker thread

    def courier() -> Courier:
        found: Courier | None = getattr(local, "courier", None)
        if found is None:
            found = local.courier = courier_factory()
        return found

    def deliver(outbox_id: int) -> None:
        try:
            courier().deliver(outbox_id)
        except Exception as e:  # the sweep will enqueue it again; never a broker-level retry storm
            outage = database_outage(e)
            if outage is None:
                log.exception("delivering outbox %s failed; the sweep will retry it", outbox_id)
            else:  # one line, not a traceback per queued mail, while the database is away
                log.warning("outbox %s waits: %s; the sweep will retry it", outbox_id, outage)

    declare = dramatiq.actor(broker=broker, actor_name=DELIVER, queue_name=QUEUE, max_retries=0)
    return Actors(deliver=declare(deliver))
