"""``MessageFacts``: a parsed mail plus what only the service knows (thread, sender trust).

Pure: the service builds it with ``MessageFacts.of`` from the ParsedMessage, the organisation
and what its store says about the thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailflow.mail.model import ParsedMessage
from mailflow.mail.own_mail import answers_own_mail
from mailflow.rulebook.organization import Organization
from mailflow.rulebook.trust import forged_verdict, sender_trust


@dataclass(frozen=True)
class MessageFacts:
    """Everything a decision looks at; ``copied`` holds the lower-cased To and Cc addresses."""

    parsed: ParsedMessage
    sender_internal: bool
    is_reply: bool
    copied: frozenset[str]
    # earlier participants of the thread the store knows (invariant 8 allows them)
    thread_participants: frozenset[str] = frozenset()
    trust_reason: str = ""
    # why it answers or quotes mailflow's own automatic mail (issue 9 §4), else None
    answers_own: str | None = None
    # our receiving server's failing verdict on a sender claiming an internal address, else None
    forged: str | None = None

    @property
    def sender(self) -> str | None:
        """Return the sender's lower-cased address, if any."""
        return self.parsed.from_.address.lower() if self.parsed.from_ else None

    @classmethod
    def of(
        cls,
        parsed: ParsedMessage,
        org: Organization,
        *,
        thread_exists: bool = False,
        thread_participants: frozenset[str] = frozenset(),
    ) -> MessageFacts:
        """Return the facts of ``parsed``: sender trust (invariant 9), reply or new, copied."""
        internal, why = sender_trust(
            parsed.from_.address if parsed.from_ else None,
            parsed.authentication_results,
            org.organization,
        )
        return cls(
            parsed=parsed,
            sender_internal=internal,
            is_reply=parsed.in_reply_to is not None or thread_exists,
            copied=frozenset(a.address.lower() for a in (*parsed.to, *parsed.cc)),
            thread_participants=frozenset(a.lower() for a in thread_participants),
            trust_reason=why,
            answers_own=answers_own_mail(
                (*([parsed.in_reply_to] if parsed.in_reply_to else []), *parsed.references),
                parsed.body_text,
                [org.organization.shared_address],
                parsed.new_text,
            ),
            forged=forged_verdict(
                parsed.from_.address if parsed.from_ else None,
                parsed.authentication_results,
                org.organization,
            ),
        )
