"""Cut HTML mail at the first quote container, before it is converted to text.

Webmail and desktop clients wrap the history they quote in markup they name: Outlook's
``#divRplyFwdMsg`` and its bordered header ``<div>``, ``.gmail_quote``, ``blockquote[type=cite]``
(Apple Mail, Thunderbird), NetEase/Coremail's ``blockquote#isReplyContent`` and
``div#isForwardContent``, 139 Mail's ``#reply139content``, ``#origbody``,
``blockquote#oriMsgHtmlSeperator``, ``.yahoo_quoted`` and ``.moz-cite-prefix`` (the list
Proton's web client keeps). Everything from the first such start tag on is history.
Uses the stdlib ``html.parser``, which never raises on bad markup.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

from html.parser import HTMLParser

QUOTE_IDS = frozenset(
    {
        "divrplyfwdmsg",  # Outlook desktop and web
        "appendonsend",  # Outlook web: the empty marker right above the quoted header
        "isreplycontent",  # NetEase / Coremail
        "isforwardcontent",
        "reply139content",  # 139 Mail
        "origbody",
        "orimsghtmlseperator",
    }
)
QUOTE_CLASSES = frozenset({"gmail_quote", "yahoo_quoted", "moz-cite-prefix"})


class _Found(Exception):
    """Raised inside the parser to stop at the first quote container."""


def _is_outlook_header(tag: str, style: str) -> bool:
    """Return whether a tag is Outlook's bordered box around the quoted 发件人/From block."""
    compact = style.replace(" ", "").lower()
    return tag == "div" and "border:none" in compact and "border-top:solid" in compact


def is_quote_container(tag: str, attrs: dict[str, str]) -> bool:
    """Return whether a start tag opens quoted history."""
    if attrs.get("id", "").strip().lower() in QUOTE_IDS:
        return True
    if QUOTE_CLASSES.intersection(attrs.get("class", "").split()):
        return True
    if tag == "blockquote" and attrs.get("type", "").strip().lower() == "cite":
        return True
    return _is_outlook_header(tag, attrs.get("style", ""))


class _QuoteFinder(HTMLParser):
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if is_quote_container(tag, {k: v or "" for k, v in attrs}):
            raise _Found

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def cut_quoted_html(markup: str) -> str:
    """Return ``markup`` up to the first quote container (all of it when there is none)."""
    finder = _QuoteFinder(convert_charrefs=True)
    try:
        finder.feed(markup)
        finder.close()
    except _Found:
        line, column = finder.getpos()
        return markup[: _offset(markup, line, column)]
    except (AssertionError, ValueError):  # very old Pythons raised on some broken markup
        return markup
    return markup


def _offset(text: str, line: int, column: int) -> int:
    """Return the index in ``text`` of ``(line, column)`` as ``HTMLParser.getpos`` counts them."""
    index = 0
    for _ in range(line - 1):
        index = text.index("\n", index) + 1
    return index + column
