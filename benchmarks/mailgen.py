"""A deterministic stream of realistic Chinese business mail for the ingest benchmark.

``generate(n, seed)`` yields ``n`` raw RFC 5322 messages one at a time (never a list): mostly
small internal mail of 示例科技 in UTF-8 or GB18030 with RFC 2047 subjects following (or
missing) the 【事由】+部门+主题 convention, a fifth ``multipart/alternative`` with an HTML part,
a tenth carrying a ~200 KB attachment, replies threaded to earlier messages with Outlook or
Foxmail quoting, action items and confirmations. The same ``(n, seed)`` gives the same bytes.

Standard library only; imports nothing of mailflow.
"""

from __future__ import annotations

import base64
import quopri
import random
from collections import deque
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import quote

CST = timezone(timedelta(hours=8))
START = datetime(2023, 10, 7, 8, 30, tzinfo=CST)
ATTACHMENT_BYTES = 200 * 1024

PEOPLE = [  # name, address, department
    ("张三", "zhang.san", "技术部"),
    ("郑浩", "zheng.hao", "技术部"),
    ("李四", "li.si", "技术部"),
    ("王五", "wang.wu", "市场部"),
    ("刘洋", "liu.yang", "市场部"),
    ("赵六", "zhao.liu", "设计部"),
    ("孙丽", "sun.li", "设计部"),
    ("陈静", "chen.jing", "售后部"),
    ("周强", "zhou.qiang", "售后部"),
    ("吴敏", "wu.min", "销售部"),
    ("何军", "he.jun", "销售部"),
    ("马丽", "ma.li", "采购部"),
    ("钱磊", "qian.lei", "质量部"),
    ("黄婷", "huang.ting", "人力资源部"),
    ("高洁", "gao.jie", "法务部"),
    ("罗红", "luo.hong", "行政部"),
]
REASONS = ["会议纪要", "进度汇报", "任务分配", "工作联系", "进度预警", "需求变更", "通知", "请示"]
TOPICS = [
    "Q4产品迭代进度同步",
    "X300新品上市推广筹备",
    "智慧仓储项目报表模块调整",
    "10月供应商供货周期确认",
    "年度招聘计划协调",
    "客户满意度回访安排",
    "合同条款法务审核",
    "办公区网络改造",
    "样机第一轮质检结果",
    "双十一促销活动排期",
]
PHASES = ["需求评审", "方案确认", "联调", "提测", "上线", "复盘", "预算", "排期", "验收", "培训"]
PROJECTS = [
    "华东区",
    "华南区",
    "X300",
    "X200",
    "智慧仓储",
    "CRM",
    "官网改版",
    "年度",
    "Q4",
    "新零售",
]
SENTENCES = [
    "根据上周例会决议，相关工作需在本周内完成初步方案。",
    "目前整体进度符合预期，完成率约为{pct}%。",
    "风险点：测试环境不稳定，可能影响联调进度，已请IT部门协调。",
    "请各位在{day}日前反馈意见，逾期视为无异议。",
    "附件为最新版本，请以此为准，旧版本作废。",
    "如有疑问请随时与我联系，谢谢！",
    "客户反馈的问题已复现，初步判断为固件网络模块缺陷。",
    "采购部已与供应商确认，供货周期为{n}个工作日。",
    "本次变更涉及报表模块和接口，需双方书面确认后再调整计划。",
    "请市场部提前3天准备宣传物料，并同步目标用户群体。",
    "项目里程碑节点为10月{day}日，若无法按时完成需提前预警。",
    "设计稿已上传至共享盘，请查看并确认。",
]
# action items written as sentences, the way staff write most of them
SENTENCE_ITEMS = [
    "{k}. {who}负责在10月{day}日前完成{topic}的方案，交付方案初稿。",
    "{k}、请{who}于10月{day}日前提交{topic}的书面说明",
    "{k}) {who}于10月{day}日下班前反馈{topic}的测试结果",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建文玲红辉鹏飞宇晨浩然欣怡子轩梓涵"
GREETINGS = ["各位好：", "{name}：", "{name}，您好：", "领导好：", "Hi all,"]
CONFIRMATIONS = [
    "已阅。",
    "已阅，无异议。",
    "收到，谢谢！",
    "有异议：第2项时限偏紧，建议顺延3天。",
    "已完成，见附件。",
]
ATTACHMENT_NAMES = [
    (
        "项目进度跟踪表_v1.{k}_202310{d:02d}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "需求变更申请表_v1.{k}_202310{d:02d}.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("问题处理方案_v1.{k}_202310{d:02d}.pdf", "application/pdf"),
    ("现场照片_202310{d:02d}_{k}.jpg", "image/jpeg"),
]


def _ew(text: str, charset: str, mode: str) -> str:
    """RFC 2047 encoded words of at most 75 characters, split between characters."""
    words, chunk = [], ""
    for ch in text:
        if chunk and len(_word(chunk + ch, charset, mode)) > 75:
            words.append(_word(chunk, charset, mode))
            chunk = ch
        else:
            chunk += ch
    words.append(_word(chunk, charset, mode))
    return "\n ".join(words)


def _word(text: str, charset: str, mode: str) -> str:
    data = text.encode(charset)
    if mode == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
    q = "".join("_" if b == 32 else chr(b) if b in safe else f"={b:02X}" for b in data)
    return f"=?{charset}?Q?{q}?="


def _addr(person: tuple[str, str, str], charset: str) -> str:
    return f"{_ew(person[0], charset, 'B')} <{person[1]}@example.com>"


def _body(text: str, charset: str, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(text.replace("\n", "\r\n").encode(charset))
    out = quopri.encodestring(text.encode(charset))
    return out if out.endswith(b"\n") else out + b"\n"


def _text_part(text: str, subtype: str, charset: str, cte: str) -> bytes:
    head = (
        f'Content-Type: text/{subtype}; charset="{charset}"\nContent-Transfer-Encoding: {cte}\n\n'
    )
    return head.encode() + _body(text, charset, cte)


def directory(n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """Return ``n`` people (name, mailbox, department): the 16 above, then generated staff."""
    rng = random.Random(seed)
    people, seen = list(PEOPLE[:n]), {p[0] for p in PEOPLE}
    departments = sorted({p[2] for p in PEOPLE})
    while len(people) < n:
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))
        if name in seen:
            continue
        seen.add(name)
        people.append((name, f"staff{len(people):05d}", rng.choice(departments)))
    return people


class _Generator:
    def __init__(self, seed: int, people: list[tuple[str, str, str]] | None = None) -> None:
        self.rng = random.Random(seed)
        self.owners = people or PEOPLE
        self.seed = seed
        self.recent: deque[tuple[str, str]] = deque(maxlen=300)  # (Message-ID, subject)

    def topic(self) -> str:
        """A topic; some recur (weekly reports, project phases), as in real mail."""
        rng = self.rng
        topic = rng.choice(TOPICS)
        r = rng.random()
        if r < 0.3:
            return f"{topic}（第{rng.randint(36, 52)}周）"
        if r < 0.6:
            return f"{topic}-{rng.choice(PHASES)}"
        if r < 0.8:
            return f"{rng.choice(PROJECTS)}{topic}"
        return topic

    def subject(self, sender_dept: str) -> str:
        r = self.rng.random()
        reason, topic = self.rng.choice(REASONS), self.topic()
        if r < 0.70:
            sep = self.rng.choice(["-", "-", "-", "+", " ", "｜", "："])
            return f"【{reason}】{sender_dept}{sep}{topic}"
        if r < 0.80:
            return f"[{reason}] {topic}"
        if r < 0.88:
            return f"【{reason}】{topic}"
        return topic

    def item(self, k: int) -> str:
        """One action item: half labelled fields, half sentences as staff write them."""
        rng = self.rng
        who = rng.choice(self.owners)[0]
        topic, day = rng.choice(TOPICS), rng.randint(9, 31)
        form = rng.randrange(6)
        if form < 3:
            return (
                f"{k}. 任务：{topic}；责任人：{who}；"
                f"完成时限：10月{day}日；交付标准：提交书面报告。"
            )
        return SENTENCE_ITEMS[form - 3].format(k=k, who=who, topic=topic, day=day)

    def text(self, greeting_name: str, items: bool, quote: tuple[str, str] | None) -> str:
        rng = self.rng
        lines = [rng.choice(GREETINGS).format(name=greeting_name), ""]
        for _ in range(rng.randint(2, 8)):
            s = rng.choice(SENTENCES)
            lines.append(
                s.format(pct=rng.randint(10, 95), day=rng.randint(9, 31), n=rng.randint(3, 20))
            )
        if items:
            lines += ["", "行动项："]
            lines += [self.item(k) for k in range(1, rng.randint(2, 4))]
        lines += ["", "此致", "示例科技有限公司"]
        if quote:
            sender, subject = quote
            sent = "发送时间: 2023年10月8日 17:30"
            lines += ["", "-----原始邮件-----", f"发件人: {sender}", sent, f"主题: {subject}", ""]
            lines += [
                rng.choice(SENTENCES).format(pct=50, day=15, n=7) for _ in range(rng.randint(3, 12))
            ]
        return "\n".join(lines) + "\n"

    def message(self, i: int) -> bytes:
        rng = self.rng
        sender = rng.choice(PEOPLE)
        to = rng.sample([p for p in PEOPLE if p is not sender], rng.randint(1, 4))
        cc = rng.sample([p for p in PEOPLE if p is not sender and p not in to], rng.randint(0, 3))
        charset = "utf-8" if rng.random() < 0.6 else "gb18030"
        mode = "B" if rng.random() < 0.75 else "Q"
        cte = "base64" if rng.random() < 0.7 else "quoted-printable"
        when = START + timedelta(seconds=i * 97 + rng.randint(0, 60))
        mid = f"<bench.{self.seed}.{i}.{rng.getrandbits(32):08x}@example.com>"
        reply = (
            self.recent[rng.randrange(len(self.recent))]
            if self.recent and rng.random() < 0.35
            else None
        )
        if reply:
            subject = rng.choice(["Re: ", "回复：", "答复: ", "RE: "]) + reply[1]
            body_text = (
                rng.choice(CONFIRMATIONS)
                + "\n\n"
                + self.text(to[0][0], False, (to[0][0], reply[1]))
            )
        else:
            subject = self.subject(sender[2])
            body_text = self.text(to[0][0], rng.random() < 0.4, None)
        self.recent.append((mid, reply[1] if reply else subject))
        headers = [
            f"Return-Path: <{sender[1]}@example.com>",
            "Received: from mail.example.com (mail.example.com [192.0.2.10])\n"
            f"\tby mx.example.com (Postfix) with ESMTPS id B{i:08d}\n"
            f"\tfor <coord@example.com>; {format_datetime(when)}",
            f"From: {_addr(sender, charset)}",
            "To: " + ",\n\t".join(_addr(p, charset) for p in to),
            "Cc: " + ",\n\t".join([*(_addr(p, charset) for p in cc), "coord@example.com"]),
            f"Subject: {_ew(subject, charset, mode)}",
            f"Date: {format_datetime(when)}",
            f"Message-ID: {mid}",
        ]
        if reply:
            headers += [f"In-Reply-To: {reply[0]}", f"References: {reply[0]}"]
        headers.append("MIME-Version: 1.0")
        body = self.mime(i, body_text, charset, cte)
        return ("\n".join(headers) + "\n").encode() + body

    def mime(self, i: int, body_text: str, charset: str, cte: str) -> bytes:
        rng = self.rng
        html = i % 5 == 0
        attach = i % 10 == 3
        plain = _text_part(body_text, "plain", charset, cte)
        if html:
            markup = "".join(f"<p>{line or '&nbsp;'}</p>" for line in body_text.splitlines())
            html_part = _text_part(f"<html><body>{markup}</body></html>", "html", charset, cte)
            b = f"----=_NextPart_{self.seed:04x}_{i:08x}_ALT"
            content = (
                (
                    f'Content-Type: multipart/alternative;\n\tboundary="{b}"\n\n'
                    f"This is a multipart message in MIME format.\n\n--{b}\n"
                ).encode()
                + plain
                + f"--{b}\n".encode()
                + html_part
                + f"--{b}--\n".encode()
            )
        else:
            content = plain
        if not attach:
            return content
        name, ctype = rng.choice(ATTACHMENT_NAMES)
        filename = name.format(k=rng.randint(0, 9), d=rng.randint(7, 31))
        data = rng.randbytes(ATTACHMENT_BYTES + rng.randint(-20_000, 20_000))
        disposition = (
            f"filename*=utf-8''{quote(filename)}"
            if rng.random() < 0.5
            else f'filename="{_ew(filename, "utf-8", "B")}"'
        )
        b = f"----=_NextPart_{self.seed:04x}_{i:08x}_MIX"
        return (
            (
                f'Content-Type: multipart/mixed;\n\tboundary="{b}"\n\n'
                f"This is a multipart message in MIME format.\n\n--{b}\n"
            ).encode()
            + content
            + (
                f"--{b}\nContent-Type: {ctype}\nContent-Transfer-Encoding: base64\n"
                f"Content-Disposition: attachment;\n\t{disposition}\n\n"
            ).encode()
            + base64.encodebytes(data)
            + f"--{b}--\n".encode()
        )


def generate(
    n: int, seed: int = 20231008, people: list[tuple[str, str, str]] | None = None
) -> Iterator[bytes]:
    """Yield ``n`` raw messages, one at a time, the same bytes for the same arguments.

    ``people`` (from ``directory``) are the owners named in action items; senders and
    recipients stay the 16 people of the example directory.
    """
    gen = _Generator(seed, people)
    for i in range(n):
        yield gen.message(i)
