"""The work one message may cost: a CPU-time deadline, checked between the parser's steps and
enforced inside them.

Invariant 13 bounds the work spent on one message whatever its content. Three things keep it:
each step reads a bounded amount (the size caps below and in the steps themselves);
``WorkBudget.check`` stops the parse between steps once ``Limits.max_parse_cpu_s`` is spent;
and ``WorkBudget.enforce`` stops it *inside* a step that runs away, so that a step nobody
foresaw (a regular expression that backtracks, a loop that turns quadratic on a shape no test
had) costs the budget and no more. Either way the mail is quarantined whole with a
``WorkBudgetExceeded`` whose reason says so, never stored half-read.

The clock is ``time.thread_time``: the CPU time of the thread that parses. Other processes on
a loaded machine and other threads of this one do not count against a mail, so the same mail
gets the same verdict on a busy server as on an idle one.

How a step is stopped: on the main thread (``mailflow parse``, ``poll --once``, ``run --once``
and every parse worker process), a CPU-time timer (``ITIMER_PROF``) sends the process
``SIGPROF`` once the budget could be spent, then every ``TICK_S`` of CPU time; the handler
raises inside the parse once the parsing thread itself has spent the budget. Python runs
signal handlers between bytecodes and the regular expression engine checks for them as it
backtracks, so this reaches Python loops and runaway patterns alike. The timer counts the
process's user and system time, as ``thread_time`` does: a user-time timer (``ITIMER_VIRTUAL``)
never fired for a step that spends its time in the kernel (page faults of megabyte strings
built again and again), which then ran on to the next check. Signals reach the main
thread only: elsewhere (the poller thread of a long-running `mailflow run` or `poll`, whose
live mail ``service.parsing`` therefore parses in a worker process) only the checks between
steps apply. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec, TypeVar

from mailflow.errors import WorkBudgetExceeded

__all__ = ["TICK_S", "TOO_MUCH_WORK", "WorkBudget", "can_stop_steps", "overrun"]

TOO_MUCH_WORK = "too much work"  # how every reason of WorkBudgetExceeded starts
# after the budget could first be spent, how often (CPU seconds of the process) the timer looks
# again whether the parsing thread has spent it; other threads' work also runs the timer
TICK_S = 0.02
# the timer of the process's user and system time, and the signal it sends
_TIMER, _SIGNAL = signal.ITIMER_PROF, signal.SIGPROF

_P = ParamSpec("_P")
_T = TypeVar("_T")


class _Overrun(BaseException):
    """Raised by the timer inside a step that overran; a BaseException so that no ``except
    Exception`` on the way swallows it. ``WorkBudget.enforce`` turns it into the reason."""


class WorkBudget:
    """A CPU-time allowance for parsing one message, started when it is made; ``first_step``
    names the work before the first check, for the reason of a stop inside it."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.thread_time,
        first_step: str = "",
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._started = clock()
        self._first_step = first_step
        self._done = ""  # the last step checked, for the reason of a stop inside the next one

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
        self._done = stage

    def enforce(self, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Return ``work(*args, **kwargs)``, stopped with ``WorkBudgetExceeded`` as soon as the
        allowance is spent, inside a step as well as between two (see the module's text).

        Where steps cannot be stopped (``can_stop_steps``: another thread, another budget
        already enforced on this one, a clock other than the thread's CPU time, or the timer
        signal in use by something else), ``work`` runs with the checks between steps only.
        """
        if self._clock is not time.thread_time or not can_stop_steps():
            return work(*args, **kwargs)
        try:
            _arm(self._started + self.seconds)
            try:
                return work(*args, **kwargs)
            finally:
                _disarm()
        except _Overrun:  # outside the arming, so that even a late one is caught here
            if self._done:
                where = f"after {self._done}"
            else:
                where = f"while {self._first_step}" if self._first_step else "in its first step"
            raise WorkBudgetExceeded(
                f"{TOO_MUCH_WORK}: reading this mail took more than {self.seconds:g} s of CPU time "
                f"(max_parse_cpu_s) and was stopped {where}; it is kept unparsed in quarantine",
                where,
            ) from None


# --------------------------------------------------------------------- the timer (main thread)

_deadline: float | None = None  # the main thread's CPU time (thread_time) a parse may reach


def can_stop_steps() -> bool:
    """Return whether a budget enforced now can stop a step that runs away: on the main
    thread, with no budget enforced already and the CPU-time timer free."""
    if threading.current_thread() is not threading.main_thread() or _deadline is not None:
        return False
    handler = signal.getsignal(_SIGNAL)
    if handler not in (signal.SIG_DFL, signal.SIG_IGN, None, _on_tick):
        return False  # someone else's timer: theirs stays
    return signal.getitimer(_TIMER) == (0.0, 0.0)


def overrun(main_cpu: float) -> float:
    """Return how many CPU seconds the parse enforced on the main thread is past its budget,
    given ``main_cpu``, the main thread's CPU time read from another thread (0 when no parse
    is enforced). More than a tick means the parse is stuck where the signal cannot reach:
    in C code that neither returns nor looks for signals."""
    deadline = _deadline
    return 0.0 if deadline is None else max(0.0, main_cpu - deadline)


def _arm(deadline: float) -> None:
    global _deadline
    if signal.getsignal(_SIGNAL) is not _on_tick:
        signal.signal(_SIGNAL, _on_tick)
    _deadline = deadline
    # the process's CPU time runs at least as fast as this thread's: the first tick comes no
    # later than the moment the budget is spent, and early ticks look and wait for the next
    first = max(deadline - time.thread_time(), 1e-6)
    signal.setitimer(_TIMER, first, TICK_S)


def _disarm() -> None:
    global _deadline
    _deadline = None  # first: a tick that is already on its way now does nothing
    signal.setitimer(_TIMER, 0)


def _on_tick(signum: int, frame: FrameType | None) -> None:
    if _deadline is None or time.thread_time() <= _deadline:
        return  # a late tick, or other threads' work ran the process's clock
    _disarm()  # one stop per parse: the raise below is the only one
    raise _Overrun
