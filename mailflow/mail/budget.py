"""The work one message may cost: a CPU-time deadline that the parser checks between steps.

Invariant 13 bounds the work spent on one message whatever its content. Two things keep it:
each step reads a bounded amount (the size caps below and in the steps themselves, so no
single step runs long between two checks), and ``WorkBudget.check`` stops the parse between
steps once ``Limits.max_parse_cpu_s`` is spent, with a ``WorkBudgetExceeded`` whose reason
says so; the mail is then quarantined whole, never stored half-read.

The clock is ``time.thread_time``: the CPU time of the thread that parses. Other processes on
a loaded machine and other threads of this one do not count against a mail, so the same mail
gets the same verdict on a busy server as on an idle one. Imports nothing of
storage/sources/jobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mailflow.errors import WorkBudgetExceeded

__all__ = ["TOO_MUCH_WORK", "WorkBudget"]

TOO_MUCH_WORK = "too much work"  # how every reason of WorkBudgetExceeded starts


class WorkBudget:
    """A CPU-time allowance for parsing one message, started when it is made."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.thread_time) -> None:
        self.seconds = seconds
        self._clock = clock
        self._started = clock()

    def spent(self) -> float:
        """Return the CPU seconds spent since the budget was made."""
        return self._clock() - self._started

    def check(self, stage: str) -> None:
        """Raise ``WorkBudgetExceeded`` when the allowance is spent; ``stage`` is what was done."""
        spent = self.spent()
        if spent > self.seconds:
            raise WorkBudgetExceeded(
                f"{TOO_MUCH_WORK}: reading this mail took {spent:.1f} s of CPU time by the end of "
                f"{stage}, over the limit of {self.seconds:g} s (max_parse_cpu_s); it is kept "
                "unparsed in quarantine",
                stage,
            )
