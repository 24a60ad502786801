"""Reply headers and client signatures of the clients Chinese offices use are cut from new_text,
and the sender's own lines that merely resemble them are kept."""

from __future__ import annotations

import pytest

from mailflow.mail.body import BodySources
from mailflow.mail.quote import new_text, strip_quotes
from mailflow.mail.quote_rules import is_mobile_signature

# client -> (body as that client writes a reply, what the sender wrote)
REPLY_HEADERS = {
    "netease_mail_master_table_rows": (
        "王工，冷库3号机组的压缩机已换好，今晚开始降温观察。\n\n孙立\n设备科\n\n"
        "---- 回复的原邮件 ----\n| 发件人 | 王建军<wang.jj@lengyun-wl.com> |\n"
        "| 日期 | 2026年03月02日 08:41 |\n| 收件人 | 孙立<sun.li@lengyun-wl.com> |\n"
        "| 抄送至 | 设备科<shebei@lengyun-wl.com> |\n| 主题 | 【维修申请】设备科-3号冷库压缩机异响 |\n"
        "孙科长：\n3号冷库压缩机昨夜异响，请安排检修。",
        "王工，冷库3号机组的压缩机已换好，今晚开始降温观察。\n\n孙立\n设备科",
    ),
    "netease_mail_master_english": (
        "Received, the shipment leaves Ningbo on Friday.\n\n"
        "---- Replied Message ----\n| From | Anna Keller<anna.keller@nordtrade.de> |\n"
        "| Date | 03/02/2026 09:12 |\n| To | 周敏<zhou.min@haixin-trade.cn> |\n"
        "| Subject | Re: PO 4471 shipping date |\nDear Ms Zhou, when will PO 4471 ship?",
        "Received, the shipment leaves Ningbo on Friday.",
    ),
    "netease_mail_master_forward": (
        "转给你看一下招标文件的修改。\n\n---- 转发的原邮件 ----\n| 发件人 | 招标代理<zb@daili.com> |\n"
        "| 日期 | 2026年04月10日 16:02 |\n| 主题 | 关于第二次澄清的通知 |\n各投标人：",
        "转给你看一下招标文件的修改。",
    ),
    "tencent_exmail_chinese": (
        "附件是修改后的排班表，请护士长们确认。\n\n"
        "------------------\u00a0原始邮件\u00a0------------------\n"
        '发件人: "护理部"<hulibu@renai-hospital.cn>;\n发送时间: 2026年5月6日(星期三) 上午9:15\n'
        '收件人: "刘佳"<liu.jia@renai-hospital.cn>;\n主题: 五月排班\n\n刘佳：\n请调整五月排班。',
        "附件是修改后的排班表，请护士长们确认。",
    ),
    "alibaba_mail_ideographic_space": (
        "合同第七条的违约金比例我们同意调整为千分之三。\n\n陈律师\n\n"
        "------------------------------------------------------------------\n"
        "发件人：赵敏 <zhao.min@jinghe-law.com>\n发送时间：2026年2月11日(星期三) 14:20\n"
        "收件人：陈律师 <chen@tianyuan-law.cn>\n主\u3000题：关于采购合同修订稿\n\n陈律师：\n修订稿见附件。",
        "合同第七条的违约金比例我们同意调整为千分之三。\n\n陈律师",
    ),
    "dingtalk_mail": (
        "今晚九点的发布窗口确认不变。\n\n"
        "------------------------------------------------------------------\n"
        "发件人：运维值班<oncall@yunfan.tech>\n发送时间：2026年6月1日(星期一) 18:03\n"
        "收件人：发布组<release@yunfan.tech>\n主\u3000题：【变更通知】运维部-今晚发布窗口\n\n各位：\n窗口不变。",
        "今晚九点的发布窗口确认不变。",
    ),
    "lark_mail_english_header": (
        'OK, I\'ll update the quote by Thursday.\n\nFrom: "Liang Wei"<liang.wei@feishu-demo.cn>\n'
        'Date: Tue, Mar 10, 2026, 10:22\nSubject: Re: Q2 quote\nTo: "Tom"<tom@example.org>\n\nTom, please update.',
        "OK, I'll update the quote by Thursday.",
    ),
    "lark_mail_chinese_header": (
        "收到，质检报告周四前补齐。\n\n发件人: 质量部<qa@huadian-mfg.cn>\n"
        "发送时间: 2026年3月10日 星期二 10:22\n主题: 第3批次质检报告缺页\n收件人: 采购部<cg@huadian-mfg.cn>\n\n报告缺第5页。",
        "收到，质检报告周四前补齐。",
    ),
    "coremail_short_separator": (
        "本周五前提交结题材料。\n\n----- 原始邮件 -----\n发件人：科研处 <kyc@univ.edu.cn>\n"
        "发送时间：2026-04-01 09:00:00\n收件人：李老师 <li@univ.edu.cn>\n主题：结题通知\n\n各位老师：",
        "本周五前提交结题材料。",
    ),
}

# client signature lines (each alone below the reply), in the forms phones and clients write
SIGNATURES = [
    "发自我的华为手机",
    "发自我的荣耀手机",
    "发自我的iPhone",
    "来自我的 iPad",
    "从我的 iPad 发送",
    "從我的 iPhone 傳送",
    "来自网易邮箱大师",
    "发自网易邮箱大师",
    "来自钉钉专属商务邮箱",
    "发自我的企业微信",
    "发自企业微信",
    "来自飞书",
    "发自手机QQ",
    "使用 Foxmail 发送",
    "从 Windows 版邮件发送",
    "发送自 Windows 10 版邮件应用",
    "获取 Outlook for iOS",
    "获取 Outlook for Android",
    "获取 Android 版 Outlook",
    "Get Outlook for iOS<https://aka.ms/o0ukef>",
    "Sent from Mail for Windows",
    "Sent from Outlook for Android",
    "Sent from Yahoo Mail on Android",
    "Sent from my Galaxy",
    "Sent with Spark",
    "签名由 网易邮箱大师 定制",
]

# lines a sender writes that start like a signature and must stay
NOT_SIGNATURES = [
    "来自客户的反馈：",
    "来自我的观察，这个方案有风险",
    "来自手机端用户的投诉较多",
    "来自华为的订单已确认，请安排生产",
    "发自内心感谢大家的支持",
    "从我的角度看，这样排期不行",
    "Sent from the warehouse today",
    "来自Mail系统的告警需要处理",
]


@pytest.mark.parametrize(("body", "expected"), REPLY_HEADERS.values(), ids=REPLY_HEADERS.keys())
def test_reply_headers_of_more_clients_are_cut(body: str, expected: str) -> None:
    """NetEase Mail Master, Tencent Exmail, Alibaba, DingTalk, Lark and Coremail headers are cut."""
    assert strip_quotes(body) == expected


@pytest.mark.parametrize("line", SIGNATURES)
def test_client_signatures_are_cut(line: str) -> None:
    """A phone or client signature line below the reply is removed with what follows it."""
    body = f"好的，样品明天寄出。\n\n吴涛\n\n{line}\n"
    assert strip_quotes(body) == "好的，样品明天寄出。\n\n吴涛"


@pytest.mark.parametrize("line", NOT_SIGNATURES)
def test_sentences_like_signatures_stay(line: str) -> None:
    """A sentence that merely starts like a client signature is not one."""
    body = f"各位：\n\n{line}\n请周三前汇总。"
    assert not is_mobile_signature(line)
    assert strip_quotes(body) == body


def test_mail_master_html_table_header_is_cut() -> None:
    """In HTML-only mail the Mail Master header table, flattened to ``|`` rows, is cut too."""
    markup = (
        "<div>已安排两名工程师周一到场。</div><div><br></div><div>---- 回复的原邮件 ----</div>"
        "<table><tr><td>发件人</td><td>客服中心&lt;kf@jiayuan-wy.com&gt;</td></tr>"
        "<tr><td>日期</td><td>2026年05月08日 10:30</td></tr>"
        "<tr><td>收件人</td><td>工程部&lt;gc@jiayuan-wy.com&gt;</td></tr>"
        "<tr><td>主题</td><td>12栋电梯故障</td></tr></table><div>12栋电梯停运。</div>"
    )
    assert new_text(BodySources(plain=None, html=(markup,)), "", []) == "已安排两名工程师周一到场。"
