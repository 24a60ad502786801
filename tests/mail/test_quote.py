"""new_text: quoted history and signatures of each client are removed, what the sender wrote stays."""

from __future__ import annotations

import json
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from mailflow.mail.body import BodySources, body_sources
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.mail.quote import new_text, strip_quotes
from mailflow.mail.quote_html import cut_quoted_html
from tests.corpus import CORPUS, needs_corpus

INBOX = Path(__file__).resolve().parents[2] / "examples" / "inbox" / "new"
NBSP = "\u00a0"

HISTORY = "各位好：\n\n会议纪要如下，请回复“已阅”。\n\n张三\n技术部"

# client style -> (body as the client writes it, what the sender wrote)
PLAIN = {
    "outlook_zh_ascii_colons": (
        "已阅。\n\n李四\n技术部经理\n\n-----原始邮件-----\n发件人: 张三 <zhang.san@example.com> \n"
        "发送时间: 2023年10月8日 17:30\n收件人: 李四 <li.si@example.com>\n抄送: coord@example.com\n"
        "主题: 【会议纪要】技术部-Q4产品迭代进度同步\n\n" + HISTORY,
        "已阅。\n\n李四\n技术部经理",
    ),
    "outlook_zh_fullwidth_colons_no_separator": (
        "收到，谢谢。\n\n发件人：张三 <zhang.san@example.com>\n发送时间：2023年10月8日 17:30\n"
        "收件人：李四 <li.si@example.com>\n主题：【会议纪要】技术部-Q4\n\n" + HISTORY,
        "收到，谢谢。",
    ),
    "outlook_365_underscore_line": (
        "方案见下。\n\n陈静\n售后部\n\n________________________________\n发件人：杨明 <yang.ming@kehu-a.com.cn>\n"
        "发送时间：2023年10月10日 8:52\n收件人：陈静 <chen.jing@example.com>\n主题：【客户投诉】X200\n\n"
        + HISTORY,
        "方案见下。\n\n陈静\n售后部",
    ),
    "outlook_traditional_chinese": (
        "已閱，無異議。\n\n寄件者: 張三 <zs@example.com.tw>\n寄件日期: 2023年10月8日 下午 05:30\n"
        "收件者: 李四 <ls@example.com.tw>\n主旨: 會議紀要\n\n" + HISTORY,
        "已閱，無異議。",
    ),
    "outlook_english_original_message": (
        "Agreed, see you Monday.\n\n-----Original Message-----\nFrom: Zhang San [mailto:zs@example.com]\n"
        "Sent: Sunday, October 8, 2023 5:30 PM\nTo: Li Si <ls@example.com>\nSubject: Minutes\n\n"
        + HISTORY,
        "Agreed, see you Monday.",
    ),
    "outlook_english_header_block_bold": (
        "Done, the report is attached.\n\n*From:* Zhang San <zs@example.com>\n"
        "*Sent:* Sunday, October 8, 2023 5:30 PM\n*To:* Li Si <ls@example.com>\n*Subject:* Minutes\n\n"
        + HISTORY,
        "Done, the report is attached.",
    ),
    "foxmail_nbsp_separator": (
        f"有异议：第2项时限偏紧。\n\n王五\n\n\n------------------{NBSP}原始邮件{NBSP}------------------\n"
        '发件人: "张三"<zhang.san@example.com>;\n发送时间: 2023年10月8日(星期天) 下午5:30\n'
        '收件人: "王五"<wang.wu@example.com>;\n主题: 【会议纪要】技术部-Q4\n\n' + HISTORY,
        "有异议：第2项时限偏紧。\n\n王五",
    ),
    "tencent_exmail_original": (
        f"已完成。\n\n------------------{NBSP}Original{NBSP}------------------\n"
        'From:  "张三"<zs@example.com>;\nDate:  Mon, Oct 9, 2023 02:20 PM\n'
        'To:  "王五"<ww@example.com>;\nSubject:  任务分配\n\n' + HISTORY,
        "已完成。",
    ),
    "netease_chinese_attribution": (
        '收到，方案可以接受。\n\n杨明\n\n\n\n\n在 2023-10-11 10:30:05，"陈静" <chen.jing@example.com> 写道：\n'
        ">杨经理您好：\n>\n>方案如下。\n",
        "收到，方案可以接受。\n\n杨明",
    ),
    "netease_english_attribution": (
        'OK for us.\n\nAt 2019-07-04 10:21:33, "Zhang San" <zs@163.com> wrote:\n> Please confirm.\n> Thanks\n',
        "OK for us.",
    ),
    "gmail_english": (
        "Hello\n\nOn Sun, Oct 8, 2023 at 10:20 AM Zhang San <zs@gmail.com> wrote:\n\n> Hi\n> there\n",
        "Hello",
    ),
    "gmail_wrapped_attribution": (
        "Hello\n\nOn Sun, Oct 8, 2023 at 10:20 AM Zhang San <\nzs@gmail.com> wrote:\n\n> Hi\n",
        "Hello",
    ),
    "gmail_chinese": (
        "已阅\n\n张三 <zs@gmail.com> 于2023年10月8日周日 10:20写道：\n\n> 各位好：\n> 会议纪要如下。\n",
        "已阅",
    ),
    "iphone_chinese": (
        "已阅，无异议\n\n发自我的iPhone\n\n> 在 2023年10月8日，17:30，张三 <zhang.san@example.com> 写道：\n"
        ">\n> 各位好：\n> 请回复“已阅”。\n",
        "已阅，无异议",
    ),
    "apple_attribution_without_quote_marks": (
        "好的，已提交。\n\n在 2023年10月8日，17:30，张三 <zhang.san@example.com> 写道：\n\n"
        + HISTORY,
        "好的，已提交。",
    ),
    "wecom_separator": (
        "第1项已完成，请审阅。\n\n------------------ 原始邮件 ------------------\n"
        '发件人: "刘洋"<liu.yang@example.com>;\n发送时间: 2023年10月9日(星期一) 下午2:20\n'
        '收件人: "王五"<wang.wu@example.com>;\n主题: 【任务分配】市场部\n\n' + HISTORY,
        "第1项已完成，请审阅。",
    ),
    "gmail_forward_with_note": (
        "请看下面客户的邮件。\n\n---------- Forwarded message ---------\nFrom: 徐建国 <xu@kehu-b.com>\n"
        "Date: Wed, Oct 11, 2023 at 2:50 PM\nSubject: 需求变更申请\nTo: <wu.min@example.com>\n\n"
        + HISTORY,
        "请看下面客户的邮件。",
    ),
    "netease_forward_separator": (
        '转给你处理。\n\n-------- 转发邮件信息 --------\n发件人："杨明" <ym@kehu-a.com.cn>\n'
        "发送日期：2023-10-09 08:52:00\n收件人：chen.jing@example.com\n主题：设备死机\n\n"
        + HISTORY,
        "转给你处理。",
    ),
    "gmail_zh_forward_separator": (
        "转发一下。\n\n---------- 已转发邮件 ---------\nFrom: 徐建国 <xu@kehu-b.com>\n"
        "Date: 2023年10月11日周三 14:50\nSubject: 需求变更申请\nTo: <wu.min@example.com>\n\n"
        + HISTORY,
        "转发一下。",
    ),
    "apple_forward_intro": (
        "FYI\n\n开始转发的邮件：\n\n发件人: 张三 <zs@example.com>\n主题: 会议纪要\n日期: 2023年10月8日\n\n"
        + HISTORY,
        "FYI",
    ),
    "thunderbird_bottom_posting": (
        "On 10/08/2023 10:20 AM, Zhang San wrote:\n> Is the report ready?\n\nYes, submitted this morning.\n",
        "Yes, submitted this morning.",
    ),
    "interleaved_answers": (
        "张三 <zs@gmail.com> 于2023年10月8日周日 10:20写道：\n> 1. 接口联调什么时候完成？\n已完成。\n"
        "> 2. 测试报告呢？\n明天提交。\n",
        "已完成。\n明天提交。",
    ),
    "bare_wrote_above_quote": (
        "Marc Slemko wrote:\n> If you have a real uid of root\n> that is not good.\n\nIsn't that the case for every server?\n",
        "Isn't that the case for every server?",
    ),
    "only_a_quote": (
        "-----原始邮件-----\n发件人: 张三 <zs@example.com>\n发送时间: 2023年10月8日 17:30\n"
        "收件人: 李四 <ls@example.com>\n主题: 会议纪要\n\n" + HISTORY,
        "",
    ),
}

SIGNATURES = {
    "rfc3676_delimiter": ("已阅。\n\n-- \n张三\n技术部 | 电话 0571-8888", "已阅。"),
    "huawei": ("收到\n\n发自我的华为手机", "收到"),
    "netease_mail_master": (
        "联调预计延期2天。\n\n郑浩\n技术部\n\n发自网易邮箱大师",
        "联调预计延期2天。\n\n郑浩\n技术部",
    ),
    "sent_from_my": ("Noted.\n\nSent from my iPhone", "Noted."),
    "outlook_mobile": ("Done.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>", "Done."),
    "signature_first_keeps_the_rest": ("发自我的iPhone\n\n已阅", "已阅"),
}

# bodies nothing must be cut from
KEPT = {
    "from_colon_in_a_sentence": "各位：\n请把发件人: 改成公司邮箱\n收件人不变。\n\n谢谢",
    "memo_with_two_header_like_lines": "From: 技术部\nTo: 市场部\n\n接口文档已更新。",
    "wrote_without_date_or_address": "客户在反馈中写道：\n设备无法联网。\n请尽快处理。",
    "lone_angle_bracket_line": "升级进度：\n> 50% 的设备已升级\n其余明天完成。",
    "dashes_in_text": "第一部分\n-----\n第二部分",
}


@pytest.mark.parametrize(("body", "expected"), PLAIN.values(), ids=PLAIN.keys())
def test_plain_quote_styles_are_stripped(body: str, expected: str) -> None:
    """Each client's plain-text quoting is cut and the sender's own words are kept."""
    assert strip_quotes(body) == expected


@pytest.mark.parametrize(("body", "expected"), SIGNATURES.values(), ids=SIGNATURES.keys())
def test_signatures_are_stripped(body: str, expected: str) -> None:
    """``-- `` and phone/client signatures are removed with what follows them."""
    assert strip_quotes(body) == expected


@pytest.mark.parametrize("body", KEPT.values(), ids=KEPT.keys())
def test_ordinary_text_is_not_taken_for_a_quote(body: str) -> None:
    """Lines that only look like quote markers inside a normal mail are kept."""
    assert strip_quotes(body) == body


HTML = {
    "outlook_border_top_header": (
        '<p class=MsoNormal>已阅。</p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt;'
        'padding:3.0pt 0cm 0cm 0cm"><p class=MsoNormal><b>发件人:</b> 张三</p></div></div><p>各位好</p>',
        "已阅。",
    ),
    "outlook_365_divRplyFwdMsg": (
        '<div>方案如下。</div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><b>发件人：</b> 杨明</div><div>原文</div>',
        "方案如下。",
    ),
    "gmail_quote": (
        '<div dir="ltr">已阅</div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" '
        'class="gmail_attr">张三 &lt;zs@gmail.com&gt; 于2023年10月8日周日 10:20写道：<br></div>'
        "<blockquote>各位好</blockquote></div>",
        "已阅",
    ),
    "apple_blockquote_cite": (
        '<div>已阅，无异议</div><div><br><blockquote type="cite"><div>在 2023年10月8日，17:30，张三 写道：</div>'
        "<div>各位好</div></blockquote></div>",
        "已阅，无异议",
    ),
    "netease_isReplyContent_with_attribution_outside": (
        '<div>收到。</div><br><br><div style="position:relative;zoom:1">在 2023-10-11 10:30:05，"陈静" '
        '&lt;chen.jing@example.com&gt; 写道：<br><blockquote id="isReplyContent"><div>方案</div></blockquote></div>',
        "收到。",
    ),
    "netease_isForwardContent": (
        '<div>转给你。</div><div id="isForwardContent"><div>-------- 转发邮件信息 --------</div></div>',
        "转给你。",
    ),
    "mail139": ('<div>已处理</div><div id="reply139content"><div>原文</div></div>', "已处理"),
    "origbody": ('<div>同意</div><div id="origbody"><div>原文</div></div>', "同意"),
    "oriMsgHtmlSeperator": (
        '<p>OK</p><blockquote id="oriMsgHtmlSeperator"><p>x</p></blockquote>',
        "OK",
    ),
    "yahoo_quoted": (
        '<div>Noted</div><div class="yahoo_quoted"><div>On Monday…</div></div>',
        "Noted",
    ),
    "thunderbird_moz_cite_prefix": (
        '<p>Agreed</p><div class="moz-cite-prefix">On 10/8/23 10:20, Zhang San wrote:<br></div>'
        '<blockquote type="cite">x</blockquote>',
        "Agreed",
    ),
    "foxmail_text_separator_only": (
        "<div>有异议：见下。</div><div>------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div><b>发件人:</b>&nbsp;"张三"&lt;zs@example.com&gt;;</div><div><b>发送时间:</b>&nbsp;2023年10月8日'
        "</div><div><b>主题:</b>&nbsp;纪要</div><div>各位好</div>",
        "有异议：见下。",
    ),
}


@pytest.mark.parametrize(("markup", "expected"), HTML.values(), ids=HTML.keys())
def test_html_only_mail_is_cut_at_quote_containers(markup: str, expected: str) -> None:
    """HTML-only mail loses everything from the first known quote container on."""
    assert new_text(BodySources(plain=None, html=(markup,)), "", []).strip() == expected


def test_html_without_container_is_kept_whole() -> None:
    """Markup without any quote container is returned unchanged by the cutter."""
    markup = "<div>各位好</div><blockquote>引用一段规范</blockquote><p>结束</p>"
    assert cut_quoted_html(markup) == markup


def test_plain_part_wins_over_html() -> None:
    """When a text/plain part exists, its text (body_text) is what gets stripped."""
    sources = BodySources(plain="已阅\n\n> quoted\n> more", html=("<div>ignored</div>",))
    assert new_text(sources, "已阅\n\n> quoted\n> more", []) == "已阅"


def _inbox(number: int) -> Path:
    """Return the example inbox file of mail ``number`` (the ``M<n>017`` part of its name)."""
    return next(INBOX.glob(f"*.M{number}017P*"))


# mail number -> its new_text (None: nothing is quoted, the whole body stays)
INBOX_NEW_TEXT: dict[int, str | None] = {
    1: None,
    2: "已阅。\n\n李四\n技术部经理 | 示例科技有限公司",
    3: "已阅，无异议",
    4: "张三：\n\n有异议：第2项“X300上线宣传物料”的完成时限10月20日偏紧。设计稿10月13日才交付，物料制作和审批至少"
    "需要7个工作日，建议调整为10月24日（上线前3天）。\n其余内容无异议。\n\n王五\n市场部 | 示例科技有限公司",
    5: None,
    6: None,
    7: None,
    8: None,
    9: None,
    11: None,
    12: "陈经理：\n\n收到，方案可以接受，请工程师按时到场。\n\n杨明",
    13: "刘总：\n\n第1项“X300上市推广方案”已完成，方案见附件，请审阅。\n\n王五\n市场部 | 示例科技有限公司",
    14: None,
}


@pytest.mark.parametrize(("number", "expected"), INBOX_NEW_TEXT.items())
def test_example_inbox_new_text(number: int, expected: str | None) -> None:
    """Each example mail's new_text is the reply alone, or the whole body when nothing is quoted."""
    parsed = parse_message(_inbox(number).read_bytes(), ParseContext())
    assert parsed.new_text == (parsed.body_text.strip() if expected is None else expected)


def test_example_complaint_answer_keeps_the_plan() -> None:
    """Mail 10 (Outlook 365) keeps its four-step plan and signature and loses the complaint."""
    parsed = parse_message(_inbox(10).read_bytes(), ParseContext())
    assert parsed.new_text.endswith("服务热线：400-000-0000")
    assert "4. 问题解决后3天内" in parsed.new_text
    assert "发件人" not in parsed.new_text and "我司9月20日" not in parsed.new_text


def test_example_netease_mail_master_signature() -> None:
    """Mail 15 loses only its 发自网易邮箱大师 line."""
    parsed = parse_message(_inbox(15).read_bytes(), ParseContext())
    assert parsed.new_text == parsed.body_text.replace("发自网易邮箱大师", "").strip()


def _html_only(path: Path) -> BodySources:
    """Return the HTML parts of an inbox file as if the mail had no text/plain part."""
    root: Message = message_from_bytes(path.read_bytes())
    return BodySources(plain=None, html=body_sources(root, []).html)


@pytest.mark.parametrize(
    ("number", "first_line"), [(2, "已阅。"), (4, "张三："), (10, "杨经理您好："), (12, "陈经理：")]
)
def test_example_replies_as_html_only(number: int, first_line: str) -> None:
    """The HTML part of each example reply, read alone, also loses the quoted history."""
    written = new_text(_html_only(_inbox(number)), "", [])
    assert written.splitlines()[0] == first_line
    assert "发件人" not in written and "写道" not in written and "原始邮件" not in written


# corpus REPLY file -> (a line of the quoted header that must go, text the sender wrote)
CORPUS_REPLIES = {
    "php-imap/issue-412.eml": ("Sent: 31 May 2023 17:46", "Here is my reply to your reply."),
    "talon/reply-quotations-share-block.eml": (
        "--- On Wed, 4/4/12, xxx@example.com",
        "Hi Katharine.",
    ),
    "talon/standard_replies/android.eml": ("пользователь", "Hello"),
    "talon/standard_replies/aol.eml": ("-----Original Message-----", "Hello"),
    "talon/standard_replies/apple_mail.eml": ("On Apr 3, 2012, at 4:19 PM, bob wrote:", "Hello"),
    "talon/standard_replies/comcast.eml": ("----- Original Message -----", "Hello"),
    "talon/standard_replies/gmail.eml": ("Megan One <xxx@gmail.com> wrote:", "Hello"),
    "talon/standard_replies/hotmail.eml": ("> Subject: Test", "Hello"),
    "talon/standard_replies/iphone.eml": (
        "On Apr 3, 2012, at 4:19 PM, bob <bob@example.com> wrote:",
        "Hello",
    ),
    "talon/standard_replies/outlook.eml": ("Sent: March-09-12 4:22 PM", "Hello"),
    "talon/standard_replies/thunderbird.eml": ("On 04/02/2012 06:26 PM, Megan One wrote:", "Hello"),
    "talon/standard_replies/yahoo.eml": ("----- Original Message -----", "Hello"),
}


def _cpu_seconds(body: str) -> float:
    """The least CPU time of this thread over three strips of ``body`` (load-independent)."""
    spent = []
    for _ in range(3):
        started = time.thread_time()
        strip_quotes(body)
        spent.append(time.thread_time() - started)
    return min(spent)


@pytest.mark.parametrize(
    "line", ["From: x\n", "> q\ntext\n", "发自我的iPhone\n", "-" * 5], ids=repr
)
def test_adversarial_bodies_stay_linear(line: str) -> None:
    """Bodies made of nothing but quote markers cost linear work: eight times the body costs
    about eight times the CPU, never the 64 times a quadratic scan would (a ratio of CPU times,
    not a time limit, so a loaded machine does not make it fail)."""
    small, big = _cpu_seconds(line * 2500), _cpu_seconds(line * 20000)
    assert big < 20 * small + 0.02, f"{small:.4f} s for 2,500 lines, {big:.4f} s for 20,000"


@needs_corpus
def test_corpus_reply_list_matches_the_manifest() -> None:
    """The table covers every REPLY-tagged corpus file but issue358 (whose REPLY is its subject)."""
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    tagged = {entry["local"] for entry in manifest if "REPLY" in entry["tags"]}
    assert tagged == {*CORPUS_REPLIES, "mimekit/issue358.txt"}


@needs_corpus
@pytest.mark.parametrize(
    ("name", "quoted", "written"), [(k, *v) for k, v in CORPUS_REPLIES.items()]
)
def test_corpus_replies_lose_their_quote(name: str, quoted: str, written: str) -> None:
    """A real client reply's new_text is shorter than the body and lacks the quoted header line."""
    parsed = parse_message((CORPUS / name).read_bytes(), ParseContext())
    assert quoted in parsed.body_text
    assert len(parsed.new_text) < len(parsed.body_text.strip())
    assert quoted not in parsed.new_text
    assert parsed.new_text.startswith(written)


@needs_corpus
def test_corpus_italian_forward_chain_has_nothing_to_strip() -> None:
    """issue358's REPLY tag is its 'R: R: I:' subject; its body quotes nothing, so it stays whole."""
    parsed = parse_message((CORPUS / "mimekit/issue358.txt").read_bytes(), ParseContext())
    assert parsed.subject.raw.startswith("R: R: R: I:")
    assert parsed.new_text.split() == parsed.body_text.split()


@pytest.mark.parametrize(("laid_out", "layouts"), [(True, 0), (False, 1)])
def test_html_with_no_quote_is_laid_out_once_even_when_it_reads_as_nothing(
    laid_out: bool, layouts: int
) -> None:
    """new_text reuses the body text laid out before, even an empty one, when nothing was
    cut: 9 MB of <br> was laid out twice (two seconds) because its text is empty."""
    sources = BodySources(plain=None, html=("<br>" * 60_000,))  # over the layout limit
    defects: list[str] = []
    assert new_text(sources, "", defects, laid_out=laid_out) == ""
    assert sum("too large to lay out" in d for d in defects) == layouts
