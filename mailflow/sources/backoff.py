"""Exponential backoff with jitter for reconnecting to a mailbox.

A poller loop keeps one ``Backoff`` per source: after a ``SourceConnectionError`` it waits
``next_delay()`` seconds and tries again (the source reconnects lazily on its next call); after
a call that worked it calls ``reset()``. Imports nothing of mailflow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DEFAULT_BASE_S = 1.0
DEFAULT_CAP_S = 300.0
DEFAULT_FACTOR = 2.0


@dataclass
class Backoff:
    """Delays that double per failure up to ``cap_s``, each drawn in [d/2, d] ("equal jitter")."""

    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    factor: float = DEFAULT_FACTOR
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def next_delay(self) -> float:
        """Return how long to wait before the next attempt, and count this failure."""
        ceiling = min(self.cap_s, self.base_s * self.factor ** min(self.failures, 64))
        self.failures += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """Forget past failures after a call that worked."""
        self.failures = 0
