"""Trailing legal and confidentiality notices, Chinese, English or both, leave new_text; the
sender's own sentences about confidentiality stay."""

from __future__ import annotations

import pytest

from mailflow.mail.quote import strip_quotes

NOTICES = {
    "bilingual_bank_branch": (
        "张经理：\n\n贵司的授信续期材料已收齐，审批结果预计下周三前反馈。\n\n杨帆\n公司业务部 | 城东支行\n\n"
        "如果您错误地收到了本邮件，请立即通知发件人并删除本邮件。本邮件及其附件可能包含保密信息，"
        "未经授权不得使用、复制或传播。\n"
        "If you have received this email in error, please notify the sender immediately and delete it. "
        "This email and any attachments may contain confidential information; any unauthorised use, "
        "copying or dissemination is prohibited.",
        "张经理：\n\n贵司的授信续期材料已收齐，审批结果预计下周三前反馈。\n\n杨帆\n公司业务部 | 城东支行",
    ),
    "heading_and_two_paragraphs_law_firm": (
        "附件为补充协议第二稿，请于4月3日前反馈意见。\n\n林律师\n\n免责声明\n\n"
        "本邮件及其附件含有天衡律师事务所的保密信息，仅限于发送给上面地址中列出的个人或机构。"
        "禁止任何其他人以任何形式使用（包括但不限于全部或部分地泄露、复制、或散发）本邮件中的信息。\n\n"
        "如果您错误收到了本邮件，请您立即电话或邮件通知发件人并删除本邮件！",
        "附件为补充协议第二稿，请于4月3日前反馈意见。\n\n林律师",
    ),
    "english_wrapped_confidentiality_notice": (
        "Hi Mei,\n\nThe revised drawings for line 2 are attached. Please confirm by Monday.\n\n"
        "Best regards,\nDaniel Ortiz\n\nCONFIDENTIALITY NOTICE: This e-mail and any files transmitted\n"
        "with it are confidential and intended solely for the use of the\nindividual or entity to whom "
        "they are addressed. If you are not the\nintended recipient, please notify the sender and "
        "destroy all copies.",
        "Hi Mei,\n\nThe revised drawings for line 2 are attached. Please confirm by Monday.\n\n"
        "Best regards,\nDaniel Ortiz",
    ),
    "notice_glued_under_signature_hospital": (
        "请各科室于本周五前上报耗材月度用量。\n\n设备处 周红\n"
        "【保密提示】此邮件含有医院内部信息，仅供指定收件人阅读，如误收请删除。",
        "请各科室于本周五前上报耗材月度用量。\n\n设备处 周红",
    ),
    "notice_then_phone_signature": (
        "收到，明早八点前把质检单传过来。\n\n"
        "本邮件仅供指定收件人使用，如您不是指定收件人，请勿阅读、转发并立即删除。\n\n发自我的华为手机",
        "收到，明早八点前把质检单传过来。",
    ),
    "rule_above_english_disclaimer": (
        "Approved. Go ahead with the order.\n\n--------------------------------\n"
        "Disclaimer: The information contained in this message is privileged and intended only for "
        "the recipient named above. If you received this message in error, delete it.",
        "Approved. Go ahead with the order.",
    ),
    "traditional_chinese_notice": (
        "報價單已更新，請查收。\n\n"
        "本郵件可能包含機密資訊，如您並非指定收件人，請立即通知寄件人並刪除本郵件。",
        "報價單已更新，請查收。",
    ),
}

# mails whose sender wrote about confidentiality themselves: nothing may be cut
KEPT = {
    "confidential_data_reminder_then_request": (
        "各位：\n\n保密声明：本季度财务数据属于机密，禁止外传。\n\n请财务部周五前提交报表。"
    ),
    "asking_to_add_a_notice_to_signatures": (
        "请在签名下方加上以下声明：\n\n本邮件及其附件含有保密信息，仅限指定收件人使用。\n\n"
        "请各部门本周内完成。"
    ),
    "one_signal_only_chinese": "各位好：\n本邮件是关于保密协议签署的通知，请法务部于周五前完成审核。",
    "one_signal_only_english": (
        "Hi all,\n\nThis message contains the confidential price list for Q3. Please review it by Friday."
    ),
    "notice_text_as_the_whole_mail": (
        "如果您错误地收到了本邮件，请立即通知发件人并删除。这句话法务要求加到所有对外邮件。"
    ),
}


@pytest.mark.parametrize(("body", "expected"), NOTICES.values(), ids=NOTICES.keys())
def test_trailing_notices_are_cut(body: str, expected: str) -> None:
    """A legal or confidentiality notice at the end of the mail leaves new_text."""
    assert strip_quotes(body) == expected


@pytest.mark.parametrize("body", KEPT.values(), ids=KEPT.keys())
def test_senders_own_words_about_confidentiality_stay(body: str) -> None:
    """Text about confidentiality that is not a trailing notice is the sender's and stays."""
    assert strip_quotes(body) == body


def test_notice_above_quoted_history_is_cut_with_it() -> None:
    """A notice between the reply and the quoted original goes, and the history goes too."""
    body = (
        "同意延期到6月底。\n\n谢强\n\n"
        "This email is confidential. If you are not the intended recipient, please delete it.\n\n"
        "-----Original Message-----\nFrom: Li Na <li.na@example.com>\nSent: Monday, May 11, 2026\n"
        "To: Xie Qiang <xq@example.com>\nSubject: 延期申请\n\n谢总，申请延期。"
    )
    assert strip_quotes(body) == "同意延期到6月底。\n\n谢强"
