"""Held-out evaluation of action-item extraction: the share of expected checks that hold.

Run from the repository root::

    .venv/bin/python benchmarks/items_eval.py            # the table and the overall share
    .venv/bin/python benchmarks/items_eval.py -v         # also every failed check

The mail is in ``benchmarks/items_eval/cases*.yaml`` (trades and layouts the tests do not
use; each set written before the reader was tuned on it) and is read with the directory of
``benchmarks/items_eval/directory.yaml``.
Each mail is built as real MIME (an HTML mail also gets the flattened plain-text alternative
that mail clients write) and goes through ``parse_message``, so quoting, signatures and the
HTML table reader all count. Checks per expected item: found (a task or deliverable containing
its keyword), owner (as written), deadline (the day), deliverable (contains the keyword, or
none when none is expected). Every extracted item that matches no expected one is one failed
check. Standard library, PyYAML and mailflow only.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from mailflow.mail.message import parse_message  # noqa: E402
from mailflow.mail.model import ActionItem, ParseContext, Person  # noqa: E402

HERE = ROOT / "benchmarks" / "items_eval"
SENT = datetime(2026, 11, 10, 10, 0, tzinfo=timezone(timedelta(hours=8)))


@dataclass
class Score:
    """Checks held and made, with the failures spelt out."""

    held: int = 0
    total: int = 0

    def check(self, ok: bool, failures: list[str], what: str) -> None:
        self.total += 1
        self.held += ok
        if not ok:
            failures.append(what)


def context() -> ParseContext:
    """Return the evaluation organisation's parse context."""
    data = yaml.safe_load((HERE / "directory.yaml").read_text(encoding="utf-8"))
    people = tuple(Person(p["name"], p["email"], p.get("department")) for p in data["people"])
    return ParseContext(departments={d: d for d in data["departments"]}, people=people)


def _flatten(markup: str) -> str:
    """Return the plain-text alternative a mail client writes: every cell on its own line."""
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|td|th|li|h\d)>", "\n", markup)
    return re.sub(r"\n\s*\n+", "\n", re.sub(r"<[^>]+>", "", text)).strip() + "\n"


def build(case: dict[str, Any]) -> bytes:
    """Return the raw mail of one case."""
    msg = EmailMessage()
    msg["From"] = formataddr((case["from"]["name"], case["from"]["address"]))
    msg["To"] = ", ".join(formataddr((a["name"], a["address"])) for a in case["to"])
    msg["Subject"] = case["subject"]
    msg["Date"] = format_datetime(SENT)
    msg["Message-ID"] = f"<{case['id']}@eval.example>"
    if "html" in case:
        msg.set_content(_flatten(case["html"]))
        msg.add_alternative(case["html"], subtype="html")
    else:
        msg.set_content(case["text"])
    return msg.as_bytes()


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def _matches(item: ActionItem, keyword: str) -> bool:
    return keyword.lower() in f"{item.task} {item.deliverable or ''}".lower()


def _agreement(item: ActionItem, want: dict[str, Any]) -> int:
    """Return how many of an expected item's fields a candidate agrees with."""
    return (item.owner == want["owner"]) + (_day(item.deadline) == want["deadline"])


def score_case(case: dict[str, Any], got: tuple[ActionItem, ...], score: Score) -> list[str]:
    """Add one case's checks to ``score``; return its failures."""
    failures: list[str] = []
    left = list(got)
    if not case["items"]:  # a mail with no task: one check that nothing was extracted
        score.check(not got, failures, f"{len(got)} items where none is written")
        return failures
    for want in case["items"]:
        found = [i for i in left if _matches(i, want["task"])]
        item = max(found, key=lambda i: _agreement(i, want), default=None)
        score.check(item is not None, failures, f"not found: {want['task']}")
        if item is None:
            score.total += 3
            continue
        left.remove(item)
        deadline = want["deadline"]
        score.check(
            item.owner == want["owner"], failures, f"owner {item.owner!r} ≠ {want['owner']!r}"
        )
        score.check(
            _day(item.deadline) == deadline, failures, f"deadline {item.deadline} ≠ {deadline}"
        )
        deliverable, wanted = item.deliverable, want["deliverable"]
        ok = deliverable is None if wanted is None else wanted in (deliverable or "")
        score.check(ok, failures, f"deliverable {deliverable!r} ≠ {wanted!r}")
    for extra in left if case["items"] else ():
        score.check(False, failures, f"extra item: {extra.task} / {extra.owner}")
    return failures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="print every failed check")
    args = p.parse_args()
    ctx = context()
    for path in sorted(HERE.glob("cases*.yaml")):
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))
        total = Score()
        print(f"\n{path.name}\n{'case':34} {'trade':24} checks")
        for case in cases:
            score = Score()
            failures = score_case(case, parse_message(build(case), ctx).action_items, score)
            total.held, total.total = total.held + score.held, total.total + score.total
            print(f"{case['id']:34} {case['trade']:24} {score.held}/{score.total}")
            if args.verbose:
                for f in failures:
                    print(f"    {f}")
        share = total.held / total.total if total.total else 1.0
        held = f"{total.held} of {total.total} checks hold: {share:.0%}"
        print(f"{path.name}: {len(cases)} mails, {held}")


if __name__ == "__main__":
    main()
