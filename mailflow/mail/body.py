"""Pick the text a person reads from a MIME tree: text/plain first, HTML converted otherwise.

Payloads are decoded from ``get_payload(decode=True)`` bytes with ``charset.decode_bytes``,
never ``get_content()`` (which assumes ASCII or raises on unknown labels). HTML becomes text
with inscriptis; table cells are joined with `` | `` so a row reads as one line. inscriptis
lays out a long run of inline text in more than quadratic time, so markup over
``MAX_LAYOUT_CHARS`` (or past that many in all the HTML parts of a mail) is read by a linear
tag stripper instead (a defect says so).
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from mailflow.mail.attachment import REPORT_PARTS, is_attachment
from mailflow.mail.budget import WorkBudget
from mailflow.mail.charset import codec_for, decode_bytes
from mailflow.mail.mime import Leaf, leaves

TABLE_CELL_SEPARATOR = " | "
MAX_LAYOUT_CHARS = 200_000  # larger HTML is stripped of its tags, not laid out
MAX_BODY_PARTS = 100  # inline text parts read as the body; real mail has one to a few
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
# [^<>], not [^>]: a tag never spans another "<", and thousands of unclosed "<" would
# each be scanned to the end (quadratic time)
_TAG = re.compile(r"<[^<>]*>")
_SKIPPED_OPEN = re.compile(r"<(script|style|head)\b", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"<(?:/?(?:p|div|tr|li|h[1-6]|table|blockquote|pre)\b|br\b)[^<>]*>", re.I)
_CELL_TAG = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
# a start tag long enough to hold MAX_ATTRIBUTES attributes; lxml and inscriptis handle the
# attributes of one tag in quadratic time (20,000 of them: 2.5 s), and text needs none of them
MAX_ATTRIBUTES = 200
_LONG_START_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*+)([^<>]{800,}+)>")


@dataclass(frozen=True)
class BodySources:
    """The decoded body parts a person may read: inline plain text and HTML markup."""

    plain: str | None  # all inline text/plain parts joined, None when none has text
    html: tuple[str, ...]  # the markup of each inline text/html part


def body_sources(
    root: Message,
    defects: list[str],
    budget: WorkBudget | None = None,
    attached: Callable[[Message], bool] = is_attachment,
) -> BodySources:
    """Return the decoded inline plain and HTML parts of ``root``.

    ``attached`` tells an attachment (``is_attachment``; a caller who has asked it already
    passes the answers). Raises ``WorkBudgetExceeded`` when ``budget`` is spent (checked
    after each part).
    """
    plain: list[str] = []
    rich: list[str] = []
    for leaf in leaves(root):
        if budget is not None:
            budget.check("decoding the body")
        kind = _body_kind(leaf, attached)
        if kind is not None and len(plain) + len(rich) >= MAX_BODY_PARTS:
            defects.append(f"more than {MAX_BODY_PARTS} body parts: the rest is not read")
            break
        if kind == "plain":
            plain.append(_plain(part_text(leaf.part, defects)))
        elif kind == "html":
            rich.append(part_text(leaf.part, defects, html=True))
    joined = "\n".join(t for t in plain if t.strip())
    return BodySources(plain=joined or None, html=tuple(rich))


def body_text(sources: BodySources, defects: list[str], budget: WorkBudget | None = None) -> str:
    """Return the readable body: all inline plain parts, else all HTML parts as text."""
    if sources.plain is not None:
        return sources.plain
    return "\n".join(t for t in html_texts(sources.html, defects, budget) if t)


def html_texts(
    markups: tuple[str, ...], defects: list[str], budget: WorkBudget | None = None
) -> list[str]:
    """Return each of ``markups`` as text, checking ``budget`` after each one.

    The parts share one layout allowance of ``MAX_LAYOUT_CHARS``: once it is spent, the rest
    are stripped of their tags. A hundred HTML parts just under the limit each cost seconds
    of layout in all before.
    """
    texts, allowance = [], MAX_LAYOUT_CHARS
    for markup in markups:
        texts.append(html_to_text(markup, defects, layout=len(markup) <= allowance))
        allowance -= len(markup)
        if budget is not None:
            budget.check("converting HTML to text")
    return texts


def _body_kind(leaf: Leaf, attached: Callable[[Message], bool]) -> str | None:
    """Return "plain", "html" or None for a leaf that is not body text."""
    part = leaf.part
    ctype = part.get_content_type()
    if ctype in REPORT_PARTS or attached(part):
        return None
    if ctype == "text/html":
        return "html"
    if ctype == "text/plain" or part.get_content_maintype() == "multipart":
        return "plain"  # a multipart whose boundary could not be found is read as text
    return None


def part_text(part: Message, defects: list[str], *, html: bool = False) -> str:
    """Return the decoded text of one leaf part, recording charset fallbacks in ``defects``."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    label = charset_label(part)
    if html and codec_for(label) is None:
        meta = _META_CHARSET.search(payload[:4096])
        if meta:
            label = meta.group(1).decode("ascii")
    decoded = decode_bytes(payload, label)
    if decoded.defect:
        defects.append(f"{part.get_content_type()} body {decoded.defect}")
    return decoded.text


def charset_label(part: Message) -> str | None:
    """Return the charset parameter of ``part`` as written, or None when there is none."""
    value = part.get_param("charset")
    if isinstance(value, tuple):  # RFC 2231 form charset*=...; the value is the label
        value = value[2]
    return value.strip() or None if isinstance(value, str) else None


def _plain(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def html_to_text(markup: str, defects: list[str], *, layout: bool = True) -> str:
    """Return ``markup`` as text, tables kept row by row; falls back to tag stripping.

    Markup over ``MAX_LAYOUT_CHARS`` (or any, when not ``layout``) is stripped, not laid out.
    """
    if len(markup) > MAX_LAYOUT_CHARS:
        defects.append(f"HTML of {len(markup)} characters is too large to lay out; tags stripped")
        text = strip_tags(markup)
    elif not layout:
        defects.append(f"HTML parts over {MAX_LAYOUT_CHARS} characters in all; tags stripped")
        text = strip_tags(markup)
    else:
        try:
            text = get_text(
                _fewer_attributes(markup, defects),
                ParserConfig(table_cell_separator=TABLE_CELL_SEPARATOR),
            )
        except (RecursionError, ValueError) as e:
            defects.append(f"HTML could not be laid out ({type(e).__name__}); tags stripped")
            text = strip_tags(markup)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _fewer_attributes(markup: str, defects: list[str]) -> str:
    """Return ``markup`` with the attributes of any tag with over ``MAX_ATTRIBUTES`` dropped."""

    def bare(tag: re.Match[str]) -> str:
        if len(tag.group(2).split()) <= MAX_ATTRIBUTES:
            return tag.group(0)
        defects.append(f"an HTML tag with over {MAX_ATTRIBUTES} attributes; they were dropped")
        return f"<{tag.group(1)}>"

    return _LONG_START_TAG.sub(bare, markup)


def strip_tags(markup: str) -> str:
    """Return the text of ``markup`` in linear time: blocks on their own lines, cells joined."""
    kept = _CELL_TAG.sub(TABLE_CELL_SEPARATOR, _without_skipped(markup))
    return html.unescape(_TAG.sub(" ", _BLOCK_TAG.sub("\n", kept)))


def _without_skipped(markup: str) -> str:
    """Return ``markup`` without its script, style and head elements (an unclosed one ends it)."""
    out, pos, lower = [], 0, markup.lower()
    for found in _SKIPPED_OPEN.finditer(markup):
        if found.start() < pos:
            continue
        out.append(markup[pos : found.start()])
        close = lower.find(f"</{found.group(1).lower()}", found.end())
        if close < 0:
            return "".join(out)
        end = lower.find(">", close)
        pos = len(markup) if end < 0 else end + 1
    out.append(markup[pos:])
    return "".join(out)
