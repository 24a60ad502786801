"""Replies as people really write them (Outlook, phones, WeCom, English colleagues) read right."""

from __future__ import annotations

import pytest

from mailflow.mail.confirmation import read_confirmation, written_part
from mailflow.mail.message import parse_message
from mailflow.mail.model import ACK, DONE, OBJECTION, ParseContext

IPHONE = "\n\n发自我的iPhone"
HUAWEI = "\n\n来自华为Mate 60 Pro"
WECOM = "\n\n——来自企业微信"
OUTLOOK_SIG = "\n\n此致\n敬礼\n\n周强\n华东区域仓储部 | 调度主管\n电话：021-5566 7788"

# (reply as written, the kind it carries or None)
REPLIES: list[tuple[str, str | None]] = [
    # the short acknowledgements, with and without their trailing noise
    ("收到", ACK),
    ("收到。", ACK),
    ("收到！", ACK),
    ("收到~", ACK),
    ("收到～～", ACK),
    ("收到!!", ACK),
    ("收到了", ACK),
    ("收到啦", ACK),
    ("收到哈", ACK),
    ("收到收到", ACK),
    ("收到，谢谢！", ACK),
    ("收到，谢谢您", ACK),
    ("收到谢谢", ACK),
    ("收到，辛苦了", ACK),
    ("收到👍", ACK),
    ("收到[抱拳]", ACK),
    ("收到🙏🏻", ACK),
    ("好的，收到。", ACK),
    ("好的收到", ACK),
    ("好，收到", ACK),
    ("嗯嗯，收到", ACK),
    ("OK，收到", ACK),
    ("已收到。", ACK),
    ("已收到，辛苦了！", ACK),
    ("我已收到，谢谢", ACK),
    ("我这边收到了，谢谢", ACK),
    ("已阅", ACK),
    ("已阅。", ACK),
    ("已阅👍", ACK),
    ("已阅，谢谢！", ACK),
    ("已阅，无异议。", ACK),
    ("已阅 无异议", ACK),
    ("嗯嗯，已阅", ACK),
    ("纪要已阅，没有意见。", ACK),
    ("王经理您好，已阅。", ACK),
    ("阅", ACK),
    ("已读", ACK),
    ("已知悉", ACK),
    ("知悉，谢谢", ACK),
    ("知道了", ACK),
    ("明白", ACK),
    ("了解，谢谢！", ACK),
    ("没有异议", ACK),
    ("无异议，按纪要执行。", ACK),
    ("我部对纪要内容无异议", ACK),
    ("同意", ACK),
    ("同意，按此执行", ACK),
    ("赞同", ACK),
    ("看过了，没问题", ACK),
    ("确认", ACK),
    ("确认无误。", ACK),
    ("已确认，谢谢", ACK),
    ("好的", ACK),
    ("好的。", ACK),
    ("好的👌", ACK),
    ("好的，谢谢！", ACK),
    ("👌", ACK),
    ("👍", ACK),
    ("👍🏻👍🏻", ACK),
    ("[强]", ACK),
    ("OK", ACK),
    ("ok 谢谢", ACK),
    ("没问题", ACK),
    ("嗯", ACK),
    # phone clients and chat tools append their footers
    ("收到" + IPHONE, ACK),
    ("已阅，谢谢" + IPHONE, ACK),
    ("收到。" + HUAWEI, ACK),
    ("好的" + HUAWEI, ACK),
    ("已阅" + WECOM, ACK),
    ("收到👌" + WECOM, ACK),
    ("收到\n\n发自我的小米手机", ACK),
    ("已阅\n\n从我的 iPad 发送", ACK),
    ("已阅\n\n发自网易邮箱大师", ACK),
    ("收到\n\n--\n发自我的荣耀手机", ACK),
    ("收到，谢谢\n\n获取 Outlook for iOS", ACK),
    # Outlook with a full signature block
    ("已阅，无异议。" + OUTLOOK_SIG, ACK),
    ("李总：\n\n纪要已阅，第3项我部按时落实。" + OUTLOOK_SIG, ACK),
    ("各位好，\n收到，我们仓库这边会按纪要安排排班。\n\n谢谢！\n周强", ACK),
    ("张经理好，\n\n纪要收到，我们这边会按时推进。有问题我再找您。\n\n谢谢\n李华", ACK),
    ("货已收到，谢谢！", ACK),
    ("资料都收到了👌", ACK),
    ("好的\n\n在 2026年10月20日 18:00，孙磊 写道：\n> 请大家回复已阅", ACK),
    # traditional script (Hong Kong, Taiwan colleagues) and mixed languages
    ("已閱，謝謝", ACK),
    ("無異議", ACK),
    ("收到 noted", ACK),
    ("已阅 OK👍", ACK),
    ("Noted，谢谢", ACK),
    ("这边都OK", ACK),
    ("我这边没问题", ACK),
    ("纪要内容没有问题", ACK),
    ("没有补充", ACK),
    # English-speaking colleagues
    ("Noted.", ACK),
    ("Noted with thanks.", ACK),
    ("Noted, thanks!", ACK),
    ("OK noted", ACK),
    ("Ok, noted with thanks.", ACK),
    ("Well noted.", ACK),
    ("Received, thanks.", ACK),
    ("Well received, thank you.", ACK),
    ("Got it, thanks!", ACK),
    ("Understood.", ACK),
    ("Acknowledged.", ACK),
    ("Agreed.", ACK),
    ("Confirmed.", ACK),
    ("Will do.", ACK),
    ("Sounds good to me.", ACK),
    ("LGTM", ACK),
    ("I have read the minutes and have no objections.", ACK),
    ("No comments from my side.", ACK),
    ("Hi Li,\n\nNoted, will follow up with the vendor.\n\nBest regards,\nKevin Zhang", ACK),
    ("Thanks Wang, noted.\n\nSent from my iPhone", ACK),
    ("Hi all,\nNo objections from the finance side.\nRegards,\nAnna", ACK),
    ("Thank you for your email. Noted.", ACK),
    ("👍\n\nSent from my Huawei phone", ACK),
    # objections
    ("有异议", OBJECTION),
    ("有异议：第2项完成时限太紧，建议延至10月24日。", OBJECTION),
    ("第二项需修改", OBJECTION),
    ("第二项需修改。", OBJECTION),
    ("第3项的责任人写错了", OBJECTION),
    ("纪要第4条时间有误", OBJECTION),
    ("不同意第二项的安排", OBJECTION),
    ("我不太同意第三条", OBJECTION),
    ("对采购预算一项保留意见。", OBJECTION),
    ("我们对第5项有几点意见：1. 时间偏紧；2. 人手不足。", OBJECTION),
    ("已阅，但第2项需要调整，设备进场时间改为11月3日。", OBJECTION),
    ("收到。第三项交付标准应改为“出具检测报告”。", OBJECTION),
    ("原则上同意，但建议将验收时间推迟一周", OBJECTION),
    ("暂不确认，需要和院办再核对一下排班", OBJECTION),
    ("好的，不过第2项我不认可", OBJECTION),
    ("有异议👎" + IPHONE, OBJECTION),
    ("有異議：第二項時間太緊", OBJECTION),
    ("I disagree with item 3.", OBJECTION),
    ("I'd like to propose a change to item 2.", OBJECTION),
    ("We disagree with the timeline in item 2.", OBJECTION),
    ("I don't agree with the budget split.", OBJECTION),
    ("I have some concerns about item 4.", OBJECTION),
    ("Item 2 needs to be revised: the deadline is too tight.", OBJECTION),
    ("The owner of item 3 is wrong, it should be Lisa.", OBJECTION),
    ("Objection: the audit date clashes with quarter-end.", OBJECTION),
    ("Noted, but I disagree with item 3.\n\nBest,\nTom", OBJECTION),
    ("我们对第5项有意见", OBJECTION),
    ("附件是我们的修改意见，请参考。", OBJECTION),
    ("收到，第2项我们可能需要延期两天，稍后给出具体时间。", OBJECTION),
    ("OK\n\nOn Tue, Oct 20, 2026 at 9:12 AM Sun Lei <sun.lei@example.com> wrote:\n> Done", ACK),
    # done
    ("已完成", DONE),
    ("已完成。", DONE),
    ("已完成👌", DONE),
    ("已提交，请查收", DONE),
    ("报告已提交，请查收。" + IPHONE, DONE),
    ("附件为最终版", DONE),
    ("附件为最终版，请审阅。", DONE),
    ("最终版见附件", DONE),
    ("合同终稿请见附件。", DONE),
    ("设备已交付客户，签收单见附件。", DONE),
    ("整改已完成，照片见附件", DONE),
    ("检测报告已上传至共享盘", DONE),
    ("搞定了", DONE),
    ("做完了，辛苦大家", DONE),
    ("第1项已完成，第2项进行中。", DONE),
    ("收到，已处理完毕。", DONE),
    ("已发送给客户，请知悉" + WECOM, DONE),
    ("已按要求修改完毕，请审阅", DONE),
    ("已完成，請查收", DONE),
    ("Done.", DONE),
    ("Report submitted.", DONE),
    ("Already sent to the client.", DONE),
    ("Completed and uploaded to SharePoint.", DONE),
    ("Done ✅", DONE),
    ("Done, thanks!", DONE),
    ("All done.", DONE),
    ("Completed.", DONE),
    ("Submitted.", DONE),
    ("The report has been submitted.", DONE),
    ("I've finished the stock count, results attached.", DONE),
    ("Please find attached the final version.", DONE),
    ("The final version is attached.", DONE),
    ("Done\n\nSent from my iPhone", DONE),
    # denials, questions, hedges and requests carry nothing
    ("我没说已阅", None),
    ("我没说过已阅，请不要这样记录", None),
    ("谁说已阅了？", None),
    ("谁说已阅了", None),
    ("我还没回复已阅", None),
    ("不是已阅，我还没看", None),
    ("已阅了吗？", None),
    ("已阅了吗", None),
    ("大家都已阅了没有", None),
    ("收到没", None),
    ("收到了吗？😊", None),
    ("你们同意吗？", None),
    ("是不是已经完成了", None),
    ("还没看", None),
    ("还没看完，明天回复", None),
    ("未阅", None),
    ("没收到附件", None),
    ("还没收到", None),
    ("尚未完成，预计周五", None),
    ("请大家回复已阅", None),
    ("如无异议请回复收到", None),
    ("请确认", None),
    ("好的，我看一下再回复", None),
    ("好的，稍后回复您", None),
    ("收到的设备有两台外壳破损", None),
    ("Did you receive the minutes?", None),
    ("Have you finished the report?", None),
    ("Is it done?", None),
    ("Not done yet, will finish by Friday.", None),
    ("I haven't received the attachment.", None),
    ("Please confirm.", None),
    ("I never said I agreed.", None),
    ("OK, will check tomorrow", None),
    ("Sent from my iPhone", None),
    ("发自我的iPhone", None),
    ("", None),
    ("大家有意见可以随时提", None),
    ("没问题，我明天再看", None),
    ("Done by Friday.", None),
    ("Will be sent tomorrow.", None),
    ("已閱了嗎？", None),
    ("谢谢！", None),
    ("Thanks!", None),
    ("设备收到后开箱发现两台破损", None),
    ("> 已阅\n你好，附件打不开，麻烦重发一下", None),
    ("附件打不开\n\n-----原始邮件-----\n发件人: 孙磊\n主题: 纪要\n\n已阅", None),
    # autoresponders, whatever they say
    ("我已收到您的邮件", None),
    ("您好，您的邮件我已收到，会尽快处理。", None),
    ("您好！我已收到您的邮件，将尽快回复。", None),
    ("您好，我正在休假，期间无法及时回复邮件，急事请联系赵六。收到", None),
    ("【自动回复】您的来信已收到，谢谢！", None),
    ("Thank you for your email. I am out of the office until Monday with limited access.", None),
    ("This is an automatic reply: your message has been received.", None),
    ("I have received your email and will reply upon my return.", None),
]


def test_the_table_is_large_and_varied() -> None:
    """The table holds at least 150 distinct reply forms of every kind."""
    texts = [text for text, _ in REPLIES]
    assert len(texts) == len(set(texts)) >= 150
    kinds = {kind for _, kind in REPLIES}
    assert kinds == {ACK, OBJECTION, DONE, None}


@pytest.mark.parametrize(("text", "kind"), REPLIES, ids=[t[:30] for t, _ in REPLIES])
def test_reply_reads_right(text: str, kind: str | None) -> None:
    """Each reply yields the kind a coordinator would read in it, or nothing."""
    found = read_confirmation(text)
    assert (None if found is None else found.kind) == kind, found


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("已阅\n\n发自我的iPhone", "已阅"),
        ("Noted.\n\nBest regards,\nKevin\nDone by Friday", "Noted."),
        ("收到\n--\n已完成的项目请见OA", "收到"),
        ("从手机上看的，已阅", "从手机上看的，已阅"),
    ],
)
def test_written_part_ends_at_sign_off_and_drops_footers(text: str, kept: str) -> None:
    """Text after a sign-off or delimiter and client footer lines are not read."""
    assert written_part(text) == kept


AUTO_REPLY = (
    "From: =?utf-8?b?5rKI5L+K?= <shen.jun@example.com>\r\n"
    "To: coord@example.com\r\n"
    "Subject: =?utf-8?b?UmU6IOOAkOS8muiurue6quimgeOAkeaKgOacr+mDqC3lkajkvJo=?=\r\n"
    "Message-ID: <auto-1@example.com>\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "Date: Mon, 9 Oct 2023 09:00:00 +0800\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
)


@pytest.mark.parametrize("body", ["收到", "已阅", "我已收到您的邮件。", "Noted."])
def test_automatic_mail_never_confirms(body: str) -> None:
    """Mail marked automatic carries no confirmation, whatever its text says."""
    parsed = parse_message((AUTO_REPLY + body + "\r\n").encode(), ParseContext())
    assert parsed.automated
    assert parsed.confirmation is None


def test_person_mail_with_the_same_text_confirms() -> None:
    """The same 收到 from a person (no automatic marker) is an acknowledgement."""
    raw = (
        AUTO_REPLY.replace("Auto-Submitted: auto-replied\r\n", "")
        + "收到。\r\n\r\n发自我的iPhone\r\n"
    )
    parsed = parse_message(raw.encode(), ParseContext())
    assert not parsed.automated
    assert parsed.confirmation is not None and parsed.confirmation.kind == ACK


@pytest.mark.parametrize(
    ("run", "alone"),
    [("哈", None), ("嗯", ACK), ("谢谢了", None), ("ok ", ACK), ("👍", ACK), ("好的", ACK)],
)
def test_long_runs_of_noise_are_read_at_once(run: str, alone: str | None) -> None:
    """Thousands of particles or emoji are read at once (no exponential backtracking)."""
    assert read_confirmation("收到" + run * 5000 + "x") is None
    found = read_confirmation(run * 5000)
    assert (None if found is None else found.kind) == alone
