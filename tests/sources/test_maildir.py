"""The Maildir source reads new/ and cur/, skips what the cursor has seen, never writes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from mailflow.errors import SourceError
from mailflow.sources.base import Checkpoint
from mailflow.sources.maildir import FOLDER, MaildirSource


class DictCursor:
    """A SourceCursor over plain sets, as the ingest service's database cursor behaves."""

    def __init__(self, seen: Iterable[str] = ()) -> None:
        self.seen = set(seen)

    def checkpoint(self, folder: str) -> Checkpoint | None:
        return None

    def seen_keys(self, folder: str) -> set[str]:
        return set(self.seen)

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        return set()

    def stores_any(self) -> bool:
        return False


def _maildir(root: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def _deliver(root: Path, sub: str, name: str, body: bytes, mtime: int) -> Path:
    path = root / sub / name
    path.write_bytes(body)
    os.utime(path, (mtime, mtime))
    return path


def test_reads_new_and_cur_oldest_first(tmp_path: Path) -> None:
    """Both folders are read, ordered by delivery time, with the flags suffix not in the key."""
    box = _maildir(tmp_path)
    _deliver(box, "cur", "200.M2.host:2,S", b"Subject: b\n\nb", 200)
    _deliver(box, "new", "100.M1.host", b"Subject: a\n\na", 100)
    (box / "new" / ".hidden").write_bytes(b"x")
    batches = list(MaildirSource(box).fetch(DictCursor()))
    mails = [m for batch in batches for m in batch]
    assert [(m.key, m.raw, m.folder) for m in mails] == [
        ("100.M1.host", b"Subject: a\n\na", FOLDER),
        ("200.M2.host", b"Subject: b\n\nb", FOLDER),
    ]


def test_skips_seen_keys_and_batches(tmp_path: Path) -> None:
    """Keys the cursor has committed are not read again; the rest come in batches."""
    box = _maildir(tmp_path)
    for i in range(5):
        _deliver(box, "new", f"{i}.M.host", f"Subject: {i}\n\n".encode(), 100 + i)
    source = MaildirSource(box, batch_size=2)
    batches = list(source.fetch(DictCursor(seen={"0.M.host"})))
    assert [[m.key for m in b] for b in batches] == [
        ["1.M.host", "2.M.host"],
        ["3.M.host", "4.M.host"],
    ]


def test_acknowledge_leaves_files_untouched(tmp_path: Path) -> None:
    """Marking processed changes nothing on disk: the shipped example inbox stays as shipped."""
    box = _maildir(tmp_path)
    path = _deliver(box, "new", "1.M.host", b"Subject: x\n\nx", 100)
    source = MaildirSource(box)
    mails = [m for b in source.fetch(DictCursor()) for m in b]
    source.acknowledge(mails)
    assert sorted(p.name for p in (box / "new").iterdir()) == [path.name]
    assert list((box / "cur").iterdir()) == []


def test_not_a_maildir_is_a_clear_error(tmp_path: Path) -> None:
    """A folder without new/ and cur/ is refused with a hint at MAILFLOW_SOURCE."""
    with pytest.raises(SourceError, match=r"not a Maildir.*MAILFLOW_SOURCE"):
        MaildirSource(tmp_path)


def test_wait_returns_when_mail_arrived_after_the_last_read(tmp_path: Path) -> None:
    """Mail delivered between a read and the wait ends the wait at once, not at its timeout."""
    import time

    box = _maildir(tmp_path)
    source = MaildirSource(box)
    assert [m for b in source.fetch(DictCursor()) for m in b] == []
    path = box / "new" / "9.M.host"
    path.write_bytes(b"Subject: late\n\n")
    started = time.monotonic()
    source.wait_for_mail(30)
    assert time.monotonic() - started < 30


def test_interrupt_ends_a_wait_from_another_thread(tmp_path: Path) -> None:
    """On shutdown a poller waiting for mail is woken at once rather than at its timeout."""
    import threading

    source = MaildirSource(_maildir(tmp_path))
    waiter = threading.Thread(target=source.wait_for_mail, args=(600,))
    waiter.start()
    source.interrupt()
    waiter.join(timeout=10)
    assert not waiter.is_alive()


@pytest.mark.parametrize(
    ("sizes", "budget", "expected"),
    [
        ([300, 300, 300, 300], 700, [[0, 1], [2, 3]]),
        ([300, 900, 300], 700, [[0], [1], [2]]),  # one mail over the budget is a batch alone
        ([700, 20, 680, 20], 700, [[0], [1, 2], [3]]),  # exactly the budget fits
        ([100] * 5, 10_000, [[0, 1], [2, 3], [4]]),  # the count limit still applies
    ],
)
def test_batches_are_cut_by_bytes(
    tmp_path: Path, sizes: list[int], budget: int, expected: list[list[int]]
) -> None:
    """No batch holds more than the byte budget but a single bigger mail; nothing is lost,
    doubled or reordered across batches."""
    box = _maildir(tmp_path)
    for n, size in enumerate(sizes):
        head = f"Subject: {n}\n\n".encode()
        _deliver(box, "new", f"{100 + n}.M{n}.host", head + b"x" * (size - len(head)), 100 + n)
    source = MaildirSource(box, batch_size=2 if budget == 10_000 else 200, batch_bytes=budget)
    batches = [
        [int(m.key.split(".M")[1].split(".")[0]) for m in b] for b in source.fetch(DictCursor())
    ]
    assert batches == expected
    for batch in batches:
        assert len(batch) == 1 or sum(sizes[n] for n in batch) <= budget


def test_a_file_is_read_only_after_the_batch_before_it_is_handed_over(tmp_path: Path) -> None:
    """The source never holds the next batch's mail while the consumer works on one."""
    box = _maildir(tmp_path)
    for n in range(3):
        _deliver(box, "new", f"{100 + n}.M{n}.host", b"Subject: x\n\n" + b"x" * 500, 100 + n)
    fetching = MaildirSource(box, batch_bytes=600).fetch(DictCursor())
    first = next(fetching)
    # while the first batch is in hand, the second file can still vanish: it was not read yet
    (box / "new" / "101.M1.host").unlink()
    rest = list(fetching)
    assert [m.key for m in first] == ["100.M0.host"]
    assert [[m.key for m in b] for b in rest] == [["102.M2.host"]]
