"""What every transport offers, and the send errors only transports raise.

A transport hands finished bytes to the next hop; it never renders, decides or stores. Imports
nothing of mailflow but ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from mailflow.errors import PermanentSendError


class Transport(Protocol):
    """Sends raw mail; ``batch()`` keeps one connection for several sends; ``close()`` ends it.

    ``send`` returns only when the next hop has accepted the mail for every recipient, and
    raises ``TransientSendError`` (worth a retry with backoff) or ``PermanentSendError``.
    """

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Hand ``raw`` to the next hop for ``recipients`` with ``sender`` as the envelope."""

    def batch(self) -> AbstractContextManager[Transport]:
        """Return a context in which sends share one connection, closed on exit."""

    def close(self) -> None:
        """Release any connection; the transport stays usable and reconnects on demand."""

    def __enter__(self) -> Transport:
        """Return the transport; leaving the ``with`` block calls ``close()``."""

    def __exit__(self, *exc: object) -> None:
        """Call ``close()``."""


class SendConfigurationError(PermanentSendError):
    """Raised when no mail can go out until an administrator acts: credentials, TLS, extensions.

    Worth pausing the outbox and telling the administrators rather than failing mail by mail.
    """


class RecipientsRefused(PermanentSendError):
    """Raised when the server refused some recipients (``refused``: address -> (code, text)).

    ``accepted`` lists who did get the mail; resending the whole mail would reach them twice, so
    a caller may resend only to the refused addresses whose code is 4xx, with the same Message-ID.
    """

    def __init__(
        self,
        message: str,
        refused: Mapping[str, tuple[int, str]],
        accepted: Sequence[str],
    ) -> None:
        codes = sorted({code for code, _text in refused.values()})
        super().__init__(message, codes[-1] if codes else None)
        self.refused = dict(refused)
        self.accepted = tuple(accepted)
