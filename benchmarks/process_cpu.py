"""Where a benchmarked command's CPU goes, process by process (Linux; used by ``ingest.py --cpu``).

A thread reads ``/proc`` every ``INTERVAL_S`` while the command runs: for each process its CPU
seconds (user + system), its parent and its command line, and for the machine its idle time.
After the run each process is given a role:

- ``poller``: the command itself;
- ``parse workers`` and ``forkserver``: the processes below it (the forkserver is the one it
  started, the workers are forked from that); anything else below it is ``other``;
- ``database server``: the PostgreSQL backends serving the database the command wrote to;
- ``IMAP server``: the processes of the benchmark's Dovecot (their titles start with its
  instance name), of which only the measured user's ``imap`` is busy.

A process's last moments between two reads are missed (at most ``INTERVAL_S`` of CPU each), but
the command itself is read once more after it has exited and before it is reaped, so its own
total is exact. Processes that existed before the run count only what they spent during it.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

INTERVAL_S = 0.05
SETTLE_READS = 10  # a process's command line is read in its first half second
KTHREADD = 2  # the parent of every kernel thread
ROLES = ("poller", "parse workers", "forkserver", "other", "database server", "IMAP server")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class _Seen:
    parent: int
    command: str
    first_cpu: float  # when first read (0.0 for a process that started during the run)
    cpu: float
    reads: int = 1  # its command line is read again until the process has settled


@dataclass
class CpuByProcess:
    """CPU seconds by role over one run, and the share of the machine's CPU time left idle."""

    seconds: dict[str, float] = field(default_factory=dict)
    idle: float = 0.0


def available() -> bool:
    return Path("/proc/stat").exists()


class Sampler:
    """Reads ``/proc`` in a thread from ``start`` until ``result``. Make it before the command
    starts, so that what older processes had spent is known; ``wait`` for the command's end,
    then reap it and call ``result``."""

    def __init__(self) -> None:
        self._command_pid = 0
        self._seen: dict[int, _Seen] = {}
        self._kernel: set[int] = set()  # kernel threads: never read again
        # what each process had spent before the command started, by (pid, start time)
        self._before = {
            (pid, started): cpu for pid, (_, started, cpu) in self._read_stats().items()
        }
        self._idle0 = _idle()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-cpu", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, command: subprocess.Popen[bytes]) -> None:
        """Wait until ``command`` has exited, without reaping it, and read once more: exited and
        not yet reaped, it still shows its totals. The caller reaps it."""
        os.waitid(os.P_PID, command.pid, os.WEXITED | os.WNOWAIT)
        self._command_pid = command.pid
        self._update()

    def result(self, database: str | None, imap_server: str | None) -> CpuByProcess:
        """Stop reading; return the CPU by role of the command, which wrote to ``database`` (a
        PostgreSQL database's name, or None) and read from the Dovecot whose process titles
        start with ``imap_server``."""
        self._stop.set()
        self._thread.join()
        self._update()
        idle1 = _idle()
        idle, all_ = idle1[0] - self._idle0[0], idle1[1] - self._idle0[1]
        share = idle / all_ if all_ else 0.0
        seconds = self._attribute(self._command_pid, database, imap_server)
        return CpuByProcess(seconds, share)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._update()

    def _update(self) -> None:
        for pid, (parent, started, cpu) in self._read_stats().items():
            seen = self._seen.get(pid)
            if seen is None:
                first = self._before.get((pid, started), 0.0)
                self._seen[pid] = _Seen(parent, _command(pid), first, cpu)
                continue
            seen.cpu = max(seen.cpu, cpu)
            if seen.reads < SETTLE_READS:
                # a child read between fork and exec shows its parent's command line, a
                # PostgreSQL backend names its database a moment after it starts, and a zombie
                # shows none: the newest non-empty one counts
                seen.command = _command(pid) or seen.command
                seen.reads += 1

    def _read_stats(self) -> dict[int, tuple[int, int, float]]:
        """Return each process's (parent, start time, CPU seconds), from ``/proc/PID/stat``."""
        found: dict[int, tuple[int, int, float]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in self._kernel:
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rpartition(b")")[2].split()
            except OSError:  # it ended meanwhile
                continue
            pid, parent = int(name), int(fields[1])
            if parent == KTHREADD or pid == KTHREADD:
                self._kernel.add(pid)
                continue
            cpu = (int(fields[11]) + int(fields[12])) / _TICKS
            found[pid] = (parent, int(fields[19]), cpu)
        return found

    def _attribute(
        self, command_pid: int, database: str | None, imap_server: str | None
    ) -> dict[str, float]:
        below = _descendants(command_pid, {pid: s.parent for pid, s in self._seen.items()})
        seconds = dict.fromkeys(ROLES, 0.0)
        for pid, seen in self._seen.items():
            role = _role(pid, seen, command_pid, below, database, imap_server)
            if role is not None:
                seconds[role] += max(0.0, seen.cpu - seen.first_cpu)
        return seconds


def _role(
    pid: int,
    seen: _Seen,
    command_pid: int,
    below: set[int],
    database: str | None,
    imap_server: str | None,
) -> str | None:
    if pid == command_pid:
        return "poller"
    if pid in below:
        if "multiprocessing.forkserver" not in seen.command:
            return "other"
        return "forkserver" if seen.parent == command_pid else "parse workers"
    if database and seen.command.startswith("postgres:") and f" {database} " in seen.command:
        return "database server"
    if imap_server and seen.command.startswith(imap_server):
        return "IMAP server"
    return None


def _descendants(pid: int, parent_of: dict[int, int]) -> set[int]:
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _idle() -> tuple[int, int]:
    """Return (idle + iowait, all) jiffies of the machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return values[3] + values[4], sum(values)
