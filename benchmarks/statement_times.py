"""Where the time of a long ``mailflow poll --once`` goes, and whether it grows as the run goes on.

``benchmarks/ingest.py --statements`` runs the poller through this file::

    python benchmarks/statement_times.py OUT.json poll --once

It times every SQL statement (SQLAlchemy's cursor events, PostgreSQL's ``COPY`` and the
COMMIT), every call of imapclient's that ingest makes and the poller's wait for each batch's
parse, groups them by the committed batch they belong to, and writes the sums to
``OUT.json``; ``show(OUT.json)`` prints milliseconds per batch for each statement, the batches
cut into groups from the first to the last. A statement whose cost grows from group to group
costs more the more is stored: that is how the stale generic plans on PostgreSQL and the
lookups that read a whole thread's history were found (``docs/benchmarks.md``). Statements
are keyed by their text with bound values and ``IN`` lists folded.
"""

from __future__ import annotations

import atexit
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SPACE = re.compile(r"\s+")
_VALUES = re.compile(r"\(\$?[%\w\(\)?, :]+\)(, \([^)]*\))*")
IMAP_CALLS = ("fetch", "search", "add_flags", "set_flags", "move", "select_folder", "login")


def _key(statement: str) -> str:
    return "sql " + _VALUES.sub("(..)", _SPACE.sub(" ", statement).strip())[:110]


class Timer:
    """Sums of (count, seconds) by (batch, what); a batch ends with each committed session."""

    def __init__(self) -> None:
        self.batch = 0
        self.sums: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0, 0.0])
        self.commits: list[tuple[float, float]] = []  # (wall, process CPU) at each commit

    def add(self, what: str, seconds: float) -> None:
        entry = self.sums[(self.batch, what)]
        entry[0] += 1
        entry[1] += seconds

    def install(self) -> None:
        import imapclient
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.orm import Session

        @event.listens_for(Engine, "before_cursor_execute")
        def _before(conn: Any, *_: Any) -> None:
            conn.info.setdefault("statement_started", []).append(time.perf_counter())

        @event.listens_for(Engine, "after_cursor_execute")
        def _after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            self.add(_key(statement), time.perf_counter() - conn.info["statement_started"].pop())

        @event.listens_for(Session, "after_commit")
        def _commit(_session: Any) -> None:
            self.commits.append((time.perf_counter(), time.process_time()))
            self.batch += 1

        self._install_waits()
        for name in IMAP_CALLS:
            original = getattr(imapclient.IMAPClient, name)

            def timed(client: Any, *a: Any, _o: Any = original, _n: str = name, **k: Any) -> Any:
                start = time.perf_counter()
                try:
                    return _o(client, *a, **k)
                finally:
                    self.add(f"imap {_n}", time.perf_counter() - start)

            setattr(imapclient.IMAPClient, name, timed)

    def _install_waits(self) -> None:
        """Time what the cursor events do not see: PostgreSQL's ``COPY`` (``insert_rows``),
        the database's COMMIT, and the poller waiting for a batch's parse. Patched before
        mailflow's modules import them by name."""
        from sqlalchemy.engine.default import DefaultDialect

        import mailflow.service.parsing as parsing
        import mailflow.store.db as db

        insert_rows = db.insert_rows

        def copy(session: Any, table: Any, rows: Any) -> None:
            if not rows or session.get_bind().dialect.name != "postgresql":
                return insert_rows(session, table, rows)  # SQLite's: seen by the events
            start = time.perf_counter()
            try:
                return insert_rows(session, table, rows)
            finally:
                self.add(f"sql COPY {table.name}", time.perf_counter() - start)

        db.insert_rows = copy
        do_commit: Callable[[Any, Any], None] = DefaultDialect.do_commit

        def commit(dialect: Any, connection: Any) -> None:
            start = time.perf_counter()
            try:
                do_commit(dialect, connection)
            finally:
                self.add("sql COMMIT", time.perf_counter() - start)

        setattr(DefaultDialect, "do_commit", commit)  # noqa: B010  patched as a whole
        submit = parsing.BatchParser.submit

        def timed_submit(parser: Any, raws: Any) -> Any:
            wait: Callable[[], Any] = submit(parser, raws)

            def waited() -> Any:
                start = time.perf_counter()
                try:
                    return wait()
                finally:
                    self.add("wait for the parse (in the poller when not pooled)",
                             time.perf_counter() - start)  # fmt: skip

            return waited

        setattr(parsing.BatchParser, "submit", timed_submit)  # noqa: B010

    def write(self, out: Path) -> None:
        sums = [[b, what, n, s] for (b, what), (n, s) in self.sums.items()]
        out.write_text(json.dumps({"commits": self.commits, "sums": sums}))


def show(path: Path, groups: int = 5, top: int = 20) -> None:
    """Print milliseconds per batch by group of batches, first to last, for the ``top``
    statements and calls by total time, with wall and process CPU per batch."""
    data = json.loads(path.read_text())
    commits, count = data["commits"], len(data["commits"])
    groups = min(groups, count - 1)
    if groups < 1:
        print(f"{path.name}: {count} commit, nothing to compare")
        return
    size = count // groups

    def group(batch: int) -> int:
        return min(batch // size, groups - 1)

    batches = [sum(1 for b in range(1, count) if group(b) == g) or 1 for g in range(groups)]
    per: dict[str, list[float]] = defaultdict(lambda: [0.0] * groups)
    for batch, what, _n, seconds in data["sums"]:
        per[what][group(batch)] += seconds
    wall, cpu = [0.0] * groups, [0.0] * groups
    for b in range(1, count):
        wall[group(b)] += commits[b][0] - commits[b - 1][0]
        cpu[group(b)] += commits[b][1] - commits[b - 1][1]

    def line(seconds: list[float], what: str, digits: int = 2) -> str:
        per_batch = (1000 * s / n for s, n in zip(seconds, batches, strict=True))
        return "".join(f"{ms:10.{digits}f}" for ms in per_batch) + f"  {what}"

    print(f"\n{path.name}: ms per committed batch, {count} batches, {groups} groups, in order")
    print("".join(f"{'group ' + str(g + 1):>10}" for g in range(groups)))
    print(line(wall, "wall per batch", 1))
    print(line(cpu, "poller CPU", 1))
    for what in sorted(per, key=lambda w: -sum(per[w]))[:top]:
        print(line(per[what], what))


def main() -> int:
    out = Path(sys.argv.pop(1))
    timer = Timer()
    timer.install()
    atexit.register(timer.write, out)
    from mailflow.cli import main as cli

    return int(cli() or 0)


if __name__ == "__main__":  # the parse workers import this file again: only the parent runs it
    sys.exit(main())
