"""The one place a Dramatiq broker is built, from MAILFLOW_BROKER_URL.

Unset: an in-process ``StubBroker`` served by worker threads inside ``mailflow run`` (the
embedded default). What it holds is lost with the process, which is safe because the outbox
table is the truth and the sweep re-enqueues. ``redis://`` and ``amqp://`` give a shared
broker for ``mailflow worker`` processes on many hosts; RabbitMQ publishes are confirmed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dramatiq import Broker
from dramatiq.brokers.stub import StubBroker

from mailflow.errors import ConfigurationError

QUEUE = "mailflow"


def build_broker(url: str | None) -> Broker:
    """Return a new broker for ``url`` (None: in-process); raise ConfigurationError."""
    if not url:
        return StubBroker()
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss", "unix"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace="mailflow")  # type: ignore[no-untyped-call]
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise ConfigurationError(
        f"MAILFLOW_BROKER_URL: unsupported scheme {scheme!r}; use redis://, amqp:// or leave it"
        " unset for the in-process broker"
    )


def is_in_process(broker: Broker) -> bool:
    """Return True for the in-process broker, whose queue lives and dies with this process."""
    return isinstance(broker, StubBroker)
