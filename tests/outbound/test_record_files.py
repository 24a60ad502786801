"""The 内部沟通记录表 files: XLSX and CSV from rows, with no database."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from mailflow.outbound.record_format import COLUMNS, UTF8_BOM, Cell, cell_text, to_csv, to_xlsx

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Row:
    """A record row as the files see it: ten cells in the guide's order."""

    values: tuple[Cell, ...]

    def cells(self) -> tuple[Cell, ...]:
        return self.values


MINUTES = Row(
    (
        date(2023, 10, 8),
        "会议",
        "市场部、技术部、设计部",
        "Q4产品迭代进度同步",
        '例会纪要，"已阅"请回复\n第二行',
        "完成订单接口联调",
        "张三",
        date(2023, 10, 16),
        None,
        "待确认：刘洋",
    )
)
DONE = Row(
    (
        date(2023, 10, 9),
        "邮件",
        "市场部",
        "X300新品上市推广筹备",
        '=HYPERLINK("http://evil")',
        "X300上市推广方案",
        "王五",
        datetime(2023, 10, 12, 18, 0, tzinfo=TZ),
        datetime(2023, 10, 12, 16, 40, 35, tzinfo=TZ),
        "",
    )
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("会议", "会议"),
        (date(2023, 10, 8), "2023-10-08"),
        (datetime(2023, 10, 12, 16, 40, 35, tzinfo=TZ), "2023-10-12 16:40"),
    ],
)
def test_cell_text(value: Cell, text: str) -> None:
    """Dates become YYYY-MM-DD, datetimes YYYY-MM-DD HH:MM, nothing the empty string."""
    assert cell_text(value) == text


def test_xlsx_header_is_bold_frozen_and_wide() -> None:
    """The header row holds the guide's names in bold, stays frozen, and columns have widths."""
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx([MINUTES, DONE], "内部沟通记录表")))
    sheet = book.active
    assert sheet is not None and sheet.title == "内部沟通记录表"
    assert tuple(c.value for c in sheet[1]) == COLUMNS
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["E"].width > sheet.column_dimensions["B"].width >= 8


def test_xlsx_rows_are_text_and_formulas_stay_text() -> None:
    """Every cell is a string as shown, and mail text that looks like a formula is not one."""
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx([MINUTES, DONE], "r"))).active
    assert sheet is not None
    second, third = sheet[2], sheet[3]
    assert [c.value for c in second][:2] == ["2023-10-08", "会议"]
    assert second[4].value == '例会纪要，"已阅"请回复\n第二行'
    assert (third[7].value, third[8].value) == ("2023-10-12 18:00", "2023-10-12 16:40")
    assert third[4].value == '=HYPERLINK("http://evil")' and third[4].data_type == "s"


@pytest.mark.parametrize(
    ("title", "sheet"),
    [
        ("内部沟通记录表-技术部", "内部沟通记录表-技术部"),
        ("a/b:c?", "a_b_c_"),
        ("x" * 40, "x" * 31),
    ],
)
def test_xlsx_sheet_title_is_one_excel_accepts(title: str, sheet: str) -> None:
    """Characters Excel forbids in sheet names are replaced and the name is cut at 31."""
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx([], title)))
    assert book.active is not None and book.active.title == sheet


def test_csv_has_bom_crlf_and_quotes() -> None:
    """UTF-8 with a BOM, CRLF line ends, and RFC 4180 quoting of quotes and line breaks."""
    data = to_csv([MINUTES])
    assert data.startswith(UTF8_BOM)
    text = data[len(UTF8_BOM) :].decode("utf-8")
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    assert '"例会纪要，""已阅""请回复\n第二行"' in text
    assert text.endswith("待确认：刘洋\r\n")


def test_csv_round_trips_through_the_csv_module() -> None:
    """Reading the CSV back gives the header and the cells as text, Chinese intact."""
    read = list(csv.reader(io.StringIO(to_csv([MINUTES, DONE]).decode("utf-8-sig"), newline="")))
    assert tuple(read[0]) == COLUMNS
    assert read[1] == [cell_text(v) for v in MINUTES.values]
    assert read[2][7:9] == ["2023-10-12 18:00", "2023-10-12 16:40"]


def test_csv_neutralises_formulas() -> None:
    """A cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    read = list(csv.reader(io.StringIO(to_csv([DONE]).decode("utf-8-sig"), newline="")))
    assert read[1][4] == '\'=HYPERLINK("http://evil")'
