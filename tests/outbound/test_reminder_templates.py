"""The reminder, escalation and digest templates render in both languages from realistic contexts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailflow.outbound.attachments import build_attachments
from mailflow.outbound.render import TemplateSet
from mailflow.outbound.template_variables import STANDARD_CONTEXT
from tests.outbound.samples import LI_SI, ORGANIZATION, ZHANG_SAN, sample_context

TEMPLATES = TemplateSet(Path("templates"))
WANG_WU = {"name": "王五", "address": "wang.wu@example.com"}
ZHAO_LIU = {"name": "赵六", "address": "zhao.liu@example.com"}
MINUTES = {
    "subject": "【会议纪要】技术部-Q4产品迭代进度同步",
    "from": WANG_WU,
    "to": [ZHANG_SAN, LI_SI],
    "cc": [],
    "date": "2023-10-08 16:30",
    "message_id": "<20231008163000.9@example.com>",
    "reason": "会议纪要",
    "department": "技术部",
    "topic": "Q4产品迭代进度同步",
    "conforms": True,
    "problems": [],
}
ITEM = {
    "index": 1,
    "task": "完成接口联调",
    "owner": "张三",
    "owner_email": "zhang.san@example.com",
    "deadline": "2023-09-28（周四）",
    "deliverable": "联调报告",
    "source_subject": "【会议纪要】技术部-Q4产品迭代进度同步",
    "milestone": True,
}
COMPLAINT = {
    "subject": "设备到货后无法开机，请尽快处理",
    "from": {"name": "陈先生", "address": "chen@customer.example.cn"},
    "date": "2023-10-09 17:50",
    "hours_open": 49,
    "handler": ZHAO_LIU,
    "resolved_at": "2023-10-11 15:20",
}
DIGEST = {
    "department": "技术部",
    "period": {"from": "2023-10-09", "to": "2023-10-15"},
    "open_items": [
        {"task": "完成接口联调", "owner": "张三", "deadline": "2023-09-28", "overdue": True},
        {"task": "性能压测", "owner": "李四", "deadline": "2023-10-20", "overdue": False},
    ],
    "done_items": [
        {"task": "需求评审", "owner": "王五", "deadline": "2023-10-10", "overdue": False}
    ],
    "overdue_items": [
        {"task": "完成接口联调", "owner": "张三", "deadline": "2023-09-28", "overdue": True}
    ],
    "unconfirmed": [
        {
            "subject": "【会议纪要】技术部-Q4产品迭代进度同步",
            "date": "2023-10-08",
            "pending": ["李四"],
        }
    ],
    "open_complaints": [
        {
            "subject": "设备到货后无法开机，请尽快处理",
            "from": COMPLAINT["from"],
            "date": "2023-10-09 17:50",
            "hours_open": 49,
        }
    ],
}
ICS = {
    "type": "ics",
    "uid": "item-42.deadline@example.com",
    "summary": "【截止】完成接口联调",
    "due": "2023-09-28",
    "organizer": "coord@example.com",
}


def context(name: str, **overrides: Any) -> dict[str, Any]:
    """Return what the scheduler would store for ``name``: the standard keys plus its own."""
    own: dict[str, dict[str, Any]] = {
        "confirmation_reminder": {
            "message": MINUTES,
            "recipient": LI_SI,
            "due": "2023-10-09 16:30",
            "pending": [LI_SI, ZHANG_SAN],
        },
        "confirmation_escalation": {
            "message": MINUTES,
            "recipient": {"name": "技术部负责人", "address": "tech.lead@example.com"},
            "due": "2023-10-09 16:30",
            "pending": [LI_SI, {"name": "", "address": "guest@partner.example.com"}],
        },
        "objection_notice": {
            "message": MINUTES,
            "recipient": WANG_WU,
            "objection": LI_SI
            | {
                "text": "有异议：第2项的完成时限应为10月20日，不是10月15日。",
                "date": "2023-10-08 18:02",
            },
        },
        "deadline_reminder": {"item": ITEM, "days_left": 3, "files": [ICS]},
        "deadline_overdue": {"item": ITEM, "overdue_days": 2},
        "deadline_escalation": {
            "item": ITEM,
            "overdue_days": 5,
            "recipient": {"name": "技术部负责人", "address": "tech.lead@example.com"},
        },
        "complaint_escalation": {
            "complaint": COMPLAINT | {"handler": None, "resolved_at": None},
            "department": "售后部",
            "recipient": {"name": "售后部负责人", "address": "service.lead@example.com"},
        },
        "revisit_reminder": {"complaint": COMPLAINT, "recipient": ZHAO_LIU, "department": "售后部"},
        "weekly_digest": {
            "digest": DIGEST,
            "message": None,
            "recipient": {"name": "技术部负责人", "address": "tech.lead@example.com"},
            "files": [{"type": "xlsx", "title": "技术部周报", "rows": []}],
        },
    }
    base = {
        "organization": ORGANIZATION,
        "message": None,
        "recipient": ZHANG_SAN,
        "rule": {"name": name},
        "department": "技术部",
    }
    return base | own[name] | overrides


# template -> phrases each language must show for context(template)
MUST_SAY: dict[str, dict[str, list[str]]] = {
    "confirmation_reminder": {
        "zh-CN": [
            "尚未收到您的确认，确认时限为2023-10-09 16:30",
            "已阅",
            "有异议",
            "李四、张三\n\n如您",
        ],
        "en": ["by 2023-10-09 16:30", "已阅", "Still to confirm: 李四, 张三\n\nIf you"],
    },
    "confirmation_escalation": {
        "zh-CN": ["  - 李四 <li.si@example.com>\n  - guest@partner.example.com\n", "已阅"],
        "en": ["  - 李四 <li.si@example.com>\n  - guest@partner.example.com\n"],
    },
    "objection_notice": {
        "zh-CN": [
            "李四于2023-10-08 18:02对您发出的会议纪要",
            "第2项的完成时限应为10月20日",
            "在纪要中标注异议",
        ],
        "en": ["李四 has raised an objection on 2023-10-08 18:02", "第2项的完成时限应为10月20日"],
    },
    "deadline_reminder": {
        "zh-CN": ["还有3天到期", "交付标准：联调报告", "进度预警", "Outlook 日历"],
        "en": ["due in 3 days", "Deliverable: 联调报告", "early progress warning", ".ics"],
    },
    "deadline_overdue": {
        "zh-CN": ["已超过完成时限2天", "分析原因并协调解决", "抄送事项发起方"],
        "en": ["past its deadline by 2 day(s)", "initiator of the item is copied"],
    },
    "deadline_escalation": {
        "zh-CN": ["技术部张三负责的以下行动项已逾期5天", "专项协调会"],
        "en": ["owned by 张三 (技术部) is 5 day(s) overdue", "专项协调会"],
    },
    "complaint_escalation": {
        "zh-CN": ["已收到49小时", "48小时内响应", "《问题处理方案》", "处理人：尚未指定\n"],
        "en": ["49 hours ago", "within 48 hours", "Handler: not assigned yet\n"],
    },
    "revisit_reminder": {
        "zh-CN": [
            "已于2023-10-11 15:20解决",
            "3天内需回访客户满意度",
            "陈先生 <chen@customer.example.cn>",
        ],
        "en": [
            "resolved on 2023-10-11 15:20",
            "within 3 days",
            "陈先生 <chen@customer.example.cn>",
        ],
    },
    "weekly_digest": {
        "zh-CN": [
            "进行中 2 项（其中逾期 1 项），本周完成 1 项，待确认纪要 1 份，未结客户投诉 1 件",
            "明细见附件《内部沟通记录表》",
            "1. 【逾期】完成接口联调（责任人：张三；完成时限：2023-09-28）",
            "待确认：李四",
            "已 49 小时",
        ],
        "en": ["2 item(s) open (1 overdue)", "attached 内部沟通记录表", "[overdue] 完成接口联调"],
    },
}
SUBJECTS = {
    "confirmation_reminder": "【纪要确认提醒】技术部-Q4产品迭代进度同步",
    "confirmation_escalation": "【纪要未确认】技术部-Q4产品迭代进度同步",
    "objection_notice": "【纪要异议】技术部-Q4产品迭代进度同步",
    "deadline_reminder": "【截止提醒】技术部-完成接口联调",
    "deadline_overdue": "【逾期提醒】技术部-完成接口联调",
    "deadline_escalation": "【逾期升级】技术部-完成接口联调",
    "complaint_escalation": "【投诉升级】售后部-设备到货后无法开机，请尽快处理",
    "revisit_reminder": "【回访提醒】售后部-设备到货后无法开机，请尽快处理",
    "weekly_digest": "【周报】技术部-内部沟通记录（2023-10-09至2023-10-15）",
}


def test_templates_check_clean_and_new_variables_are_documented() -> None:
    """templates/ checks clean, and every new variable is in the context and the README."""
    assert TEMPLATES.check() == []
    assert TEMPLATES.names() >= set(MUST_SAY)
    readme = Path("templates/README.md").read_text(encoding="utf-8")
    for name in ("files", "pending", "objection", "item", "days_left", "overdue_days"):
        assert name in STANDARD_CONTEXT and f"`{name}`" in readme
    for name in ("complaint", "digest", *MUST_SAY):
        assert f"`{name}`" in readme


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("name", sorted(MUST_SAY))
def test_each_template_renders_what_the_guide_asks(name: str, lang: str) -> None:
    """Each template renders its own file, a one-line 【…】 subject and the phrases it must say."""
    assert (Path("templates") / lang / f"{name}.txt").is_file()
    mail = TEMPLATES.render(name, context(name), lang)
    assert mail.subject.startswith("【") and "\n" not in mail.subject
    assert "None" not in mail.text and "  \n" not in mail.text and "\n\n\n" not in mail.text
    assert "coord@example.com" in mail.text
    for phrase in MUST_SAY[name][lang]:
        assert phrase in mail.text, (phrase, mail.text)


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_subjects_keep_the_convention(name: str) -> None:
    """Chinese subjects read 【事由】部门-主题 like the other mails of the desk."""
    assert TEMPLATES.render(name, context(name)).subject == SUBJECTS[name]


@pytest.mark.parametrize(
    ("overrides", "zh", "en"),
    [
        ({"days_left": 0}, "今天到期", "due today"),
        ({"days_left": 1}, "还有1天到期", "due in 1 day:"),
        ({"days_left": None}, "即将到期", "due soon"),
    ],
)
def test_deadline_reminder_says_when(overrides: dict[str, Any], zh: str, en: str) -> None:
    """The reminder says today on the day itself, and counts the days before it."""
    assert (
        zh in TEMPLATES.render("deadline_reminder", context("deadline_reminder", **overrides)).text
    )
    assert (
        en
        in TEMPLATES.render(
            "deadline_reminder", context("deadline_reminder", **overrides), "en"
        ).text
    )


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_ordinary_items_get_no_milestone_advice(lang: str) -> None:
    """Without a milestone neither the early warning nor the 专项协调会 is suggested."""
    plain = ITEM | {"milestone": False}
    reminder = TEMPLATES.render("deadline_reminder", context("deadline_reminder", item=plain), lang)
    escalation = TEMPLATES.render(
        "deadline_escalation", context("deadline_escalation", item=plain), lang
    )
    assert "进度预警" not in reminder.text and "progress warning" not in reminder.text
    assert "专项协调会" not in escalation.text


def test_complaint_subjects_prefer_the_conforming_topic() -> None:
    """A complaint whose subject already follows the convention is not named twice."""
    tidy = COMPLAINT | {
        "subject": "【投诉】售后部-设备无法开机",
        "department": "售后部",
        "topic": "设备无法开机",
    }
    for name in ("complaint_escalation", "revisit_reminder"):
        ctx = context(name, complaint=tidy, department=None)
        assert TEMPLATES.render(name, ctx).subject.endswith("】售后部-设备无法开机")


def test_digest_with_nothing_to_report_says_so() -> None:
    """An empty week renders every section as 无 and mentions no attachment without files."""
    empty = {
        "department": "设计部",
        "period": {"from": "2023-10-09", "to": "2023-10-15"},
        "open_items": [],
        "done_items": [],
        "overdue_items": [],
        "unconfirmed": [],
        "open_complaints": [],
    }
    text = TEMPLATES.render("weekly_digest", context("weekly_digest", digest=empty, files=[])).text
    assert text.count("\n  无\n") == 5 and "附件" not in text


def test_deadline_reminder_files_build_a_calendar_attachment() -> None:
    """The files a deadline reminder's context carries become its .ics attachment."""
    (ics,) = build_attachments(context("deadline_reminder")["files"])
    assert ics.filename.endswith(".ics") and b"SUMMARY:\xe3\x80\x90" in ics.data


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("name", ["receipt", "minutes_received"])
def test_mail_assigning_items_mentions_the_calendar_file(name: str, lang: str) -> None:
    """Receipts and minutes point to the .ics only when the mail carries files."""
    with_files = TEMPLATES.render(name, sample_context(files=[ICS]), lang)
    assert ".ics" in with_files.text and "Outlook" in with_files.text
    assert ".ics" not in TEMPLATES.render(name, sample_context(), lang).text
    if with_files.html is not None:
        assert ".ics" in with_files.html


def test_minutes_keep_a_blank_line_after_the_people_to_confirm() -> None:
    """The list of people to confirm is followed by a blank line, not glued to the items."""
    assert (
        "张三、李四\n\n纪要中的行动项"
        in TEMPLATES.render("minutes_received", sample_context()).text
    )


def test_subjects_fall_back_to_the_mail_the_clock_is_about() -> None:
    """Without ``department`` the subject takes department and topic from ``message``."""
    ctx = context("deadline_reminder", department=None, message=MINUTES)
    assert TEMPLATES.render("deadline_reminder", ctx).subject == "【截止提醒】技术部-完成接口联调"
    mail = MINUTES | {
        "subject": "【投诉】售后部-设备无法开机",
        "department": "售后部",
        "topic": "设备无法开机",
    }
    ctx = context("complaint_escalation", department=None, message=mail)
    assert (
        TEMPLATES.render("complaint_escalation", ctx).subject == "【投诉升级】售后部-设备无法开机"
    )
    bare = {k: v for k, v in context("deadline_overdue", department=None).items() if k != "message"}
    assert TEMPLATES.render("deadline_overdue", bare, "en").subject == "【Overdue】完成接口联调"
