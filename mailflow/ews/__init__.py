"""Exchange Web Services for on-premises Exchange: the ``ews://`` URL and an exchangelib account.

Used by ``sources.ews`` (reading) and ``outbound.transports.ews`` (sending). Exchange Online is
switching EWS off (October 2026 to April 2027); for Microsoft 365 use IMAP and SMTP with OAuth2.
Imports nothing of mailflow but ``errors``, ``urls`` and itself.
"""

from mailflow.ews.account import describe, is_refused_login, is_transient, open_account
from mailflow.ews.url import EwsAuth, EwsMark, EwsUrl, parse_ews_url

__all__ = [
    "EwsAuth",
    "EwsMark",
    "EwsUrl",
    "describe",
    "is_refused_login",
    "is_transient",
    "open_account",
    "parse_ews_url",
]
