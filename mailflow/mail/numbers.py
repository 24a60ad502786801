"""Numbers people write in Chinese or ASCII digits, and the items a reply refers to (第2项)."""

from __future__ import annotations

import re

_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "两": 2}
# 第2项, 第十一条, 第 3 点: how a reply points at an item of the mail it answers
_ITEM_REFERENCE = re.compile(r"第\s*([0-9〇零一二两三四五六七八九十百]+)\s*[项項條条点點個个]")


def number_value(text: str) -> int | None:
    """Return the value of ASCII or Chinese digits ("15", "十一", "二十", "一百零二", "二〇二三"),
    None when they are no number."""
    if not text:
        return None
    if text.isascii():
        return int(text) if text.isdigit() else None
    if "十" not in text and "百" not in text:  # digit by digit: 二〇二三
        if any(c not in _DIGITS for c in text):
            return None
        return int("".join(str(_DIGITS[c]) for c in text))
    total, rest = 0, text
    for unit, scale in (("百", 100), ("十", 10)):
        head, found, tail = rest.partition(unit)
        if not found:
            continue
        if len(head) > 1 or (head and head not in _DIGITS):
            return None
        total += (_DIGITS[head] if head else 1) * scale
        rest = tail.lstrip("零〇")
    if len(rest) > 1 or (rest and rest not in _DIGITS):
        return None
    return total + (_DIGITS[rest] if rest else 0)


def item_references(text: str) -> set[int]:
    """Return the item numbers ``text`` names (第1项, 第十一项, 第 2 点)."""
    found = (number_value(m.group(1)) for m in _ITEM_REFERENCE.finditer(text))
    return {n for n in found if n}
