"""``EwsSource``: read an on-premises Exchange Inbox over EWS with exchangelib.

New mail is found with SyncFolderItems, one page at a time; each page's new items are fetched
with GetItem (MimeContent: the raw message as Exchange holds it) and yielded as one batch that
carries the page's sync state. The ingest service commits the batch and the sync state in one
transaction (invariant 1), then calls ``acknowledge``, which marks the items: a category (what
Outlook shows; existing categories are kept) or a move into a folder. Marks a crash left undone
are caught up on the next connection (stored Message-IDs still unmarked in the Inbox). A wait
for new mail uses a pull subscription (GetEvents) where the server allows it, and plain waiting
otherwise; the subscription only wakes the poller, the sync state stays the truth
(exchangelib#1153). Every
exchangelib/requests error leaves this module as ``SourceConnectionError`` or
``SourceAuthenticationError``; the next call reconnects. Never parses or stores.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from exchangelib import Account, Folder, Message
from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorFolderNotFound,
    ErrorInvalidSubscription,
    ErrorInvalidSyncStateData,
    ErrorItemNotFound,
    ErrorSubscriptionNotFound,
)
from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from mailflow.errors import (
    ConfigurationError,
    MailflowError,
    SourceAuthenticationError,
    SourceConnectionError,
    SourceError,
)
from mailflow.ews import EwsMark, EwsUrl, describe, is_refused_login, open_account
from mailflow.ews.account import EWS_ERRORS
from mailflow.settings import DEFAULT_BATCH_BYTES, Settings
from mailflow.sources.base import FetchedMail, SourceCursor, byte_groups

log = logging.getLogger(__name__)

FOLDER = "Inbox"
CREATE = "create"
PULL_EVERY_S = 5.0  # GetEvents is cheap; Exchange keeps a pull subscription 10 minutes
SUBSCRIPTION_MINUTES = 10
NEW_MAIL_EVENTS = ("NewMailEvent", "CreatedEvent", "MovedEvent")
SUBSCRIPTION_GONE = (ErrorSubscriptionNotFound, ErrorExpiredSubscription, ErrorInvalidSubscription)
_RESTART = ""  # a sync state that asks for everything again (the stored one was refused)
SIZE_FIELD = "size"  # item:Size, asked for with each sync page to cut batches by bytes


class EwsSource:
    """A ``MailSource`` over one Exchange Inbox; one Account, opened lazily, not thread-safe."""

    def __init__(
        self,
        url: EwsUrl,
        password: str,
        *,
        poll_interval_s: float = 60.0,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        """Keep the settings; connect on first use. ``password`` is never logged or shown."""
        self._url = url
        self._password = password
        self._poll_interval_s = poll_interval_s
        self._batch_bytes = batch_bytes
        self._account: Account | None = None
        self._inbox: Any = None
        self._target: Any = None  # the folder of processed=move
        self._state: str | None = None  # newer than the cursor's while this source lives
        self._pending: dict[str, tuple[str, list[str]]] = {}  # item id -> (changekey, categories)
        self._subscription: tuple[str, str] | None = None  # (id, watermark)
        self._wake = threading.Event()
        self._closed = False
        self._catch_up_due = True
        # None while the sync said more pages follow: Exchange gives no count of them
        self._waiting: int | None = 0

    @classmethod
    def from_settings(cls, settings: Settings, url: EwsUrl) -> EwsSource:
        """Return the source for ``url``; raise ConfigurationError without a password."""
        password = settings.source_secret()
        if password is None:
            raise ConfigurationError(
                "MAILFLOW_SOURCE_PASSWORD or MAILFLOW_SOURCE_PASSWORD_FILE is required for EWS"
            )
        return cls(
            url,
            password,
            poll_interval_s=settings.poll_interval_s,
            batch_bytes=settings.batch_bytes,
        )

    @property
    def name(self) -> str:
        """``ews://user@host/``: stable and secret-free."""
        return self._url.name

    def __repr__(self) -> str:
        return f"EwsSource({self.name!r})"

    # ---- MailSource ----

    def fetch(self, cursor: SourceCursor) -> Iterator[Sequence[FetchedMail]]:
        """Yield the new mail of each SyncFolderItems page, cut into batches of at most
        ``batch_bytes`` (by the sizes the page gives); raise SourceConnectionError.

        Only a page's last batch carries the page's new sync state; the batches before it
        carry the state the page was asked with, so a crash between them makes the next sync
        read the page again, and its mail already stored is known by Message-ID (invariant 2).
        """
        state = self._state if self._state is not None else cursor.sync_state(FOLDER)
        if self._url.pull and self._subscription is None:
            with self._guard("subscribe"):  # before the sync: mail after it wakes the wait
                self._subscribe()
        if self._catch_up_due:
            with self._guard("catch up"):
                self._catch_up(cursor)
        while True:
            with self._guard("sync"):
                created, new_state, last = self._sync_page(state)
            done = last or new_state == state  # the same state again would loop for ever
            groups = byte_groups(created, [self._size(item) for item in created], self._batch_bytes)
            for n, group in enumerate(groups):
                carried = new_state if n == len(groups) - 1 else (state or _RESTART)
                with self._guard("fetch"):
                    mails = self._fetch_mime(group, carried)
                # a number only on the sync's last page: before it Exchange says "more", no count
                self._waiting = sum(len(g) for g in groups[n + 1 :]) if done else None
                if mails:
                    yield mails  # resumed only after the batch and its sync state are committed
            self._waiting = 0 if done else None
            self._state = state = new_state
            if done:
                return

    def acknowledge(self, mails: Sequence[FetchedMail]) -> None:
        """Mark committed ``mails``: add the category or move them; raise SourceConnectionError."""
        if self._url.mark is EwsMark.NONE or not mails:
            return
        with self._guard("acknowledge"):
            self._mark([(m.key, *self._pending.pop(m.key, ("", []))) for m in mails])

    def waiting(self) -> int | None:
        """Return 0 after the sync's last page, None while it says more pages follow."""
        return self._waiting

    def wait_for_mail(self, timeout_s: float) -> None:
        """Return when new mail may have arrived (pull subscription) or ``timeout_s`` passed."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        if not self._url.pull:
            self._wake.wait(max(0.0, timeout_s))
            self._wake.clear()
            return
        while (remaining := deadline - time.monotonic()) > 0 and not self._wake.is_set():
            with self._guard("wait"):
                if self._new_mail_events():
                    return
            self._wake.wait(min(remaining, PULL_EVERY_S))
        self._wake.clear()

    def interrupt(self) -> None:
        """End a ``wait_for_mail`` running in another thread now."""
        self._wake.set()

    def close(self) -> None:
        """Drop the subscription and the connection; the source may not be used afterwards."""
        self._closed = True
        self._drop()

    # ---- connection ----

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except MailflowError:
            raise
        except Exception as e:
            if is_refused_login(e):
                self._drop()
                raise SourceAuthenticationError(f"{self.name}: the server refused the login") from e
            if isinstance(e, EWS_ERRORS):
                self._drop()
                raise SourceConnectionError(f"{self.name}: {action} failed: {describe(e)}") from e
            raise

    def _connection(self) -> Account:
        if self._closed:
            raise SourceError(f"{self.name}: the source is closed")
        if self._account is None:
            self._account = open_account(self._url, self._password)
            self._catch_up_due = True
            log.info("%s: connected to %s", self.name, self._url.endpoint)
        return self._account

    def _drop(self) -> None:
        account, self._account = self._account, None
        self._inbox = self._target = self._subscription = None
        if account is not None:
            try:
                account.protocol.close()
            except Exception as e:  # a dead connection has nothing to close
                log.debug("%s: close: %s", self.name, describe(e))

    def _folder(self) -> Any:
        if self._inbox is None:
            self._inbox = self._connection().inbox
        return self._inbox

    # ---- reading ----

    def _sync_page(self, state: str | None) -> tuple[list[Any], str, bool]:
        """Return the page's created items, the new sync state and whether it was the last."""
        service = SyncFolderItems(account=self._connection())
        sizes = {FieldPath(field=Message.get_field_by_fieldname(SIZE_FIELD))}
        try:
            changes = list(
                service.call(folder=self._folder(), shape=ID_ONLY, additional_fields=sizes,
                             sync_state=state or None, ignore=None,
                             max_changes_returned=self._url.batch, sync_scope=None)
            )  # fmt: skip
        except ErrorInvalidSyncStateData:
            log.warning("%s: sync state refused; reading the Inbox anew (stored mail is"
                        " recognised by its Message-ID)", self.name)  # fmt: skip
            self._state = _RESTART
            return self._sync_page(None) if state else ([], "", True)
        created = [item for change, item in changes if change == CREATE]
        return created, str(service.sync_state or ""), bool(service.includes_last_item_in_range)

    def _size(self, item: Any) -> int:
        """Return the size Exchange gives for ``item`` (close to its MIME size); unknown, the
        whole budget, so that it is fetched by itself."""
        size = getattr(item, SIZE_FIELD, None)
        return size if isinstance(size, int) and size >= 0 else self._batch_bytes

    def _fetch_mime(self, created: list[Any], state: str) -> list[FetchedMail]:
        if not created:
            return []
        account = self._connection()
        fetched = account.fetch(ids=created, only_fields=["mime_content", "categories"])
        mails = []
        for asked, item in zip(created, fetched, strict=True):
            if isinstance(item, ErrorItemNotFound):
                log.info("%s: an item vanished before it was read (moved or deleted)", self.name)
                continue
            if isinstance(item, Exception):
                raise item
            raw = item.mime_content
            if not raw:
                log.warning(
                    "%s: the server returned no MIME content for an item; skipped", self.name
                )
                continue
            raw = raw if isinstance(raw, bytes) else str(raw).encode()
            self._pending[item.id] = (
                item.changekey or asked.changekey or "",
                list(item.categories or []),
            )
            mails.append(FetchedMail(FOLDER, item.id, raw, sync_state=state))
        return mails

    def _mark(self, items: list[tuple[str, str, list[str]]]) -> None:
        """Mark ``(item id, changekey, categories)``: MoveItem, or UpdateItem adding the
        category (items that carry it already are left alone)."""
        account = self._connection()
        if self._url.mark is EwsMark.MOVE:
            ids = [(key, changekey or None) for key, changekey, _c in items]
            _raise_first(account.bulk_move(ids=ids, to_folder=self._move_target()))
            return
        category = self._url.mark_target or ""
        updates = [
            (Message(account=account, id=key, changekey=changekey or None,
                     categories=[*categories, category]), ["categories"])
            for key, changekey, categories in items
            if category not in categories
        ]  # fmt: skip
        if updates:
            _raise_first(account.bulk_update(items=updates))

    def _catch_up(self, cursor: SourceCursor) -> None:
        """Mark Inbox mail that is stored but unmarked: a crash came between the commit and
        ``acknowledge``. Runs once per connection."""
        self._catch_up_due = False
        if self._url.mark is EwsMark.NONE or cursor.sync_state(FOLDER) is None:
            return  # nothing of this mailbox was committed yet: nothing to catch up
        category = self._url.mark_target or ""
        listed = self._folder().all().only("message_id", "categories")
        unmarked = [
            item
            for item in listed
            if self._url.mark is EwsMark.MOVE or category not in (item.categories or [])
        ]
        known = cursor.known_message_ids({i.message_id for i in unmarked if i.message_id})
        stored = [i for i in unmarked if i.message_id in known]
        if stored:
            log.info("%s: catching up marks of %d messages", self.name, len(stored))
            self._mark([(i.id, i.changekey or "", list(i.categories or [])) for i in stored])

    def _move_target(self) -> Any:
        if self._target is None:
            name = self._url.mark_target or ""
            root = self._connection().msg_folder_root
            try:
                self._target = root / name
            except ErrorFolderNotFound:
                self._target = Folder(parent=root, name=name)
                self._target.save()
                log.info("%s: created the folder %s", self.name, name)
        return self._target

    # ---- notifications ----

    def _subscribe(self) -> tuple[str, str]:
        sid, watermark = self._folder().subscribe_to_pull(
            event_types=list(NEW_MAIL_EVENTS), timeout=SUBSCRIPTION_MINUTES
        )
        self._subscription = (sid, watermark)
        log.debug("%s: pull subscription made", self.name)
        return sid, watermark

    def _new_mail_events(self) -> bool:
        """Ask the pull subscription for events; return whether mail arrived."""
        inbox = self._folder()
        sid, watermark = self._subscription or self._subscribe()
        try:
            events = [
                event
                for notification in inbox.get_events(subscription_id=sid, watermark=watermark)
                for event in notification.events or []
            ]
        except SUBSCRIPTION_GONE:
            log.info("%s: the pull subscription expired; subscribing again", self.name)
            self._subscription = None
            return True  # mail may have come meanwhile: let the caller sync
        if events and getattr(events[-1], "watermark", None):
            self._subscription = (sid, events[-1].watermark)
        return any(type(e).__name__ in NEW_MAIL_EVENTS for e in events)


def _raise_first(results: Any) -> None:
    """Raise the first exception exchangelib returned in a bulk result list."""
    for result in results:
        if isinstance(result, ErrorItemNotFound):
            continue  # moved or deleted by someone else meanwhile: nothing left to mark
        if isinstance(result, Exception):
            raise result
