"""Decode header values as real clients write them: RFC 2047 in any charset, raw 8-bit bytes.

The stdlib decoder loses gb2312 words split mid-character and raw GBK bytes without a defect
(LIBRARIES.md §8). Here adjacent encoded-words of one charset are joined as bytes before
decoding, and every decode goes through ``charset.decode_bytes``. Also reads Message-IDs.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.message import Message

from mailflow.mail.charset import decode_bytes

# =?charset[*lang]?B|Q?text?=  (text may hold raw 8-bit bytes, seen from Eudora)
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def unfold(value: str) -> str:
    """Return ``value`` with header folding (CRLF before white space) removed."""
    return _FOLD.sub("", value).replace("\r", "").replace("\n", " ")


def to_bytes(value: str) -> bytes:
    """Return the original bytes of a header value the parser surrogate-escaped."""
    return value.encode("utf-8", "surrogateescape")


def raw_values(msg: Message, name: str) -> list[str]:
    """Return every raw (undecoded, unfolded) value of header ``name`` in ``msg``, in order."""
    wanted = name.lower()
    return [unfold(str(v)) for k, v in msg.raw_items() if k.lower() == wanted]


def first_raw(msg: Message, name: str) -> str | None:
    """Return the first raw value of header ``name``, or None when absent."""
    values = raw_values(msg, name)
    return values[0] if values else None


def decode_text(value: str, defects: list[str] | None = None) -> str:
    """Return the human text of a raw header value; fallbacks are appended to ``defects``.

    White space between two encoded-words is dropped (RFC 2047 §6.2); runs of encoded-words
    in one charset are decoded together so a character split across words survives.
    """
    pieces: list[tuple[bytes, str | None]] = []  # (bytes, charset or None for plain text)
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if between and not (between.isspace() and pieces and pieces[-1][1] is not None):
            pieces.append((to_bytes(between), None))
        charset, data = match.group(1).lower(), _decode_word(match.group(2), match.group(3))
        if pieces and pieces[-1][1] == charset:
            pieces[-1] = (pieces[-1][0] + data, charset)
        else:
            pieces.append((data, charset))
        pos = match.end()
    if value[pos:]:
        pieces.append((to_bytes(value[pos:]), None))
    out = []
    for data, charset in pieces:
        decoded = decode_bytes(data, charset)
        if decoded.defect and defects is not None:
            defects.append(f"header text {decoded.defect}")
        out.append(decoded.text)
    return "".join(out)


def _decode_word(kind: str, text: str) -> bytes:
    raw = to_bytes(text)
    if kind in "qQ":
        return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))
    raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
    if len(raw) % 4 == 1:  # a stray character: drop it rather than lose the word
        raw = raw[:-1]
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error:
        return raw


def message_ids(value: str | None) -> list[str]:
    """Return every ``<id>`` in ``value``, normalised, in order and without repeats."""
    # a dict, not a list: a References field of 20,000 ids made the membership test quadratic
    seen = dict.fromkeys(normalise_id(found) for found in _MESSAGE_ID.findall(value or ""))
    return list(seen)


def normalise_id(message_id: str) -> str:
    """Return ``<local@domain>`` with the domain part lower-cased (ids compare that way)."""
    inner = message_id.strip().strip("<>")
    local, at, domain = inner.rpartition("@")
    return f"<{local}{at}{domain.lower()}>" if at else f"<{inner}>"
