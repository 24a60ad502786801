"""Reading HR sheets written the way HR departments write them: XLSX and CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from mailflow.directories.sheet import read_sheet
from mailflow.errors import DirectorySourceError
from mailflow.rulebook.directory_config import SheetColumns, SheetSource
from mailflow.rulebook.roster import build_roster


def _roster_book(path: Path) -> Path:
    """An 花名册 as HR keeps it: a merged title, a two-row header under merged group cells, a
    department merged down over its people, names padded with full-width spaces."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "在职员工"
    ws.append(["示例科技 2026年12月 员工花名册"])
    ws.merge_cells("A1:F1")
    ws.append(["部　门", "姓　名", "联系方式", None, "直属 上级", "状态"])
    ws.append([None, None, "邮 箱", "手机", None, None])
    for cols in ("A2:A3", "B2:B3", "C2:D2", "E2:E3", "F2:F3"):
        ws.merge_cells(cols)
    rows = [
        ("技术部", "李　四", "Li.Si@example.com", "13800000001", "周总", "在职"),
        (None, "王　伟", "wang.wei@example.com", "13800000002", "li.si@example.com", "在职"),
        (None, "王　伟", "wang.wei2@example.com", "13800000003", "李四", "在职"),
        (None, "Tony 王", "tony.wang@example.com", "13800000004", "李四", "离职"),
        ("市场部", "刘　洋", "liu.yang@example.com", "13800000005", "周总", "在职"),
        (None, "王五", "wang.wu@example.com", "13800000006", "刘洋", "在职"),
        ("总经办", "周总", "ceo@example.com", "13800000000", None, "在职"),
    ]
    for row in rows:
        ws.append(list(row))
    ws.merge_cells("A4:A7")
    ws.merge_cells("A8:A9")
    path = path / "花名册.xlsx"
    book.save(path)
    return path


COLUMNS = SheetColumns(email="邮箱", manager="直属上级", status="状态")


def test_xlsx_with_merged_title_headers_and_departments(tmp_path: Path) -> None:
    """Merged cells are filled, padded names are squeezed, leavers are flagged, and each
    department's managers come from 直属上级 given as names or addresses."""
    path = _roster_book(tmp_path)
    read = read_sheet(SheetSource(path=path.name, sheet="在职员工", columns=COLUMNS), tmp_path)
    people = {e.email: e for e in read.entries}
    assert people["li.si@example.com"].name == "李四"
    assert people["wang.wei2@example.com"].department == "技术部"  # merged down from A4
    assert people["wang.wu@example.com"].department == "市场部"
    assert (
        people["tony.wang@example.com"].disabled
        and people["tony.wang@example.com"].name == "Tony 王"
    )
    roster = build_roster(read)
    assert roster.managers["技术部"] == ("li.si@example.com",)
    assert roster.managers["市场部"] == ("liu.yang@example.com",)
    assert [p.name for p in roster.people].count("王伟") == 2


def test_csv_saved_by_excel_in_gbk(tmp_path: Path) -> None:
    """A CSV file in GB18030 (what Excel writes on Chinese Windows) reads like UTF-8 would."""
    text = "姓名,邮箱,部门,直属上级\n李四,li.si@example.com,技术部,\n张三,zhang.san@example.com,技术部,李四\n"
    (tmp_path / "staff.csv").write_bytes(text.encode("gb18030"))
    read = read_sheet(SheetSource(path="staff.csv"), tmp_path)
    assert [(e.name, e.department) for e in read.entries] == [
        ("李四", "技术部"),
        ("张三", "技术部"),
    ]
    assert build_roster(read).managers == {"技术部": ("li.si@example.com",)}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (SheetSource(path="missing.xlsx"), "missing.xlsx"),
        (
            SheetSource(path="花名册.xlsx", sheet="离职员工"),
            "no worksheet '离职员工'; it has 在职员工",
        ),
        (
            SheetSource(path="花名册.xlsx", columns=SheetColumns(email="电子邮件")),
            "no column '电子邮件' (email)",
        ),
        (
            SheetSource(path="花名册.xlsx", columns=COLUMNS.model_copy(update={"status": "在岗"})),
            "no column '在岗'",
        ),
    ],
)
def test_unreadable_sheets_say_what_is_wrong(
    tmp_path: Path, source: SheetSource, words: str
) -> None:
    """A missing file, worksheet or column is one clear error naming it."""
    _roster_book(tmp_path)
    with pytest.raises(DirectorySourceError) as caught:
        read_sheet(source, tmp_path)
    assert words in str(caught.value)


def test_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    """A file with an .xlsx name that is not a workbook is refused, not half read."""
    (tmp_path / "花名册.xlsx").write_text("not a workbook")
    with pytest.raises(DirectorySourceError, match="not a readable XLSX workbook"):
        read_sheet(SheetSource(path="花名册.xlsx"), tmp_path)
