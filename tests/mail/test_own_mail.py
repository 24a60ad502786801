"""Mail that answers or quotes mailflow's own automatic mail is told apart (issue 9 §4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailflow.mail.own_mail import answers_own_mail, own_message_id
from mailflow.outbound.compose import outgoing_message_id

REPO = Path(__file__).resolve().parents[2]
OWN = ("coord@example.com",)
OURS = outgoing_message_id("a-key", "example.com")

FOOTER_ZH = (
    "——\n示例科技 协调平台（coord@example.com）\n"
    "本邮件由系统按《企业内外部沟通与协调标准化指南》自动发送，直接回复即可与我们联系。"
)


def _quoted(text: str, mark: str = "> ") -> str:
    return "\n".join(mark + line for line in text.splitlines())


@pytest.mark.parametrize(
    ("references", "text", "found"),
    [
        # threads: our Message-ID anywhere in In-Reply-To / References
        ((OURS,), "收到，谢谢。", "answers mailflow's own mail"),
        (("<abc@kehu-a.com.cn>", OURS, "<def@kehu-a.com.cn>"), "", "answers mailflow's own mail"),
        ((OURS.upper().replace("MAILFLOW", "mailflow"),), "", "answers mailflow's own mail"),
        # our form, another organisation's domain: not ours
        ((outgoing_message_id("a-key", "other-corp.cn"),), "", None),
        (("<mailflow.123@example.com>",), "", None),  # not 32 hex digits
        (("<CAH+x1=abc@mail.gmail.com>",), "好的", None),
        # a ticket system quoting our mail with > marks, no headers at all
        ((), "您的工单 #58213 已受理。\n\n" + _quoted(FOOTER_ZH), "quotes mailflow's footer"),
        # Outlook-style quote, rewrapped in the middle of the sentence
        (
            (),
            "Ticket received.\n-----Original Message-----\n本邮件由系统按《企业内外部沟通与\n"
            "协调标准化指南》自动发送，直接回复即可",
            "quotes mailflow's footer",
        ),
        # the English footer, quoted with | by a helpdesk
        (
            (),
            "Case 4471 opened.\n| Sent automatically under the company's\n"
            "| communication standard; simply reply to reach us.",
            "quotes mailflow's footer",
        ),
        # an administrator reworded the footer; the address and 自动发送 remain
        (
            (),
            "工单已创建\n> 协调台 coord@example.com 系统自动发送，请勿直接回复",
            "sent automatically",
        ),
        # a person naming the shared address is not quoting us
        ((), "请把周报抄送 coord@example.com，谢谢。", None),
        ((), "本周五前提交测试报告。", None),
    ],
)
def test_answers_own_mail(references: tuple[str, ...], text: str, found: str | None) -> None:
    """Our Message-IDs in the thread, or our footer in the text, mark an answer to our mail."""
    reason = answers_own_mail(references, text, OWN)
    if found is None:
        assert reason is None
    else:
        assert reason is not None and found in reason


def test_a_person_writing_about_automatic_mail_is_not_quoting_us() -> None:
    """The weak sign (our address near 自动) counts in quoted text only, not in what was written."""
    written = "请把系统自动生成的周报发到 coord@example.com，谢谢。"
    assert answers_own_mail((), written + "\n发自我的iPhone", OWN, new_text=written) is None
    quoted = written + "\n\n> 协调台 coord@example.com 系统自动发送"
    assert answers_own_mail((), quoted, OWN, new_text=written) is not None


def test_every_message_id_mailflow_makes_is_recognised() -> None:
    """The form outbound.compose writes is the form this module reads (one fact, two places)."""
    for key in ("k1", "会议纪要-2023", "x" * 200):
        assert own_message_id(outgoing_message_id(key, "Example.COM"), ["example.com"])


@pytest.mark.parametrize("footer", sorted(REPO.glob("templates/*/_footer.*")), ids=lambda p: p.name)
def test_shipped_footers_are_recognised(footer: Path) -> None:
    """Each shipped footer, quoted back, is recognised: the footer and this module agree."""
    text = re.sub(r"{{[^}]*}}", "coord@example.com", footer.read_text(encoding="utf-8"))
    text = re.sub(r"<[^>]+>", "\n", text)  # the HTML footer, as its text part reads
    assert answers_own_mail((), _quoted(text), OWN) is not None
