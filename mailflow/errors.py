"""One exception tree for mailflow, named by meaning.

Imports nothing of mailflow. Adapters translate library exceptions into these and chain the
original with ``from e``; nothing above an adapter sees an imapclient or SQLAlchemy exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class MailflowError(Exception):
    """Raised for any failure mailflow knows how to explain; the root of the tree."""


class ConfigurationError(MailflowError):
    """Raised when settings, a URL or a rule file cannot be used as given."""


class RuleFileError(ConfigurationError):
    """Raised when a rule file is invalid; carries every problem as ``file:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class MessageRejected(MailflowError):
    """Raised when a message cannot be parsed as mail; it is quarantined with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LimitExceeded(MessageRejected):
    """Raised when a message breaks a configured limit (size, headers, attachments, nesting)."""


class WorkBudgetExceeded(LimitExceeded):
    """Raised when parsing one message costs more CPU time than ``Limits.max_parse_cpu_s``."""

    def __init__(self, reason: str, stage: str) -> None:
        super().__init__(reason)
        self.stage = stage


class SourceError(MailflowError):
    """Raised when a mailbox cannot be read."""


class SourceConnectionError(SourceError):
    """Raised when the connection to a mailbox is lost or cannot be made; worth a retry."""


class SourceAuthenticationError(SourceError):
    """Raised when the mailbox refuses the credentials; retrying will not help."""


class MailboxBusy(MailflowError):
    """Raised when another poller holds the mailbox's lease and this one may not wait."""


class ConcurrentWrite(MailflowError):
    """Raised when a write transaction collided with another writer's (a row it inserted was
    inserted by someone else first); running it again reads what the other stored."""


class LeaseLost(MailflowError):
    """Raised when another poller has taken over this mailbox; this poller must stop."""

    def __init__(self, source: str) -> None:
        super().__init__(f"another poller holds the lease for {source}")
        self.source = source


class SendError(MailflowError):
    """Raised when an outgoing mail could not be handed to the transport."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """Raised for a failure worth retrying later: 4xx replies, dropped or refused connections."""


class SessionsBusy(TransientSendError):
    """Raised when every SMTP session the mailbox allows (``sessions=``) stayed held by other
    delivery threads, of this worker or another, for as long as a send may wait for one. The
    mail did not go out; it waits for a free session, and no attempt is counted."""


class PermanentSendError(SendError):
    """Raised for a failure no retry will mend for this mail: 5xx replies, refused recipients.
    The mail fails and the administrators are told."""


class SendConfigurationError(SendError):
    """Raised when no mail can go out until an administrator acts: credentials, TLS, extensions.

    Neither transient nor permanent for the mail: it is kept and retried with backoff (as a
    broken template is), so mending the setting sends it; it never fails the mail at once."""


class RecipientsRefused(PermanentSendError):
    """Raised when the server refused some recipients (``refused``: address -> (code, text));
    ``accepted`` lists who did get the mail (resending the whole mail would reach them twice)."""

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


class TemplateError(ConfigurationError):
    """Raised when a template is missing, does not compile, or fails to render safely."""


class DirectorySourceError(MailflowError):
    """Raised when the company's directory (LDAP, an HR sheet) cannot be read whole.

    A sync that meets it changes nothing: a partial answer must never shrink the directory.
    """


class RepairRefused(MailflowError):
    """Raised when a repair by hand does not apply: no such row, or nothing left to do."""


class ServiceUnavailable(MailflowError):
    """Raised when the database or the broker cannot be reached; worth waiting for."""

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"cannot reach the {server}: {reason}")
        self.server = server
        self.reason = reason


class DatabaseUnavailable(MailflowError):
    """Raised when the database cannot be used: unreachable, missing, or refusing the login."""


class TokenError(MailflowError):
    """Raised when no OAuth2 access token could be had; the message never holds a secret."""


class TokenUnavailable(TokenError):
    """Raised when the token endpoint cannot be reached or fails (5xx); worth a retry."""


class TokenRefused(TokenError):
    """Raised when the token endpoint refuses the client or the grant; retrying will not help."""


class UnknownDepartmentError(ConfigurationError):
    """Raised when a department name is neither a department nor an alias in the rules."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown department {name!r}; known: {', '.join(known)}")
        self.name, self.known = name, tuple(known)
