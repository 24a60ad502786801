"""Exchange Web Services for on-premises Exchange: the ``ews://`` URL and an exchangelib account.

Used by ``sources.ews`` (reading) and ``outbound.transports.ews`` (sending). Exchange Online is
switching EWS off (October 2026 to April 2027); for Microsoft 365 use IMAP and SMTP with OAuth2.
Imports nothing of mailflow but ``errors``, ``urls`` and itself.
"""

from typing import TYPE_CHECKING, Any

from mailflow.ews.url import EwsAuth, EwsMark, EwsUrl, parse_ews_url

if TYPE_CHECKING:
    from mailflow.ews.account import describe, is_refused_login, is_transient, open_account

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


def __getattr__(name: str) -> Any:
    """Import the account helpers, and with them exchangelib (~40 MB of memory), only when
    used: reading an ``ews://`` URL does not need them."""
    if name in ("describe", "is_refused_login", "is_transient", "open_account"):
        from mailflow.ews import account

        return getattr(account, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
