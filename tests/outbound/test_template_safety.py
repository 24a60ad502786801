"""Template edits can neither break sending nor leak files: the check renders, budgets, folders."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailflow.errors import TemplateError
from mailflow.outbound.render import TemplateSet
from mailflow.outbound.sandbox import MAX_OUTPUT_CHARS, MAX_RANGE, MAX_STEPS
from mailflow.outbound.specimen import FULL, WITHOUT_MESSAGE, specimens
from mailflow.service.admin_notices import rules_error_notice
from tests.outbound.samples import sample_context

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped templates that a test may edit, beside a secret outside it."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "secret.txt").write_text("root:x:0:0:SECRET-LINE\n", encoding="utf-8")
    return tmp_path / "templates"


def edit(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``zh-CN/name`` and return the file."""
    path = folder / "zh-CN" / name
    path.write_text(text, encoding="utf-8")
    return path


# a template body -> (the line the check must name, words its message must contain)
HOSTILE = {
    "mro": ("您好\n{{ ''.__class__.__mro__ }}\n", 2, "unsafe"),
    "globals of a macro": (
        "{% macro m() %}x{% endmacro %}\n\n{{ m.__globals__ }}\n",
        3,
        "__globals__",
    ),
    "nested range loops": (
        "{% for i in range(1000) %}\n{% for j in range(1000) %}{% endfor %}\n{% endfor %}\n",
        2,
        f"more than {MAX_STEPS} loop steps",
    ),
    "three nested loops over data": (
        "{% for a in range(100) %}{% for b in range(100) %}{% for c in range(100) %}"
        "{% endfor %}{% endfor %}{% endfor %}\n",
        1,
        "loop steps",
    ),
    "range over the cap": ("列表\n{{ range(100000) | list | length }}\n", 2, f"{MAX_RANGE}"),
    "macro that calls itself twice": (
        "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}\n{{ f(1) }}\n",
        1,
        "",
    ),
    "recursive loop": (
        "{% for x in items recursive %}{{ loop(items) }}{% endfor %}\n",
        1,
        "recursive loops are not allowed",
    ),
    "wide % padding": ("{{ '%0999999999d' % 1 }}\n", 1, "wider than 999"),
    "repeated squaring": (
        "{% set n = 99 %}\n" + "{% set n = n * n %}" * 40 + "{{ n > 0 }}\n",
        2,
        "more than 4096 bits",
    ),
    "repeated text": ("{{ message.subject * 100000 }}\n", 1, "repeating"),
    "concatenation in a loop": (
        "{% for i in range(1000) %}{% for j in range(40) %}{{ message.subject ~ i }}"
        "{% endfor %}{% endfor %}\n",
        1,
        f"over {MAX_OUTPUT_CHARS} characters",
    ),
    "doubling with ~": (
        "{% set a = message.subject %}\n" + "{% set a = a ~ a %}" * 40 + "{{ a }}\n",
        2,
        f"more than {MAX_OUTPUT_CHARS} characters",
    ),
    "growing with join": (
        "{% set a = message.subject %}\n" + "{% set a = [a, a, a] | join(a) %}" * 30 + "\n",
        2,
        "join would build",
    ),
    "batch filler": ("{{ range(3) | batch(1000000000, 'x') | list | length }}\n", 1, "batch()"),
    "slice into columns": ("{{ items | slice(1000000000) | list | length }}\n", 1, "slice()"),
    "padding method": ("{{ message.subject.center(1000000000) }}\n", 1, "unsafe"),
    "replace method": ("{{ message.subject.replace('', message.subject) }}\n", 1, "unsafe"),
    "captured by a set block": (
        "{% set a %}{% for i in range(1000) %}{% for j in range(40) %}"
        "{{ message.subject }}{% endfor %}{% endfor %}{% endset %}\n{{ a|length }}\n",
        1,
        "captured output is over",
    ),
    "captured by a macro": (
        "{% macro m() %}{% for i in range(1000) %}{% for j in range(40) %}"
        "————————————————————————————————————{% endfor %}{% endfor %}{% endmacro %}\n"
        "{{ m()|length }}\n",
        1,
        "captured output is over",
    ),
    "undefined in the sparse mail": ("{{ item.owner.name }}\n", 1, "UndefinedError"),
    "division by a field that is 0": ("还剩{{ 10 // days_left }}天\n", 1, "ZeroDivisionError"),
}


@pytest.mark.parametrize(("body", "line", "words"), HOSTILE.values(), ids=HOSTILE.keys())
def test_check_renders_and_refuses_what_raises_or_runs_away(
    folder: Path, body: str, line: int, words: str
) -> None:
    """rules check renders the edited template and names its file and line."""
    path = edit(folder, "receipt.txt", body)
    problems = TemplateSet(folder).check()
    ours = [p for p in problems if p.startswith(f"{path}:")]
    assert ours, problems
    assert ours[0].startswith(f"{path}:{line}:"), ours
    assert words in ours[0], ours


@pytest.mark.parametrize("name", sorted(WITHOUT_MESSAGE))
def test_kinds_about_no_mail_are_rendered_without_one(folder: Path, name: str) -> None:
    """A notice or digest template that needs the answered mail is refused: it has none."""
    path = folder / "en" / f"{name}.txt"
    path.write_text("{{ message.subject }}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    problems = TemplateSet(folder).check()
    assert any(p.startswith(f"{path}:1:") and "UndefinedError" in p for p in problems), problems


def test_the_notices_are_written_without_a_message() -> None:
    """The administrators' notices really carry no message, as their specimens assume."""
    now = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    row = rules_error_notice(
        ["rules/x.yaml:1: bad"], ["admin@example.com"], "coord@example.com", now
    )
    assert row.kind in WITHOUT_MESSAGE and row.context["message"] is None


def test_shipped_templates_render_every_specimen() -> None:
    """Every shipped template renders against the full and the sparse representative mail."""
    templates = TemplateSet(REPO / "templates")
    for lang in templates.languages():
        for name in sorted(templates.names()):
            for context in specimens(name):
                assert templates.render(name, context, lang).text


def test_time_budget_refuses_a_slow_template(folder: Path) -> None:
    """A template still running when its render time is up is refused by the check."""
    edit(folder, "receipt.txt", "{% for i in range(1000) %}{{ i }}{% endfor %}\n")
    assert TemplateSet(folder).check() == []
    problems = TemplateSet(folder, render_time_s=0.0).check()
    assert any("zh-CN/receipt" in p and "longer than 0 s" in p for p in problems), problems


def test_an_included_piece_names_itself(folder: Path) -> None:
    """A failure inside an included piece is reported at the piece's own file and line."""
    piece = edit(folder, "_footer.txt", "--\n{{ organization.__class__ }}\n")
    problems = TemplateSet(folder).check()
    assert any(p.startswith(f"{piece}:2:") for p in problems), problems


def test_symlink_out_of_the_folder_is_refused(folder: Path) -> None:
    """A piece linked to a file outside the folder is refused and never rendered."""
    footer = folder / "zh-CN" / "_footer.txt"
    footer.unlink()
    footer.symlink_to(folder.parent / "secret.txt")
    templates = TemplateSet(folder)
    problems = templates.check()
    assert f"{footer}:1: resolves outside the templates folder; refused" in problems
    with pytest.raises(TemplateError, match=r"_footer\.txt"):
        templates.render("receipt", sample_context())
    assert "SECRET" not in "\n".join(problems)


def test_dotdot_link_and_linked_language_folder_are_refused(folder: Path) -> None:
    """A ../ link and a whole language folder linked elsewhere resolve outside: refused."""
    outside = folder.parent / "elsewhere"
    outside.mkdir()
    (outside / "receipt.subject.txt").write_text("【回执】x", encoding="utf-8")
    (outside / "receipt.txt").write_text("{{ message.subject }}", encoding="utf-8")
    (folder / "fr").symlink_to(outside, target_is_directory=True)
    (folder / "en" / "_leak.txt").symlink_to(Path("..") / ".." / "secret.txt")
    problems = TemplateSet(folder).check()
    for path in (folder / "fr" / "receipt.txt", folder / "en" / "_leak.txt"):
        assert f"{path}:1: resolves outside the templates folder; refused" in problems


def test_link_inside_the_folder_is_fine(folder: Path) -> None:
    """A piece linked to another file of the same folder is an ordinary template file."""
    footer = folder / "en" / "_footer.txt"
    footer.unlink()
    footer.symlink_to(Path("..") / "zh-CN" / "_footer.txt")
    templates = TemplateSet(folder)
    assert templates.check() == []
    assert "coord@example.com" in templates.render("receipt", sample_context(), "en").text


def test_include_by_path_cannot_leave_the_folder(folder: Path) -> None:
    """An include naming ../ or an absolute path finds nothing."""
    path = edit(folder, "receipt.txt", '{% include "../secret.txt" %}\n')
    problems = TemplateSet(folder).check()
    assert any(p.startswith(f"{path}:1: included file") for p in problems), problems


def test_a_set_renders_what_it_read_whatever_the_disk_says(folder: Path) -> None:
    """Edits and deletions on disk after a set was read never reach its renders."""
    templates = TemplateSet(folder)
    before = templates.render("receipt", sample_context())
    edit(folder, "receipt.txt", "{{ ''.__class__.__mro__ }}")
    (folder / "zh-CN" / "_footer.txt").unlink()
    (folder / "zh-CN" / "receipt.subject.txt").write_text("hacked", encoding="utf-8")
    assert templates.render("receipt", sample_context()) == before


def test_a_fifo_is_not_read(folder: Path) -> None:
    """A named pipe in the folder is refused rather than blocking the reader."""
    pipe = folder / "zh-CN" / "_pipe.txt"
    os.mkfifo(pipe)
    assert f"{pipe}:1: not a regular file; refused" in TemplateSet(folder).check()


def test_big_digest_fits_the_budget() -> None:
    """A weekly digest of 600 items renders well within the step and time budget."""
    templates = TemplateSet(REPO / "templates")
    row = {"task": "巡检", "owner": "孙磊", "deadline": "2026-10-25", "overdue": True}
    digest = FULL["digest"] | {"open_items": [row] * 600, "overdue_items": [row] * 600}
    text = templates.render("weekly_digest", FULL | {"digest": digest}).text
    assert text.count("巡检") == 1200
