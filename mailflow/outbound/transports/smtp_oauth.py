"""SMTP AUTH with an OAuth2 access token: XOAUTH2 (aiosmtplib's) and OAUTHBEARER (RFC 7628).

The token comes from ``AccessTokens`` on every connect, asked in a worker thread so that a
token request does not stall the transport's event loop. A refused token is renewed once and
tried again (revoked, or expired early). Imports nothing of mailflow but ``oauth`` and ``urls``.
"""

from __future__ import annotations

import asyncio
import base64

import aiosmtplib

from mailflow.oauth import AccessTokens
from mailflow.urls import Auth

AUTH_CONTINUE = 334
AUTH_OK = 235
_OAUTHBEARER_ABORT = b"AQ=="  # RFC 7628 §3.2.3: a 0x01 ends a failed exchange


async def token_login(
    client: aiosmtplib.SMTP, username: str, auth: Auth, tokens: AccessTokens
) -> None:
    """Authenticate ``client`` as ``username`` with a token; raise SMTPAuthenticationError,
    TokenUnavailable or TokenRefused."""
    token = await asyncio.to_thread(tokens.token)
    try:
        await _send_token(client, username, auth, token)
    except aiosmtplib.SMTPAuthenticationError:
        renewed = await asyncio.to_thread(tokens.renew, token)
        await _send_token(client, username, auth, renewed)


async def _send_token(client: aiosmtplib.SMTP, username: str, auth: Auth, token: str) -> None:
    mechanism = auth.value
    if mechanism not in client.server_auth_methods:
        raise aiosmtplib.SMTPNotSupported(f"the server offers no AUTH {mechanism.upper()}")
    if auth is Auth.XOAUTH2:
        await client.auth_xoauth2(username, token)
        return
    gs2 = "n,a=" + username.replace("=", "=3D").replace(",", "=2C") + ","
    payload = f"{gs2}\x01auth=Bearer {token}\x01\x01".encode()
    response = await client.execute_command(b"AUTH", b"OAUTHBEARER", base64.b64encode(payload))
    if response.code == AUTH_CONTINUE:  # the error as a challenge; end the exchange
        response = await client.execute_command(_OAUTHBEARER_ABORT)
    if response.code != AUTH_OK:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)
