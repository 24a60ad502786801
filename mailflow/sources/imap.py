"""``ImapSource``: read one IMAP folder with imapclient, mark mail only after it is committed.

Reading never sets ``\\Seen`` (``BODY.PEEK``). Which mail is new comes from the cursor: a
checkpoint ``(UIDVALIDITY, last UID)`` per folder, or, when there is none or UIDVALIDITY
changed, a resync by Message-ID. Marking (keyword, move or nothing) happens in ``acknowledge``,
which the ingest service calls after its transaction committed (invariant 1); marks a crash
left undone are caught up on the next connection. Every imapclient/socket error leaves this
module as ``SourceConnectionError`` or ``SourceAuthenticationError``; after one, the next call
reconnects (pace retries with ``mailflow.sources.backoff.Backoff``). Never parses or stores.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence, Set
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from imapclient import IMAPClient

from mailflow.errors import ConfigurationError, SourceError
from mailflow.oauth import AccessTokens, open_tokens
from mailflow.settings import DEFAULT_BATCH_BYTES, Settings
from mailflow.sources.base import (
    FetchedMail,
    SourceCursor,
    byte_groups,
)
from mailflow.sources.imap_session import (
    connect,
    guarded,
    has_new_mail,
    idle_until,
    poll_until,
    shutdown,
    wake,
)
from mailflow.sources.url import (
    PROCESSED_KEYWORD,
    ImapUrl,
    Processed,
    parse_source_url,
)

log = logging.getLogger(__name__)

NOOP_INTERVAL_S = 30.0
MARK_CHUNK = 500  # UIDs per STORE/MOVE command line
# messages per SEARCH answer: at most 11 bytes a UID, so an answer stays far below imaplib's
# line limit (imaplib._MAXLINE, 1,000,000 bytes: about 140,000 UIDs in one answer). Reading an
# answer costs about 200 bytes a UID at its peak (the line, imapclient's tokens, the ints): 1 MB
# for 5,000, where 50,000 made the poller's peak RSS grow 10 MB from a 5,000-mail folder to a
# 50,000-mail one. More ranges cost one SEARCH each.
SEARCH_PAGE = 5_000

UIDVALIDITY = b"UIDVALIDITY"
UIDNEXT = b"UIDNEXT"
EXISTS = b"EXISTS"
UID = b"UID"
SIZE = b"RFC822.SIZE"
BODY_PEEK = b"BODY.PEEK[]"
BODY = b"BODY[]"  # the response key of BODY.PEEK[] drops ".PEEK"
MESSAGE_ID_PEEK = b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
MESSAGE_ID = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
DELETED = rb"\Deleted"
PERMANENTFLAGS = b"PERMANENTFLAGS"
ANY_KEYWORD = rb"\*"  # in PERMANENTFLAGS: new keywords may be created
KEYWORD = PROCESSED_KEYWORD.encode("ascii")
CAP_IDLE, CAP_MOVE, CAP_UIDPLUS = "IDLE", "MOVE", "UIDPLUS"
_MESSAGE_ID_VALUE = re.compile(rb"<[^<>\s]+>")
_FOLDING = re.compile(rb"\r?\n[ \t]+")


_UNDECIDED = -1  # ImapSource._lookup_until before the first pass under a UIDVALIDITY


@dataclass(frozen=True)
class _Range:
    """UIDs ``low`` to ``high`` (None: open, up to whatever arrives) and how many messages
    they held at SELECT."""

    low: int
    high: int | None
    count: int


class ImapSource:
    """A ``MailSource`` over one IMAP folder; one connection, opened lazily, not thread-safe."""

    def __init__(
        self,
        url: ImapUrl,
        password: str | None,
        *,
        tokens: AccessTokens | None = None,
        noop_interval_s: float = NOOP_INTERVAL_S,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        """Keep the settings; connect on first use. ``password`` is never logged or shown;
        ``tokens`` give the access token of ``?auth=xoauth2|oauthbearer`` on every connect."""
        if url.auth.uses_token and tokens is None:
            raise ConfigurationError(f"{url.name}: auth={url.auth.value} needs OAuth2 settings")
        self._url = url
        self._password = password
        self._tokens = tokens
        self._noop_interval_s = noop_interval_s
        self._batch_bytes = batch_bytes  # a batch is cut earlier when its bodies would exceed it
        self._client: IMAPClient | None = None
        self._closed = False
        self._selected = False
        self._catch_up_due = True
        self._uidvalidity: int | None = None
        self._uidnext: int | None = None
        self._exists = 0  # messages in the folder at SELECT
        # under _uidvalidity, a UIDVALIDITY resync looks up the Message-IDs of the UIDs up to
        # _lookup_until (None: to the end of the folder; 0: none; _UNDECIDED: not known yet);
        # every message it listed after UID _run[0] up to _run[1] was stored (and is marked),
        # so once the checkpoint reaches _run[0] nothing up to _run[1] is left to do
        self._lookup_until: int | None = _UNDECIDED
        self._look_flagged = False  # also look up mail above the checkpoint marked already
        self._run = (0, 0)
        self._target_ready = False
        self._listed = 0  # UIDs of the range in hand the running pass has not yielded yet
        self._later: int | None = 0  # messages in the ranges not listed yet (None: uncounted)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapSource:
        """Return the source ``MAILFLOW_SOURCE`` names; raise ConfigurationError."""
        url = parse_source_url(settings.source)
        if not isinstance(url, ImapUrl):
            raise ConfigurationError("MAILFLOW_SOURCE is not an imap:// or imaps:// URL")
        password = settings.source_secret()
        if url.auth.uses_token:
            if password is not None:
                raise ConfigurationError(
                    f"MAILFLOW_SOURCE: auth={url.auth.value} logs in with an OAuth2 token;"
                    " unset MAILFLOW_SOURCE_PASSWORD(_FILE)"
                )
            return cls(url, None, tokens=open_tokens(settings), batch_bytes=settings.batch_bytes)
        if password is None:
            raise ConfigurationError(
                "MAILFLOW_SOURCE_PASSWORD or MAILFLOW_SOURCE_PASSWORD_FILE is required for IMAP"
            )
        return cls(url, password, batch_bytes=settings.batch_bytes)

    @property
    def name(self) -> str:
        """``imap[s]://user@host:port/folder``: stable and secret-free."""
        return self._url.name

    def __repr__(self) -> str:
        return f"ImapSource({self.name!r})"

    # ---- MailSource ----

    def fetch(self, cursor: SourceCursor) -> Iterator[Sequence[FetchedMail]]:
        """Yield batches of uncommitted mail, oldest first; raise SourceConnectionError.

        The folder is worked through one UID range (``_uid_ranges``) at a time: list the
        range, look up its Message-IDs a batch at a time when resynchronising, fetch its bodies,
        then the next range. No more than one range's UIDs are held at once."""
        checkpoint = cursor.checkpoint(self._url.folder)
        with self._guard("select"):
            uidvalidity = self._select()
            resuming = checkpoint is not None and checkpoint.uidvalidity == uidvalidity
            if self._lookup_until == _UNDECIDED:  # the first pass under this UIDVALIDITY
                # a fresh database knows no Message-ID: reading them all (the first start on
                # a big mailbox) would find nothing; a duplicate is still caught when stored
                self._lookup_until = None if not resuming and cursor.stores_any() else 0
                # a process that resumes cannot know whether a resync was under way when the
                # last one stopped; mail it left marked above the checkpoint is looked up
                self._look_flagged = resuming and self._url.processed is Processed.FLAG
            ranges = self._uid_ranges()
            if resuming:
                assert checkpoint is not None
                self._catch_up(cursor, checkpoint.last_uid, ranges)
        done = checkpoint.last_uid if resuming and checkpoint else 0
        if self._run[0] <= done:
            done = max(done, self._run[1])
        ranges = [r for r in ranges if r.high is None or r.high > done]
        self._listed, self._later = 0, self._count(ranges)
        top = done
        for n, uid_range in enumerate(ranges):
            with self._guard("fetch"):
                uids = self._list(uid_range, done)
                listed_before, top = top, max([top, *uids[-1:]])
                flagged = self._flagged(uid_range, done) if self._look_flagged else set()
                uids = self._sift(cursor, uids, listed_before, flagged)
                del flagged
            self._listed, self._later = len(uids), self._count(ranges[n + 1 :])
            for chunk in _chunks(uids, self._url.batch):
                with self._guard("fetch"):
                    groups = self._size_groups(chunk)
                for group in groups:
                    with self._guard("fetch"):
                        mails = self._fetch_bodies(group, uidvalidity)
                    self._listed -= len(group)
                    if mails:
                        yield mails
            del uids
        if self._lookup_until is None:  # the resync has looked at every message it listed
            self._lookup_until = top
        self._look_flagged = False
        self._listed = self._later = 0

    def acknowledge(self, mails: Sequence[FetchedMail]) -> None:
        """Mark committed ``mails`` processed (keyword or move); raise SourceConnectionError."""
        if self._url.processed is Processed.NONE or not mails:
            return
        with self._guard("acknowledge"):
            uidvalidity = self._uidvalidity if self._selected else self._select()
            uids = sorted(
                {m.uid for m in mails if m.uid is not None and m.uidvalidity == uidvalidity}
            )
            if len(uids) < len(mails):
                log.warning("%s: %d mails not marked: UIDVALIDITY changed", self.name,
                            len(mails) - len(uids))  # fmt: skip
            self._mark(uids)

    def waiting(self) -> int | None:
        """Return the mail the running pass has not yielded yet: the rest of the range in hand
        and the messages of the ranges after it (counted from sequence numbers at SELECT);
        None while a range still to be listed will first be looked up by Message-ID, since
        how much of it is stored already is not known until then."""
        return None if self._later is None else self._listed + self._later

    def wait_for_mail(self, timeout_s: float) -> None:
        """Return when new mail may have arrived (IDLE, else NOOP) or ``timeout_s`` passed."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._guard("wait"):
            client = self._connection()
            if not self._selected:
                self._select()
            if self._arrived_since_fetch(client):
                return
            if self._url.idle and client.has_capability(CAP_IDLE):
                idle_until(client, deadline, self.name)
            else:
                poll_until(client, deadline, self._noop_interval_s, self.name)

    def interrupt(self) -> None:
        """End a ``wait_for_mail`` running in another thread now (on shutdown): the socket is
        shut down, so its read returns at once and the next call reconnects."""
        client = self._client
        if client is not None:
            wake(client)

    def close(self) -> None:
        """Log out; the source may not be used afterwards."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:  # a dead connection cannot log out; nothing is lost
                shutdown(client)

    # ---- connection ----

    def _guard(self, action: str) -> AbstractContextManager[None]:
        """Translate library errors (see ``guarded``); the next call reconnects."""
        return guarded(self.name, action, self._drop)

    def _connection(self) -> IMAPClient:
        if self._closed:
            raise SourceError(f"{self.name}: the source is closed")
        if self._client is None:
            self._client = self._connect()
            self._catch_up_due = True
        return self._client

    def _connect(self) -> IMAPClient:
        client = connect(self._url, self._password, self._tokens)
        log.info("%s: connected (%s)", self.name, self._url.security.value)
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._selected = self._target_ready = False  # the target folder may have gone too
        if client is not None:
            shutdown(client)

    def _select(self) -> int:
        """SELECT the folder; return its UIDVALIDITY. Raise ConfigurationError when
        processed=flag meets a folder that keeps no custom keywords."""
        info = self._connection().select_folder(self._url.folder)
        if self._url.processed is Processed.FLAG:
            _check_keywords(self.name, info.get(PERMANENTFLAGS))
        uidvalidity = int(info[UIDVALIDITY])
        if uidvalidity != self._uidvalidity:
            self._uidvalidity, self._lookup_until, self._run = uidvalidity, _UNDECIDED, (0, 0)
        self._uidnext = int(info.get(UIDNEXT, 1))
        self._exists = int(info.get(EXISTS, 0))
        self._selected = True
        return uidvalidity

    # ---- finding new mail ----

    def _uid_ranges(self) -> list[_Range]:
        """Split the folder into UID ranges of at most SEARCH_PAGE messages each, from the UIDs
        of every SEARCH_PAGE-th message (one FETCH), oldest first.

        Mail arriving later gets higher UIDs (the last range is open), and mail expunged
        meanwhile only makes a range smaller; so no SEARCH of a range answers more than
        SEARCH_PAGE UIDs (about 55 KB), far below imaplib's line limit (imaplib._MAXLINE,
        1,000,000 bytes: about 140,000 UIDs in one answer)."""
        starts: list[tuple[int, int]] = []  # (sequence number, UID) of each range's first
        if self._exists > SEARCH_PAGE:
            client = self._connection()
            numbers = list(range(SEARCH_PAGE + 1, self._exists + 1, SEARCH_PAGE))
            client.use_uid = False  # these are message sequence numbers
            try:
                found = client.fetch(numbers, [UID])
            finally:
                client.use_uid = True
            starts = sorted((int(n), int(data[UID])) for n, data in found.items() if UID in data)
        firsts = [(1, 1), *starts]
        ranges = [_Range(a, b - 1, m - n) for (n, a), (m, b) in pairwise(firsts)]
        seq, uid = firsts[-1]
        return [*ranges, _Range(uid, None, max(0, self._exists + 1 - seq))]

    def _list(self, uid_range: _Range, done: int, criteria: Sequence[Any] = ()) -> list[int]:
        """Return the UIDs in ``uid_range`` above ``done`` matching ``criteria``, ascending."""
        low, high = max(uid_range.low, done + 1), uid_range.high
        if high is not None and high < low:
            return []
        found = self._connection().search(["UID", f"{low}:{high or '*'}", *criteria])
        # "n:*" always includes the highest UID, even below n (RFC 3501 §6.4.8): filter here
        uids = sorted(u for u in map(int, found) if u >= low and (high is None or u <= high))
        if uids:
            self._uidnext = max(self._uidnext or 1, uids[-1] + 1)
        return uids

    def _sift(
        self, cursor: SourceCursor, uids: list[int], prev: int, flagged: Set[int] = frozenset()
    ) -> list[int]:
        """Return those of ``uids`` (ascending; ``prev``: the UID this pass listed before them,
        or where it started) to fetch. The ones up to ``_lookup_until`` (a resync) and the
        ``flagged`` ones whose Message-ID is stored already are marked instead, a batch at a
        time, and ``_run`` follows the latest run of them."""
        until = self._lookup_until
        looked = [u for u in uids if until is None or u <= until or u in flagged]
        if not looked:
            return uids
        known: set[int] = set()
        for chunk in _chunks(looked, self._url.batch):
            stored = self._stored(cursor, chunk)
            self._mark(stored)  # their rows are committed already, so marking keeps invariant 1
            known.update(stored)
        fetch: list[int] = []
        for uid in uids:
            if uid in known:
                self._run = (self._run[0] if prev == self._run[1] else prev, uid)
            else:
                fetch.append(uid)
            prev = uid
        log.info("%s: %d messages looked up by Message-ID under UIDVALIDITY %s, %d stored"
                 " already", self.name, len(looked), self._uidvalidity, len(known))  # fmt: skip
        return fetch

    def _flagged(self, uid_range: _Range, done: int) -> set[int]:
        """Return the UIDs of ``uid_range`` above ``done`` that carry the keyword already."""
        return set(self._list(uid_range, done, ["KEYWORD", KEYWORD]))

    def _count(self, ranges: Sequence[_Range]) -> int | None:
        """Return the messages ``ranges`` held at SELECT, or None when some of them will be
        looked up by Message-ID first (how many are fetched is not known before)."""
        until = self._lookup_until
        if until is None or self._look_flagged or any(r.low <= until for r in ranges):
            return None if ranges else 0
        return sum(r.count for r in ranges)

    def _catch_up(self, cursor: SourceCursor, last_uid: int, ranges: Sequence[_Range]) -> None:
        """Mark stored messages at or below the checkpoint that a crash left unmarked, one UID
        range at a time."""
        if not self._catch_up_due or self._url.processed is Processed.NONE:
            return
        criteria = ["UNKEYWORD", KEYWORD] if self._url.processed is Processed.FLAG else []
        caught = 0
        for uid_range in ranges:
            if uid_range.low > last_uid:
                break
            high = last_uid if uid_range.high is None else min(uid_range.high, last_uid)
            behind = self._list(_Range(uid_range.low, high, 0), 0, criteria)
            stored = self._stored(cursor, behind)
            self._mark(stored)
            caught += len(stored)
        if caught:
            log.info("%s: caught up marks of %d messages", self.name, caught)
        self._catch_up_due = False

    def _stored(self, cursor: SourceCursor, uids: list[int]) -> list[int]:
        """Return those of ``uids`` whose Message-ID the cursor knows (their row is committed)."""
        stored: list[int] = []
        for chunk in _chunks(uids, self._url.batch):
            response = self._connection().fetch(chunk, [MESSAGE_ID_PEEK])
            ids = {u: _message_id(response.get(u, {}).get(MESSAGE_ID)) for u in chunk}
            known = cursor.known_message_ids({m for m in ids.values() if m})
            stored += [u for u in chunk if ids[u] in known]
        return stored

    def _arrived_since_fetch(self, client: IMAPClient) -> bool:
        """Return whether mail came after the last listing (its EXISTS may have been consumed).

        Mail delivered after the NOOP is not in the SEARCH's answer when the server syncs the
        session only after running it: the server then tells it with an EXISTS beside that
        answer (which imaplib keeps aside, in ``untagged_responses``) and, the session being
        up to date, says nothing more once IDLE starts. So an EXISTS told during the SEARCH
        counts as new mail too."""
        _, responses = client.noop()  # lets the server sync this session's view first
        if has_new_mail(responses):
            return True
        if self._uidnext is None:
            return False
        told = client._imap.untagged_responses
        told.pop(EXISTS.decode(), None)  # of earlier commands: the SEARCH finds that mail
        found = client.search(["UID", f"{self._uidnext}:*"])
        return any(u >= self._uidnext for u in found) or bool(told.pop(EXISTS.decode(), None))

    # ---- fetching and marking ----

    def _size_groups(self, chunk: list[int]) -> list[list[int]]:
        """Split ``chunk`` so that no FETCH of bodies exceeds the byte budget (but one mail)."""
        sizes = self._connection().fetch(chunk, [SIZE])
        return byte_groups(
            chunk, [int(sizes.get(uid, {}).get(SIZE) or 0) for uid in chunk], self._batch_bytes
        )

    def _fetch_bodies(self, uids: list[int], uidvalidity: int) -> list[FetchedMail]:
        response = self._connection().fetch(uids, [BODY_PEEK])
        mails = []
        for uid in uids:
            raw = response.get(uid, {}).get(BODY)
            if not raw:
                log.warning("%s: the server returned no body for UID %d (UIDVALIDITY %d);"
                            " skipped", self.name, uid, uidvalidity)  # fmt: skip
                continue
            mails.append(FetchedMail(self._url.folder, str(uid), bytes(raw), uid, uidvalidity))
        return mails

    def _mark(self, uids: list[int]) -> None:
        client = self._connection()
        for chunk in _chunks(uids, MARK_CHUNK):
            if self._url.processed is Processed.FLAG:
                client.add_flags(chunk, [KEYWORD], silent=True)
            elif self._url.processed is Processed.MOVE:
                self._move(client, chunk)

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        target = self._url.processed_folder
        assert target is not None  # the URL parser pairs processed=move with a folder
        if not self._target_ready:
            if not client.folder_exists(target):
                client.create_folder(target)
            self._target_ready = True
        if client.has_capability(CAP_MOVE):
            client.move(uids, target)
            return
        if not client.has_capability(CAP_UIDPLUS):
            raise SourceError(
                f"{self.name}: processed=move needs MOVE or UIDPLUS (a plain EXPUNGE would"
                " also remove other clients' deleted mail); use processed=flag"
            )
        client.copy(uids, target)
        client.add_flags(uids, [DELETED], silent=True)
        client.uid_expunge(uids)


def _check_keywords(name: str, permanent: tuple[bytes, ...] | None) -> None:
    """Raise ConfigurationError when PERMANENTFLAGS shows the keyword would not be kept.

    Exchange and Microsoft 365 keep only the system flags: a STORE of a keyword is answered OK
    and dropped, so mail would never look processed and every reconnect would look again.
    A server that names no PERMANENTFLAGS is trusted."""
    if permanent is None or ANY_KEYWORD in permanent or KEYWORD in permanent:
        return
    raise ConfigurationError(
        f"{name}: the server keeps no custom keywords in this folder (PERMANENTFLAGS"
        f" {' '.join(f.decode(errors='replace') for f in permanent) or 'empty'}), so"
        " processed=flag cannot mark mail; use processed=move:Folder"
    )


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _message_id(header: bytes | None) -> str | None:
    """Return ``<id>`` from a raw Message-ID header field, or None."""
    if not header:
        return None
    match = _MESSAGE_ID_VALUE.search(_FOLDING.sub(b" ", header))
    return match.group().decode("ascii", "replace") if match else None
