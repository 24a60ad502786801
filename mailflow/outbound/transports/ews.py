"""The EWS transport: hand a composed mail to on-premises Exchange with CreateItem.

The mail goes as its MIME content with ``MessageDisposition=SendAndSaveCopy`` (a copy lands in
Sent Items), so Exchange keeps mailflow's own headers: Message-ID, In-Reply-To, References,
Auto-Submitted and the rest. Envelope recipients that the headers do not name (Bcc) are added
as BccRecipients. EWS accepts or refuses a mail as a whole, so there is no partial refusal.
Errors: refused credentials are a ``SendConfigurationError``; connection failures and a busy
server are transient; any other refusal is permanent. Imports nothing of mailflow but
``errors``, ``ews`` and its own package.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses

from exchangelib import Account, Mailbox, Message
from exchangelib.errors import EWSError

from mailflow.errors import PermanentSendError, SendError, TransientSendError
from mailflow.ews import EwsUrl, describe, is_refused_login, is_transient, open_account
from mailflow.outbound.transports.base import RecipientsRefused, SendConfigurationError

log = logging.getLogger(__name__)

_ADDRESS_HEADERS = ("To", "Cc")


class EwsTransport:
    """Sends mail through one Exchange mailbox over EWS; thread-safe (sends are serialised)."""

    def __init__(self, url: EwsUrl, password: str) -> None:
        """Keep the settings; connect on the first send. ``password`` is never shown."""
        self.url = url
        self.__password = password
        self._account: Account | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"EwsTransport({self.url.name!r})"

    def __enter__(self) -> EwsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Send ``raw`` and save a copy; raise TransientSendError, PermanentSendError or
        SendConfigurationError."""
        rcpts = list(recipients)
        if not rcpts:
            raise RecipientsRefused("a mail needs at least one recipient", {}, ())
        with self._lock:
            try:
                account = self._connection()
                message = Message(
                    account=account,
                    folder=account.sent,
                    mime_content=raw,
                    bcc_recipients=[Mailbox(email_address=a) for a in _unnamed(raw, rcpts)] or None,
                )
                message.send_and_save()
            except Exception as e:
                raise self._translate(e) from e
        if on_accepted is not None:
            on_accepted()

    @contextmanager
    def batch(self) -> Iterator[EwsTransport]:
        """Return a context in which sends share the account's HTTP connection."""
        yield self

    def close(self) -> None:
        """Close the HTTP connections; the transport reconnects on the next send."""
        with self._lock:
            account, self._account = self._account, None
        if account is not None:
            try:
                account.protocol.close()
            except Exception as e:  # nothing left to release
                log.debug("%s: close: %s", self.url.name, describe(e))

    def _connection(self) -> Account:
        if self._account is None:
            self._account = open_account(self.url, self.__password)
        return self._account

    def _translate(self, error: BaseException) -> SendError:
        where = self.url.name
        if is_refused_login(error):
            self._account = None
            return SendConfigurationError(
                f"{where}: the server refused the credentials of {self.url.username};"
                " check MAILFLOW_TRANSPORT_PASSWORD"
            )
        if is_transient(error):
            self._account = None
            return TransientSendError(f"{where}: {describe(error)}")
        if isinstance(error, EWSError):
            return PermanentSendError(f"{where}: Exchange refused the mail: {describe(error)}")
        return TransientSendError(f"{where}: unexpected {describe(error)}")


def _unnamed(raw: bytes, recipients: list[str]) -> list[str]:
    """Return the envelope recipients the mail's To and Cc headers do not name (its Bcc)."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    named = {
        address.lower()
        for _name, address in getaddresses(
            [str(v) for h in _ADDRESS_HEADERS for v in headers.get_all(h, [])]
        )
    }
    return [r for r in recipients if r.lower() not in named]
