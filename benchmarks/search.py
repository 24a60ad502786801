"""Search benchmark: what the search index (revision 0011) costs ingest, and what a query costs.

Run from the repository root::

    .venv/bin/python benchmarks/search.py                  # 3,000 messages, both databases
    .venv/bin/python benchmarks/search.py --messages 1000 --skip-postgres

1. Generates mail with ``benchmarks/mailgen.py`` and keeps what search indexes (subject, plain
   text as the new text), so the store's write is measured apart from parsing.
2. Writes the ``messages`` rows as ingest does (``insert_rows``: executemany on SQLite, binary
   COPY on PostgreSQL; batches of 200, one write transaction each) into a migrated database,
   with the search objects and with them dropped (the FTS5 triggers, the pg_trgm index).
   Repetitions are interleaved and the fastest is kept: the machine may be shared.
3. Times queries (best of 5) through ``store.search.matching_messages``, and the ``LIKE`` scan
   over ``messages`` that the index replaces, for comparison.

Prints a table and the load average; compare ratios, not absolute figures, on a busy machine.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from sqlalchemy import Table, text  # noqa: E402

from mailflow.store import migrate  # noqa: E402
from mailflow.store.db import insert_rows, make_engine, make_session_factory, writing  # noqa: E402
from mailflow.store.models import Message, Thread  # noqa: E402
from mailflow.store.search import matching_messages, search_terms  # noqa: E402

BATCH = 200
QUERIES = ("进度", "联调", "进度汇报", "项目例会 交付", "report")


def mail_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Return ``n`` message rows as ingest writes them, text from the mail generator."""
    from mailgen import generate

    rows = []
    start = datetime(2023, 10, 8, tzinfo=UTC)
    for i, raw in enumerate(generate(n, seed), start=1):
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        body = mail.get_body(("plain", "html"))
        try:
            content = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
        except (LookupError, UnicodeError):
            content = ""
        row: dict[str, Any] = {c.key: None for c in cast(Table, Message.__table__).columns}
        row.update(
            id=i, message_id=f"<bench-{i}@example.com>", status="stored", source="bench",
            folder="INBOX", source_key=str(i), received_at=start + timedelta(minutes=i),
            date=start + timedelta(minutes=i), automated=False, conforms=True,
            subject=str(mail["subject"] or ""), body_text=content, thread_id=1 + i % 50,
            parsed={"new_text": content[:4000], "subject": {"raw": str(mail["subject"])}},
        )  # fmt: skip
        rows.append(row)
    return rows


@contextmanager
def database(backend: str, with_search: bool) -> Iterator[str]:
    """Yield a migrated database's URL, its search objects dropped unless ``with_search``."""
    from tests.servers.databases import fresh_database

    with fresh_database(backend) as url:
        migrate.upgrade(url)
        if not with_search:
            engine = make_engine(url)
            with engine.begin() as conn:
                if backend == "postgresql":
                    conn.execute(text("DROP INDEX ix_message_search_trgm"))
                else:
                    for name in ("insert", "update", "delete"):
                        conn.execute(text(f"DROP TRIGGER message_search_{name}"))
            engine.dispose()
        yield url


def write(url: str, rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Write the threads and ``rows`` in batches; return the seconds the message batches took,
    wall and this process's CPU (all of SQLite's work; on PostgreSQL the server's is not in it)."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    at = datetime(2023, 10, 8, tzinfo=UTC)
    threads = [{"id": t, "subject_key": f"k{t}", "started_at": at, "last_message_at": at,
                "closed_at": None} for t in range(1, 51)]  # fmt: skip
    with writing(sessions) as s:
        insert_rows(s, cast(Table, Thread.__table__), threads)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(rows), BATCH):
        with writing(sessions) as s:
            insert_rows(s, cast(Table, Message.__table__), rows[i : i + BATCH])
    took = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    return took


def best_of(k: int, run: Callable[[], object]) -> float:
    """The fastest of ``k`` runs, in seconds."""
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def query_times(url: str) -> list[tuple[str, int, float, float]]:
    """Return (query, hits, index seconds, LIKE-scan seconds) for each query."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    out = []
    with sessions() as s:
        if engine.dialect.name == "postgresql":
            s.execute(text("SELECT gin_clean_pending_list('ix_message_search_trgm')"))
            s.execute(text("ANALYZE messages"))
        for q in QUERIES:
            terms = search_terms(q)
            hits = len(matching_messages(s, terms, limit=10_000))
            indexed = best_of(5, lambda t=terms: matching_messages(s, t, limit=50))
            where = " AND ".join(
                f"(subject LIKE :t{i} OR body_text LIKE :t{i})" for i in range(len(terms))
            )
            params = {f"t{i}": f"%{t}%" for i, t in enumerate(terms)}
            scan = text(f"SELECT id FROM messages WHERE {where} ORDER BY id DESC LIMIT 50")
            scanned = best_of(5, lambda x=scan, p=params: s.execute(x, p).all())
            out.append((q, hits, indexed, scanned))
    engine.dispose()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--seed", type=int, default=20231008)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-postgres", action="store_true")
    args = p.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows = mail_rows(args.messages, args.seed)
    chars = sum(len(r["parsed"]["new_text"]) + len(r["subject"]) for r in rows)
    print(f"{len(rows)} messages, {chars / len(rows):.0f} characters indexed each on average,"
          f" generated in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    backends = ["sqlite"] + ([] if args.skip_postgres else ["postgresql"])
    best: dict[tuple[str, bool, int], float] = {}  # (database, with search, 0 wall / 1 CPU)
    for _ in range(args.repeat):
        for backend in backends:
            for with_search in (False, True):
                with database(backend, with_search) as url:
                    took = write(url, rows)
                for kind in (0, 1):
                    key = (backend, with_search, kind)
                    best[key] = min(best.get(key, took[kind]), took[kind])
    print(f"\nwriting {len(rows)} messages in batches of {BATCH} (best of {args.repeat}):")
    print(f"{'database, time':<22}{'without search':>16}{'with search':>14}{'ratio':>8}"
          f"{'ms/msg more':>13}")  # fmt: skip
    for backend in backends:
        for kind, name in ((0, "wall"), (1, "CPU here")):
            without, with_ = best[(backend, False, kind)], best[(backend, True, kind)]
            extra = (with_ - without) * 1000 / len(rows)
            print(f"{backend + ', ' + name:<22}{without:>14.2f} s{with_:>12.2f} s"
                  f"{with_ / without:>8.2f}{extra:>13.2f}")  # fmt: skip
    for backend in backends:
        with database(backend, True) as url:
            write(url, rows)
            print(f"\n{backend}: query (best of 5)   hits   index ms   LIKE scan ms")
            for q, hits, indexed, scanned in query_times(url):
                print(f"  {q:<22}{hits:>6}{indexed * 1000:>11.1f}{scanned * 1000:>15.1f}")
    print(f"\nload average before/after: {load_before} / {os.getloadavg()}")


if __name__ == "__main__":
    main()
