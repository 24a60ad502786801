"""The limits on automatic mail: the rule-file section, its errors, and the pure check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailflow.errors import RuleFileError
from mailflow.rulebook.duration import parse_duration
from mailflow.rulebook.limits import Cap, Cause, History, Limits, Sent, check, record
from mailflow.rulebook.loader import load_rulebook
from tests.rulebook.builders import TEMPLATES, rulebook

NOW = datetime(2024, 3, 12, 6, 0, tzinfo=UTC)
INTERNAL = frozenset({"example.com"})
VICTIM = "cfo@lianhe-bank.cn"


def _limits(**caps: tuple[int, str]) -> Limits:
    return Limits(**{k: Cap(count=n, within=parse_duration(w)) for k, (n, w) in caps.items()})


def _sent(minutes_ago: int, to: tuple[str, ...], cause: str | None = None) -> Sent:
    return Sent(NOW - timedelta(minutes=minutes_ago), frozenset(to), cause)


def _outside(sender: str) -> Cause:
    return Cause(sender, True, INTERNAL)


@pytest.mark.parametrize(
    ("history", "cause", "to", "cc", "kept", "held"),
    [
        # nothing sent yet: all goes
        (
            [],
            _outside("a@lianhe-bank.cn"),
            ("a@lianhe-bank.cn",),
            (VICTIM,),
            (("a@lianhe-bank.cn",), (VICTIM,)),
            None,
        ),
        # the victim had 3 mails as Cc within the hour: left off this one, the rest goes
        (
            [_sent(5, ("x@lianhe-bank.cn", VICTIM), f"x{i}@lianhe-bank.cn") for i in range(3)],
            _outside("a@lianhe-bank.cn"),
            ("a@lianhe-bank.cn",),
            (VICTIM,),
            (("a@lianhe-bank.cn",), ()),
            None,
        ),
        # the same, but 61 minutes ago: out of the window
        (
            [_sent(61, (VICTIM,), f"x{i}@lianhe-bank.cn") for i in range(3)],
            _outside("a@lianhe-bank.cn"),
            (VICTIM,),
            (),
            ((VICTIM,), ()),
            None,
        ),
        # every To over its limit: held
        (
            [_sent(1, (VICTIM,)) for _ in range(3)],
            _outside("a@lianhe-bank.cn"),
            (VICTIM,),
            ("a@lianhe-bank.cn",),
            None,
            "per_recipient",
        ),
        # the outside sender was answered twice within the hour (its cap): held
        (
            [_sent(m, ("ops@kuaixun-saas.com",), "ops@kuaixun-saas.com") for m in (30, 50)],
            _outside("ops@kuaixun-saas.com"),
            ("ops@kuaixun-saas.com",),
            (),
            None,
            "per_external_sender",
        ),
        # ... but a copy of its mail to staff (a complaint's managers) still goes
        (
            [_sent(m, ("ops@kuaixun-saas.com",), "ops@kuaixun-saas.com") for m in (30, 50)],
            _outside("ops@kuaixun-saas.com"),
            ("zhou.qiang@example.com",),
            (),
            (("zhou.qiang@example.com",), ()),
            None,
        ),
        # copies to staff do not count towards the outside sender's cap
        (
            [_sent(30, (f"p{i}@example.com",), "ops@kuaixun-saas.com") for i in range(5)],
            _outside("ops@kuaixun-saas.com"),
            ("ops@kuaixun-saas.com",),
            (),
            (("ops@kuaixun-saas.com",), ()),
            None,
        ),
        # four senders of one outside domain caused 4: the domain is held
        (
            [_sent(20, (f"s{i}@dianli-grid.cn",), f"s{i}@dianli-grid.cn") for i in range(4)],
            _outside("new@dianli-grid.cn"),
            ("new@dianli-grid.cn",),
            (),
            None,
            "per_external_domain",
        ),
        # staff are never held by the outside caps...
        (
            [_sent(30, (f"p{i}@example.com",), "li.si@example.com") for i in range(2)],
            Cause("li.si@example.com", False, INTERNAL),
            ("li.si@example.com",),
            (),
            (("li.si@example.com",), ()),
            None,
        ),
        # ... but the burst brake holds anyone answered twice within 10 minutes
        (
            [_sent(m, ("li.si@example.com",), "li.si@example.com") for m in (2, 9)],
            Cause("li.si@example.com", False, INTERNAL),
            ("li.si@example.com",),
            (),
            None,
            "burst",
        ),
        # a spoofed staff address (external by verdict) is not charged to the internal domain
        (
            [_sent(20, (f"s{i}@example.com",), f"s{i}@example.com") for i in range(4)],
            _outside("li.si@example.com"),
            ("li.si@example.com",),
            (),
            (("li.si@example.com",), ()),
            None,
        ),
        # mail no incoming mail caused (reminders) counts for recipients only
        (
            [_sent(5, ("wang.wu@example.com",)) for _ in range(2)],
            Cause(None, False),
            ("wang.wu@example.com",),
            (),
            (("wang.wu@example.com",), ()),
            None,
        ),
    ],
)
def test_check(
    history: list[Sent],
    cause: Cause,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    kept: tuple[tuple[str, ...], tuple[str, ...]] | None,
    held: str | None,
) -> None:
    """Each cap counts its own thing within its own window; over one, the mail or address waits."""
    limits = _limits(
        per_recipient=(3, "1h"),
        per_external_sender=(2, "1h"),
        per_external_domain=(4, "1h"),
        burst=(2, "10m"),
    )
    verdict = check(limits, History(list(history)), NOW, cause, to, cc)
    if held is None:
        assert verdict.held is None
        assert (verdict.to, verdict.cc) == kept
    else:
        assert verdict.held is not None and verdict.held.startswith(held)


def test_thirty_outsiders_copying_one_victim_in_one_batch() -> None:
    """30 senders of one bank each Cc the same person: the Cc stops at its cap, the domain at its."""
    limits = Limits()
    history = History()
    to_victim = answered = 0
    for i in range(30):
        cause = _outside(f"clerk{i}@lianhe-bank.cn")
        verdict = check(limits, history, NOW, cause, (cause.sender or "",), (VICTIM,))
        record(history, NOW, cause, verdict)
        answered += verdict.held is None
        to_victim += VICTIM in verdict.cc
    assert to_victim == limits.per_recipient.count
    assert answered == limits.per_external_domain.count


def test_shipped_defaults() -> None:
    """Without limits: in a rule file, the shipped defaults hold."""
    limits = Limits()
    assert (limits.per_recipient.count, str(limits.per_recipient.within)) == (10, "1 hour")
    assert (limits.burst.count, str(limits.burst.within)) == (3, "10 minutes")
    assert limits.longest() == timedelta(hours=1)


def test_limits_section_is_read(tmp_path: Path) -> None:
    """limits: in a rule file replaces the defaults it names and keeps the others."""
    book = rulebook(tmp_path, "rules: []\nlimits:\n  burst: {count: 2, within: 5m}\n")
    assert (book.limits.burst.count, str(book.limits.burst.within)) == (2, "5 minutes")
    assert book.limits.per_recipient == Limits().per_recipient


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("limits:\n  burst: {count: 0, within: 5m}\n", 2, "greater than or equal to 1"),
        ("limits:\n  burst: {count: 3, within: 2 business days}\n", 2, "calendar time"),
        ("limits:\n  per_recipient: {count: 3, within: soon}\n", 2, "is not a duration"),
        (
            "limits:\n  per_sender: {count: 3, within: 1h}\n",
            2,
            "did you mean 'per_external_sender'",
        ),
        ("limits:\n  burst: {count: 3}\n", 2, "within: required but missing"),
        (
            "limits:\n  burst:\n    count: 3\n    within: 1h\n    per: sender\n",
            5,
            "unknown key 'per'",
        ),
    ],
)
def test_limits_problem_at_its_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    """A wrong limit is reported as file:line: message, at the line that holds it."""
    with pytest.raises(RuleFileError) as caught:
        rulebook(tmp_path, "rules: []\n" + text)
    problems = caught.value.problems
    assert any(
        p.startswith(f"{tmp_path / 'rules.yaml'}:{line + 1}: ") and words in p for p in problems
    ), problems


def test_limits_in_two_files_is_an_error(tmp_path: Path) -> None:
    """Only one rule file may set limits:, as for clocks:."""
    rulebook(tmp_path, "rules: []\n")
    (tmp_path / "20-more.yaml").write_text("limits: {}\n", encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("limits: {}\n", encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_rulebook(tmp_path, TEMPLATES)
    assert any("limits: set in more than one file" in p for p in caught.value.problems)


def test_history_counts_by_time_whatever_the_order_rows_come_in() -> None:
    """Rows read from the outbox come in any order; each count still sees its own window."""
    history = History(
        [
            _sent(50, (VICTIM,)),
            _sent(5, ("a@lianhe-bank.cn", VICTIM), "a@lianhe-bank.cn"),
            _sent(20, (VICTIM,), "b@lianhe-bank.cn"),
            _sent(70, (VICTIM,)),
        ]
    )
    since = NOW - timedelta(minutes=30)
    assert history.count(NOW - timedelta(hours=2), recipient=VICTIM) == 4
    assert history.count(since, recipient=VICTIM) == 2
    assert history.count(since, cause="a@lianhe-bank.cn") == 1
    assert history.count(since, cause="b@lianhe-bank.cn") == 0  # not sent back to b
    assert history.count(since, domain="lianhe-bank.cn") == 2
    with pytest.raises(ValueError, match="exactly one"):
        history.count(since, cause="a@lianhe-bank.cn", recipient=VICTIM)
