"""How mailflow's log lines look: ISO 8601 timestamps with the offset of the organisation's
timezone, as text for people or one JSON object per line (``MAILFLOW_LOG_FORMAT=json``).

Fields given with ``extra=`` (``event``, ``message_id``, ``outbox_id`` …) become keys of the
JSON object and ``key=value`` pairs after the text line, so a log collector can follow one
mail from stored to decided to sent by its Message-ID.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
# the attributes every LogRecord has; anything else came in through ``extra=``
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class _Formatter(logging.Formatter):
    """Times as ISO 8601 in ``tz``, with the offset. ``tz`` may be a function returning the
    zone: it is called at the first line logged, so a command that logs nothing (or is told
    the zone first, ``use_timezone``) never reads the rules for it."""

    def __init__(self, tz: tzinfo | Callable[[], tzinfo]) -> None:
        super().__init__()
        self._tz = tz

    @property
    def tz(self) -> tzinfo:
        if not isinstance(self._tz, tzinfo):
            self._tz = self._tz()
        return self._tz

    @tz.setter
    def tz(self, zone: tzinfo) -> None:
        self._tz = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.tz)
        return moment.isoformat(timespec="milliseconds")


class TextFormatter(_Formatter):
    """``2026-12-06T22:10:03.120+08:00 WARNING mailflow.service.poll: text key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if extras:
            line += f" [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(_Formatter):
    """One JSON object per line: time, level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


# Dramatiq's consumers log these once a second while the broker is away; mailflow's own
# watch says it instead, at each backoff step with the outage's length
_RECONNECT_NOISE = ("Consumer encountered a connection error", "Restarting consumer")


# libraries that narrate every connection at INFO, or log each failed reconnect of a broker
# outage at ERROR (pika: about ten lines a second); mailflow's watch reports outages instead
_QUIET = {"pika": logging.CRITICAL, "alembic": logging.WARNING}


def _not_reconnect_noise(record: logging.LogRecord) -> bool:
    return not (
        record.name.startswith("dramatiq.worker")
        and isinstance(record.msg, str)
        and record.msg.startswith(_RECONNECT_NOISE)
    )


def configure_logging(
    level: int, log_format: str, tz: tzinfo | Callable[[], tzinfo], stream: TextIO
) -> None:
    """Send mailflow's log lines to ``stream`` at ``level`` in ``log_format`` (text or json),
    their times in ``tz`` (or the zone it returns when the first line is logged)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_not_reconnect_noise)
    handler.setFormatter(JsonFormatter(tz) if log_format == "json" else TextFormatter(tz))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(level, quiet))


def use_timezone(tz: tzinfo) -> None:
    """Show the times of mailflow's log lines in ``tz`` from now on (a command that has read
    the organisation's zone hands it over instead of having it read a second time)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, _Formatter):
            handler.formatter.tz = tz


def at_least(level: int) -> None:
    """Let records of ``level`` through when the configured level is higher (services log
    their progress at INFO without ``-v``)."""
    root = logging.getLogger()
    if root.level > level:
        root.setLevel(level)
