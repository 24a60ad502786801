"""Action items (责任人 + 完成时限 + 交付标准) from mail text: layouts, owners, missing fields."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailflow.mail.items import extract_items
from mailflow.mail.message import parse_message
from mailflow.mail.model import ActionItem, Address, ParseContext, Person
from mailflow.rulebook.organization import load_organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.settings import load_settings

TZ = ZoneInfo("Asia/Shanghai")
SENT = datetime(2023, 10, 9, 14, 20, tzinfo=TZ)  # a Monday
ROOT = Path(__file__).resolve().parents[2]
CTX = ParseContext(
    departments={"技术部": "技术部", "研发部": "技术部", "市场部": "市场部", "设计部": "设计部"},
    people=(
        Person("张三", "zhang.san@example.com", "技术部"),
        Person("王五", "wang.wu@example.com", "市场部"),
        Person("赵六", "zhao.liu@example.com", "设计部"),
    ),
)
GUEST = (Address("杨明", "yang.ming@kehu-a.com.cn"), Address("李四 (技术部)", "li.si@example.com"))


def items(text: str, sent: datetime | None = SENT) -> tuple[ActionItem, ...]:
    """Return the items of ``text`` read with the test directory and participants."""
    return extract_items(text, CTX, sent, GUEST)


def fields(item: ActionItem) -> tuple[object, ...]:
    """Return the item as a comparable tuple without the address."""
    return (item.task, item.owner, item.deadline, item.deliverable, item.missing)


FULL = ("接口联调", "张三", date(2023, 10, 15), "联调报告", ())

LAYOUTS = [
    # labelled fields, one line, with every separator the guide's users write
    ("任务：接口联调；责任人：张三；完成时限：10月15日；交付标准：联调报告", FULL),
    ("任务:接口联调; 负责人:张三; 截止时间:2023-10-15; 交付物:联调报告", FULL),
    ("事项：接口联调，执行人：张三，完成时间：10/15，验收标准：联调报告。", FULL),
    ("Task: 接口联调  Owner: 张三  Deadline: 2023/10/15  Deliverable: 联调报告", FULL),
    ("任务 接口联调 责任人 张三 截止日期 10.15 交付物 联调报告", FULL),
    ("1. 接口联调，责任人：张三，DDL：10月15日，交付标准：联调报告", FULL),
    ("（1）接口联调（责任人：张三；完成时限：10月15日；交付标准：联调报告）", FULL),
    # one field per line
    ("任务：接口联调\n责任人：张三\n完成时限：10月15日\n交付标准：联调报告", FULL),
    ("1. 接口联调\n   责任人：张三\n   截止时间：10月15日\n   交付物：联调报告", FULL),
    # labels joined with +
    ("接口联调，责任人+完成时限+交付标准：张三+10月15日+联调报告", FULL),
    # numbered and bulleted sentences
    ("1. 张三负责在10月15日前完成接口联调，交付联调报告。", ("完成接口联调", *FULL[1:])),
    ("（2）张三需于10月15日前完成接口联调，并提交联调报告", ("完成接口联调", *FULL[1:])),
    ("一、张三牵头接口联调，10月15日前交付联调报告", ("接口联调", *FULL[1:])),
    ("- 10月15日前，张三完成接口联调，交付物为联调报告", ("完成接口联调", *FULL[1:])),
    (
        "请市场部于下周五前提交宣传物料",
        ("提交宣传物料", "市场部", date(2023, 10, 20), "宣传物料", ()),
    ),
    (
        "2. 由研发部牵头，3个工作日内完成压测，输出压测报告",
        ("完成压测", "研发部", date(2023, 10, 12), "压测报告", ()),
    ),
    (
        "• 赵六负责活动海报设计，10月13日下午6点前交付",
        ("活动海报设计", "赵六", datetime(2023, 10, 13, 18, tzinfo=TZ), None, ("deliverable",)),
    ),
]


@pytest.mark.parametrize(("text", "expected"), LAYOUTS)
def test_layouts(text: str, expected: tuple[object, ...]) -> None:
    """Each layout the guide's users write gives the same item."""
    found = items(text)
    assert [fields(i) for i in found] == [expected]


MORE_SENTENCES = [
    (
        "请张三、赵六于本周五前完成需求评审并提交评审纪要。",
        ("完成需求评审", "张三、赵六", date(2023, 10, 13), "评审纪要", ()),
    ),
    (
        "@张三 10月15日前完成接口联调",
        ("完成接口联调", "张三", date(2023, 10, 15), None, ("deliverable",)),
    ),
    ("1. 张三：10月15日前完成接口联调，交付联调报告", ("完成接口联调", *FULL[1:])),
    (
        "张三 负责 接口联调，截止 10月15日",
        ("接口联调", "张三", date(2023, 10, 15), None, ("deliverable",)),
    ),
    (
        "请王五周三下午3点前提交方案",
        ("提交方案", "王五", datetime(2023, 10, 11, 15, tzinfo=TZ), "方案", ()),
    ),
    ("- [ ] 张三 下周一前评审PRD", ("评审PRD", "张三", date(2023, 10, 16), None, ("deliverable",))),
]


@pytest.mark.parametrize(("text", "expected"), MORE_SENTENCES)
def test_sentence_variants(text: str, expected: tuple[object, ...]) -> None:
    """Several owners, @mentions, an owner before a colon, checkboxes and clock times are read."""
    assert [fields(i) for i in items(text)] == [expected]


TABLES = [
    # the guide's 内部沟通记录表 as tab-separated text; 实际完成时间 is not a deadline
    "行动项\t负责人\t计划完成时间\t实际完成时间\t备注\n接口联调\t张三（技术部）\t2023-10-15\t\t交付联调报告\n",
    # an HTML table as the body converter renders it
    "行动项      | 负责人     | 计划完成时间     | 实际完成时间 | 备注\n"
    "接口联调   | 张三（技术部） | 2023-10-15 | 2023-10-14 | 交付联调报告\n",
    # Markdown, with the variant column names
    "| 序号 | 任务 | 责任人 | 截止时间 | 交付物 |\n|---|---|---|---|---|\n| 1 | 接口联调 | 张三 | 10月15日 | 联调报告 |",
    # full-width bar and a completion-standard column, a blank line inside
    "任务｜责任人｜截止时间｜完成标准\n\n接口联调｜张三｜10/15｜联调报告",
]


@pytest.mark.parametrize("text", TABLES)
def test_tables(text: str) -> None:
    """A table whose header names the columns gives one item per row."""
    assert [fields(i) for i in items(text)] == [FULL]


def test_table_rows_and_end() -> None:
    """Every row is an item, empty rows are skipped, and text after the table is not a row."""
    text = (
        "任务\t负责人\t截止时间\n接口联调\t张三\t10月15日\n\t\t\n海报\t赵六\t待定\n\n"
        "技术部 | 示例科技有限公司"
    )
    found = items(text)
    assert [(i.task, i.owner, i.deadline) for i in found] == [
        ("接口联调", "张三", date(2023, 10, 15)),
        ("海报", "赵六", None),
    ]
    assert found[1].missing == ("deadline", "deliverable")


def test_same_item_written_twice_is_merged() -> None:
    """A numbered sentence and a tracking-table row for the same work give one item."""
    text = (
        "三、行动项\n1. 张三负责在10月15日前完成接口联调，交付联调报告。\n"
        "2. 任务：活动海报；责任人：赵六；完成时限：10月13日 18:00\n\n"
        "四、行动项跟踪表\n行动项\t负责人\t计划完成时间\t交付物\n"
        "接口联调\t张三\t2023-10-15\t\n活动海报\t赵六\t2023-10-13\t海报终稿\n"
    )
    found = items(text)
    assert [fields(i) for i in found] == [
        ("完成接口联调", "张三", date(2023, 10, 15), "联调报告", ()),
        ("活动海报", "赵六", datetime(2023, 10, 13, 18, tzinfo=TZ), "海报终稿", ()),
    ]


def test_different_items_of_one_owner_stay_apart() -> None:
    """Two tasks of one owner with different deadlines are two items."""
    text = "1. 张三于10月15日前完成接口联调\n2. 张三于10月20日前完成接口压测\n3. 张三于10月25日前完成接口联调复测"
    assert [i.deadline for i in items(text)] == [
        date(2023, 10, 15),
        date(2023, 10, 20),
        date(2023, 10, 25),
    ]


@pytest.mark.parametrize(
    ("owner_text", "owner", "email"),
    [
        ("张三", "张三", "zhang.san@example.com"),  # the directory
        ("张三（技术部）", "张三", "zhang.san@example.com"),
        ("技术部 张三", "张三", "zhang.san@example.com"),
        ("李四", "李四", "li.si@example.com"),  # a participant's display name
        ("杨明", "杨明", "yang.ming@kehu-a.com.cn"),
        ("市场部", "市场部", None),  # departments have no address
        ("研发部", "研发部", None),  # an alias stays as written
        ("数据中心", "数据中心", None),
        ("孔伟", "孔伟", None),  # unknown person
        ("张三、赵六", "张三、赵六", None),  # several owners
        ("待定", None, None),
    ],
)
def test_owner_resolution(owner_text: str, owner: str | None, email: str | None) -> None:
    """Owners resolve through the directory, then participants; departments stay unaddressed."""
    (item,) = items(f"任务：接口联调；责任人：{owner_text}；完成时限：10月15日")
    assert (item.owner, item.owner_email) == (owner, email)


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("任务：接口联调；责任人：张三；交付标准：联调报告", ("deadline",)),
        ("任务：接口联调；完成时限：10月15日；交付标准：联调报告", ("owner",)),
        ("任务：接口联调；责任人：张三；完成时限：尽快", ("deadline", "deliverable")),
        ("1. 10月15日前完成接口联调", ("owner", "deliverable")),
    ],
)
def test_missing_fields(text: str, missing: tuple[str, ...]) -> None:
    """``missing`` names each of owner, deadline and deliverable the mail left out."""
    (item,) = items(text)
    assert item.missing == missing


def test_relative_deadline_without_message_date() -> None:
    """Without a Date a relative deadline stays unknown and is listed as missing."""
    (item,) = items("任务：接口联调；责任人：张三；完成时限：3个工作日内；交付物：报告", None)
    assert item.deadline is None and item.missing == ("deadline",)


PROSE = [
    "各位好：\n\n会议纪要如下，请各位参会人员在24小时内回复“已阅”。",
    "1. X300新版本功能冻结时间定为10月13日，10月20日提测，10月27日正式上线。",
    "1. 订单接口与CRM系统联调：完成率70%，计划10月16日完成；",
    "3. 风险点：CRM测试环境不稳定，10月7日起多次中断，可能影响联调进度。",
    "4. 问题解决后3天内，我们将回访贵司确认使用情况。",
    "第2项请吴敏评估后尽快回复完成时间。执行中如有困难请及时反馈。",
    "张三上周已完成接口联调。",
    "会议信息\n主持人：李四（技术部）\n负责人：李四\n会议时间：2023年10月8日 14:00-15:30",
    "张三\n技术部 | 示例科技有限公司\n电话：0571-8888 6601",
    "姓名\t电话\n张三\t138 0000 0001",
]


@pytest.mark.parametrize("text", PROSE)
def test_no_items_from_prose(text: str) -> None:
    """Summaries, progress notes, signatures and lone labels give no items."""
    assert items(text) == ()


def test_sentences_outside_an_action_section_are_ignored() -> None:
    """With a 行动项 section, a summary above it gives no items even when it names owners."""
    text = (
        "二、核心内容摘要\n1. 设计部确认视觉方案，10月13日前交付高保真设计稿。\n"
        "2. 市场部需在上线前3天完成宣传物料准备。\n\n三、行动项\n1. 张三负责在10月15日前完成接口联调，交付联调报告。\n"
    )
    assert [i.owner for i in items(text)] == ["张三"]


def test_sentences_count_without_sections() -> None:
    """Without a 行动项 section, an owned numbered sentence anywhere is an item."""
    text = "各位：\n1. 设计部需在10月13日前交付高保真设计稿。\n谢谢"
    assert [fields(i) for i in items(text)] == [
        ("交付高保真设计稿", "设计部", date(2023, 10, 13), "高保真设计稿", ())
    ]


# --- the example inbox ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_ctx() -> ParseContext:
    """Return the parse context built from the shipped rules."""
    return parse_context(load_organization(ROOT / "rules"), load_settings())


def example(name: str, ctx: ParseContext) -> tuple[ActionItem, ...]:
    """Return the items ``parse_message`` finds in one example mail."""
    return parse_message((ROOT / "examples/inbox/new" / name).read_bytes(), ctx).action_items


def test_example_mail_1_minutes(shipped_ctx: ParseContext) -> None:
    """Mail 1 writes four items three ways; they merge into four complete items."""
    found = example("1696757414.M1017P4101.example", shipped_ctx)
    assert [(i.owner, i.owner_email, i.deadline, i.missing) for i in found] == [
        ("张三", "zhang.san@example.com", date(2023, 10, 16), ()),
        ("王五", "wang.wu@example.com", date(2023, 10, 20), ()),
        ("赵六", "zhao.liu@example.com", datetime(2023, 10, 13, 18, tzinfo=TZ), ()),
        ("刘洋", "liu.yang@example.com", date(2023, 10, 24), ()),
    ]
    assert [i.deliverable for i in found] == [
        "联调测试报告",
        "宣传物料初稿（含目标用户群体说明）",
        "Figma高保真稿及切图",
        "渠道清单及排期表",
    ]


def test_example_mail_5_task_assignment(shipped_ctx: ParseContext) -> None:
    """Mail 5 has three items; the second (吴敏) lacks its deadline."""
    found = example("1696832439.M5017P4105.example", shipped_ctx)
    assert [(i.task, i.owner, i.deadline, i.missing) for i in found] == [
        ("X300上市推广方案", "王五", datetime(2023, 10, 12, 18, tzinfo=TZ), ()),
        ("重点客户邀约名单", "吴敏", None, ("deadline",)),
        ("活动主视觉海报", "赵六", date(2023, 10, 18), ()),
    ]
    assert found[1].owner_email == "wu.min@example.com"
