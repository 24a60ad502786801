"""The characters a pattern cannot match without: skipping a search must never lose a match.

``triggers.required`` reads them off the regex; the readers skip a pattern when a text lacks
them. Here every pattern that is skipped that way is searched anyway, on random text made of
the characters it names and of look-alikes, and each match must have been allowed.
"""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.mail import confirmation, dates, items_labels, items_sentence, names
from mailflow.mail.triggers import may_match, required

PATTERNS = [
    *(form.pattern for form in dates._FORMS),
    *(pattern for _, pattern in names._GENERIC),
    *(pattern for _, pattern, _ in confirmation._KINDS),
    confirmation.NEUTRAL,
    confirmation.NEGATED_OBJECTION,
    confirmation.QUESTION_END,
    confirmation.QUESTION_START,
    confirmation._EMOJI,
    items_labels._ANY_LABEL,
    items_sentence._DONE,
]


def _alphabet() -> str:
    """Characters the patterns name, their case variants, and other text."""
    named = {c for p in PATTERNS for s in required(p) for c in s}
    extra = "0123456789 ：:/.-年月日号周星期礼拜前后内以之下本这今明天时点已阅收到异议完成abcXYZ"
    return "".join(sorted(named | set(extra) | {"K", "ſ", "İ", "ı", "\u3000", "\n"}))


ALPHABET = _alphabet()
COMMON = ["10", "15", "3", "2023", "12:30", ".", "/", "-", "：", " ", "，", "前", "后", "内", "第"]
COMMON += ["周五", "下午", "3点", "月底", "工作日", "[强]", "👍", "I", "OK"]


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.pattern[:40])
@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.data())
def test_a_text_with_a_match_is_never_skipped(
    pattern: re.Pattern[str], data: st.DataObject
) -> None:
    needs = required(pattern)
    # texts built of the pattern's own words, deadline-like pieces and single characters
    words = re.findall(r"[\u4e00-\u9fff]+|[A-Za-z]+", pattern.pattern) + COMMON
    piece = st.one_of(st.sampled_from(words), st.sampled_from(ALPHABET))
    text = "".join(data.draw(st.lists(piece, max_size=8)))
    if pattern.search(text) is not None:
        assert may_match(needs, set(text)), (pattern.pattern, text)


def test_the_readers_patterns_are_bounded() -> None:
    # the speed-up rests on these having sets; a pattern change that loses them shows here
    for form in dates._FORMS:
        assert required(form.pattern), form.pattern.pattern
    for _, pattern, needs in confirmation._KINDS:
        assert needs, pattern.pattern
    assert required(items_labels._ANY_LABEL)


@pytest.mark.parametrize(
    ("pattern", "present", "absent"),
    [
        (r"(?:本|这|下)个?(?:周|星期)", "下周", "下个月"),
        (r"(?i)task", "TASK", "tas"),
        (r"(?i)kit", "\u212aIT", "it"),  # the Kelvin sign is a k to re.IGNORECASE
        (r"(?i)sure", "\u017fure", "ure"),  # and the long s an s
        (r"a(?=下班)", "a下班", "a"),  # what a lookahead sees counts
    ],
)
def test_sets_follow_the_regex(pattern: str, present: str, absent: str) -> None:
    compiled, needs = re.compile(pattern), required(re.compile(pattern))
    assert compiled.search(present) and may_match(needs, set(present))
    assert compiled.search(absent) is None and not may_match(needs, set(absent))


@pytest.mark.parametrize("pattern", [r"x?", r"\d+", r".", r"[^a]", r"(?i)\u00e4", r"a|\w"])
def test_what_cannot_be_bounded_is_always_searched(pattern: str) -> None:
    assert required(re.compile(pattern)) == ()


def test_ignorecase_matches_no_other_character_for_an_ascii_letter() -> None:
    # the folding rule of triggers._folded, checked against the re module on all of Unicode
    everything = "".join(chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i < 0xE000)
    for letter in "iksz":  # the three with odd cases, and an ordinary one
        matched = set(re.findall(letter, everything, re.IGNORECASE))
        (needs,) = required(re.compile(letter, re.IGNORECASE))
        assert matched == needs, letter
    (letters,) = required(re.compile("[a-z]", re.IGNORECASE))
    assert set(re.findall("[a-z]", everything, re.IGNORECASE)) == letters
