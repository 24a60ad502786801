"""Read address headers (From, To, Cc, Reply-To) into validated ``Address`` values.

Garbage never raises: an entry whose addr-spec fails a strict check is dropped and named in
the defects. Unbalanced parentheses make the whole header untrusted (the CVE-2023-27043 class
where ``alice@example.org)<bob@evil.com>`` reads as alice); unbalanced quotes are salvaged
from the ``<addr>`` they still contain. The values of one field are read up to
``MAX_FIELD_CHARS`` in all. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from email.utils import getaddresses
from functools import lru_cache

from mailflow.mail.header import decode_text
from mailflow.mail.model import Address

MAX_NAME_CHARS = 200  # the longest display name kept (a real one is a few dozen characters)
# an address field is read this far, to its last comma: the stdlib parser takes ~30 µs an
# address, and a megabyte of To (30,000 addresses) took seconds; this is room for about 5,000
# named addresses, a whole staff of thousands written out in To or Cc
MAX_FIELD_CHARS = 250_000  # also for all the fields of one name together (900 To fields)
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDR_SPEC = re.compile(rf"({_LOCAL})@({_LABEL}(?:\.{_LABEL})*)\.?")
# No pattern here may backtrack over a run of @ or spaces: a header of many thousand "a@a@a…"
# would take seconds (each @ a new split point); the local part excludes @ for that reason.
_ANGLE = re.compile(r"<\s*([^<>\s@]+@[^<>\s]+)\s*>")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
# ``alice@example.com <bob@example.com>``: a display name that is itself an address (spoofing)
_UNQUOTED_AT_NAME = re.compile(r'(^|,)([^,"<>@]*@[^,"<>]*)<')


def valid_address(text: str) -> str | None:
    """Return ``text`` as ``local@domain`` with the domain lower-cased, or None when invalid."""
    match = ADDR_SPEC.fullmatch(text.strip())
    if match is None or len(text) > 254:
        return None
    return f"{match.group(1)}@{match.group(2).lower()}"


def parse_addresses(
    raw: str | None, field: str, defects: list[str], max_chars: int = MAX_FIELD_CHARS
) -> tuple[Address, ...]:
    """Return the valid addresses of one raw header value; list what was dropped in ``defects``.

    A value over ``max_chars`` is read up to its last comma before that.
    """
    if raw is None or not raw.strip():
        return ()
    if len(raw) > max_chars:
        defects.append(f"{field} of {len(raw)} characters: read the first {max_chars}")
        cut = raw.rfind(",", 0, max_chars)
        raw = raw[: cut if cut > 0 else max_chars]
    unquoted = _QUOTED.sub("", raw)
    if unquoted.count("(") != unquoted.count(")"):
        defects.append(f"{field}: unbalanced parentheses, header ignored")
        return ()
    if unquoted.count('"') % 2:
        return _salvage(raw, field, defects)
    out: list[Address] = []
    pending: list[str] = []  # words before an unquoted comma: ``Last, First <a@b>``
    for name, spec in _entries(_UNQUOTED_AT_NAME.sub(_quote_name, raw), field, defects):
        address = valid_address(spec)
        if address is None:
            if spec and not name and not out and "@" not in spec:
                pending.append(spec)
            elif spec or name:
                defects.append(f"{field}: dropped invalid address {spec or name!r}")
            continue
        if pending and name:
            name = ", ".join([*pending, name])
        pending = []
        out.append(Address(name=_display_name(name, address, defects), address=address))
    if pending:
        defects.append(f"{field}: dropped text without an address {', '.join(pending)!r}")
    return tuple(out)


def parse_address_fields(values: list[str], field: str, defects: list[str]) -> tuple[Address, ...]:
    """Return the valid addresses of every value of one header field (To, Cc), in order.

    The values are read up to ``MAX_FIELD_CHARS`` in all; the rest are named in ``defects``.
    """
    found: list[Address] = []
    left = MAX_FIELD_CHARS
    for i, value in enumerate(values):
        if left <= 0:
            defects.append(f"{len(values) - i} more {field} fields not read")
            break
        found.extend(parse_addresses(value, field, defects, left))
        left -= len(value)
    return tuple(found)


def _quote_name(found: re.Match[str]) -> str:
    """Return an address-like display name put in quotes, so it is read as a name only."""
    return f'{found[1]}"{found[2].strip()}" <'


def _entries(raw: str, field: str, defects: list[str]) -> list[tuple[str, str]]:
    """Return (name, addr-spec) pairs, one ``getaddresses`` call per top-level entry.

    The stdlib address parser recurses once per entry; a header with thousands of entries
    (seen in the wild) would exhaust the stack, so entries are split here first.
    """
    out: list[tuple[str, str]] = []
    for chunk in _split_top_level(raw):
        entry = _entry(chunk)
        if entry is None:
            defects.append(f"{field}: unreadable entry {chunk[:60]!r}")
        else:
            out.extend(entry)
    return out


# The same people write to the same people: the entries of address headers repeat from mail
# to mail, so each distinct entry is read once (the stdlib parser is most of the cost).
@lru_cache(maxsize=4096)
def _entry(chunk: str) -> tuple[tuple[str, str], ...] | None:
    try:
        return tuple(getaddresses([chunk]))
    except (RecursionError, IndexError, ValueError):
        return None


_SPECIAL = re.compile(r'[\\"(<)>,]')


def _split_top_level(raw: str) -> list[str]:
    """Return ``raw`` split at commas outside quotes, comments and angle brackets."""
    chunks, start, depth, quoted, escaped = [], 0, 0, False, -1
    for found in _SPECIAL.finditer(raw):  # only these characters change anything
        index, char = found.start(), found.group()
        if index == escaped:  # the character after a backslash
            continue
        if char == "\\":
            escaped = index + 1
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "(<":
            depth += 1
        elif not quoted and char in ")>":
            depth = max(0, depth - 1)
        elif char == "," and not quoted and depth == 0:
            chunks.append(raw[start:index])
            start = index + 1
    chunks.append(raw[start:])
    return [c for c in chunks if c.strip()]


def _salvage(raw: str, field: str, defects: list[str]) -> tuple[Address, ...]:
    """Return the ``<addr>`` entries of a header whose quotes do not balance."""
    out: list[Address] = []
    for match in _ANGLE.finditer(raw):
        address = valid_address(match.group(1))
        if address is not None:
            before = raw[: match.start()].rsplit(",", 1)[-1]
            name = _display_name(before.strip().strip('"').strip(), address, defects)
            out.append(Address(name=name, address=address))
    defects.append(f"{field}: unbalanced quotes, kept {len(out)} address(es) in <>")
    return tuple(out)


def _display_name(name: str, address: str, defects: list[str]) -> str:
    """Return the decoded display name; a name that only repeats the address becomes empty.

    A name longer than ``MAX_NAME_CHARS`` is garbage (thousands of comma-separated words glued
    to one address) and would cost every later step that matches names; it is dropped.
    """
    if len(name) > MAX_NAME_CHARS * 4:  # encoded-words make a real name up to ~4 times longer
        defects.append(f"display name of {len(name)} characters for {address} dropped")
        return ""
    text, found = _decoded_name(name, address)
    defects.extend(found)
    if len(text) > MAX_NAME_CHARS:
        defects.append(f"display name of {len(text)} characters for {address} dropped")
        return ""
    return text


@lru_cache(maxsize=4096)
def _decoded_name(name: str, address: str) -> tuple[str, tuple[str, ...]]:
    defects: list[str] = []
    text = " ".join(decode_text(name, defects).split())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return ("" if text.lower() == address.lower() else text), tuple(defects)
