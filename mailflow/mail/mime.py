"""Parse cleaned bytes into a MIME tree, repair broken multiparts, enforce nesting limits.

The stdlib parser (compat32 policy: raw header strings, no eager decoding; every part a
``params.SafeMessage``, whose parameters never crash) leaves a multipart
whose boundary is missing or never appears as one opaque string. Here such a body is searched
for a ``--boundary`` line that is followed by part headers and re-parsed with it; otherwise it
is read as text. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy, compat32

from mailflow.errors import LimitExceeded
from mailflow.mail.large_parts import restore, skeleton
from mailflow.mail.params import SafeMessage
from mailflow.settings import Limits

# a mail with 100 attachments has a few hundred parts; each costs the parser ~10 µs
MAX_PARTS = 10_000
_DELIMITER = re.compile(rb"^--([^\r\n]{1,200}?)[ \t]*\r?\n(?=[\x21-\x39\x3b-\x7e]+:)", re.MULTILINE)


class PartCounter:
    """The parser's message factory: makes each part, and stops the parse past ``MAX_PARTS``.

    The count has to be taken while the stdlib parser runs: a ``message/delivery-status`` body
    becomes one part per blank line, so 250 KB of blank lines are 250,000 parts and seconds of
    parsing before any limit could look at the tree.
    """

    def __init__(self) -> None:
        self.parts = 0

    def __call__(self, policy: Policy | None = None) -> SafeMessage:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise LimitExceeded(f"message has more than {MAX_PARTS} MIME parts")
        return SafeMessage() if policy is None else SafeMessage(policy)


@dataclass(frozen=True)
class Leaf:
    """A part that holds content (not a container), with where it sits in the tree."""

    part: Message
    depth: int
    parent_type: str  # content type of the enclosing multipart, "" at the top


def parse_tree(data: bytes, limits: Limits, defects: list[str]) -> Message:
    """Return the repaired MIME tree of ``data``; raise ``LimitExceeded`` when too deep or wide.

    Parser defects and repairs are appended to ``defects``. Big base64 attachment bodies are
    not parsed, only measured (``large_parts``): their parts carry ``elided_size``.
    """
    spared = skeleton(data)
    if spared.sizes:
        repairs: list[str] = []
        root = _parse(spared.data, limits, repairs)
        if restore(root, spared.sizes):
            defects.extend(repairs)
            return root
    return _parse(data, limits, defects)


def _parse(data: bytes, limits: Limits, defects: list[str]) -> Message:
    try:
        root = BytesParser(PartCounter(), policy=compat32).parsebytes(data)
        _repair(root, 0, limits, defects)
    except RecursionError as e:
        raise LimitExceeded("MIME nesting too deep to parse") from e
    return root


def _repair(part: Message, depth: int, limits: Limits, defects: list[str]) -> None:
    if depth > limits.max_nesting:
        raise LimitExceeded(f"MIME nesting deeper than {limits.max_nesting} levels")
    if len(part.keys()) > limits.max_headers:
        raise LimitExceeded(
            f"a MIME part has {len(part.keys())} header fields, over {limits.max_headers}"
        )
    defects.extend(f"mime: {type(d).__name__}" for d in part.defects)
    ctype = part.get_content_type()
    if ctype.startswith("multipart/") and not part.is_multipart():
        _recover_multipart(part, defects)
    if part.is_multipart():
        for child in _children(part):
            _repair(child, depth + 1, limits, defects)


def _recover_multipart(part: Message, defects: list[str]) -> None:
    """Re-parse a multipart whose declared boundary failed, using one found in its body."""
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return
    match = _DELIMITER.search(body)
    declared = part.get_boundary()
    if match is None or match.group(1).decode("ascii", "replace") == declared:
        defects.append("multipart without usable boundary; read as text")
        return
    boundary = match.group(1)
    head = b'Content-Type: multipart/mixed; boundary="' + boundary.replace(b'"', b"") + b'"\r\n\r\n'
    fixed = BytesParser(PartCounter(), policy=compat32).parsebytes(head + body)
    if fixed.is_multipart():
        part.set_payload(fixed.get_payload())
        part.set_boundary(boundary.decode("ascii", "surrogateescape"))
        defects.append("multipart boundary did not match the body; used the one found in it")


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def leaves(root: Message) -> Iterator[Leaf]:
    """Yield every content part of ``root`` depth first, in document order."""
    yield from _leaves(root, 0, "")


def _leaves(part: Message, depth: int, parent_type: str) -> Iterator[Leaf]:
    # an attached message is one attachment, not more body: do not descend into it
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in _children(part):
            yield from _leaves(child, depth + 1, part.get_content_type())
    else:
        yield Leaf(part, depth, parent_type)
