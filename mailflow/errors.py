"""One exception tree for mailflow, named by meaning.

Imports nothing of mailflow. Adapters translate library exceptions into these and chain the
original with ``from e``; nothing above an adapter sees an imapclient or SQLAlchemy exception.
"""

from __future__ import annotations


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


class PermanentSendError(SendError):
    """Raised for a failure no retry will mend: 5xx replies, refused recipients, bad config."""


class TemplateError(ConfigurationError):
    """Raised when a template is missing, does not compile, or fails to render safely."""
