"""Translate aiosmtplib and socket failures into mailflow's send errors (LIBRARIES §3).

Temporary (retry with backoff): any 4xx reply, refused or dropped connections, timeouts, a
token endpoint that cannot be reached.
Configuration (permanent, for an administrator): rejected credentials (530/534/535/538, and
Microsoft's 550 5.7.30), a missing extension such as STARTTLS or AUTH, a certificate that does not
verify, a token endpoint that refuses the grant. Permanent: every other 5xx reply. Messages name
the server by its secret-free URL name.
Imports nothing of mailflow but ``errors`` and its own package.
"""

from __future__ import annotations

import ssl

import aiosmtplib

from mailflow.errors import (
    PermanentSendError,
    SendError,
    TokenRefused,
    TokenUnavailable,
    TransientSendError,
)
from mailflow.outbound.transports.base import RecipientsRefused, SendConfigurationError
from mailflow.outbound.transports.url import SmtpUrl

AUTH_CODES = frozenset({530, 534, 535, 538})
_MS_BASIC_AUTH_DISABLED = "5.7.30"


def translate_error(error: BaseException, url: SmtpUrl) -> SendError:
    """Return the mailflow error that says what ``error`` means for this mail."""
    where = url.name
    if isinstance(error, SendError):  # already mailflow's (the session gate's)
        return error
    if isinstance(error, TokenRefused):
        return SendConfigurationError(f"{where}: {error}")
    if isinstance(error, TokenUnavailable):
        return TransientSendError(f"{where}: {error}")
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return _all_refused(error, where)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError) or _is_auth_reply(error):
        code = getattr(error, "code", None)
        user = url.username or "(no user)"
        check = (
            "check the MAILFLOW_OAUTH_* settings and the app's right to send as this mailbox"
            if url.auth.uses_token
            else "check MAILFLOW_TRANSPORT_PASSWORD"
        )
        return SendConfigurationError(
            f"{where}: the server refused the credentials of {user} ({code}); {check}", code
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _reply(error, where)
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        return SendConfigurationError(f"{where}: {error.message}")
    certificate = _certificate_error(error)
    if certificate is not None:
        return SendConfigurationError(f"{where}: TLS certificate does not verify: {certificate}")
    if isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError):
        return TransientSendError(f"{where}: {_describe(error)}")
    return TransientSendError(f"{where}: unexpected {type(error).__name__}: {error}")


def _all_refused(error: aiosmtplib.SMTPRecipientsRefused, where: str) -> SendError:
    refused = {r.recipient: (r.code, r.message) for r in error.recipients}
    listed = "; ".join(f"{a}: {c} {t}" for a, (c, t) in sorted(refused.items()))
    if refused and all(400 <= code < 500 for code, _t in refused.values()):
        return TransientSendError(
            f"{where} deferred every recipient: {listed}",
            min(code for code, _t in refused.values()),
        )
    return RecipientsRefused(f"{where} refused every recipient: {listed}", refused, ())


def _reply(error: aiosmtplib.SMTPResponseException, where: str) -> SendError:
    text = f"{where}: {error.code} {error.message}"
    if 400 <= error.code < 500:
        return TransientSendError(text, error.code)
    return PermanentSendError(text, error.code)


def _is_auth_reply(error: BaseException) -> bool:
    if not isinstance(error, aiosmtplib.SMTPResponseException):
        return False
    return error.code in AUTH_CODES or _MS_BASIC_AUTH_DISABLED in error.message


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPException):
        return f"{type(error).__name__}: {error.message}"
    if isinstance(error, TimeoutError):
        return f"timed out ({error})" if str(error) else "timed out"
    return f"{type(error).__name__}: {error}"
