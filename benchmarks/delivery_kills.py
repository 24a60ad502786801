"""The kill -9 part of the delivery benchmark (``benchmarks/delivery.py --kills N``).

One ``mailflow worker`` delivers the outbox; once the SMTP server has received a mail from it,
the worker is killed with SIGKILL after a random delay (uniform, 0 to ``--kill-window`` s), so
the kill lands anywhere in its work: composing, sending, recording. Then the benchmark plays the
passing of time and the sweep: nobody is alive to hold a claim, so the claims of pending rows
are expired (what five minutes would do), Redis is flushed (the dead worker's unacknowledged
messages with it) and every pending row is enqueued again to a freshly started worker. After
the last kill one more worker delivers whatever is pending, and the outbox must end all sent.

A resend is a Message-ID the SMTP server received more than once: a mail the server accepted
but the killed worker had not yet recorded as sent. A mail is lost when a row whose Message-ID
the server never received is recorded as sent. When the rows run low, the sent ones are made
pending again under a fresh Message-ID (a new generation), so every kill lands on busy work.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
BUSY_TIMEOUT_S = 120.0
FINISH_TIMEOUT_S = 600.0


@dataclass
class KillReport:
    """What the kills did."""

    kills: int = 0
    busy_kills: int = 0  # the server received a mail within 0.2 s before the kill
    received: int = 0
    resends: int = 0  # receptions beyond the first of a Message-ID
    resent_ids: list[str] = field(default_factory=list)
    # for each resend: ms from the server accepting the first copy to the kill that followed
    # (short: the client was still waiting for the server's 250; long: it had not recorded)
    resend_gaps_ms: list[float] = field(default_factory=list)
    # for each resend: ms from the kill before the first copy's acceptance to it (None: no kill
    # before). A mail accepted just after a kill is the dead worker's last mail, whose final
    # bytes were on their way: no client can record it
    resend_after_kill_ms: list[float | None] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    not_sent: dict[str, int] = field(default_factory=dict)  # rows left in another status
    seconds: float = 0.0
    # --sent-copies: cut-short rows the sweep found in the Sent folder and did not send again
    settled_from_sent: int | None = None

    @property
    def ok(self) -> bool:
        return not self.lost and not self.not_sent


def message_ids(sink: Any) -> list[str]:
    """Return the Message-ID of every mail the server received, in order (duplicates kept)."""
    found = []
    for mail in list(sink.received):
        m = MESSAGE_ID.search(mail.data)
        found.append(m.group(1).decode() if m else "")
    return found


def measure_kills(
    sink: Any,
    start_worker: Callable[[int], subprocess.Popen[bytes]],
    enqueue_pending: Callable[[], int],
    sql: Callable[[str, dict[str, Any] | None], list[Any]],
    kills: int,
    window_s: float,
    seed: int,
) -> KillReport:
    """Kill a delivering worker ``kills`` times; return the resends and losses.

    ``start_worker(n)`` starts the n-th worker and returns when it consumes from Redis;
    ``enqueue_pending()`` expires claims, flushes Redis and enqueues every pending row;
    ``sql(statement, params)`` runs one statement and returns its rows.
    """
    rng = random.Random(seed)
    report = KillReport()
    sink.reset()
    total = int(sql("SELECT count(*) FROM outbox", None)[0][0])
    generation = 0
    expected: set[str] = set(_fresh_generation(sql, generation, "true"))
    start = time.monotonic()
    kill_times: list[float] = []
    for n in range(kills):
        pending = int(sql("SELECT count(*) FROM outbox WHERE status = 'pending'", None)[0][0])
        if pending < max(1, total // 2):
            generation += 1
            expected |= set(_fresh_generation(sql, generation, "status = 'sent'"))
        enqueue_pending()
        worker = start_worker(n)
        before = len(sink.received)
        if not sink.wait_for_count(before + 1, BUSY_TIMEOUT_S):
            worker.kill()
            worker.wait()
            raise SystemExit(f"kill {n + 1}: the worker sent nothing in {BUSY_TIMEOUT_S:.0f} s")
        time.sleep(rng.uniform(0.0, window_s))  # a random moment of its work
        last = max((m.accepted_monotonic_s for m in list(sink.received)), default=0.0)
        busy = time.monotonic() - last < 0.2
        os.kill(worker.pid, signal.SIGKILL)
        kill_times.append(time.monotonic())
        worker.wait()
        report.kills += 1
        report.busy_kills += busy
        ids = message_ids(sink)
        print(f"kill {n + 1}: {len(ids)} mails received, {len(ids) - len(set(ids))} resends",
              flush=True)  # fmt: skip
    enqueue_pending()
    worker = start_worker(kills)
    try:
        deadline = time.monotonic() + FINISH_TIMEOUT_S
        while sql("SELECT 1 FROM outbox WHERE status = 'pending' LIMIT 1", None):
            if time.monotonic() > deadline or worker.poll() is not None:
                break
            time.sleep(0.2)  # polling the outbox: the rows' state lives in PostgreSQL
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    report.seconds = time.monotonic() - start
    received = message_ids(sink)
    counts = Counter(received)
    report.received = len(received)
    report.resent_ids = sorted(mid for mid, c in counts.items() if c > 1)
    report.resends = sum(c - 1 for c in counts.values())
    report.resend_gaps_ms, report.resend_after_kill_ms = _gaps(
        sink, received, set(report.resent_ids), kill_times
    )
    report.lost = sorted(expected - set(counts))
    rows = sql("SELECT status, count(*) FROM outbox WHERE status <> 'sent' GROUP BY status", None)
    report.not_sent = {str(status): int(c) for status, c in rows}
    return report


def _gaps(
    sink: Any, ids: list[str], resent: set[str], kill_times: list[float]
) -> tuple[list[float], list[float | None]]:
    """Return, per resend, the ms from the first copy's acceptance to the next kill, and the
    ms from the kill before that acceptance to it (None when no kill came before)."""
    first: dict[str, float] = {}
    for mid, mail in zip(ids, list(sink.received), strict=True):
        if mid in resent and mid not in first:
            first[mid] = mail.accepted_monotonic_s
    gaps: list[float] = []
    after: list[float | None] = []
    for at in sorted(first.values()):
        later = [k for k in kill_times if k >= at]
        earlier = [k for k in kill_times if k < at]
        if later:
            gaps.append(round((later[0] - at) * 1000, 1))
            after.append(round((at - earlier[-1]) * 1000, 1) if earlier else None)
    return gaps, after


def _fresh_generation(
    sql: Callable[[str, dict[str, Any] | None], list[Any]], generation: int, which: str
) -> list[str]:
    """Make the rows ``which`` selects pending again under new Message-IDs; return those."""
    rows = sql(
        "UPDATE outbox SET status = 'pending', sent_at = NULL, claimed_until = NULL,"
        " attempts = 0, last_error = NULL, next_attempt_at = now() - interval '1 second',"
        " message_id = '<kill.' || :g || '.' || id || '@example.com>'"
        f" WHERE {which} RETURNING message_id",
        {"g": generation},
    )
    return [str(r[0]) for r in rows]


def kill_lines(report: KillReport, window_s: float) -> list[str]:
    """Return the report as lines for the benchmark's output."""
    lines = [
        f"kill -9: {report.kills} kills of a delivering worker ({report.busy_kills} within 0.2 s"
        f" of a mail arriving), a random moment 0-{window_s:.1f} s after its first mail;"
        f" {report.received} mails received in {report.seconds:.0f} s",
        f"resends (one Message-ID received twice or more): {report.resends}"
        + (
            f"; ms from the server's acceptance to the kill: {report.resend_gaps_ms}"
            if report.resent_ids
            else ""
        ),
        f"lost (a Message-ID the server never received): {len(report.lost)}",
    ]
    if report.settled_from_sent is not None:
        lines.append(
            f"cut-short deliveries found in the Sent folder by the sweep, recorded sent and not"
            f" sent again: {report.settled_from_sent}"
        )
    if report.resent_ids:
        # a kill comes at most window_s after the worker's first mail, and a worker starts
        # seconds after the kill before it: an acceptance within a second after a kill is the
        # dead worker's own last mail, which the server got to after the kill
        dead = [a for a in report.resend_after_kill_ms if a is not None and a < 1000.0]
        alive = len(report.resend_gaps_ms) - len(dead)
        lines.append(
            f"of the resends, {len(dead)} were accepted by the server after the kill (within"
            f" {max(dead, default=0.0):.0f} ms of it: the dead worker's final bytes), and"
            f" {alive} before it (accepted, not yet recorded when the worker died)"
        )
    if report.not_sent:
        lines.append(f"rows not sent at the end: {report.not_sent}")
    return lines


def worker_log(work: Path, n: int) -> Path:
    return work / f"kill-worker-{n}.log"
