"""Shapes byte mutation does not reach (``benchmarks/parse_shapes.py``): well-formed mail with
hostile structure or content that cost seconds or minutes, each now parsed with what it should
give. No timing is asserted; a shape that runs away again meets pytest's timeout."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest

from mailflow.mail.body import MAX_ATTRIBUTES, MAX_LAYOUT_CHARS
from mailflow.mail.items import MAX_DRAFTS, _merge, _similar
from mailflow.mail.items_base import Draft, Reading
from mailflow.mail.items_html import MAX_CELLS, MAX_GRID_CELLS, html_tables
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.mail.quote_html import cut_quoted_html
from tests.mail.test_budget import mail

OWNERS = ["张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十"]


def test_thousands_of_references_are_read_in_order_without_repeats() -> None:
    """A References field of 3,000 ids (quadratic to de-duplicate before) is read whole."""
    ids = [f"<id{i}@Example.COM>" for i in range(3_000)]
    raw = mail("hi", "References: " + "\r\n ".join([*ids, ids[0], ids[7]]) + "\r\n")
    parsed = parse_message(raw, ParseContext())
    assert parsed.references == tuple(i.replace("Example.COM", "example.com") for i in ids)


def test_a_huge_references_field_keeps_its_root_and_latest_ids() -> None:
    """Of 160,000 ids (minutes before) the first and the last MAX_REFERENCES_CHARS are read:
    the thread's root and the latest ancestors, which is what threading uses."""
    ids = [f"<id{i}@example.com>" for i in range(160_000)]
    parsed = parse_message(mail("hi", "References: " + "\r\n ".join(ids) + "\r\n"), ParseContext())
    refs = parsed.references
    assert refs[0] == ids[0] and refs[-1] == ids[-1] and refs[1:] == tuple(ids[-len(refs) + 1 :])
    assert 1_000 < len(refs) < 10_000
    assert any(d.startswith("References of ") for d in parsed.defects)


def test_a_text_table_of_thousands_of_tasks_gives_its_first_items() -> None:
    """3,000 rows of a task table (9 s of pairwise merging before) give the first MAX_DRAFTS."""
    rows = "\n".join(
        f"{OWNERS[i % 8]} | 任务{i} | 12月{i % 28 + 1}日 | 报告{i}" for i in range(3_000)
    )
    raw = mail("责任人 | 任务 | 完成时限 | 交付标准\n" + rows)
    parsed = parse_message(raw, ParseContext())
    items = parsed.action_items
    assert MAX_DRAFTS - 50 < len(items) <= MAX_DRAFTS  # 任务1 and 任务10 of one owner and day merge
    assert (items[0].owner, items[0].task, items[0].deliverable) == ("张三", "任务0", "报告0")
    assert any(
        d.endswith(f"action items written: the first {MAX_DRAFTS} read, the rest ignored")
        for d in parsed.defects
    )


def test_an_html_table_of_a_thousand_tasks_gives_its_first_items() -> None:
    """An HTML-only mail with a 1,000-row task table (8 s before) gives the first MAX_DRAFTS."""
    head = "<tr><th>责任人</th><th>任务</th><th>完成时限</th><th>交付标准</th></tr>"
    body = "".join(
        f"<tr><td>{OWNERS[i % 8]}</td><td>任务{i}</td><td>12月{i % 28 + 1}日</td>"
        f"<td>报告{i}</td></tr>"
        for i in range(1_000)
    )
    markup = f"<html><body><table>{head}{body}</table></body></html>"
    items = parse_message(mail(markup, content_type="text/html"), ParseContext()).action_items
    assert 0 < len(items) <= MAX_DRAFTS and items[0].task == "任务0"


def test_a_mail_says_when_its_html_tables_were_read_in_part() -> None:
    """1,500 rows of 4 cells pass MAX_CELLS: the mail's defects say what was read."""
    rows = "".join(f"<tr><td>{OWNERS[i % 8]}</td><td>任务{i}</td><td>周五</td><td>报告</td></tr>"
                   for i in range(1_500))  # fmt: skip
    raw = mail(f"<table>{rows}</table>", content_type="text/html")
    parsed = parse_message(raw, ParseContext())
    assert f"HTML tables: the first {MAX_CELLS} cells read for action items" in parsed.defects


def _merge_pairwise(drafts: list[Draft], reading: Reading) -> list[Draft]:
    """The merge as it was, every draft against every kept one: the reference."""

    def same(a: Draft, b: Draft) -> bool:
        owners = {reading.email_of(d.owner) or d.owner for d in (a, b) if d.owner}
        days = {d.deadline for d in (a, b) if d.deadline is not None}
        return len(owners) <= 1 and len(days) <= 1 and _similar(a.task, b.task)

    merged: list[Draft] = []
    for d in drafts:
        for i, kept in enumerate(merged):
            if same(kept, d):
                merged[i] = replace(
                    kept,
                    owner=kept.owner or d.owner,
                    deadline=kept.deadline if kept.deadline is not None else d.deadline,
                    deliverable=kept.deliverable or d.deliverable,
                )
                break
        else:
            merged.append(d)
    return merged


@pytest.mark.parametrize("seed", range(30))
def test_merging_by_owner_gives_what_pairwise_merging_gave(seed: int) -> None:
    """The owner-indexed merge keeps and combines exactly the drafts the pairwise one did."""
    rng = random.Random(seed)
    words = ["提交周报", "整理周报", "提交测试报告", "测试报告", "报价单", "接口文档评审"]
    drafts = [
        Draft(
            task=rng.choice(words) + rng.choice(["", "", "第二版"]),
            owner=rng.choice([None, None, *OWNERS[:3]]),
            deadline=rng.choice([None, date(2023, 10, 13), date(2023, 10, 20)]),
            deliverable=rng.choice([None, "报告"]),
            line=i,
        )
        for i in range(rng.randint(1, 40))
    ]
    reading = Reading.build(ParseContext(), None, ())
    assert _merge(drafts, reading) == _merge_pairwise(drafts, reading)


def test_a_tag_with_twenty_thousand_attributes_is_read_without_them() -> None:
    """20,000 attributes on one tag (2.5 s in lxml and inscriptis before) are dropped."""
    attributes = " ".join(f"a{i}=x" for i in range(20_000))
    raw = mail(f"<p {attributes}>请张三周五前提交报告</p>", content_type="text/html")
    parsed = parse_message(raw, ParseContext())
    assert parsed.body_text == "请张三周五前提交报告"
    assert f"an HTML tag with over {MAX_ATTRIBUTES} attributes; they were dropped" in parsed.defects


def test_a_hundred_html_parts_share_one_layout_allowance() -> None:
    """100 HTML parts of 12 KB each (2 s of layout, twice, before): the ones past
    MAX_LAYOUT_CHARS in all are stripped of their tags, and every part's text is kept."""
    parts = b"".join(
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + (f"<div><p>第{i}部分</p>" + "<p>进度</p>" * 1_000 + "</div>\r\n").encode()
        for i in range(100)
    )
    raw = mail(parts + b"--b--\r\n", content_type="multipart/mixed; boundary=b")
    parsed = parse_message(raw, ParseContext())
    assert "第0部分" in parsed.body_text and "第99部分" in parsed.body_text
    assert f"HTML parts over {MAX_LAYOUT_CHARS} characters in all; tags stripped" in parsed.defects


@pytest.mark.parametrize(
    ("markup", "cut_at"),
    [
        ('<p>好的</p><div class="gmail_quote">旧</div>', '<div class="gmail_quote">'),
        ('<p>好的</p><DIV ID="divRplyFwdMsg">旧</DIV>', '<DIV ID="divRplyFwdMsg">'),
        ('<p>İ好的</p><blockquote TYPE="cite">旧', '<blockquote TYPE="cite">'),
        (
            '<p style="border:none">好</p><div style="border:none;border-top:solid #E1E1E1 1.0pt">',
            '<div style="border:none;',
        ),
        ("<p>border cite gmail_quote</p><cite>x</cite>", None),
        ('<p title="gmail_quote">好<p class="x gmail_quote y">旧', '<p class="x gmail_quote'),
    ],
)
def test_quote_containers_are_found_by_their_words(markup: str, cut_at: str | None) -> None:
    """The markup is cut at the first start tag that is a quote container, words elsewhere
    (text, other attributes, tag names) are not one."""
    expected = markup if cut_at is None else markup[: markup.index(cut_at)]
    assert cut_quoted_html(markup) == expected


def test_megabytes_of_bordered_cells_leave_the_markup_whole() -> None:
    """Megabytes of bordered tags that are not the quoted header leave the markup whole."""
    markup = '<td style="border:none;padding:0">x</td>' * 50_000
    assert cut_quoted_html(markup) is markup


def test_row_and_column_spans_expand_up_to_a_cap() -> None:
    """800 rows of 50x50 spans (two million grid cells, seconds, before) stop at MAX_GRID_CELLS."""
    markup = "<table>" + '<tr><td rowspan="50" colspan="50">张三周五前</td></tr>' * 800 + "</table>"
    defects: list[str] = []
    (grid,) = html_tables(markup, defects)
    assert 0 < sum(map(len, grid)) <= MAX_GRID_CELLS and grid[0][0] == "张三周五前"
    assert defects == [
        f"HTML tables: spans expanded to {MAX_GRID_CELLS} cells; the rest not read for action items"
    ]


def test_spans_expand_up_to_a_cap_over_all_the_tables() -> None:
    """4,000 tables of one 50x50 cell (ten million grid cells, 1.1 s, when each table had its
    own cap) stop at MAX_GRID_CELLS in all, the first tables read."""
    markup = '<table><tr><td rowspan="50" colspan="50">张三周五前</td></tr></table>' * 4_000
    defects: list[str] = []
    grids = html_tables(markup, defects)
    assert 0 < sum(len(row) for grid in grids for row in grid) <= MAX_GRID_CELLS
    assert grids[0][0][0] == "张三周五前"
    assert len(defects) == 1 and "spans expanded to" in defects[0]


def test_a_megabyte_of_to_is_read_to_its_first_addresses() -> None:
    """A To of 30,000 addresses (1.4 s in the stdlib parser per 900 KB before) is read to
    MAX_FIELD_CHARS, cut at a comma, and a defect says so."""
    to = ", ".join(f"p{i}@example.com" for i in range(30_000))
    parsed = parse_message(mail("hi", f"Cc: {to}\r\n"), ParseContext())
    assert parsed.cc[0].address == "p0@example.com"
    assert 5_000 < len(parsed.cc) < 30_000
    assert parsed.cc[-1].address.endswith("@example.com")
    assert any(d.startswith("Cc of ") and "read the first" in d for d in parsed.defects)


def test_nine_hundred_to_fields_share_one_allowance() -> None:
    """900 To fields of 2 KB each are read up to MAX_FIELD_CHARS in all, the rest named."""
    field = "To: " + ", ".join(f"p{i}@example.com" for i in range(120)) + "\r\n"
    parsed = parse_message(mail("hi", field * 900), ParseContext())
    assert len(parsed.to) < 900 * 120 and parsed.to[1].address == "p0@example.com"
    assert any(d.endswith("more To fields not read") for d in parsed.defects)


def test_the_table_parser_stops_once_it_has_read_max_cells() -> None:
    """A 3 MB table (6 s of HTMLParser past the cell cap before) is read to MAX_CELLS cells."""
    rows = "".join(f"<tr><td>{OWNERS[i % 8]}</td><td>任务{i}</td></tr>" for i in range(50_000))
    defects: list[str] = []
    tables = html_tables(f"<table>{rows}</table><table><tr><td>后面的表</td></tr></table>", defects)
    assert [sum(map(len, grid)) for grid in tables] == [MAX_CELLS]
    assert tables[0][0] == ["张三", "任务0"]
    assert defects == [f"HTML tables: the first {MAX_CELLS} cells read for action items"]


def test_tables_under_the_caps_are_read_whole_and_say_nothing() -> None:
    """A table within both caps gives every cell, spans expanded, and no defect."""
    defects: list[str] = []
    markup = '<table><tr><td rowspan="2">张三</td><td>周报</td></tr><tr><td>月报</td></tr></table>'
    assert html_tables(markup, defects) == [[["张三", "周报"], ["张三", "月报"]]]
    assert defects == []
