"""Rule files: the shipped ones load, broken ones report every problem as file:line: message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailflow.errors import RuleFileError
from mailflow.rulebook.duration import Duration
from mailflow.rulebook.loader import SCHEMA_FILE, load_rulebook, rulebook_schema
from tests.rulebook.builders import REPO, TEMPLATES, rulebook

GOOD_RULE = """\
rules:
  - name: 会议纪要确认
    when: {reason: 会议纪要, reply: false}
    do:
      - reply: minutes_received
      - request_confirmation: {from: [to, cc], within: 24h}
      - track_action_items
      - stop
"""


def test_shipped_rules_load() -> None:
    """The default rules validate against the template names the outbound side provides."""
    book = load_rulebook(REPO / "rules", TEMPLATES)
    names = [r.name for r in book.rules]
    assert names[:2] == ["主题格式提醒", "会议纪要确认"]
    assert book.sources["主题格式提醒"].endswith("rules.yaml:9")


def test_short_forms_read_as_full_steps(tmp_path: Path) -> None:
    """`reply: name`, bare `stop` and `track_action_items` are the same as their long forms."""
    rule = rulebook(tmp_path, GOOD_RULE).rules[0]
    assert [s.kind for s in rule.do] == [
        "reply",
        "request_confirmation",
        "track_action_items",
        "stop",
    ]
    assert rule.do[0].reply is not None and rule.do[0].reply.template == "minutes_received"
    confirm = rule.do[1].request_confirmation
    assert confirm is not None and confirm.within == Duration(24, "hours")
    assert rule.when.reason == ["会议纪要"]


def test_department_aliases_become_canonical(tmp_path: Path) -> None:
    """A rule naming 研发部 means 技术部, as the directory says."""
    text = "rules:\n  - name: a\n    when: {department: 研发部}\n    do: [{copy_managers: {of: 研发部, template: managers_copy}}]\n"
    rule = rulebook(tmp_path, text).rules[0]
    assert rule.when.department == ["技术部"]
    assert rule.do[0].copy_managers is not None and rule.do[0].copy_managers.of == "技术部"


def _rules(*lines: str) -> str:
    return "rules:\n  - name: 规则\n" + "".join(f"{line}\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            _rules("    when: {reasn: 会议纪要}", "    do: [stop]"),
            3,
            "unknown key 'reasn' (did you mean 'reason'?)",
        ),
        (
            _rules("    when: {reason: 会议纪要}", "    do:", "      - replly: receipt"),
            5,
            "unknown key 'replly' (did you mean 'reply'?)",
        ),
        (
            _rules("    when: {conforms: maybe}", "    do: [stop]"),
            3,
            "conforms: write true or false, not 'maybe'",
        ),
        (
            _rules("    do:", "      - reply: reciept"),
            4,
            "unknown template 'reciept' (did you mean 'receipt'?)",
        ),
        (
            _rules("    when: {department: 宣传部}", "    do: [stop]"),
            3,
            "unknown department '宣传部'",
        ),
        (
            _rules("    do:", "      - copy_managers: {of: 技术科, template: managers_copy}"),
            4,
            "unknown department '技术科'",
        ),
        (
            _rules("    when: {missing_fields: [ownr]}", "    do: [stop]"),
            3,
            "unknown field 'ownr' (did you mean 'owner'?)",
        ),
        (
            _rules(
                "    do:", "      - require_fields: {fields: [dedline], template: missing_fields}"
            ),
            4,
            "unknown field 'dedline' (did you mean 'deadline'?)",
        ),
        (
            _rules("    do:", "      - request_confirmation: {from: [to], within: 3 weeks}"),
            4,
            "unknown unit 'weeks'",
        ),
        (
            _rules("    do:", "      - request_confirmation: {from: [to], within: 24}"),
            4,
            "24 has no unit",
        ),
        (
            _rules("    do:", "      - request_confirmation: {from: [all], within: 24h}"),
            4,
            "unknown role 'all'",
        ),
        (_rules("    when: {sender: internl}", "    do: [stop]"), 3, "(did you mean 'internal'?)"),
        (_rules("    when: {confirmation: ok}", "    do: [stop]"), 3, "unknown confirmation 'ok'"),
        (
            _rules("    when: {reason: [1, 2]}", "    do: [stop]"),
            3,
            "Input should be a valid string",
        ),
        (
            _rules("    do:", "      - reply: receipt", "        stop: true"),
            4,
            "a step does exactly one thing",
        ),
        (_rules("    do: []"), 3, "List should have at least 1 item"),
        (_rules("    when: {reason: 会议纪要}"), 2, "do: required but missing"),
        (
            _rules("    do:", "      - notify: {to: [nobody], template: receipt}"),
            4,
            "unknown department 'nobody'",
        ),
        (
            GOOD_RULE + "  - name: 会议纪要确认\n    do: [stop]\n",
            9,
            "rule name '会议纪要确认' is used twice (first at",
        ),
        ("rules: [\n", 2, "YAML syntax error"),
        (
            "organization: {name: x}\n",
            1,
            "unknown key 'organization' (known: clocks, limits, rules)",
        ),
    ],
)
def test_problem_at_its_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    """Each kind of mistake is reported at the line that holds it, in words."""
    with pytest.raises(RuleFileError) as caught:
        rulebook(tmp_path, text)
    problems = caught.value.problems
    assert any(
        p.startswith(f"{tmp_path / 'rules.yaml'}:{line}: ") and words in p for p in problems
    ), problems


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    """Problems of several files and the organisation come back together, in line order."""
    (tmp_path / "organization.yaml").write_text("organization: {name: x}\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text(
        _rules("    when: {reasn: x}", "    do: [{reply: nope}]"), encoding="utf-8"
    )
    (tmp_path / "b.yaml").write_text(_rules("    do: [stop]"), encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_rulebook(tmp_path, TEMPLATES)
    problems = caught.value.problems
    places = [p.split(": ")[0].rsplit("/", 1)[-1] for p in problems]
    assert list(dict.fromkeys(places)) == [
        "organization.yaml:1",
        "a.yaml:3",
        "a.yaml:4",
        "b.yaml:2",
    ], problems
    assert "used twice (first at" in problems[-1]


def test_files_run_in_name_order(tmp_path: Path) -> None:
    """Rules of 10-x.yaml run before those of 20-y.yaml; files starting with _ are ignored."""
    rulebook(tmp_path, "rules: []\n")
    (tmp_path / "20-y.yaml").write_text(
        _rules("    do: [stop]").replace("规则", "后"), encoding="utf-8"
    )
    (tmp_path / "10-x.yaml").write_text(
        _rules("    do: [stop]").replace("规则", "先"), encoding="utf-8"
    )
    (tmp_path / "_draft.yaml").write_text("broken: [", encoding="utf-8")
    book = load_rulebook(tmp_path, TEMPLATES)
    assert [r.name for r in book.rules] == ["先", "后"]


def test_committed_schema_is_the_generated_one() -> None:
    """rules/schema.json equals what the models generate, so editors never check a stale shape."""
    committed = json.loads((REPO / "rules" / SCHEMA_FILE).read_text(encoding="utf-8"))
    assert committed == rulebook_schema(), (
        "run: python -c 'from mailflow.rulebook.loader import write_schema; from pathlib import Path; write_schema(Path(\"rules/schema.json\"))'"
    )


def test_rules_file_points_editors_at_the_schema() -> None:
    """rules.yaml starts with the yaml-language-server comment naming schema.json."""
    first = (REPO / "rules" / "rules.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_FILE}"
