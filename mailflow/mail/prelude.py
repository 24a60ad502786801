"""Look at raw bytes before the MIME parser does: reject non-mail, enforce limits, clean the start.

Real files start with a UTF-8 BOM, blank lines, the tail of a cut-off ``Received`` header, or a
first header indented like a continuation; the stdlib parser then sees no headers at all. Limits
(DESIGN §7.13) on size, line count and header count are checked here, before any parsing.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailflow.errors import LimitExceeded, MessageRejected
from mailflow.settings import Limits

_BOMS = (b"\xef\xbb\xbf",)
# a header field line as the stdlib parser recognises it: printable name, then a colon
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_MBOX_FROM = re.compile(rb"From \S")
# header names that only mail (or a MIME entity) carries; one is needed to call bytes mail
_MAIL_HEADERS = frozenset(
    b"from to cc bcc subject date message-id in-reply-to references received return-path "
    b"mime-version content-type content-transfer-encoding content-disposition sender reply-to "
    b"delivered-to x-mailer user-agent auto-submitted".split()
)
# how far to look for the header block behind leading garbage
_MAX_GARBAGE_LINES = 50
# one line as bytes.splitlines(keepends=True) cuts it: \r\n, \r or \n ends a line
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


@dataclass(frozen=True)
class Prelude:
    """The bytes to hand the MIME parser, and what was cleaned off their start."""

    data: bytes
    defects: tuple[str, ...]


def prepare(raw: bytes, limits: Limits) -> Prelude:
    """Return cleaned bytes ready to parse.

    Raises ``LimitExceeded`` over the size or header-count limit and ``MessageRejected`` when
    the bytes are empty or hold no mail header at all.
    """
    if len(raw) > limits.max_message_bytes:
        raise LimitExceeded(
            f"message is {len(raw)} bytes, over the limit of {limits.max_message_bytes}"
        )
    _check_lines(raw, limits)
    if not raw or raw.isspace():
        raise MessageRejected("empty message: no bytes other than white space")
    if b"\x00" in raw[:4096] and not _MAIL_HEADERS & set(_header_names(_first_lines(raw, 20))):
        raise MessageRejected("not mail: binary data where the header block should be")
    defects: list[str] = []
    data = _strip_start(raw, defects)
    # only the start is split into lines: the body may be 25 MB, and a list of its lines
    # would cost several times that (the data itself is passed on uncopied when it is clean)
    lines, rest = _head_lines(data)
    start = _header_start(lines)
    if start is None:
        raise MessageRejected("not mail: no header block (no 'Name: value' line) at the start")
    if start:
        defects.append(f"skipped {start} line(s) of text before the headers")
    lines = lines[start:]
    indented = lines[0][:1] in (b" ", b"\t")
    if indented:
        defects.append("first header line was indented; unindented it")
        lines[0] = lines[0].lstrip(b" \t")
    names = _header_names(_header_block(lines))
    if not _MAIL_HEADERS & set(names):
        raise MessageRejected("not mail: none of From, To, Subject, Date, Content-Type... found")
    if len(names) > limits.max_headers:
        raise LimitExceeded(f"message has {len(names)} header fields, over {limits.max_headers}")
    if not start and not indented:
        return Prelude(data, tuple(defects))
    return Prelude(b"".join(lines) + data[rest:], tuple(defects))


def _first_lines(raw: bytes, n: int) -> list[bytes]:
    """Return the first ``n`` pieces of ``raw.split(b"\\n")`` without splitting the rest."""
    end = -1
    for _ in range(n):
        end = raw.find(b"\n", end + 1)
        if end < 0:
            return raw.split(b"\n")[:n]
    return raw[:end].split(b"\n")


def _head_lines(data: bytes) -> tuple[list[bytes], int]:
    """Return the lines of the start of ``data`` (cut as ``splitlines(keepends=True)`` cuts
    them) and where the rest starts: the first ``_MAX_GARBAGE_LINES`` lines and, when a
    header block starts among them, on to its end (a blank line)."""
    lines: list[bytes] = []
    at = 0
    found = _LINE.finditer(data)
    for match in found:
        lines.append(match.group())
        at = match.end()
        if len(lines) == _MAX_GARBAGE_LINES:
            break
    start = _header_start(lines)
    if start is None or any(not line.strip() for line in lines[start:]):
        return lines, at
    for match in found:
        lines.append(match.group())
        at = match.end()
        if not lines[-1].strip():
            break
    return lines, at


def _check_lines(raw: bytes, limits: Limits) -> None:
    """Raise ``LimitExceeded`` for more lines than the MIME parser should read.

    The stdlib parser's time grows with the number of lines; they are counted here at C speed
    before it runs (invariant 13: bounded work whatever the content).
    """
    lines = raw.count(b"\n")
    if lines > limits.max_lines:
        raise LimitExceeded(f"message has {lines} lines, over the limit of {limits.max_lines}")


def _strip_start(raw: bytes, defects: list[str]) -> bytes:
    data = raw
    for bom in _BOMS:
        if data.startswith(bom):
            data = data[len(bom) :]
            defects.append("removed a byte-order mark before the headers")
    stripped = data.lstrip(b"\r\n")
    if len(stripped) != len(data):
        defects.append("removed blank lines before the headers")
    return stripped


def _header_start(lines: list[bytes]) -> int | None:
    """Return the index of the line where the header block starts, or None when none does."""
    for index, line in enumerate(lines[:_MAX_GARBAGE_LINES]):
        if not line.strip():
            continue
        if index == 0 and _MBOX_FROM.match(line):
            return 0
        if _HEADER_LINE.match(line) or (index == 0 and _HEADER_LINE.match(line.lstrip(b" \t"))):
            return index
    return None


def _header_block(lines: list[bytes]) -> list[bytes]:
    """Return the lines up to the first blank line."""
    block = []
    for line in lines:
        if not line.strip():
            break
        block.append(line)
    return block


def _header_names(lines: list[bytes]) -> list[bytes]:
    """Return the lower-cased field names that start lines (continuations are skipped)."""
    names = []
    for line in lines:
        match = _HEADER_LINE.match(line)
        if match:
            names.append(match.group(0)[:-1].lower())
    return names
