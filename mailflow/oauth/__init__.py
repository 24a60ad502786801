"""OAuth2 access tokens for logging in to IMAP and SMTP with XOAUTH2 or OAUTHBEARER.

``open_tokens(settings)`` returns the ``AccessTokens`` of the ``MAILFLOW_OAUTH_*`` settings
(Microsoft 365 through MSAL, Google, any token endpoint). Sources and transports ask it for a
token on every connect. Network code, but no mailbox protocol: imports nothing of mailflow but
``settings``, ``errors`` and itself.
"""

from mailflow.oauth.settings import open_tokens
from mailflow.oauth.token import AccessTokens, Grant, TokenFlow

__all__ = ["AccessTokens", "Grant", "TokenFlow", "open_tokens"]
