"""Parsing a fetched batch, in worker processes when there is enough of it to be worth it.

Parsing is pure CPU work (MIME, charsets, quoted history, items, dates) and holds the GIL, so
threads would not help; a process pool parses one batch while the poller stores the one before
it. A batch below ``POOL_MIN`` (the usual case once the mailbox is caught up: IDLE brings one or
two mails) is parsed in the poller itself when the poller is the process's main thread
(`poll --once`, `run --once`). In a long-running `mailflow run` or `poll` the poller is a
thread, where the work budget can only stop a parse between its steps (``mail.budget``): there
a small batch goes to one worker process all the same, where a step that runs away is stopped
inside, and the poller waits for it (nothing overlaps, so two batches of big mail are still
never held at once). The pool is started on the first batch that needs it and stopped when the
pass ends, so an idle service holds no workers.

Whatever a worker returns is plain data (``ParsedMessage`` is frozen dataclasses); a parser bug
comes back as text and quarantines that one mail (invariant 6), never the batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import select
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType

from mailflow.errors import MessageRejected
from mailflow.mail.budget import overrun
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext, ParsedMessage
from mailflow.service.heap import fix_mmap_threshold, freeze_start_up
from mailflow.service.processes import process_exists

log = logging.getLogger(__name__)

# below this many mails a batch is parsed in the poller: a worker round trip costs more
POOL_MIN = 16
# how much lower than the poller's the parse workers' scheduling priority is
WORKER_NICENESS = 3
# a parse stuck this many CPU seconds past its budget (in C code the budget's signal cannot
# reach) ends its worker process; how often a worker looks, and the exit status it ends with
STUCK_GRACE_S = 1.0
STUCK_CHECK_S = 0.25
STUCK_EXIT = 75
# how a mail whose parser process died on it, each time it was read alone, is quarantined
PARSER_DIED = "parser process died"
# how many times a mail is read alone, each in a new process, before it is held to blame
ALONE_ATTEMPTS = 2
_HAS_FORKSERVER = "forkserver" in multiprocessing.get_all_start_methods()


@dataclass(frozen=True)
class Parsed:
    """One mail's parse: the result, or why it is quarantined (``bug`` holds a traceback)."""

    sha256: str
    message: ParsedMessage | None
    reason: str | None = None
    bug: str | None = None


def parse_one(raw: bytes, ctx: ParseContext) -> Parsed:
    """Parse ``raw``; never raises for anything the mail contains."""
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        return Parsed(sha256, parse_message(raw, ctx))
    except MessageRejected as e:
        return Parsed(sha256, None, e.reason)
    except Exception as e:  # a parser bug must not block the mailbox (invariant 6)
        return Parsed(
            sha256, None, f"parser error: {type(e).__name__}: {e}", traceback.format_exc()
        )


def parse_all(raws: Sequence[bytes], ctx: ParseContext) -> list[Parsed]:
    """Parse each of ``raws`` in order."""
    return [parse_one(raw, ctx) for raw in raws]


class _Worker:
    """What a parse worker process was started with: the context it parses every batch in.

    Sent once, when the worker starts, rather than pickled with every share of every batch:
    with a 2,000-person directory that was 0.3 MB, and the worker built its name index again
    for each share (docs/benchmarks.md, Ingest).
    """

    ctx: ParseContext | None = None


def parse_share(raws: Sequence[bytes]) -> list[Parsed]:
    """Parse a worker's share of a batch, in the context the worker started with."""
    assert _Worker.ctx is not None, "parse_share runs in a worker started by BatchParser"
    return parse_all(raws, _Worker.ctx)


def follow(poller: int, ctx: ParseContext | None = None) -> None:
    """Worker start-up: keep ``ctx`` for the batches to come, build its name index, and exit
    as soon as the poller process ``poller`` is gone, or once a parse is stuck.

    A poller killed outright (SIGKILL, the OOM killer) cannot stop its pool, and its workers
    would otherwise wait for work forever, keeping the forkserver alive with them. A parse
    stuck in C code that does not look for signals (``mail.budget``) runs past its budget; at
    ``STUCK_GRACE_S`` past it the worker ends, and the poller reads its mails again in new
    processes (``BatchParser``), so the mail is quarantined alone.
    """
    fix_mmap_threshold()  # a worker holds each raw mail of its share, as the poller does
    if ctx is not None:
        _Worker.ctx = ctx
        ctx.name_index  # noqa: B018  built once per worker, before its first share
    freeze_start_up()  # the rules and the name index live as long as the worker
    threading.Thread(target=_exit_with, args=(poller,), name="mailflow-follow", daemon=True).start()
    # the poller and the database are the pipeline's critical path (they store a batch while
    # this parses the next); on a busy machine they come first, and parsing takes what is left
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


def _exit_with(pid: int) -> None:
    main = threading.main_thread().ident
    cpu = getattr(time, "pthread_getcpuclockid", None)  # the parsing thread's CPU clock
    clock = cpu(main) if cpu is not None and main is not None else None
    try:
        handle: int | None = os.pidfd_open(pid)  # readable once the process has ended
    except (AttributeError, OSError):  # not Linux 5.3 or later, or the poller is gone already
        handle = None
    while True:
        if handle is not None:
            if select.select([handle], [], [], STUCK_CHECK_S)[0]:
                break
        elif not process_exists(pid):
            break
        else:
            time.sleep(STUCK_CHECK_S)  # polling: without a pidfd there is nothing to wait on
        if clock is not None and overrun(time.clock_gettime(clock)) > STUCK_GRACE_S:
            log.warning(
                "a parse ran %g s of CPU time past its budget in code that cannot be stopped; "
                "this parser process ends and its mails are read again in new processes",
                STUCK_GRACE_S,
            )
            os._exit(STUCK_EXIT)
    os._exit(0)


def _worker_count(workers: int | None) -> int:
    """Return how many parse workers ``workers`` asks for (None: one per CPU)."""
    return default_workers() if workers is None else max(0, workers)


def default_workers() -> int:
    """Return the number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class BatchParser:
    """Parses batches, in up to ``workers`` processes (0 or 1: always in this process).

    ``submit`` returns at once with a function that gives the batch's results when called, so
    the caller can store the previous batch meanwhile. Use as a context manager: leaving it
    stops the workers.
    """

    def __init__(self, ctx: ParseContext, workers: int | None = None) -> None:
        self._ctx = ctx
        self._workers = _worker_count(workers)
        self._pool: ProcessPoolExecutor | None = None
        self.pooled_batches = 0  # how many batches went to the workers
        self.isolated_batches = 0  # how many small ones went to a worker, off the main thread
        self.reread = 0  # how many mails were read again after their worker died
        self.reread_processes = 0  # how many processes were started to read them

    def __enter__(self) -> BatchParser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def pools(self, count: int) -> bool:
        """Return whether a batch of ``count`` mails is parsed in the worker processes (else
        in this process, when its results are asked for)."""
        return self._workers > 1 and count >= POOL_MIN

    def isolates(self) -> bool:
        """Return whether a small batch is parsed in a worker process all the same: on a thread
        other than the main one, where a step that runs away could not be stopped (unless
        ``workers`` is 0, everything in this process)."""
        return self._workers > 0 and threading.current_thread() is not threading.main_thread()

    def submit(self, raws: Sequence[bytes]) -> Callable[[], list[Parsed]]:
        """Start parsing ``raws``; the returned function waits for and returns the results."""
        pooled = self.pools(len(raws))
        if pooled:
            size = -(-len(raws) // self._workers)  # ceiling: one share per worker
            shares = [list(raws[i : i + size]) for i in range(0, len(raws), size)]
        elif raws and self.isolates():
            shares = [list(raws)]
        else:
            return lambda: parse_all(raws, self._ctx)
        for _ in range(2):  # a pool whose worker died since its last batch refuses work
            pool = self._start()
            try:
                futures = [(pool.submit(parse_share, share), share) for share in shares]
            except BrokenProcessPool:
                self._drop(pool)
                continue
            except OSError as e:  # out of processes: this batch is parsed here, unguarded
                log.warning("could not start a parser process (%s); parsing in the poller", e)
                self._drop(pool)
                break
            if pooled:
                self.pooled_batches += 1
            else:
                self.isolated_batches += 1
            return lambda: self._results(pool, futures)
        return lambda: parse_all(raws, self._ctx)

    def _results(
        self, pool: ProcessPoolExecutor, shares: list[tuple[Future[list[Parsed]], list[bytes]]]
    ) -> list[Parsed]:
        results: list[Parsed] = []
        for future, share in shares:
            try:
                results.extend(future.result())
            except BrokenProcessPool as e:
                # a worker died: killed, out of memory, a crash in a library on one mail, or a
                # program without a __main__ guard. Nothing is lost: its mails are read again
                # in new processes, halves of halves, so that one mail that kills its reader is
                # quarantined alone; later batches get a new pool
                log.warning(
                    "a parser process stopped (%s); reading %d of its mails again in new "
                    "processes, to find any mail that stops them",
                    e,
                    len(share),
                )
                self._drop(pool)
                self.reread += len(share)
                results.extend(self._halves(share))
        return results

    def _halves(self, raws: list[bytes]) -> list[Parsed]:
        """Return the parses of ``raws``, whose reader died: each half read in a new process,
        a half whose reader dies too halved again, down to one mail (``_alone``). One mail
        that kills its reader costs about two process starts a halving, not one a mail."""
        if len(raws) == 1:
            return [self._alone(raws[0])]
        middle = len(raws) // 2
        return [*self._group(raws[:middle]), *self._group(raws[middle:])]

    def _group(self, raws: list[bytes]) -> list[Parsed]:
        if self._workers == 0:  # no parser process can run here
            return parse_all(raws, self._ctx)
        if len(raws) > 1:
            with contextlib.suppress(BrokenProcessPool, OSError):
                return self._in_new_process(raws)
        return self._halves(raws)

    def _alone(self, raw: bytes) -> Parsed:
        """Parse ``raw`` in a new process of its own; quarantine it when that process dies on
        it each time while a process with nothing to read lives (else parse it here)."""
        if self._workers == 0:  # no parser process can run here
            return parse_one(raw, self._ctx)
        for _ in range(ALONE_ATTEMPTS):
            with contextlib.suppress(BrokenProcessPool, OSError):
                return self._in_new_process([raw])[0]
        try:
            self._in_new_process([])
        except (BrokenProcessPool, OSError) as e:
            log.warning("no parser process can run here (%s); parsing in the poller instead", e)
            self._workers = 0
            return parse_one(raw, self._ctx)
        return Parsed(
            hashlib.sha256(raw).hexdigest(),
            None,
            f"{PARSER_DIED}: the process that read this mail ended without an answer, "
            f"{ALONE_ATTEMPTS} times in a row (killed, out of memory, or a crash in a library); "
            "it is kept unparsed in quarantine",
        )

    def _in_new_process(self, raws: list[bytes]) -> list[Parsed]:
        self.reread_processes += 1
        with ProcessPoolExecutor(
            1, mp_context=_worker_context(), initializer=follow, initargs=(os.getpid(), self._ctx)
        ) as pool:
            return pool.submit(parse_share, raws).result()

    def close(self) -> None:
        """Stop the workers (waiting for work in hand); the parser may be used again after."""
        if self._pool is not None:
            self._drop(self._pool)

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        """Stop ``pool``; the next batch that needs workers starts a new one. A pool already
        replaced is only shut down: the batches in the new one go on."""
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = _worker_context()
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=context,
                initializer=follow,
                initargs=(os.getpid(), self._ctx),
            )
            method = context.get_start_method()
            log.debug("parsing in %d worker processes (%s)", self._workers, method)
        return self._pool


def _worker_context() -> multiprocessing.context.BaseContext:
    """Return how parse workers are started: forked from a forkserver, a clean process that
    has imported the parser once (never a copy of the poller with its threads, sockets and
    database connections); spawned where the system has no forkserver."""
    if not _HAS_FORKSERVER:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def start_forkserver(workers: int | None) -> bool:
    """Start the forkserver now, for a pass that is about to read a backlog; return whether
    it was started (not when ``workers``, as for ``BatchParser``, means no worker processes,
    nor where the system has no forkserver).

    The forkserver is a new interpreter that imports the parser: about 0.4 s of CPU. Left to
    the first big batch, the whole pipeline waits for it. Started before the rules and
    templates are read, it runs on the other core while they are, and the first batch is
    parsed as soon as it is fetched. It stays until this process ends, as it does once a
    pool has used it (docs/benchmarks.md, Ingest)."""
    if _worker_count(workers) <= 1 or not _HAS_FORKSERVER:
        return False
    from multiprocessing import forkserver

    _worker_context()
    try:
        forkserver.ensure_running()
    except OSError as e:  # out of processes or pipes: only a head start is lost
        log.warning("could not start the parse workers' forkserver yet (%s)", e)
        return False
    return True
