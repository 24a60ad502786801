"""Big base64 attachment bodies kept away from the stdlib MIME parser: only their size is read.

The stdlib parser holds a body as one text line per 76 bytes and then joins them: an 18 MB
attachment costs about 200 MB and a second of CPU, only for ``Attachment.size``. So, before
parsing, every long run of clean base64 lines that follows the header block of a non-text part
is replaced by a one-line placeholder (with a per-parse random token that mail cannot forge),
and its decoded size is computed from the run's length.

After the parse, ``restore`` must find each placeholder as the whole payload of a non-text
base64 leaf: that part then carries ``elided_size`` and an empty payload. Base64 lines hold no
``--`` and no ``:``, so removing them moves no boundary and no header; if a placeholder still
lands anywhere else (the run was not a whole body after all), ``restore`` says so and the
caller parses the full bytes. Either way the tree is what parsing the full bytes gives.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailflow.mail.params import SafeMessage

# smaller bodies cost the parser little; above this the skeleton pays for its scan
MIN_ELIDED_BYTES = 32 * 1024
# how far back from a body the header block of its part is looked for
MAX_HEADER_BLOCK = 64 * 1024
# a blank line (end of a header block), then lines of the base64 alphabet, the last one
# possibly padded; possessive, so 25 MB of lines cost no backtracking state
_RUN = re.compile(rb"\n\r?\n((?:[A-Za-z0-9+/]++\r?\n)++(?:[A-Za-z0-9+/]*+={1,2}\r?\n)?)")
_NOT_ELIDED = ("text", "multipart", "message")


@dataclass
class Skeleton:
    """The bytes to parse, and the decoded size behind each placeholder they contain."""

    data: bytes
    sizes: dict[str, int] = field(default_factory=dict)


def skeleton(data: bytes, min_bytes: int = MIN_ELIDED_BYTES) -> Skeleton:
    """Return ``data`` with each big base64 attachment body replaced by a placeholder line."""
    if len(data) < min_bytes:
        return Skeleton(data)  # no run of ``min_bytes`` fits: nothing to scan for
    token = secrets.token_hex(8)
    pieces: list[bytes] = []
    sizes: dict[str, int] = {}
    done = 0
    for match in _RUN.finditer(data):
        start, end = match.span(1)
        size = _decoded_size(data, start, end) if end - start >= min_bytes else None
        if size is None or not _elidable(data, match.start() + 1):
            continue
        key = f"mailflow-elided-{token}-{len(sizes)}"
        sizes[key] = size
        newline = b"\r\n" if data[end - 2 : end] == b"\r\n" else b"\n"
        pieces += [data[done:start], key.encode("ascii"), newline]
        done = end
    if not sizes:
        return Skeleton(data)
    pieces.append(data[done:])
    return Skeleton(b"".join(pieces), sizes)


def restore(root: Message, sizes: dict[str, int]) -> bool:
    """Give each placeholder's part its ``elided_size`` and an empty payload; return False
    when a placeholder is not the whole payload of a non-text base64 leaf (parse in full)."""
    left = dict(sizes)
    for part in root.walk():
        payload = part.get_payload()
        if not isinstance(payload, str) or len(payload) > 100 or not payload.startswith("mail"):
            continue
        size = left.pop(payload.strip(), None)
        if size is None:
            continue
        if not isinstance(part, SafeMessage) or not _base64_attachment(part):
            return False
        part.set_payload("")
        part.elided_size = size
    return not left


def _decoded_size(data: bytes, start: int, end: int) -> int | None:
    """Return how many bytes the base64 lines in ``data[start:end]`` decode to, counted
    without copying them; None when they are not whole quanta (the parse decides then)."""
    chars = end - start - data.count(b"\n", start, end) - data.count(b"\r", start, end)
    if chars % 4:
        return None
    return chars // 4 * 3 - data.count(b"=", max(start, end - 4), end)


def _elidable(data: bytes, body_start: int) -> bool:
    """Return whether the header block ending at ``body_start`` is a non-text base64 part's."""
    head = _header_block(data, body_start)
    if head is None:
        return False
    headers = BytesHeaderParser(SafeMessage, policy=compat32).parsebytes(head)
    return _base64_attachment(headers)


def _header_block(data: bytes, end: int) -> bytes | None:
    """Return the header lines that end at ``end``: back to a boundary, a blank line or the
    start; None when they go back further than ``MAX_HEADER_BLOCK``."""
    low = max(0, end - MAX_HEADER_BLOCK)
    lines = data[low:end].splitlines(keepends=True)
    first = len(lines)
    while first > 0:
        line = lines[first - 1]
        if not line.strip() or line.startswith(b"--"):
            break
        first -= 1
    if first == 0 and low > 0:
        return None
    return b"".join(lines[first:])


def _base64_attachment(part: Message) -> bool:
    # the test get_payload(decode=True) makes: str(...).lower(), no stripping
    encoding = str(part.get("content-transfer-encoding", "")).lower()
    return encoding == "base64" and part.get_content_maintype() not in _NOT_ELIDED
