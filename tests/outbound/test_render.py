"""Tests for mailflow/outbound/render.py and its sandbox: escaping, strictness, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.errors import TemplateError
from mailflow.outbound.render import MAX_SUBJECT_CHARS, TemplateSet
from mailflow.outbound.sandbox import MAX_OUTPUT_CHARS, MAX_TEMPLATE_CHARS
from tests.outbound.samples import sample_context

HOSTILE = "{{ 7*7 }} {% for x in y %} <script>alert(1)</script> & {{ config }}"


def make_set(tmp_path: Path, files: dict[str, str]) -> TemplateSet:
    """Write ``files`` (relative path -> text) under tmp_path and return their TemplateSet."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return TemplateSet(tmp_path)


def one(tmp_path: Path, body: str, html: str | None = None) -> TemplateSet:
    """Return a set with one zh-CN template ``t`` whose text part is ``body``."""
    files = {"zh-CN/t.subject.txt": "【回执】{{ message.subject }}", "zh-CN/t.txt": body}
    if html is not None:
        files["zh-CN/t.html"] = html
    return make_set(tmp_path, files)


def test_mail_content_is_data_in_text_and_escaped_in_html(tmp_path: Path) -> None:
    """Template syntax and markup in mail content come out literally in text, escaped in HTML."""
    ts = one(tmp_path, "{{ message.subject }}", "<p>{{ message.subject }}</p>")
    ctx = sample_context(message={"subject": HOSTILE})
    mail = ts.render("t", ctx)
    assert mail.text == HOSTILE + "\n"
    assert mail.subject == "【回执】" + HOSTILE
    assert mail.html is not None
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; {{ config }}" in mail.html
    assert "{{ 7*7 }}" in mail.html and "49" not in mail.html


def test_shipped_receipt_keeps_hostile_subject_literal() -> None:
    """The shipped receipt shows {{ 7*7 }} and <script> from a subject literally or escaped."""
    ts = TemplateSet(Path("templates"))
    ctx = sample_context()
    ctx["message"] = ctx["message"] | {"subject": HOSTILE, "topic": HOSTILE}
    mail = ts.render("receipt", ctx)
    assert "{{ 7*7 }}" in mail.subject and "<script>" in mail.text
    assert mail.html is not None and "&lt;script&gt;" in mail.html and "<script>" not in mail.html


def test_subject_is_one_line_and_capped(tmp_path: Path) -> None:
    """Line breaks (CR, LF, U+2028) in a subject value become spaces; long subjects are cut."""
    ts = one(tmp_path, "x")
    mail = ts.render("t", sample_context(message={"subject": "a\r\nBcc: x@evil\u2028b\tc"}))
    assert mail.subject == "【回执】a Bcc: x@evil b c"
    long = ts.render("t", sample_context(message={"subject": "长" * 500}))
    assert len(long.subject) == MAX_SUBJECT_CHARS and long.subject.endswith("…")


@pytest.mark.parametrize(
    "body",
    [
        "{{ message.subjct }}",
        "{{ nobody }}",
        "{{ message.from.nmae }}",
    ],
)
def test_strict_undefined_raises_template_error(tmp_path: Path, body: str) -> None:
    """A misspelt or absent variable is a TemplateError naming the file, never empty text."""
    ts = one(tmp_path, "第一行\n" + body)
    with pytest.raises(TemplateError, match=r"zh-CN/t\.txt:2: UndefinedError"):
        ts.render("t", sample_context())


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'a' * 50000000 }}",
        "{{ [1] * 10000000 }}",
        "{{ 9 ** 99999 }}",
        "{{ message.subject * 1000 }}",
        "{{ ''.__class__ }}",
        "{{ message.update({'a': 1}) }}",
        "{{ 'x'|center(100000000) }}",
        "{{ '%099999999d'|format(1) }}",
        "{% set ns = namespace(s='a') %}{{ ns.s }}",
    ],
)
def test_sandbox_blocks_abuse(tmp_path: Path, body: str) -> None:
    """Repetition, power, attribute escapes, mutation and amplifying filters are refused."""
    ts = one(tmp_path, body)
    with pytest.raises(TemplateError):
        ts.render("t", sample_context())


def test_numbers_still_multiply(tmp_path: Path) -> None:
    """Intercepting * leaves arithmetic on numbers working."""
    assert one(tmp_path, "{{ within_hours * 2 }}").render("t", sample_context()).text == "48\n"


def test_output_size_is_capped(tmp_path: Path) -> None:
    """A template whose output passes the cap fails instead of building a huge mail."""
    loops = "{% for i in range(1000) %}{% for j in range(40) %}{{ message.subject }}{% endfor %}"
    ts = one(tmp_path, loops + "{% endfor %}")
    with pytest.raises(TemplateError, match=f"over {MAX_OUTPUT_CHARS} characters"):
        ts.render("t", sample_context())


def test_template_size_is_capped(tmp_path: Path) -> None:
    """An oversized template file is refused when read: the check names it, nothing renders."""
    ts = one(tmp_path, "x" * (MAX_TEMPLATE_CHARS + 1))
    assert f"{tmp_path / 'zh-CN' / 't.txt'}:1: template is over" in "\n".join(ts.check())
    with pytest.raises(TemplateError, match="no template 't'"):
        ts.render("t", sample_context())


def test_none_prints_as_nothing(tmp_path: Path) -> None:
    """An optional value that is None prints as nothing rather than the word None."""
    assert one(tmp_path, "[{{ summary }}]").render("t", sample_context(summary=None)).text == "[]\n"


def test_language_falls_back_to_default(tmp_path: Path) -> None:
    """A template missing in the asked language renders from zh-CN."""
    ts = one(tmp_path, "中文")
    assert ts.render("t", sample_context(), lang="en").text == "中文\n"


@pytest.mark.parametrize("name", ["../etc/passwd", "T", "", "a/b"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    """Template names are plain identifiers; paths never reach the loader."""
    with pytest.raises(TemplateError):
        one(tmp_path, "x").render(name, sample_context())


def test_unknown_template_is_a_template_error(tmp_path: Path) -> None:
    """Rendering a name that has no files raises TemplateError."""
    with pytest.raises(TemplateError, match="no template 'nothing'"):
        one(tmp_path, "x").render("nothing", sample_context())
