"""The mailbox's Sent folder: did a mail whose delivery was cut short go out after all?

A worker killed between the server's acceptance of a mail and its record of it leaves the row
pending, and once its claim runs out the sweep would send the mail again: at least once, never
lost (invariants 3 to 5), but the recipient gets it twice. Microsoft 365 (Exchange Online, since
2018) and Gmail keep a copy of every mail submitted over SMTP in the mailbox's Sent folder. So,
before such a row goes out again, the sweep asks this module whether a copy with the row's
Message-ID is there (``SentCopies.find``): found, the row is recorded sent and not sent again;
not found, or the folder cannot be read, the mail goes out again as before. A copy there proves
the server took the mail, so nothing is ever lost by looking.

The folder is the source mailbox's (``MAILFLOW_SOURCE``): over IMAP the one flagged ``\\Sent``
(RFC 6154), else the usual names, Chinese providers' included; over EWS, Sent Items
(``sources.ews_sent``). Imports nothing of mailflow but ``errors``, ``oauth``, ``settings``,
``mail.header``, ``ews`` and its own package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.parser import HeaderParser
from typing import Protocol

from imapclient import IMAPClient
from imapclient.imapclient import SENT

from mailflow.errors import MailflowError
from mailflow.mail.header import decode_text
from mailflow.oauth import AccessTokens, open_tokens
from mailflow.settings import Settings
from mailflow.sources.imap_session import connect, guarded, shutdown
from mailflow.sources.url import ImapUrl, MaildirUrl, parse_source_url

log = logging.getLogger(__name__)

# what Chinese providers (Tencent, NetEase, Alibaba) call the folder when they flag none
CHINESE_SENT_NAMES = ("已发送", "已发送邮件")
# a copy is looked for among mail of this many days before the claim that ran out, so a
# search never reads years of sent mail
SEARCH_MARGIN = timedelta(days=2)
_HEADERS = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"
_HEADERS_KEY = b"BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"


class SentCopies(Protocol):
    """Where copies of sent mail are looked for (``ImapSentFolder``, ``EwsSentFolder``)."""

    @property
    def name(self) -> str: ...

    def find(self, wanted: Mapping[str, datetime]) -> dict[str, str]: ...


def open_sent_folder(
    settings: Settings, tokens: Callable[[], AccessTokens] | None = None
) -> SentCopies | None:
    """Return the Sent folder of the ``MAILFLOW_SOURCE`` mailbox (IMAP or EWS), or None when
    the source is a Maildir or its credentials are not at hand (the rows are then sent again).
    ``tokens`` gives the OAuth2 tokens to log in with (a runtime's); by default its own."""
    try:
        url = parse_source_url(settings.source)
        if isinstance(url, ImapUrl) and url.auth.uses_token:
            return ImapSentFolder(url, None, tokens() if tokens else open_tokens(settings))
        if isinstance(url, MaildirUrl):
            return None
        password = settings.source_secret()
    except MailflowError as e:
        log.debug("no Sent folder to look in: %s", e)
        return None
    if password is None:
        return None
    if isinstance(url, ImapUrl):
        return ImapSentFolder(url, password)
    from mailflow.sources.ews_sent import EwsSentFolder  # exchangelib: only where it is used

    return EwsSentFolder(url, password)


class ImapSentFolder:
    """Looks for copies of sent mail, by Message-ID, in an IMAP mailbox's Sent folder."""

    def __init__(
        self, url: ImapUrl, password: str | None, tokens: AccessTokens | None = None
    ) -> None:
        self._url, self._password, self._tokens = url, password, tokens

    @property
    def name(self) -> str:
        """The mailbox, secret-free, for logs."""
        return self._url.name

    def find(self, wanted: Mapping[str, datetime]) -> dict[str, str]:
        """Return which of the Message-IDs in ``wanted`` have a copy in the Sent folder, each
        with the subject the copy carries. ``wanted`` gives, for each, the time by which it was
        sent if at all. Never raises: a mailbox that cannot be read finds nothing (logged)."""
        if not wanted:
            return {}
        client: IMAPClient | None = None
        try:
            with guarded(self.name, "looking in the Sent folder", lambda: None):
                client = connect(self._url, self._password, self._tokens)
                folder = _sent_folder(client)
                if folder is None:
                    log.info("%s: no Sent folder; interrupted mail is sent again", self.name)
                    return {}
                client.select_folder(folder, readonly=True)
                return _copies(client, wanted)
        except MailflowError as e:  # ``guarded`` made every library error one of ours
            log.warning("could not look in the Sent folder of %s: %s", self.name, e)
            return {}
        finally:
            if client is not None:
                shutdown(client)


def _sent_folder(client: IMAPClient) -> str | None:
    found = client.find_special_folder(SENT)
    if found is not None:
        return str(found)
    for name in CHINESE_SENT_NAMES:
        if client.folder_exists(name):
            return name
    return None


def _copies(client: IMAPClient, wanted: Mapping[str, datetime]) -> dict[str, str]:
    found: dict[str, str] = {}
    for message_id, sent_by in wanted.items():
        since = (sent_by - SEARCH_MARGIN).date()
        uids = client.search(["SINCE", since, "HEADER", "Message-ID", message_id])
        # the search matches a part of the header: the copy's whole Message-ID must be ours
        for data in client.fetch(uids[:5], [_HEADERS]).values() if uids else ():
            headers = HeaderParser().parsestr(
                data.get(_HEADERS_KEY, b"").decode("utf-8", "replace")
            )
            if (headers.get("Message-ID") or "").strip() == message_id:
                found[message_id] = decode_text(" ".join((headers.get("Subject") or "").split()))
                break
    return found
