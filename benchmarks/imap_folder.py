"""Big-folder benchmark: the first start and a UIDVALIDITY resync on a 200,000-message folder.

Run from the repository root (as root, or as a user that can run Dovecot)::

    .venv/bin/python benchmarks/imap_folder.py                  # 200,000 messages
    .venv/bin/python benchmarks/imap_folder.py --messages 2000  # a quick look

What it does:

1. Starts a throwaway Dovecot (``tests/servers/dovecot.py``) and writes ``--messages`` tiny
   messages straight into the user's Maildir, then times Dovecot indexing them (the first
   SELECT and STATUS). They go into ``cur/`` with the ``:2,`` info suffix, as Dovecot leaves
   mail after a read-write SELECT: left in ``new/``, every read-only session (the raw baseline
   reads read-only) makes Dovecot rescan the 200,000 files at each synchronisation, about 30 s
   each time, and nothing finishes. Dovecot's "Scanning … took N seconds" warnings are counted
   at the end.
2. Shows the limit mailflow used to stop at: one plain ``UID SEARCH ALL`` through imaplib,
   whose answer line is longer than ``imaplib._MAXLINE`` (1,000,000 bytes, ~140,000 UIDs).
3. Raw baseline: imapclient reads every body (``UID FETCH a:b BODY.PEEK[]`` in ranges of
   ``--batch`` UIDs) over one connection, nothing else; then again, adding a keyword to each
   batch after reading it (``UID STORE +FLAGS.SILENT``), as mailflow's default processed=flag
   marks each batch: on a Maildir every keyword added is a file renamed.
4. mailflow's first start: ``ImapSource.fetch`` with an empty cursor works through the folder
   one UID range of at most ``SEARCH_PAGE`` messages at a time (list it, cut batches by size,
   fetch the bodies, then the next range), acknowledging each batch (nothing stored: the
   cursor only remembers the Message-IDs).
5. A UIDVALIDITY resync: Dovecot renumbers the folder, and ``ImapSource.fetch`` with a cursor
   that knows every Message-ID lists each range, reads and looks up its Message-IDs a batch at
   a time, fetches nothing and marks every message processed. Its peak of Python allocations
   (tracemalloc, the cursor's own set excluded) is printed next to what every UID, and every
   Message-ID, held at once would take.

See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import imaplib
import os
import shutil
import sys
import time
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

USER, PASSWORD = "big@example.test", "big-secret"


def tiny(n: int) -> bytes:
    return (
        f"Message-ID: <{n}@big.test>\r\nFrom: a@example.test\r\nTo: coord@example.test\r\n"
        f"Subject: n{n}\r\n\r\n{n}\r\n"
    ).encode()


def deliver(maildir: Path, count: int) -> float:
    """Write ``count`` messages into ``maildir``/cur (no flags: ``:2,``); return the seconds."""
    started = time.perf_counter()
    for n in range(1, count + 1):
        name = f"{1700000000 + n}.M{n}P1.bench"
        (maildir / "tmp" / name).write_bytes(tiny(n))
        os.rename(maildir / "tmp" / name, maildir / "cur" / f"{name}:2,")
    if os.geteuid() == 0:  # tests/servers/dovecot.py maps mail to nobody
        for path in (maildir / "cur").iterdir():
            shutil.chown(path, "nobody", "nogroup")
    return time.perf_counter() - started


def scanning_warnings(log: str) -> list[str]:
    """Return Dovecot's "Scanning … took N seconds" warnings: slow rescans of the Maildir."""
    return [line.split("Warning: ", 1)[-1] for line in log.splitlines() if "Scanning" in line]


class Cursor:
    """A SourceCursor over a set of Message-IDs: what a database would have committed."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.known = known or set()
        self.asked = 0
        self.largest_question = 0

    def checkpoint(self, folder: str) -> None:
        return None

    def seen_keys(self, folder: str) -> set[str]:
        return set()

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        ids = set(message_ids)
        self.asked += len(ids)
        self.largest_question = max(self.largest_question, len(ids))
        return ids & self.known

    def stores_any(self) -> bool:
        return bool(self.known)


def raw_fetch(server: object, batch: int, mark: bytes | None = None) -> tuple[float, int]:
    """Read every body with imapclient alone (and with ``mark``, add that keyword to each
    batch, as mailflow's processed=flag does); return the seconds and the messages read."""
    from imapclient import IMAPClient

    # the test helper's client gives up after 15 s; a loaded machine can take longer
    client = IMAPClient(server.host, server.port, ssl=False, timeout=300)  # type: ignore[attr-defined]
    client._imap.debug = 0  # no formatting for imapclient's debug log, as in mailflow's sources
    client.login(USER, PASSWORD)
    started = time.perf_counter()
    info = client.select_folder("INBOX", readonly=mark is None)
    top = int(info[b"UIDNEXT"])
    read = 0
    for low in range(1, top, batch):
        uids = list(range(low, min(low + batch, top)))
        got = client.fetch(uids, [b"BODY.PEEK[]"])
        read += len(got)
        if mark is not None:
            client.add_flags(list(got), [mark], silent=True)
    seconds = time.perf_counter() - started
    client.logout()
    return seconds, read


def mailflow_fetch(url: str, cursor: Cursor) -> tuple[float, int, list[str]]:
    """Run ``ImapSource.fetch`` to the end; return the seconds, mails fetched, Message-IDs."""
    from mailflow.sources.imap import ImapSource
    from mailflow.sources.url import ImapUrl, parse_source_url

    parsed = parse_source_url(url)
    assert isinstance(parsed, ImapUrl)
    source = ImapSource(parsed, PASSWORD)
    started = time.perf_counter()
    fetched, ids = 0, []
    for batch in source.fetch(cursor):
        fetched += len(batch)
        ids += [_message_id(m.raw) for m in batch]
        source.acknowledge(batch)
    seconds = time.perf_counter() - started
    source.close()
    return seconds, fetched, ids


def _message_id(raw: bytes) -> str:
    return raw.split(b"\r\n", 1)[0].split(b":", 1)[1].strip().decode()


def plain_search(server: object) -> str:
    """Return what one plain ``UID SEARCH ALL`` gave: a count, or imaplib's error."""
    client = server.client(USER)  # type: ignore[attr-defined]
    client.select_folder("INBOX", readonly=True)
    try:
        return f"{len(client.search(['ALL']))} UIDs"
    except imaplib.IMAP4.error as e:
        return f"fails: {e}"
    finally:
        with contextlib.suppress(Exception):  # imaplib left the answer half read
            client.shutdown()


def row(cells: Sequence[object]) -> str:
    return f"{cells[0]!s:<34} " + " ".join(f"{c!s:>12}" for c in cells[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=200_000, help="folder size (200,000)")
    p.add_argument("--batch", type=int, default=500, help="mails per batch (?batch=, 500)")
    args = p.parse_args()

    from tests.servers.dovecot import running_dovecot

    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"big-folder benchmark: {args.messages} messages, batch {args.batch}; load {load}")
    with running_dovecot({USER: PASSWORD}) as server:
        with server.client(USER) as c:
            c.select_folder("INBOX")  # Dovecot creates the Maildir
        written = deliver(server.maildir_of(USER), args.messages)
        started = time.perf_counter()
        with server.client(USER) as c:
            c.select_folder("INBOX", readonly=True)
            status = c.folder_status("INBOX", [b"MESSAGES"])
        indexed = time.perf_counter() - started
        assert int(status[b"MESSAGES"]) == args.messages, status
        search = plain_search(server)
        url = server.source_url(USER, batch=str(args.batch))
        raw_s, raw_n = raw_fetch(server, args.batch)
        # a keyword of its own, so that mailflow's keyword is still a change to every message
        marked_s, marked_n = raw_fetch(server, args.batch, mark=b"$RawBenchmark")
        first_s, first_n, ids = mailflow_fetch(url, Cursor())
        assert first_n == args.messages, (first_n, args.messages)
        known = set(ids)
        del ids
        server.change_uidvalidity(USER)
        cursor = Cursor(known)
        tracemalloc.start()
        resync_s, resync_n, _ = mailflow_fetch(url, cursor)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        held = [f"<{n}@big.test>" for n in range(args.messages)]
        _, all_ids = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        every_uid = list(range(1000, 1000 + args.messages))  # past the small-int cache
        _, all_uids = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del held, every_uid
        slow_scans = scanning_warnings(server.log())
    print(f"wrote the Maildir in {written:.1f} s; Dovecot indexed it in {indexed:.1f} s")
    print(f"Dovecot's slow-scan warnings: {len(slow_scans)}")
    for line in slow_scans[:5]:
        print(f"  {line}")
    print(f"one plain UID SEARCH ALL through imaplib: {search}\n")
    print(row(["run", "seconds", "mails/s", "ratio to raw", "to raw+mark", "fetched"]))
    print(row(["raw imapclient UID FETCH", f"{raw_s:.1f}", f"{raw_n / raw_s:.0f}", "1.00", "",
               raw_n]))  # fmt: skip
    print(row(["raw UID FETCH + UID STORE keyword", f"{marked_s:.1f}",
               f"{marked_n / marked_s:.0f}", f"{raw_s / marked_s:.2f}", "1.00",
               marked_n]))  # fmt: skip
    print(row(["mailflow first start", f"{first_s:.1f}", f"{first_n / first_s:.0f}",
               f"{raw_s / first_s:.2f}", f"{marked_s / first_s:.2f}", first_n]))  # fmt: skip
    print(row(["mailflow UIDVALIDITY resync", f"{resync_s:.1f}", "", "", "", resync_n]))
    print(f"\nresync: asked about {cursor.asked} Message-IDs, at most {cursor.largest_question} at"
          f" once; peak Python allocations {peak / 1e6:.1f} MB (for comparison, held at once:"
          f" all {args.messages} UIDs {all_uids / 1e6:.1f} MB, all their Message-IDs"
          f" {all_ids / 1e6:.1f} MB)")  # fmt: skip
    with open("/proc/loadavg") as f:
        print("load average after:", " ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()
