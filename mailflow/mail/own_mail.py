"""Tell mail that answers or quotes one of mailflow's own automatic mails (issue 9 §4).

Ticket systems and auto-responders often mark nothing (no ``Auto-Submitted``, no
``In-Reply-To``), so invariant 7's header checks miss them, and two automatic systems answer
each other until a rate limit stops them. Such a mail still shows where it came from:

- one of mailflow's Message-IDs (``<mailflow.HASH@domain-of-the-shared-address>``, as
  ``outbound.compose.outgoing_message_id`` makes them) in ``In-Reply-To`` or ``References``;
- mailflow's footer in its text: the shipped footer sentence, or the shared address next to
  words saying the mail was sent automatically (an administrator may reword the footer).

A person's reply to mailflow's mail (已阅 to a receipt) is read and recorded as usual; it only
gets no automatic answer. Pure: text in, a reason out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Message-IDs mailflow writes: mailflow.<32 hex digits>@<domain>
_OWN_ID = re.compile(r"^<?mailflow\.[0-9a-f]{32}@([^>\s]+)>?$", re.IGNORECASE)
# the footer sentences of templates/*/_footer.*, compared without spaces and quote marks
FOOTER_SENTENCES = (
    "本邮件由系统按《企业内外部沟通与协调标准化指南》自动发送",
    "Sent automatically under the company's communication standard",
)
# words that, near the shared address, say a mail was sent automatically (a reworded footer)
_AUTOMATIC_WORDS = ("自动发送", "系统自动", "自动生成", "sentautomatically", "automaticallysent")
_NEAR = 160  # characters around the shared address, after squeezing
_SQUEEZE = re.compile(r"[\s>|]+")


def _squeeze(text: str) -> str:
    """Return ``text`` lower-cased without whitespace and quote marks (> |), as quoting,
    rewrapping and HTML conversion leave a footer."""
    return _SQUEEZE.sub("", text).lower()


_FOOTERS = tuple(_squeeze(s) for s in FOOTER_SENTENCES)


def own_message_id(message_id: str, own_domains: Iterable[str]) -> bool:
    """Return whether ``message_id`` is one mailflow wrote for one of ``own_domains``."""
    match = _OWN_ID.match(message_id.strip())
    return match is not None and match.group(1).lower() in {d.lower() for d in own_domains}


def answers_own_mail(
    references: Iterable[str], text: str, own_addresses: Iterable[str], new_text: str = ""
) -> str | None:
    """Return why a mail answers or quotes mailflow's own automatic mail, or None.

    ``references``: its In-Reply-To and References ids; ``text``: its whole body text (the
    quoted part included); ``own_addresses``: the shared address(es); ``new_text``: what the
    sender wrote. The footer sentence counts anywhere (nobody writes it by hand); the weaker
    sign, the shared address near words like 自动发送, only outside ``new_text``: a person may
    well write "请把系统自动生成的报表发到 coord@…"."""
    own = [a.lower() for a in own_addresses]
    domains = {a.rpartition("@")[2] for a in own}
    for message_id in references:
        if own_message_id(message_id, domains):
            return f"it answers mailflow's own mail {message_id.strip()}"
    squeezed = _squeeze(text)
    if any(footer in squeezed for footer in _FOOTERS):
        return "it quotes mailflow's footer"
    if new_text.strip() and new_text in text:
        squeezed = _squeeze(text.replace(new_text, "\n", 1))
    for address in own:
        start = squeezed.find(address)
        while start >= 0:
            near = squeezed[max(0, start - _NEAR) : start + len(address) + _NEAR]
            if any(word in near for word in _AUTOMATIC_WORDS):
                return f"it quotes a mail {address} sent automatically"
            start = squeezed.find(address, start + 1)
    return None
