"""The ``MailSource`` protocol shared by Maildir, IMAP and Exchange.

A source yields batches of raw mail that the ingest service has not seen, and marks a batch
processed only when told to, which the service does after its transaction committed
(invariant 1). What the service already knows reaches the source through a ``SourceCursor``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True)
class Checkpoint:
    """How far a folder has been read: UIDs are only meaningful with their UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class FetchedMail:
    """One raw message as the mailbox holds it."""

    folder: str
    key: str  # stable within the folder: the IMAP UID as text, the Maildir unique name
    raw: bytes
    uid: int | None = None  # IMAP only
    uidvalidity: int | None = None  # IMAP only
    sync_state: str | None = None  # EWS only: the folder's sync state once this batch is in


class SourceCursor(Protocol):
    """What the ingest service remembers about one source; implemented over the database."""

    def checkpoint(self, folder: str) -> Checkpoint | None:
        """Return the committed checkpoint of ``folder``, or None before the first batch."""
        ...

    def seen_keys(self, folder: str) -> set[str]:
        """Return the keys of ``folder`` already committed (sources without UIDs use this)."""
        ...

    def sync_state(self, folder: str) -> str | None:
        """Return the committed EWS sync state of ``folder``, or None before the first batch."""
        ...

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Return which of these Message-IDs (with <>) are stored already."""
        ...

    def stores_any(self) -> bool:
        """Return whether any message is stored at all (a fresh database knows none)."""
        ...


class MailSource(Protocol):
    """A mailbox mailflow reads. Implementations: MaildirSource, ImapSource, EwsSource."""

    @property
    def name(self) -> str:
        """A stable, secret-free identity for checkpoints, leases and logs."""
        ...

    def fetch(self, cursor: SourceCursor) -> Iterator[Sequence[FetchedMail]]:
        """Yield batches of mail not yet committed according to ``cursor``; oldest first."""
        ...

    def acknowledge(self, mails: Sequence[FetchedMail]) -> None:
        """Mark these committed mails processed in the mailbox (flag, move or nothing)."""
        ...

    def waiting(self) -> int | None:
        """Return how many mails the running ``fetch`` pass found that it has not yielded yet
        (0 once a pass is through); None when the mailbox only says that more is waiting
        without a count (Exchange's sync pages; IMAP ranges still to be looked up by
        Message-ID). Mail delivered during the pass is not counted: the next pass finds it."""
        ...

    def wait_for_mail(self, timeout_s: float) -> None:
        """Block until new mail may have arrived (IMAP IDLE) or ``timeout_s`` passed."""
        ...

    def interrupt(self) -> None:
        """Make a ``wait_for_mail`` running in another thread return now; any thread may call it."""
        ...

    def close(self) -> None:
        """Release connections; the source may not be used afterwards."""
        ...


def byte_groups(items: Sequence[_T], sizes: Sequence[int], budget: int) -> list[list[_T]]:
    """Return ``items`` in order, cut into groups whose ``sizes`` add up to at most ``budget``
    bytes; an item bigger than ``budget`` is a group by itself, never left out."""
    groups: list[list[_T]] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if not groups or total + size > budget:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += size
    return groups
