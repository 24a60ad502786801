"""Log lines: ISO 8601 times in the organisation's timezone, text or one JSON object per line,
extra fields kept, Dramatiq's once-a-second reconnect lines left out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailflow.cli.logs import configure_logging, use_timezone


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level back after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/Sao_Paulo", "UTC"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_times_carry_the_organisations_offset(
    restore_logging: None, zone: str, log_format: str
) -> None:
    """Each line starts with (text) or holds (json) an ISO time with the zone's offset."""
    stream = io.StringIO()
    configure_logging(logging.INFO, log_format, ZoneInfo(zone), stream)
    logging.getLogger("mailflow.events").info(
        "stored %s", "<a@b>", extra={"event": "stored", "message_id": "<a@b>"}
    )
    line = stream.getvalue().strip()
    if log_format == "json":
        doc = json.loads(line)
        assert doc["message"] == "stored <a@b>"
        assert (doc["event"], doc["message_id"], doc["level"]) == ("stored", "<a@b>", "INFO")
        stamp = doc["time"]
    else:
        stamp, level, rest = line.split(" ", 2)
        assert level == "INFO" and "message_id=<a@b>" in rest
    moment = datetime.fromisoformat(stamp)
    assert moment.utcoffset() == datetime.now(ZoneInfo(zone)).utcoffset()


def test_dramatiq_reconnect_noise_is_left_out(restore_logging: None) -> None:
    """The consumer's once-a-second connection errors are dropped; its other lines stay."""
    stream = io.StringIO()
    configure_logging(logging.INFO, "text", ZoneInfo("UTC"), stream)
    consumer = logging.getLogger("dramatiq.worker.ConsumerThread(mailflow)")
    consumer.critical("Consumer encountered a connection error: %s", "refused")
    consumer.info("Restarting consumer in %0.2f seconds.", 1.0)
    consumer.warning("something else")
    assert stream.getvalue().count("\n") == 1 and "something else" in stream.getvalue()


def test_the_zone_is_read_at_the_first_line_unless_handed_over(restore_logging: None) -> None:
    """A zone given as a function is asked once, at the first line; a command that read the
    rules itself hands its zone over and the function is never asked."""
    asked: list[str] = []

    def berlin() -> ZoneInfo:
        asked.append("asked")
        return ZoneInfo("Europe/Berlin")

    stream = io.StringIO()
    configure_logging(logging.INFO, "text", berlin, stream)
    assert asked == []
    log = logging.getLogger("mailflow.events")
    log.info("one")
    log.info("two")
    assert asked == ["asked"]
    for line in stream.getvalue().splitlines():
        moment = datetime.fromisoformat(line.split(" ", 1)[0])
        assert moment.utcoffset() == datetime.now(ZoneInfo("Europe/Berlin")).utcoffset()

    asked.clear()
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", berlin, stream)
    use_timezone(ZoneInfo("Asia/Shanghai"))
    log.info("three")
    assert asked == []
    stamp = json.loads(stream.getvalue())["time"]
    assert datetime.fromisoformat(stamp).utcoffset() == timedelta(hours=8)
