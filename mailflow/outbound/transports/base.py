"""What every transport offers. The send errors transports raise live in ``mailflow.errors``
(``SendConfigurationError`` and ``RecipientsRefused`` are re-exported here).

A transport hands finished bytes to the next hop; it never renders, decides or stores. Imports
nothing of mailflow but ``errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from mailflow.errors import RecipientsRefused, SendConfigurationError

__all__ = ["RecipientsRefused", "SendConfigurationError", "SessionGate", "Transport"]


class Transport(Protocol):
    """Sends raw mail; ``batch()`` keeps one connection for several sends; ``close()`` ends it.

    ``send`` returns only when the next hop has accepted the mail for every recipient, and
    raises ``TransientSendError`` (worth a retry with backoff), ``SendConfigurationError`` (no
    mail can go until an administrator mends a setting; retried) or ``PermanentSendError``
    (``RecipientsRefused`` when the server refused some recipients).
    """

    def send(
        self,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Hand ``raw`` to the next hop for ``recipients`` with ``sender`` as the envelope;
        call ``on_accepted`` (which must not raise) the moment the next hop accepted it for
        every recipient, before returning, so the caller can record it without delay."""

    def batch(self) -> AbstractContextManager[Transport]:
        """Return a context in which sends share one connection, closed on exit."""

    def close(self) -> None:
        """Release any connection; the transport stays usable and reconnects on demand."""

    def __enter__(self) -> Transport:
        """Return the transport; leaving the ``with`` block calls ``close()``."""

    def __exit__(self, *exc: object) -> None:
        """Call ``close()``."""


class SessionGate(Protocol):
    """Holds one of the SMTP sessions a mailbox allows at once, across every worker process
    (``sessions=``): a transport enters before it opens a session and leaves once it is
    closed. Implemented over the database (``service.session_slots``)."""

    patience_s: float  # how long ``enter`` may wait for a session before SessionsBusy

    def due(self) -> bool:
        """Return True when ``enter`` has work to do (no session held, or its hold is to be
        renewed); cheap, read in the transport's event loop before every send."""

    def enter(self) -> None:
        """Hold a session, or renew the one held; wait for one at most ``patience_s``, then
        raise ``SessionsBusy``."""

    def leave(self) -> None:
        """Give the session back (a no-op when none is held); never raises."""
