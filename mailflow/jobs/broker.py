"""The one place a Dramatiq broker is built, from MAILFLOW_BROKER_URL.

Unset: an in-process ``StubBroker`` served by worker threads inside ``mailflow run`` (the
embedded default). What it holds is lost with the process, which is safe because the outbox
table is the truth and the sweep re-enqueues. ``redis://`` and ``amqp://`` give a shared
broker for ``mailflow worker`` processes on many hosts; RabbitMQ publishes are confirmed.

Dramatiq is imported where a broker is built: ``mailflow status`` probes the broker by its URL
and names its kind, and loads none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mailflow.errors import ConfigurationError, ServiceUnavailable

if TYPE_CHECKING:
    from dramatiq import Broker

PROBE_TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 10.0

QUEUE = "mailflow"


def build_broker(url: str | None) -> Broker:
    """Return a new broker for ``url`` (None: in-process); raise ConfigurationError."""
    from dramatiq.brokers.stub import StubBroker

    if not url:
        return StubBroker()
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss", "unix"):
        import redis
        from dramatiq.brokers.redis import RedisBroker

        # a Redis host that stops answering (not refusing) must not hang an enqueue for good
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_keepalive=True
        )
        return RedisBroker(client=client, namespace="mailflow")  # type: ignore[no-untyped-call]
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise ConfigurationError(
        f"MAILFLOW_BROKER_URL: unsupported scheme {scheme!r}; use redis://, amqp:// or leave it"
        " unset for the in-process broker"
    )


def is_in_process(broker: Broker) -> bool:
    """Return True for the in-process broker, whose queue lives and dies with this process."""
    from dramatiq.brokers.stub import StubBroker

    return isinstance(broker, StubBroker)


def broker_outage(e: BaseException) -> ServiceUnavailable | None:
    """Return ``e`` as a ServiceUnavailable when it means the broker cannot be reached, else
    None (Redis and RabbitMQ client errors, Dramatiq's connection errors, socket errors)."""
    import pika.exceptions  # type: ignore[import-untyped]
    import redis.exceptions
    from dramatiq.errors import BrokerConnectionError

    if isinstance(e, ServiceUnavailable):
        return e
    kinds = (
        BrokerConnectionError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        pika.exceptions.AMQPError,
        OSError,
    )
    if not isinstance(e, kinds):
        return None
    text = str(e).strip() or repr(e)  # pika's connection errors often have no message
    return ServiceUnavailable("broker", f"{type(e).__name__}: {text.splitlines()[0]}")


def probe_broker(url: str | None) -> None:
    """Connect to the broker at ``url`` and say hello; raise ServiceUnavailable if it does not
    answer within PROBE_TIMEOUT_S. The in-process broker (None) is always there."""
    if not url:
        return
    scheme = urlsplit(url).scheme.lower()
    try:
        if scheme in ("amqp", "amqps"):
            import pika

            params = pika.URLParameters(url)
            params.socket_timeout = params.blocked_connection_timeout = PROBE_TIMEOUT_S
            params.connection_attempts, params.stack_timeout = 1, PROBE_TIMEOUT_S
            pika.BlockingConnection(params).close()
            return
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as e:
        outage = broker_outage(e)
        if outage is None:
            raise
        raise outage from e


def broker_kind(url: str | None) -> str:
    """Return what the broker is, without the URL's password: in-process, redis or rabbitmq."""
    if not url:
        return "in-process"
    scheme = urlsplit(url).scheme.lower()
    return "rabbitmq" if scheme.startswith("amqp") else "redis"
