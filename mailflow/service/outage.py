"""Waiting out a database or broker that went away (invariant 14), and saying so.

An ``Outage`` tells at once that a server cannot be reached, again at each backoff step with
how long the outage has lasted, and once when the server is back: an operator reading the
log sees the outage begin, last and end, never one line per retry of a busy loop.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from mailflow.errors import ServiceUnavailable

_T = TypeVar("_T")

FIRST_BACKOFF_S = 1.0
LONGEST_BACKOFF_S = 30.0


class Outage:
    """One server as one component sees it: reachable, or unreachable since when."""

    def __init__(self, component: str, server: str, logger: logging.Logger) -> None:
        self.component, self.server, self._log = component, server, logger
        self._since: float | None = None
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def down_for_s(self) -> float | None:
        """Return how long the server has been unreachable, or None while it is reachable."""
        since = self._since
        return None if since is None else time.monotonic() - since

    def failed(self, error: ServiceUnavailable) -> float:
        """Record a failed attempt, say so with the time it has lasted; return the seconds to
        wait before the next attempt (exponential backoff with jitter)."""
        with self._lock:
            now = time.monotonic()
            first = self._since is None
            if first:
                self._since = now
            self._failures += 1
            step = min(LONGEST_BACKOFF_S, FIRST_BACKOFF_S * 2.0 ** (self._failures - 1))
            delay = step * random.uniform(0.75, 1.0)
            lasted = now - (self._since or now)
        extra = {"event": "unreachable", "server": self.server, "down_for_s": round(lasted, 1)}
        if first:
            self._log.error(
                "%s: cannot reach the %s (%s); retrying in %.0f s",
                self.component,
                self.server,
                error.reason,
                delay,
                extra=extra,
            )
        else:
            self._log.error(
                "%s: still cannot reach the %s after %.0f s (%s); retrying in %.0f s",
                self.component,
                self.server,
                lasted,
                error.reason,
                delay,
                extra=extra,
            )
        return delay

    def recovered(self) -> None:
        """Record a successful attempt; say once that the server is back."""
        with self._lock:
            since, self._since, self._failures = self._since, None, 0
        if since is not None:
            lasted = time.monotonic() - since
            self._log.warning(
                "%s: the %s is reachable again after %.0f s",
                self.component,
                self.server,
                lasted,
                extra={"event": "reachable", "server": self.server, "down_for_s": round(lasted)},
            )


def wait_until_reachable(
    attempt: Callable[[], _T],
    classify: Callable[[BaseException], ServiceUnavailable | None],
    outages: Mapping[str, Outage],
    stop: threading.Event,
) -> _T | None:
    """Return ``attempt()`` once it succeeds. While it fails with an outage (``classify``
    turns an error into one, None for any other error, which propagates) the server's entry
    of ``outages`` says so and this waits its backoff. Return None when ``stop`` is set."""
    while not stop.is_set():
        try:
            result = attempt()
        except Exception as e:
            outage = classify(e)
            if outage is None or outage.server not in outages:
                raise
            stop.wait(outages[outage.server].failed(outage))
            continue
        for watched in outages.values():
            watched.recovered()
        return result
    return None
