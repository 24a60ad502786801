"""Shapes byte mutation does not reach (``benchmarks/parse_shapes.py``): well-formed mail with
hostile structure or content that cost seconds or minutes, each now parsed with what it should
give. No timing is asserted; a shape that runs away again meets pytest's timeout."""

from __future__ import annotations

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from tests.mail.test_budget import mail

OWNERS = ["张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十"]


def test_twenty_thousand_references_are_read_in_order_without_repeats() -> None:
    """A References field of 20,000 ids (quadratic to de-duplicate before: minutes at 160,000)."""
    ids = [f"<id{i}@Example.COM>" for i in range(20_000)]
    raw = mail("hi", "References: " + "\r\n ".join([*ids, ids[0]]) + "\r\n")
    parsed = parse_message(raw, ParseContext())
    assert parsed.references == tuple(i.replace("Example.COM", "example.com") for i in ids)
