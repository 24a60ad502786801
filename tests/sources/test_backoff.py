"""``Backoff`` grows exponentially with jitter, stays under its cap, and resets."""

from __future__ import annotations

import random

from mailflow.sources.backoff import Backoff


def test_delays_double_within_jitter_bounds() -> None:
    """The n-th delay lies in [d/2, d] for d = base * 2**n."""
    backoff = Backoff(base_s=1.0, cap_s=1000.0, rng=random.Random(7))
    for n in range(8):
        ceiling = 2.0**n
        assert ceiling / 2 <= backoff.next_delay() <= ceiling


def test_delays_never_exceed_the_cap_even_after_many_failures() -> None:
    """However many failures, a delay is at most ``cap_s``."""
    backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(200)]
    assert max(delays) <= 30.0 and min(delays[10:]) >= 15.0


def test_reset_starts_over() -> None:
    """After ``reset()`` the next delay is back at the base."""
    backoff = Backoff(base_s=2.0, rng=random.Random(3))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert 1.0 <= backoff.next_delay() <= 2.0


def test_jitter_spreads_pollers() -> None:
    """Two pollers failing together do not retry at the same instant."""
    a, b = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(2))
    assert [a.next_delay() for _ in range(5)] != [b.next_delay() for _ in range(5)]
