"""Which characters a regex cannot match without: a cheap test to skip a search that must fail.

Many readers run a dozen patterns over every sentence, and most patterns can only match text
that holds certain characters (``本周内`` needs one of 本/这/下 and one of 周/星/礼). These are
read off the pattern itself, so they stay right when the pattern changes: ``required(p)``
returns sets of characters such that the text of every match of ``p`` (with what its
lookarounds look at) holds a character of each set. ``may_match(sets, chars)`` is False only
when a text of the characters ``chars`` cannot hold a match, so skipping the search then
changes no result. Uses the parser of the ``re`` module (``re._parser``, whose tree is the
same from Python 3.11 to 3.13); an element it cannot bound (``\\w``, ``.``, a wide class, a
cased letter other than ASCII under ``re.IGNORECASE``) adds no set, and a pattern with no set
is always searched.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

try:  # the parser's layout is private: a Python that moves it only loses the skipping
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.11 to 3.13 have both
    _c = _p = None

__all__ = ["Required", "may_match", "required"]

# a character class wider than this (the CJK range) says too little to be worth testing
MAX_CLASS_CHARS = 4096
_SPACES = frozenset(" \t\r\n\u3000")

Required = tuple[frozenset[str], ...]


def required(pattern: re.Pattern[str]) -> Required:
    """Return sets of characters such that every match of ``pattern`` holds one of each set.

    Positive lookarounds count (what they look at is in the text, if not in the match). An
    empty tuple means nothing is known: the pattern must always be searched.
    """
    if not isinstance(pattern.pattern, str) or _p is None:
        return ()
    try:
        tree = _p.parse(pattern.pattern, pattern.flags)
        fold = bool((pattern.flags | tree.state.flags) & re.IGNORECASE)
        return tuple(frozenset(s) for s in _all(tree, fold))
    except (AttributeError, TypeError, ValueError):  # a parser tree of another shape
        return ()  # nothing known: the pattern is always searched, as before this module


def may_match(sets: Required, chars: Iterable[str]) -> bool:
    """Return False only when a text made of ``chars`` (a set) cannot hold a match."""
    for needed in sets:  # noqa: SIM110 - a loop: on this hot path all() costs a generator
        if needed.isdisjoint(chars):
            return False
    return True


def _all(items: Sequence[tuple[Any, Any]], fold: bool) -> list[set[str]]:
    """Every element of a sequence must match: each bounded element gives one set."""
    found: list[set[str]] = []
    for op, av in items:
        found += _item(op, av, fold)
    return found


def _one(items: Sequence[tuple[Any, Any]], fold: bool) -> set[str] | None:
    """Return one set every match of the sequence holds a character of: the smallest, and
    better one without white space (most text has some)."""
    return min(_all(items, fold), key=lambda s: (not s.isdisjoint(_SPACES), len(s)), default=None)


def _item(op: Any, av: Any, fold: bool) -> list[set[str]]:
    if op is _c.LITERAL:
        chars: set[str] | None = {chr(av)}
    elif op is _c.IN:
        chars = _class(av)
    elif op is _c.BRANCH:  # one of the branches matches: the union of one set of each
        chars = set()
        for branch in av[1]:
            one = _one(branch, fold)
            if one is None:
                return []
            chars |= one
        return [chars]
    elif op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags & re.IGNORECASE:
            fold = True
        elif del_flags & re.IGNORECASE:
            fold = False
        return _all(sub, fold)
    elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _all(sub, fold) if low >= 1 else []
    elif op is _c.ATOMIC_GROUP:
        return _all(av, fold)
    elif op is _c.ASSERT:  # (?=…) and (?<=…): what they look at is in the text
        _direction, sub = av
        return _all(sub, fold)
    else:  # ANY, NOT_LITERAL, AT, ASSERT_NOT, CATEGORY, GROUPREF…: no bound
        return []
    if chars is not None and fold:
        chars = _folded(chars)
    return [] if chars is None else [chars]


def _class(items: Sequence[tuple[Any, Any]]) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            chars.add(chr(av))
        elif op is _c.RANGE:
            low, high = av
            if high - low >= MAX_CLASS_CHARS:
                return None
            chars.update(map(chr, range(low, high + 1)))
        else:  # NEGATE, CATEGORY (\d, \s, \w): no small set
            return None
        if len(chars) > MAX_CLASS_CHARS:
            return None
    return chars


# what re.IGNORECASE lets an ASCII letter match beyond its two cases (the ``re`` docs)
_ODD_CASES = {"i": "\u0130\u0131", "s": "\u017f", "k": "\u212a"}  # İ ı ſ and the Kelvin sign


def _folded(chars: set[str]) -> set[str] | None:
    """Return every character a case-insensitive pattern matches for ``chars``, or None when
    that is not known here: ASCII letters get their cases, uncased letters (Han) and
    punctuation stand for themselves, and any other character gives up."""
    out: set[str] = set()
    for c in chars:
        if c.isascii():
            if c.isalpha():
                lower = c.lower()
                out.update((lower, c.upper(), *_ODD_CASES.get(lower, "")))
            else:
                out.add(c)
        elif c.lower() == c == c.upper() and _UNCASED.match(unicodedata.category(c)):
            out.add(c)
        else:
            return None
    return out


_UNCASED = re.compile(r"Lo|P")  # letters without case (Han, kana), punctuation
