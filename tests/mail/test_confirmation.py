"""read_confirmation: ack, objection and done read from what the sender wrote, negations minded."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.mail.confirm_phrases import TRADITIONAL
from mailflow.mail.confirmation import (
    _TRAILING,
    MAX_LINE_CHARS,
    MAX_TEXT_CHARS,
    _plain,
    read_confirmation,
    sentences,
)
from mailflow.mail.message import parse_message
from mailflow.mail.model import ACK, DONE, OBJECTION, ParseContext
from mailflow.mail.quote import strip_quotes

INBOX = Path(__file__).resolve().parents[2] / "examples" / "inbox" / "new"

# new_text -> (kind, the sentence that carried it)
PHRASES = {
    "已阅。": (ACK, "已阅"),
    "已阅，谢谢": (ACK, "已阅，谢谢"),
    "收到": (ACK, "收到"),
    "收到！": (ACK, "收到"),
    "已收到": (ACK, "已收到"),
    "我们已收到邮件，会尽快处理。": (ACK, "我们已收到邮件，会尽快处理"),
    "好的，收到": (ACK, "好的，收到"),
    "无异议": (ACK, "无异议"),
    "没有异议。": (ACK, "没有异议"),
    "并无异议": (ACK, "并无异议"),
    "本人对纪要无意见": (ACK, "本人对纪要无意见"),
    "无需修改": (ACK, "无需修改"),
    "同意": (ACK, "同意"),
    "原则上同意该方案。": (ACK, "原则上同意该方案"),
    "确认": (ACK, "确认"),
    "确认无误": (ACK, "确认无误"),
    "我方已确认": (ACK, "我方已确认"),
    "已知悉": (ACK, "已知悉"),
    "有异议：第2项完成时限偏紧": (OBJECTION, "有异议：第2项完成时限偏紧"),
    "异议如下：第3项缺少交付标准": (OBJECTION, "异议如下：第3项缺少交付标准"),
    "不同意第2项的安排。": (OBJECTION, "不同意第2项的安排"),
    "第2项需修改为10月24日": (OBJECTION, "第2项需修改为10月24日"),
    "我这边暂不确认，需要再和客户沟通。": (OBJECTION, "我这边暂不确认，需要再和客户沟通"),
    "对第3项有不同意见：时间不够": (OBJECTION, "对第3项有不同意见：时间不够"),
    "建议调整为10月24日": (OBJECTION, "建议调整为10月24日"),
    "建议将第2项时限调整为10月24日。": (OBJECTION, "建议将第2项时限调整为10月24日"),
    "已完成": (DONE, "已完成"),
    "报告已提交，请查收": (DONE, "报告已提交，请查收"),
    "设备已交付客户。": (DONE, "设备已交付客户"),
    "做完了": (DONE, "做完了"),
    "联调完成了，报告见附件": (DONE, "联调完成了，报告见附件"),
    "X300已上线": (DONE, "X300已上线"),
    "问题已处理完毕。": (DONE, "问题已处理完毕"),
    "我们已经全部完成了": (DONE, "我们已经全部完成了"),
    "Acknowledged.": (ACK, "Acknowledged"),
    "Noted with thanks.": (ACK, "Noted with thanks"),
    "Agreed": (ACK, "Agreed"),
    "I agree with the plan.": (ACK, "I agree with the plan"),
    "We have no objections.": (ACK, "We have no objections"),
    "I object to item 2.": (OBJECTION, "I object to item 2"),
    "We disagree with item 2.": (OBJECTION, "We disagree with item 2"),
    "I don't agree.": (OBJECTION, "I don't agree"),
    "Done.": (DONE, "Done"),
    "All done, thanks!": (DONE, "All done, thanks"),
    "The report has been submitted.": (DONE, "The report has been submitted"),
}


@pytest.mark.parametrize(("text", "expected"), PHRASES.items(), ids=PHRASES.keys())
def test_confirmation_phrases(text: str, expected: tuple[str, str]) -> None:
    """Each confirmation phrase yields its kind and the sentence that carried it."""
    found = read_confirmation(text)
    assert found is not None
    assert (found.kind, found.text) == expected


# texts that confirm nothing: negated, conditional, requested, quoted, partial or too weak
NOTHING = [
    "未完成",
    "还没完成，预计明天",
    "尚未提交",
    "未能按时完成",
    "目前无法完成",
    "已完成70%",
    "已经完成了一半",
    "已完成的部分见附件",
    "不是不同意，只是有点担心",
    "如有异议请在纪要中标注",
    "各位如无异议请回复已阅",
    "请在24小时内回复“已阅”",
    "如已完成请回复",
    "是否已完成？",
    "联调完成了吗",
    "是否同意？",
    "收到的设备有12台死机",
    "设计部确认新版首页视觉方案",
    "请确认",
    "建议召开专项协调会调整上线计划",
    "完成率70%，计划10月16日完成",
    "我们已收到您的邮件，会尽快处理。",
    "好的，我看一下再回复",
    "OK, will check tomorrow",
    "It is not done yet.",
    "Please let me know when it is completed.",
    "Is it done?",
    "Done body",
    "",
]


@pytest.mark.parametrize("text", NOTHING)
def test_no_confirmation(text: str) -> None:
    """Negated, conditional, requested, quoted, partial and merely polite wording confirms nothing."""
    assert read_confirmation(text) is None


# text -> (winning kind, the sentence that carried it)
PRECEDENCE = {
    "已阅，有异议：第2项时限偏紧": (OBJECTION, "已阅，有异议：第2项时限偏紧"),
    "已阅。\n第1项已完成。\n第2项有异议：需延期。": (OBJECTION, "第2项有异议：需延期"),
    "收到，已完成": (DONE, "收到，已完成"),
    "已阅。第1项已提交。": (DONE, "第1项已提交"),
    "其余内容无异议。有异议：第2项偏紧。": (OBJECTION, "有异议：第2项偏紧"),
    "原则上同意，但建议将第2项时限调整为10月24日": (
        OBJECTION,
        "原则上同意，但建议将第2项时限调整为10月24日",
    ),
    "我没有不同意": (ACK, "我没有不同意"),
}


@pytest.mark.parametrize(("text", "expected"), PRECEDENCE.items(), ids=PRECEDENCE.keys())
def test_objection_outranks_done_outranks_ack(text: str, expected: tuple[str, str]) -> None:
    """A mail with several kinds yields the strongest: objection, then done, then ack."""
    found = read_confirmation(text)
    assert found is not None
    assert (found.kind, found.text) == expected


def test_text_is_at_most_200_characters() -> None:
    """A long carrying sentence is cut to the contract's 200 characters."""
    found = read_confirmation("已阅，" + "内容" * 200)
    assert found is not None and found.kind == ACK
    assert len(found.text) == MAX_TEXT_CHARS


def test_line_patterns_read_a_long_line_only_so_far() -> None:
    """A sign-off, footer or quote header is a short line: the patterns that find them read
    the first MAX_LINE_CHARS of a line, so a sign-off pushed past them by blanks is text."""
    assert read_confirmation("此致\n已阅") is None
    found = read_confirmation(" " * MAX_LINE_CHARS + "此致\n已阅")
    assert found is not None and found.kind == ACK


@pytest.mark.parametrize(
    "text",
    ["已閱，無異議 [抱拳]👍", "  收到\u3000，謝謝！！ ", "[强][ok]好的~", "OK [a[强]b] 已阅。"],
)
def test_plain_text_stays_plain(text: str) -> None:
    """A sentence's clauses are read without making them plain again: that is only right
    while ``_plain`` of a piece of plain text changes nothing but its trimmed end."""
    plain = _plain(text)
    assert _plain(plain) == plain
    for piece in plain.split("，"):
        assert _plain(piece.strip()) == piece.strip().rstrip(_TRAILING)
    assert not set(TRADITIONAL.values()) & set(TRADITIONAL)  # simplified maps to itself


def test_sentences_split_on_ends_and_lines() -> None:
    """Sentences end at 。！？； and line breaks, and English ones at a full stop."""
    assert sentences("已阅。有异议！\nDone. Thanks") == ["已阅。", "有异议！", "Done.", "Thanks"]


def test_quoted_ack_never_counts() -> None:
    """A 已阅 that only appears in the quoted history gives no confirmation."""
    body = (
        "附件已更新，请看。\n\n-----原始邮件-----\n发件人: 李四 <ls@example.com>\n"
        "发送时间: 2023年10月8日 18:00\n收件人: 张三 <zs@example.com>\n主题: 纪要\n\n已阅。"
    )
    assert read_confirmation(strip_quotes(body)) is None
    assert read_confirmation(body) is None  # reading stops at a quote header left in, too


# example inbox mail number -> the confirmation examples/README.md says it carries
INBOX_CONFIRMATIONS = {
    1: None,
    2: (ACK, "已阅"),
    3: (ACK, "已阅，无异议"),
    4: (OBJECTION, "有异议：第2项“X300上线宣传物料”的完成时限10月20日偏紧"),
    5: None,
    6: None,
    7: None,
    8: None,
    9: None,
    10: None,
    11: None,
    12: (ACK, "收到，方案可以接受，请工程师按时到场"),
    13: (DONE, "第1项“X300上市推广方案”已完成，方案见附件，请审阅"),
    14: None,
    15: None,
}


@pytest.mark.parametrize(("number", "expected"), INBOX_CONFIRMATIONS.items())
def test_example_inbox_confirmations(number: int, expected: tuple[str, str] | None) -> None:
    """Each example mail yields the confirmation the inbox README describes, read from new_text."""
    path = next(INBOX.glob(f"*.M{number}017P*"))
    found = parse_message(path.read_bytes(), ParseContext()).confirmation
    assert (None if found is None else (found.kind, found.text)) == expected
