"""A Maildir folder as a mail source: the embedded default and the bundled example inbox.

Batches hold at most ``batch_size`` mails and ``batch_bytes`` bytes (``MAILFLOW_BATCH_BYTES``);
a file is only read once the batch before it has been handed over.

The folder is only read, never changed: which files are committed lives in the database
(``seen_keys``), so the example inbox in the repository stays as shipped and invariant 1
holds without flags on disk.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mailflow.errors import SourceError
from mailflow.settings import DEFAULT_BATCH_BYTES
from mailflow.sources.base import FetchedMail, SourceCursor, byte_groups

FOLDER = "INBOX"
DEFAULT_BATCH = 200
# how often wait_for_mail looks at the folder; a Maildir has no push
_CHECK_INTERVAL_S = 0.5
# a Maildir file name is "unique:2,FLAGS"; the unique part alone identifies the message
_INFO_SEPARATOR = ":"


class MaildirSource:
    """Reads ``new/`` and ``cur/`` of one Maildir, oldest delivery first (by the name's time)."""

    def __init__(
        self, path: Path, batch_size: int = DEFAULT_BATCH, batch_bytes: int = DEFAULT_BATCH_BYTES
    ) -> None:
        self._path = path.resolve()
        if not (self._path / "new").is_dir() or not (self._path / "cur").is_dir():
            raise SourceError(
                f"{path} is not a Maildir (it needs new/ and cur/ folders); check MAILFLOW_SOURCE"
            )
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        # the folders' state when last listed: a delivery after that ends the next wait at once
        self._listed: tuple[float, float, int] | None = None
        self._interrupted = threading.Event()
        self._waiting = 0  # files the running pass listed and has not yielded yet

    @property
    def name(self) -> str:
        return f"maildir://{self._path}"

    def fetch(self, cursor: SourceCursor) -> Iterator[Sequence[FetchedMail]]:
        self._listed = self._stamp()
        seen = cursor.seen_keys(FOLDER)
        entries = [(key, path) for key, path in self._entries() if key not in seen]
        self._waiting = len(entries)
        taken = 0
        for i in range(0, len(entries), self._batch_size):
            chunk = entries[i : i + self._batch_size]
            for group in byte_groups(chunk, [_size(path) for _, path in chunk], self._batch_bytes):
                taken += len(group)
                self._waiting = len(entries) - taken
                # each file is read only once the batch before it was handed over and let go
                batch = _read_all(group)
                if batch:
                    yield batch
                del batch

    def _entries(self) -> list[tuple[str, Path]]:
        """Return (unique name, file) pairs, oldest first; flags after ':' are not the key."""
        found = []
        for sub in ("new", "cur"):
            with os.scandir(self._path / sub) as it:
                for entry in it:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    key = entry.name.split(_INFO_SEPARATOR, 1)[0]
                    found.append((_delivered_at(key, entry), key, Path(entry.path)))
        found.sort()
        return [(key, path) for _, key, path in found]

    def acknowledge(self, mails: Sequence[FetchedMail]) -> None:
        """Nothing to do: the committed ``seen_keys`` are the checkpoint."""

    def waiting(self) -> int:
        """Return the files the running pass listed as new and has not yielded yet."""
        return self._waiting

    def wait_for_mail(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        before = self._listed or self._stamp()
        if self._stamp() != before:
            return
        while time.monotonic() < deadline:
            step = min(_CHECK_INTERVAL_S, max(0.0, deadline - time.monotonic()))
            if self._interrupted.wait(step) or self._stamp() != before:
                return

    def _stamp(self) -> tuple[float, float, int]:
        """Return what changes when mail arrives; the count catches coarse mtime clocks."""
        new = self._path / "new"
        count = sum(1 for _ in os.scandir(new))
        return (os.stat(new).st_mtime, os.stat(self._path / "cur").st_mtime, count)

    def interrupt(self) -> None:
        """End a ``wait_for_mail`` running in another thread now (on shutdown)."""
        self._interrupted.set()

    def close(self) -> None:
        """Nothing to release: files are opened per message."""


def _delivered_at(key: str, entry: os.DirEntry[str]) -> float:
    """Return the delivery time: Maildir names start with it; a copied file keeps it, mtime not."""
    head = key.split(".", 1)[0]
    return float(head) if head.isdigit() else entry.stat().st_mtime


def _size(path: Path) -> int:
    """Return the file's size in bytes; 0 for a file another client moved away meanwhile."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_all(group: Sequence[tuple[str, Path]]) -> list[FetchedMail]:
    """Return the mails of ``group``'s files, without those another client moved away meanwhile
    (new/ -> cur/): they are found again next pass."""
    mails = []
    for key, path in group:
        try:
            mails.append(FetchedMail(folder=FOLDER, key=key, raw=path.read_bytes()))
        except FileNotFoundError:
            continue
    return mails
