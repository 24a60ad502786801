"""Minutes over IMAP: three participants answer (or not) and the ledger shows exactly that."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.organization import load_organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.ingest import ingest
from mailflow.service.queries import thread_view
from mailflow.settings import load_settings
from mailflow.sources.imap import ImapSource
from mailflow.store.db import make_engine, make_session_factory
from tests.servers.dovecot import ImapUser

REPO = Path(__file__).resolve().parents[2]
MINUTES_ID = "<minutes-e2e@example.com>"
MINUTES_TEXT = """各位好：

以下为10月8日项目例会纪要，请各位阅后回复“已阅”，如有异议请在24小时内提出。

一、会议结论
1. 接口联调于10月16日前完成。

二、行动项
任务：完成订单接口联调；责任人：张三；完成时限：10月16日；交付标准：联调测试报告
任务：准备宣传物料；责任人：王五；完成时限：10月20日；交付标准：宣传物料初稿

张三
技术部
"""


def _mail(
    sender: str,
    to: str,
    subject: str,
    body: str,
    msgid: str,
    *,
    charset: str = "utf-8",
    in_reply_to: str | None = None,
    date: str = "Sun, 08 Oct 2023 17:30:00 +0800",
) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Cc"] = sender, to, "协调台 <coord@example.com>"
    m["Subject"], m["Message-ID"], m["Date"] = subject, msgid, date
    if in_reply_to:
        m["In-Reply-To"], m["References"] = in_reply_to, in_reply_to
    m.set_content(body, charset=charset, cte="base64")
    return m.as_bytes(policy=SMTP)


MINUTES = _mail(
    "张三 <zhang.san@example.com>",
    "李四 <li.si@example.com>, 王五 <wang.wu@example.com>, 刘洋 <liu.yang@example.com>",
    "【会议纪要】技术部-Q4产品迭代进度同步",
    MINUTES_TEXT,
    MINUTES_ID,
)
QUOTED = "\n".join(MINUTES_TEXT.splitlines())
OUTLOOK_ACK = _mail(
    "李四 <li.si@example.com>",
    "张三 <zhang.san@example.com>",
    "答复: 【会议纪要】技术部-Q4产品迭代进度同步",
    "已阅。\n\n李四\n\n-----原始邮件-----\n发件人: 张三 <zhang.san@example.com>\n"
    "发送时间: 2023年10月8日 17:30\n收件人: 李四 <li.si@example.com>; 王五 <wang.wu@example.com>\n"
    f"主题: 【会议纪要】技术部-Q4产品迭代进度同步\n\n{QUOTED}\n",
    "<outlook-ack@example.com>",
    in_reply_to=MINUTES_ID,
    date="Sun, 08 Oct 2023 18:05:00 +0800",
)
FOXMAIL_OBJECTION = _mail(
    "王五 <wang.wu@example.com>",
    "张三 <zhang.san@example.com>",
    "回复：【会议纪要】技术部-Q4产品迭代进度同步",
    "有异议：第2项完成时限偏紧，建议调整为10月24日。\n\n\n"
    "------------------\xa0原始邮件\xa0------------------\n"
    '发件人: "张三"<zhang.san@example.com>;\n发送时间: 2023年10月8日(星期天) 下午5:30\n'
    f'收件人: "李四"<li.si@example.com>;\n主题: 【会议纪要】技术部-Q4产品迭代进度同步\n\n{QUOTED}\n',
    "<foxmail-objection@example.com>",
    charset="gb18030",
    in_reply_to=MINUTES_ID,
    date="Mon, 09 Oct 2023 09:12:00 +0800",
)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_ledger_after_minutes_and_replies_over_imap(
    imap_user: ImapUser, sessions: sessionmaker[Session]
) -> None:
    """已阅 from Outlook, an objection from Foxmail, silence from the third, as the ledger says."""
    for raw in (MINUTES, OUTLOOK_ACK, FOXMAIL_OBJECTION):
        imap_user.append(raw)
    settings = load_settings(
        source=imap_user.url(), source_password=imap_user.password, rules_dir=REPO / "rules"
    )
    ctx = parse_context(load_organization(REPO / "rules"), settings)
    report = ingest(ImapSource.from_settings(settings), sessions, ctx)
    assert report.stored == 3

    view = thread_view(sessions, MINUTES_ID)
    assert view is not None
    assert len(view["messages"]) == 3
    answers = {a["name"]: (a["status"], a["text"]) for a in view["confirmations"][0]["answers"]}
    assert answers["李四"][0] == "ack"
    assert answers["王五"][0] == "objection"
    assert "第2项" in answers["王五"][1]
    assert answers["刘洋"] == ("pending", None)
    assert set(answers) == {"李四", "王五", "刘洋"}
    items = {i["owner"]: i for i in view["action_items"]}
    assert items["张三"]["owner_email"] == "zhang.san@example.com"
    assert items["张三"]["deadline"] == "2023-10-16"
    assert items["王五"]["deliverable"] == "宣传物料初稿"
