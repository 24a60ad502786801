"""The 内部沟通记录表 and the weekly digest, read from the example inbox ingested for real."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from mailflow.cli.report import report
from mailflow.errors import UnknownDepartmentError
from mailflow.outbound.record_format import COLUMNS, UTF8_BOM, to_csv, to_xlsx
from mailflow.rulebook.organization import Organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.comm_record import RecordRow, digest, record_rows
from mailflow.service.ingest import ingest
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import make_engine, make_session_factory
from tests.servers.databases import BACKENDS, migrated_database

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
MINUTES_PEOPLE = "技术部、市场部、设计部"


@dataclass
class Store:
    sessions: sessionmaker[Session]
    org: Organization

    def rows(
        self,
        start: date | None = None,
        end: date | None = None,
        department: str | None = None,
        now: datetime | None = None,
    ) -> list[RecordRow]:
        return record_rows(
            self.sessions, start=start, end=end, department=department, org=self.org, tz=TZ, now=now
        )


@dataclass
class Ingested:
    url: str
    store: Store


@pytest.fixture(scope="module", params=BACKENDS)
def ingested(request: pytest.FixtureRequest) -> Iterator[Ingested]:
    """The example inbox ingested and decided about through the real service, once per backend
    for this module: every test here only reads."""
    with migrated_database(request.param) as url:
        settings = load_settings(
            database_url=url, rules_dir=REPO / "rules", templates_dir=REPO / "templates"
        )
        rulebook, _ = load_rules(settings)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        ctx = parse_context(rulebook.organization, settings)
        inbox = MaildirSource(REPO / "examples" / "inbox")
        assert ingest(inbox, sessions, ctx, rulebook=rulebook).stored == 15
        yield Ingested(url, Store(sessions, rulebook.organization))
        engine.dispose()


@pytest.fixture
def store(ingested: Ingested) -> Store:
    """The ingested example inbox."""
    return ingested.store


def _brief(rows: list[RecordRow]) -> list[tuple[str, ...]]:
    return [
        (r.labelled()["沟通日期"], r.kind, r.topic, r.owner, r.labelled()["计划完成时间"])
        for r in rows
    ]


def test_rows_one_per_item_or_conversation(store: Store) -> None:
    """Items make a row each, new conversations without items one row, replies and robots none."""
    assert _brief(store.rows()) == [
        ("2023-10-08", "会议", "Q4产品迭代进度同步", "张三", "2023-10-16"),
        ("2023-10-08", "会议", "Q4产品迭代进度同步", "王五", "2023-10-20"),
        ("2023-10-08", "会议", "Q4产品迭代进度同步", "赵六", "2023-10-13 18:00"),
        ("2023-10-08", "会议", "Q4产品迭代进度同步", "刘洋", "2023-10-24"),
        ("2023-10-09", "邮件", "X300新品上市推广筹备", "王五", "2023-10-12 18:00"),
        ("2023-10-09", "邮件", "X300新品上市推广筹备", "吴敏", ""),
        ("2023-10-09", "邮件", "X300新品上市推广筹备", "赵六", "2023-10-18"),
        ("2023-10-09", "邮件", "Q4产品迭代第2周进度", "", ""),
        ("2023-10-10", "邮件", "X200智能终端批量死机，严重影响产线", "", ""),
        ("2023-10-13", "邮件", "Q4迭代订单接口联调可能延期", "", ""),
    ]


def test_minutes_rows_carry_participants_summary_and_ledger(store: Store) -> None:
    """The minutes' rows name the departments, summarise new_text and show the ledger in 备注."""
    minutes = [r for r in store.rows(now=datetime(2023, 10, 10, tzinfo=TZ)) if r.kind == "会议"]
    assert {r.participants for r in minutes} == {MINUTES_PEOPLE}
    assert minutes[0].summary.startswith(
        "10月8日（周日，调休工作日）下午召开了Q4产品迭代进度同步会"
    )
    assert len(minutes[0].summary) == 81 and minutes[0].summary.endswith("…")
    assert minutes[0].action == "完成订单接口与CRM系统联调（交付标准：联调测试报告）"
    assert minutes[0].remarks == "待确认：刘洋"
    assert minutes[1].remarks == "异议（王五）：第2项“X300上线宣传物料”的完成时限10月20日偏紧"
    assert [r.remarks for r in minutes[2:]] == ["", ""]


def test_task_mail_rows_show_done_and_missing(store: Store) -> None:
    """王五's done item shows its actual completion, 吴敏's lacks a deadline, late ones say 逾期."""
    tasks = [
        r
        for r in store.rows(now=datetime(2023, 10, 19, 9, tzinfo=TZ))
        if r.day == date(2023, 10, 9) and r.owner
    ]
    assert [r.labelled()["实际完成时间"] for r in tasks] == ["2023-10-12 16:40", "", ""]
    assert [r.remarks for r in tasks] == ["", "缺少完成时限", "逾期"]
    assert tasks[0].participants == "市场部、销售部、设计部"


def test_complaint_row_names_the_customer(store: Store) -> None:
    """An external complaint is recorded with the customer's name and no subject warning."""
    (row,) = store.rows(department="售后部")
    assert (row.participants, row.remarks) == ("售后部、杨明", "")
    assert row.summary.startswith("我司9月20日采购的贵司X200智能终端")


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2023, 10, 9), date(2023, 10, 9), ["2023-10-09"] * 4),
        (None, date(2023, 10, 8), ["2023-10-08"] * 4),
        (date(2023, 10, 10), None, ["2023-10-10", "2023-10-13"]),
        (date(2023, 10, 14), date(2023, 10, 20), []),
    ],
)
def test_period_is_in_local_days(
    store: Store, start: date | None, end: date | None, days: list[str]
) -> None:
    """From and to are inclusive local (+08:00) days, whatever the UTC date of the mail."""
    rows = store.rows(start=start, end=end)
    assert [r.labelled()["沟通日期"] for r in rows] == days


@pytest.mark.parametrize(
    ("department", "topics"),
    [
        (
            "技术部",
            ["Q4产品迭代进度同步"] * 4 + ["Q4产品迭代第2周进度", "Q4迭代订单接口联调可能延期"],
        ),
        (
            "研发部",
            ["Q4产品迭代进度同步"] * 4 + ["Q4产品迭代第2周进度", "Q4迭代订单接口联调可能延期"],
        ),
        ("销售部", ["X300新品上市推广筹备"] * 3),
        ("售后部", ["X200智能终端批量死机，严重影响产线"]),
        ("法务部", []),
    ],
)
def test_department_filter_resolves_aliases(
    store: Store, department: str, topics: list[str]
) -> None:
    """A department (or its alias) keeps rows whose participants or owners belong to it."""
    assert [r.topic for r in store.rows(department=department)] == topics


def test_unknown_department_names_the_known_ones(store: Store) -> None:
    """An unknown department is refused with the list of real ones."""
    with pytest.raises(UnknownDepartmentError, match="known: 技术部, 市场部"):
        store.rows(department="宣传部")


def test_xlsx_of_the_record_opens_with_the_rows(store: Store) -> None:
    """The workbook holds the guide's header and one text row per record row."""
    rows = store.rows()
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(rows, "内部沟通记录表"))).active
    assert sheet is not None
    values = [[c or "" for c in line] for line in sheet.iter_rows(values_only=True)]
    assert tuple(values[0]) == COLUMNS
    assert len(values) == 1 + len(rows)
    done = values[5]
    assert done[:2] == ["2023-10-09", "邮件"]
    assert (done[6], done[7], done[8]) == ("王五", "2023-10-12 18:00", "2023-10-12 16:40")


def test_csv_of_the_record_round_trips(store: Store) -> None:
    """The CSV reads back through the csv module with the Chinese intact."""
    rows = store.rows()
    data = to_csv(rows)
    assert data.startswith(UTF8_BOM)
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert tuple(read[0]) == COLUMNS
    assert read[1:] == [list(r.labelled().values()) for r in rows]


def _digest(store: Store, department: str, now: datetime) -> dict[str, Any]:
    return digest(store.sessions, department=department, now=now, org=store.org, tz=TZ)


def test_digest_for_the_technical_department(store: Store) -> None:
    """技术部 on Saturday 14 Oct: 张三's item open, the minutes still lack 刘洋's 已阅."""
    d = _digest(store, "研发部", datetime(2023, 10, 14, 10, tzinfo=TZ))
    assert (d["department"], d["managers"]) == ("技术部", ["li.si@example.com"])
    assert (d["as_of"], d["period"]) == (
        "2023-10-14 10:00",
        {"from": "2023-10-07", "to": "2023-10-14"},
    )
    assert [(i["owner"], i["task"], i["deadline"], i["overdue"]) for i in d["open_items"]] == [
        ("张三", "完成订单接口与CRM系统联调", "2023-10-16", False)
    ]
    assert d["done_items"] == d["overdue_items"] == d["open_complaints"] == []
    (minutes,) = d["unconfirmed"]
    assert (minutes["subject"], minutes["date"], minutes["organiser"], minutes["pending"]) == (
        "【会议纪要】技术部-Q4产品迭代进度同步",
        "2023-10-08 17:30",
        "张三",
        ["刘洋"],
    )
    assert d["counts"] == {
        "open_items": 1,
        "overdue_items": 0,
        "done_items": 0,
        "unconfirmed": 1,
        "open_complaints": 0,
    }


def test_digest_overdue_and_done_as_of_now(store: Store) -> None:
    """After 16 Oct 张三's item is overdue; 王五's plan counts as done only from 12 Oct 16:40."""
    tech = _digest(store, "技术部", datetime(2023, 10, 17, 10, tzinfo=TZ))
    assert [(i["owner"], i["days_overdue"]) for i in tech["overdue_items"]] == [("张三", 1)]
    assert tech["open_items"] == tech["overdue_items"]
    market = _digest(store, "市场中心", datetime(2023, 10, 13, 9, tzinfo=TZ))
    assert [(i["task"], i["completed_at"]) for i in market["done_items"]] == [
        ("X300上市推广方案", "2023-10-12 16:40")
    ]
    before = _digest(store, "市场部", datetime(2023, 10, 12, 9, tzinfo=TZ))
    assert before["done_items"] == []
    assert "X300上市推广方案" in [i["task"] for i in before["open_items"]]
    later = _digest(store, "市场部", datetime(2023, 10, 27, 9, tzinfo=TZ))
    assert later["done_items"] == []  # done more than a week before


@pytest.mark.parametrize(
    ("now", "open_complaints"),
    [
        (datetime(2023, 10, 10, 12, tzinfo=TZ), [("杨明", "2023-10-10 08:52", 3)]),
        (datetime(2023, 10, 11, 10, tzinfo=TZ), [("杨明", "2023-10-10 08:52", 25)]),
        (datetime(2023, 10, 14, 10, tzinfo=TZ), []),
    ],
)
def test_digest_for_after_sales_lists_unanswered_complaints(
    store: Store, now: datetime, open_complaints: list[tuple[str, str, int]]
) -> None:
    """售后部 sees 杨明's complaint until 陈静 answers it on 11 Oct 10:30, and no items."""
    d = _digest(store, "售后部", now)
    assert [
        (c["from"]["name"], c["date"], c["hours_open"]) for c in d["open_complaints"]
    ] == open_complaints
    assert d["managers"] == ["zhou.qiang@example.com"]
    assert d["open_items"] == d["done_items"] == d["overdue_items"] == d["unconfirmed"] == []


def test_digest_of_an_unknown_department_is_refused(store: Store) -> None:
    """The digest, like the record, accepts only departments and aliases of the rules."""
    with pytest.raises(UnknownDepartmentError):
        _digest(store, "宣传部", datetime(2023, 10, 14, tzinfo=TZ))


@pytest.fixture
def cli(ingested: Ingested, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose settings point at the ingested database and the shipped rules."""
    for name in list(os.environ):
        if name.startswith("MAILFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", ingested.url)
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(REPO / "rules"))
    monkeypatch.setenv("MAILFLOW_TEMPLATES_DIR", str(REPO / "templates"))
    return CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report)
    app.command("noop")(lambda: None)  # two commands, so "report" stays a subcommand
    return app


def test_report_command_writes_the_xlsx(cli: CliRunner, tmp_path: Path) -> None:
    """`report --department 技术部 --format xlsx -o FILE` writes the filtered rows and says so."""
    out = tmp_path / "record.xlsx"
    args = [
        "report",
        "--from",
        "2023-10-08",
        "--to",
        "2023-10-15",
        "--department",
        "技术部",
        "--format",
        "xlsx",
        "-o",
        str(out),
    ]
    result = cli.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert f"6 rows written to {out}" in result.stderr
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None and sheet.title == "内部沟通记录表-技术部"
    assert sheet.max_row == 7


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--department", "宣传部"], "unknown department '宣传部'; known: 技术部"),
        # below a plain file: unwritable even for root, whatever folders the machine has
        (["-o", "{tmp}/a-file/r.csv"], "cannot write {tmp}/a-file/r.csv"),
        (
            ["--from", "2023-10-10", "--to", "2023-10-09"],
            "--from 2023-10-10 is after --to 2023-10-09",
        ),
    ],
)
def test_report_command_user_errors(
    cli: CliRunner, tmp_path: Path, args: list[str], reason: str
) -> None:
    """Unknown departments, unwritable files and reversed periods exit 1 with the reason."""
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    base = ["report", "--format", "csv", "-o", str(tmp_path / "r.csv")]
    result = cli.invoke(_app(), base + [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert reason.format(tmp=tmp_path) in result.stderr
