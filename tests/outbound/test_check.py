"""Tests for TemplateSet.check(): every problem as file:line: message."""

from __future__ import annotations

from pathlib import Path

from tests.outbound.test_render import make_set


def test_check_reports_each_problem_with_file_and_line(tmp_path: Path) -> None:
    """Syntax errors, unknown variables, filters and includes, missing parts, stray files."""
    ts = make_set(
        tmp_path,
        {
            "zh-CN/a.subject.txt": "【回执】{{ message.subject }}",
            "zh-CN/a.txt": "第一行\n{% if items %}\n未闭合\n",
            "zh-CN/b.subject.txt": "ok",
            "zh-CN/b.txt": "第一行\n第二行 {{ recipent.name }}\n{{ message.subject }}",
            "zh-CN/c.txt": "没有标题",
            "zh-CN/d.subject.txt": "x",
            "zh-CN/d.txt": "{{ message.subject|shout }}",
            "zh-CN/e.subject.txt": "x",
            "zh-CN/e.txt": "\n{% include 'zh-CN/_nothing.txt' %}",
            "zh-CN/Notes.md": "stray",
        },
    )
    root = str(tmp_path)
    problems = ts.check()
    expected = [
        f"{root}/zh-CN/a.txt:3: Unexpected end of template.",
        f"{root}/zh-CN/b.txt:2: unknown variable 'recipent'",
        f"{root}/zh-CN/c.txt:1: template 'c' has no subject part (c.subject.txt)",
        f"{root}/zh-CN/d.txt:1: No filter named 'shout'.",
        f"{root}/zh-CN/e.txt:2: included file 'zh-CN/_nothing.txt' not found",
        f"{root}/zh-CN/Notes.md:1: unknown file name",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems


def test_check_on_missing_folder(tmp_path: Path) -> None:
    """A templates folder that does not exist is one problem, not an exception."""
    ts = make_set(tmp_path, {})
    assert ts.check() == [f"{tmp_path}:1: no language folder (expected zh-CN/ and en/)"]
    assert make_set(tmp_path / "none", {}).check() == [
        f"{tmp_path / 'none'}:1: templates folder not found"
    ]


def test_set_inside_template_is_a_known_variable(tmp_path: Path) -> None:
    """Variables a template sets itself or loops over are not reported."""
    ts = make_set(
        tmp_path,
        {
            "en/a.subject.txt": "x",
            "en/a.txt": "{% set n = items|length %}{{ n }}{% for i in items %}{{ i.task }}{% endfor %}",
        },
    )
    assert ts.check() == []
