"""Open an exchangelib ``Account`` for an ``EwsUrl``, and say what exchangelib's errors mean.

No autodiscover unless asked, the Exchange version given (no probe request), fail-fast retries
(mailflow's own backoff paces reconnects). A company CA (``cafile=``) is trusted for that
endpoint only; exchangelib offers just a class-level HTTP adapter hook for it, so the adapter
looks the endpoint up in a registry kept here. Imports nothing of mailflow but ``errors`` and
its own package.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorServerBusy,
    EWSError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.protocol import BaseProtocol

from mailflow.ews.url import EwsAuth, EwsUrl

_AUTH_TYPES = {EwsAuth.NTLM: NTLM, EwsAuth.BASIC: BASIC}


class EndpointTrustAdapter(requests.adapters.HTTPAdapter):
    """Verifies each registered EWS endpoint against its own CA file (``cafile=``).

    requests lets ``REQUESTS_CA_BUNDLE`` in the environment replace a session's ``verify``, and
    exchangelib sends no ``verify`` of its own, so the CA file is set here, per request.
    """

    cafiles: ClassVar[dict[str, str]] = {}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        """Send, verifying against the endpoint's CA file when one is registered."""
        url = request.url or ""
        for endpoint, cafile in self.cafiles.items():
            if url.startswith(endpoint):
                kwargs["verify"] = cafile
        return super().send(request, *args, **kwargs)


def open_account(url: EwsUrl, password: str) -> Account:
    """Return an Account for the mailbox; makes no request unless autodiscover is asked for."""
    if url.cafile is not None:
        EndpointTrustAdapter.cafiles[url.endpoint] = str(url.cafile)
    BaseProtocol.HTTP_ADAPTER_CLS = EndpointTrustAdapter
    credentials = Credentials(username=url.username, password=_basic_safe(url, password))
    version = Version(build=Build(*url.version))
    if url.autodiscover:
        return Account(
            url.mailbox, credentials=credentials, autodiscover=True, access_type=DELEGATE
        )
    config = Configuration(
        service_endpoint=url.endpoint,
        credentials=credentials,
        auth_type=_AUTH_TYPES[url.auth],
        version=version,
        max_connections=2,  # a pull or streaming wait must not block the fetches (exchangelib#1088)
    )
    return Account(url.mailbox, config=config, autodiscover=False, access_type=DELEGATE)


def _basic_safe(url: EwsUrl, password: str) -> Any:
    """Return the password as Basic auth can carry it: requests encodes a str as Latin-1 (a
    Chinese password would raise), so a non-ASCII one goes as UTF-8 bytes (RFC 7617's charset,
    what IIS expects). NTLM sends Unicode itself."""
    if url.auth is EwsAuth.BASIC and not password.isascii():
        return password.encode("utf-8")
    return password


def is_refused_login(error: BaseException) -> bool:
    """Return whether ``error`` means the server refused the credentials or the mailbox."""
    return isinstance(error, UnauthorizedError | ErrorAccessDenied)


# response codes that say "not now" rather than "never" (the EWS ResponseCode list)
TRANSIENT_CODES = frozenset({
    "ErrorServerBusy", "ErrorMailboxStoreUnavailable", "ErrorInternalServerTransientError",
    "ErrorTimeoutExpired", "ErrorMailboxMoveInProgress", "ErrorConnectionFailed",
    "ErrorInsufficientResources", "ErrorTooManyObjectsOpened",
})  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """Return whether ``error`` is worth a retry: the connection, TLS, a busy or briefly
    unavailable server. A refusal of the item itself (ResponseMessageError) is not."""
    if type(error).__name__ in TRANSIENT_CODES or isinstance(error, ErrorServerBusy):
        return True
    if isinstance(error, ResponseMessageError):
        return False
    return isinstance(error, TransportError | requests.RequestException | OSError)


def describe(error: BaseException) -> str:
    """Return ``Type: first line`` of an exchangelib or requests error (no credentials in it)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


EWS_ERRORS = (EWSError, requests.RequestException, OSError)
