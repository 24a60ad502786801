"""Durations as administrators write them: accepted forms and the errors for the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailflow.rulebook.duration import DAYS, HOURS, MINUTES, Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", Duration(24, HOURS)),
        ("30m", Duration(30, MINUTES)),
        ("3d", Duration(3, DAYS)),
        ("1 hour", Duration(1, HOURS)),
        ("48 hours", Duration(48, HOURS)),
        ("3 business days", Duration(3, DAYS, business=True)),
        ("16 business hours", Duration(16, HOURS, business=True)),
        ("3 Business Days", Duration(3, DAYS, business=True)),
        ("24小时", Duration(24, HOURS)),
        ("30分钟", Duration(30, MINUTES)),
        ("3天", Duration(3, DAYS)),
        ("3个工作日", Duration(3, DAYS, business=True)),
        ("16个工作小时", Duration(16, HOURS, business=True)),
    ],
)
def test_accepted_forms(text: str, expected: Duration) -> None:
    """Each written form parses to its value, unit and business flag."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("3 weeks", "unknown unit 'weeks'"),
        ("soon", "is not a duration"),
        ("", "is not a duration"),
        ("0h", "longer than zero"),
        ("30 business minutes", "hours or days, not minutes"),
        ("-3d", "is not a duration"),
    ],
)
def test_rejected_forms(text: str, words: str) -> None:
    """A bad duration says what is wrong and shows forms that work."""
    with pytest.raises(ValueError, match=words):
        parse_duration(text)


def test_calendar_span_and_words() -> None:
    """A calendar duration gives a timedelta and reads back in words; a business one refuses."""
    assert parse_duration("24h").timedelta() == timedelta(hours=24)
    assert str(parse_duration("3个工作日")) == "3 business days"
    assert str(parse_duration("1d")) == "1 day"
    with pytest.raises(ValueError, match="business calendar"):
        parse_duration("3 business days").timedelta()
