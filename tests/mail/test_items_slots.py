"""Slot-based action items: each written form, in new mail from trades the other tests do not use."""

from __future__ import annotations

from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from mailflow.mail.items import extract_items
from mailflow.mail.message import parse_message
from mailflow.mail.model import ActionItem, Address, ParseContext, Person

TZ = ZoneInfo("Asia/Shanghai")
SENT = datetime(2025, 6, 10, 9, 30, tzinfo=TZ)  # a Tuesday
CTX = ParseContext(
    departments={
        d: d for d in ("船体车间", "涂装车间", "采编部", "新媒体中心", "质检科", "仓储部")
    },
    people=(
        Person("钱卫国", "qian.weiguo@yard.example", "船体车间"),
        Person("柳青", "liu.qing@yard.example", "涂装车间"),
        Person("聂然", "nie.ran@tv.example", "采编部"),
        Person("Sophie Lin", "sophie.lin@tv.example", "新媒体中心"),
        Person("葛优优", "ge.youyou@farm.example", "质检科"),
    ),
)
SENDER = Address("鲁明", "lu.ming@yard.example")
ONE_TO = (Address("柳青", "liu.qing@yard.example"),)
TWO_TO = (*ONE_TO, Address("聂然", "nie.ran@tv.example"))
GUESTS = (SENDER, Address("Marco Rossi", "marco@port.example"), *TWO_TO)


def read(text: str, to: tuple[Address, ...] = TWO_TO) -> list[tuple[object, ...]]:
    """Return the items of ``text`` as (task, owner, deadline, deliverable, missing) tuples."""
    found = extract_items(text, CTX, SENT, (SENDER, *to, *GUESTS[1:2]), to=to, sender=SENDER)
    return [(i.task, i.owner, i.deadline, i.deliverable, i.missing) for i in found]


def owners(text: str, to: tuple[Address, ...] = TWO_TO) -> list[object]:
    """Return the owner of each item in ``text``."""
    return [row[1] for row in read(text, to)]


def test_labels_alone() -> None:
    """Labels without a task line are an item; what is delivered names the task."""
    text = "鲁总：\n\n分段合拢焊缝返修，请安排：\n责任人：钱卫国；完成时限：6月20日；交付标准：返修记录及探伤报告\n"
    assert read(text) == [
        ("返修记录及探伤报告", "钱卫国", date(2025, 6, 20), "返修记录及探伤报告", ())
    ]


def test_labels_in_brackets_on_one_line() -> None:
    """【责任人】…【完成时限】…【交付标准】… on one line after the task."""
    text = "压载舱涂装复检【责任人】柳青【完成时限】6月18日【交付标准】膜厚检测记录"
    assert read(text) == [("压载舱涂装复检", "柳青", date(2025, 6, 18), "膜厚检测记录", ())]


def test_labels_in_traditional_script() -> None:
    """負責人 / 完成時間 / 交付物 read like their simplified forms."""
    text = "任務：颱風季節防汛物資盤點\n負責人：葛優優\n完成時間：6月16日\n交付物：物資清單"
    assert read(text) == [("颱風季節防汛物資盤點", "葛優優", date(2025, 6, 16), "物資清單", ())]


def test_task_glued_to_labels_with_a_dash() -> None:
    """``task——责任人：X；完成时限：…`` keeps the task apart from the owner."""
    text = "甲板舾装件清点——责任人：钱卫国；完成时限：6月13日；交付标准：清点表"
    assert read(text) == [("甲板舾装件清点", "钱卫国", date(2025, 6, 13), "清点表", ())]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- Marco to send the berth schedule by Friday.",
            ("send the berth schedule", "Marco", date(2025, 6, 13), "berth schedule", ()),
        ),
        (
            "• Sophie Lin will deliver the rough cut by Tuesday next week",
            ("deliver the rough cut", "Sophie Lin", date(2025, 6, 17), "rough cut", ()),
        ),
        (
            "1. 聂然 to submit the interview outline by June 24",
            ("submit the interview outline", "聂然", date(2025, 6, 24), "interview outline", ()),
        ),
        (
            "I will circulate the revised crew list by tomorrow.",
            ("circulate the revised crew list", "鲁明", date(2025, 6, 11), "revised crew list", ()),
        ),
    ],
)
def test_english_sentence_items(text: str, expected: tuple[object, ...]) -> None:
    """English items: an owner, to/will and a verb, ``by`` a day."""
    assert read(text) == [expected]


def test_you_is_the_single_addressee() -> None:
    """你/您 names the one To recipient; with two recipients the owner stays unknown."""
    text = "柳青你好：\n\n麻烦你明天下班前把油漆批次清单发我，谢谢。"
    assert read(text, ONE_TO) == [
        ("把油漆批次清单发我", "柳青", datetime(2025, 6, 11, 18, tzinfo=TZ), "油漆批次清单", ())
    ]
    assert owners("1. 请您周五前确认涂装方案", TWO_TO) == [None]


@pytest.mark.parametrize(
    ("text", "owner"),
    [
        ("1. 各部门负责人于6月13日前报送安全隐患排查表", "各部门负责人"),
        ("2. 王经理下周三前确认冷库租赁合同", "王经理"),
        ("3. 请李工周五前出具吊装方案", "李工"),
        ("4. Tony王负责直播脚本，6月12日前交付", "Tony王"),
        ("5. 新媒体中心于6月15日前输出选题清单", "新媒体中心"),
        ("6. 钱卫国和柳青周五前完成分段交验", "钱卫国和柳青"),
        ("7. 质检科葛优优主管6月14日前完成抽检", "葛优优"),
    ],
)
def test_owner_kinds(text: str, owner: str) -> None:
    """Owners: groups, titled names, mixed names, departments, several people, dept + person."""
    assert owners(text) == [owner]


def test_sentence_without_request_words() -> None:
    """李晓东于周五前提交… needs no 请 or 负责; two such clauses are two items."""
    text = "采编部下周改版。聂然于周五前提交新栏目策划案，新媒体中心赵一鸣在6月16日前完成账号迁移。"
    assert read(text) == [
        ("提交新栏目策划案", "聂然", date(2025, 6, 13), "新栏目策划案", ()),
        ("完成账号迁移", "赵一鸣", date(2025, 6, 16), None, ("deliverable",)),
    ]


def test_by_x_output_y() -> None:
    """由X输出Y: X owns the item and Y is the deliverable."""
    assert read("2. 由质检科输出农残抽检报告，6月17日前发仓储部") == [
        ("输出农残抽检报告", "质检科", date(2025, 6, 17), "农残抽检报告", ())
    ]


def test_deadline_hanging_on_an_event_is_kept_without_one() -> None:
    """问题解决后3天内 is no date: the item stays, with deadline missing."""
    assert read("1. 设备恢复后3天内，钱卫国组织复测并提交复测记录。") == [
        ("组织复测", "钱卫国", None, "复测记录", ("deadline",))
    ]


def test_nested_list_item_continues_its_parent() -> None:
    """A deeper line without a marker of its own belongs to the item above it."""
    text = "1. 柳青负责联系油漆供应商，\n     6月19日前反馈色卡样板"
    assert read(text) == [("联系油漆供应商", "柳青", date(2025, 6, 19), "色卡样板", ())]


TABLES = [
    "| 工序 | 牵头人 | 时间节点 | 成果要求 |\n|---|---|---|---|\n| 主机吊装 | 钱卫国 | 6月20日 | 吊装记录 |",
    "工作项\t对接人\t截止\t产出\n主机吊装\t钱卫国\t6月20日\t吊装记录",
    "事项            经办人      完成日期      提交材料\n主机吊装        钱卫国      6月20日       吊装记录",
    "Action | Who | Due | Output\n主机吊装 | 钱卫国 | June 20 | 吊装记录",
]


@pytest.mark.parametrize("text", TABLES)
def test_tables_classify_headers_by_meaning(text: str) -> None:
    """Markdown, tab, space-aligned and English-headed tables give the same row."""
    assert read(text) == [("主机吊装", "钱卫国", date(2025, 6, 20), "吊装记录", ())]


def test_table_without_a_task_column_names_who_and_when() -> None:
    """A header with who and when takes the first free column as the work."""
    text = "品名\t跟进人\t要求到货时间\t状态\n有机肥\t葛优优\t6月18日\t已下单"
    assert read(text) == [("有机肥", "葛优优", date(2025, 6, 18), None, ("deliverable",))]


HTML = """<html><body><p>各位：</p><table border=1>
<tr><td colspan=4>六月节目制作分工</td></tr>
<tr><th>节目</th><th>编导</th><th>播出前完成</th><th>交付</th></tr>
<tr><td>端午特别节目</td><td rowspan=2>聂然</td><td>6月25日</td><td>成片</td></tr>
<tr><td>夏季招商片花</td><td>6月27日</td><td>片花</td></tr>
</table><p>鲁明</p></body></html>"""


def _mail(html: str, plain: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "鲁明 <lu.ming@yard.example>", "聂然 <nie.ran@tv.example>"
    msg["Subject"], msg["Date"] = "【任务分配】采编部-六月节目", "Tue, 10 Jun 2025 09:30:00 +0800"
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_html_table_with_merged_cells_is_read_from_the_markup() -> None:
    """The flattened text alternative loses the table; the HTML one, with rowspan, keeps it."""
    plain = "各位：\n六月节目制作分工\n节目\n编导\n播出前完成\n交付\n端午特别节目\n聂然\n6月25日\n成片\n"
    plain += "夏季招商片花\n6月27日\n片花\n鲁明\n"
    got = parse_message(_mail(HTML, plain), CTX).action_items
    assert [(i.task, i.owner, i.deadline, i.deliverable) for i in got] == [
        ("端午特别节目", "聂然", date(2025, 6, 25), "成片"),
        ("夏季招商片花", "聂然", date(2025, 6, 27), "片花"),
    ]


def test_html_table_in_quoted_history_is_ignored() -> None:
    """A table inside the quoted mail gives no items."""
    quoted = f'<html><body><p>收到。</p><div class="gmail_quote">{HTML}</div></body></html>'
    assert parse_message(_mail(quoted, "收到。\n"), CTX).action_items == ()


PRECISION = [
    "柳青你好：\n\n辛苦了！上周的涂装验收已经完成，谢谢大家。\n\n鲁明\n船体车间 | 电话 0580-1234567",
    "各位好，\n\n请各位在24小时内回复“已阅”。\n\n鲁明",
    "收到，按计划执行。\n\n-----原始邮件-----\n发件人: 鲁明\n主题: 分工\n\n1. 钱卫国于6月13日前提交焊接记录。",
    "Thanks Marco, noted.\n\nOn Mon, Jun 9, 2025 at 5:02 PM 鲁明 wrote:\n> Marco to send the berth schedule by Friday.",
    "鲁明\n船体车间主任\n负责人：鲁明  手机：139 0000 1111\n地址：舟山市定海区",
]


@pytest.mark.parametrize("text", PRECISION)
def test_no_items_from_greetings_signatures_or_history(text: str) -> None:
    """Greetings, thanks, done work, signatures and quoted history give no items."""
    msg = EmailMessage()
    msg["From"], msg["To"] = "柳青 <liu.qing@yard.example>", "鲁明 <lu.ming@yard.example>"
    msg["Subject"], msg["Date"] = "Re: 分工", "Tue, 10 Jun 2025 09:30:00 +0800"
    msg.set_content(text)
    assert parse_message(msg.as_bytes(), CTX).action_items == ()


def test_the_readme_example() -> None:
    """The README's own labelled line, alone, is an item with all three slots."""
    (item,) = extract_items(
        "责任人：王五；完成时限：12月18日；交付标准：活动方案初稿", CTX, SENT, ()
    )
    assert isinstance(item, ActionItem)
    assert (item.owner, item.deadline, item.deliverable, item.missing) == (
        "王五",
        date(2025, 12, 18),
        "活动方案初稿",
        (),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1. 校准龙门吊称重传感器（钱卫国，6月13日前）",
            ("校准龙门吊称重传感器", "钱卫国", date(2025, 6, 13), None, ("deliverable",)),
        ),
        (
            "2. 申报码头夜间作业许可（柳青，6月18日前，交许可申请表）",
            ("申报码头夜间作业许可", "柳青", date(2025, 6, 18), "许可申请表", ()),
        ),
        (
            "3. 舱口盖密封检查 负责：钱卫国 截止：6月16日 交付：检查表",
            ("舱口盖密封检查", "钱卫国", date(2025, 6, 16), "检查表", ()),
        ),
        (
            "@柳青 本周五前把色卡寄给船东，给出寄件单号。",
            ("把色卡寄给船东", "柳青", date(2025, 6, 13), "寄件单号", ()),
        ),
    ],
)
def test_owner_after_the_task(text: str, expected: tuple[object, ...]) -> None:
    """Owner in brackets after the task, short labels with colons, and @mentions."""
    assert read(text) == [expected]


def test_english_checkbox_role_and_compound_sentences() -> None:
    """``Name: verb …``, a party named by its role, and two items in one English sentence."""
    text = (
        "Action items:\n- [ ] Marco Rossi: return the signed charter party by June 16\n\n"
        "After the survey: Sophie Lin will share the footage by Friday, and the broker needs to"
        " confirm the laycan by June 20."
    )
    assert read(text) == [
        ("return the signed charter party", "Marco Rossi", date(2025, 6, 16),
         "signed charter party", ()),
        ("share the footage", "Sophie Lin", date(2025, 6, 13), "footage", ()),
        ("confirm the laycan", "broker", date(2025, 6, 20), None, ("deliverable",)),
    ]  # fmt: skip


def test_english_prose_without_an_owner_or_date_gives_nothing() -> None:
    """A note, a meeting time and a pleasantry are no items."""
    text = "Note: the yard is closed by Friday.\nThe meeting will start by 3pm.\nThanks all!"
    assert read(text) == []


def test_html_table_of_labels_and_values() -> None:
    """A two-column table of labels and values reads like labelled lines."""
    html = (
        "<html><body><p>柳青：</p><table border=1><tr><td>任务</td><td>试航涂层检测</td></tr>"
        "<tr><td>负责人</td><td>柳青</td></tr><tr><td>完成时限</td><td>6月26日</td></tr>"
        "<tr><td>交付标准</td><td>检测报告</td></tr></table></body></html>"
    )
    plain = "柳青：\n任务\n试航涂层检测\n负责人\n柳青\n完成时限\n6月26日\n交付标准\n检测报告\n"
    got = parse_message(_mail(html, plain), CTX).action_items
    assert [(i.task, i.owner, i.deadline, i.deliverable) for i in got] == [
        ("试航涂层检测", "柳青", date(2025, 6, 26), "检测报告")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "我周五前把船级社检验意见整理好发给大家",
            (
                "把船级社检验意见整理好发给大家",
                "鲁明",
                date(2025, 6, 13),
                "船级社检验意见整理好",
                (),
            ),
        ),
        (
            "① 各班组长6月12日前组织高处作业培训，上报培训签到表；",
            ("组织高处作业培训", "各班组长", date(2025, 6, 12), "培训签到表", ()),
        ),
        (
            "请钱卫国和柳青于6月15日前共同完成压载试验，提交试验记录。",
            ("共同完成压载试验", "钱卫国和柳青", date(2025, 6, 15), "试验记录", ()),
        ),
        (
            "1. 欧阳振华负责拖轮调度，6月11日前反馈拖轮排班",
            ("拖轮调度", "欧阳振华", date(2025, 6, 11), "拖轮排班", ()),
        ),
    ],
)
def test_first_person_groups_joint_owners_and_compound_surnames(
    text: str, expected: tuple[object, ...]
) -> None:
    """我 is the sender; 各班组长 a group; two people working together; 欧阳 a surname."""
    assert read(text) == [expected]


def test_remark_that_hands_something_over() -> None:
    """A 备注 cell saying 交… gives the deliverable when the table has no deliverable column."""
    text = "环节\t责任人\t完成时间\t备注\n船级社登轮检验\t钱卫国\t6月14日\t交检验报告扫描件"
    assert read(text) == [("船级社登轮检验", "钱卫国", date(2025, 6, 14), "检验报告扫描件", ())]


def test_what_the_writer_already_arranged_is_no_item() -> None:
    """已协调/已通知 X 今天… reports the writer's own arrangement, not a task handed out."""
    text = "吊机故障已协调设备部门明天上午恢复，已通知柳青周五前复检。"
    assert read(text) == []
