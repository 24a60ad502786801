"""The Sent Items of an Exchange mailbox read over EWS, for ``sources.sent``.

Exchange keeps a copy of what it sends from the mailbox in Sent Items (mailflow's EWS
transport sends with SendAndSaveCopy, and Exchange files SMTP submissions there too). The copy
is looked for by its InternetMessageId, then compared whole. A module of its own because
exchangelib costs about 40 MB in every process that imports it (``sources.ews``). Imports
nothing of mailflow but ``ews`` and its own package.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from mailflow.ews import EwsUrl, describe, open_account

log = logging.getLogger(__name__)


class EwsSentFolder:
    """Looks for copies of sent mail, by Message-ID, in an Exchange mailbox's Sent Items."""

    def __init__(self, url: EwsUrl, password: str) -> None:
        self._url, self._password = url, password

    @property
    def name(self) -> str:
        """The mailbox, secret-free, for logs."""
        return self._url.name

    def find(self, wanted: Mapping[str, datetime]) -> dict[str, str]:
        """Return which Message-IDs of ``wanted`` have a copy in Sent Items, each with the
        copy's subject. Never raises: a mailbox that cannot be read finds nothing (logged)."""
        if not wanted:
            return {}
        account = None
        try:
            account = open_account(self._url, self._password)
            found: dict[str, str] = {}
            for message_id in wanted:
                copies = account.sent.filter(message_id=message_id).only("message_id", "subject")
                for item in copies:
                    if (item.message_id or "").strip() == message_id:
                        found[message_id] = item.subject or ""
                        break
            return found
        except Exception as e:  # exchangelib and requests raise many kinds: none stops the sweep
            log.warning("could not look in the Sent Items of %s: %s", self.name, describe(e))
            return {}
        finally:
            if account is not None:
                try:
                    account.protocol.close()
                except Exception as e:  # a dead connection has nothing to close
                    log.debug("%s: close: %s", self.name, describe(e))
