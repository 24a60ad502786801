"""The organisation file: the shipped one validates, broken ones name file, line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.errors import RuleFileError
from mailflow.rulebook.organization import ORGANIZATION_FILE, load_organization

REPO = Path(__file__).resolve().parents[2]

VALID_HEAD = """\
organization:
  name: 示例科技
  shared_address: coord@example.com
  internal_domains: [example.com]
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / ORGANIZATION_FILE).write_text(text, encoding="utf-8")
    return tmp_path


def test_shipped_rules_validate() -> None:
    """The default rules describe 示例科技 and resolve department aliases to canonical names."""
    org = load_organization(REPO / "rules")
    names = org.department_names()
    assert org.organization.shared_address == "coord@example.com"
    assert names["研发部"] == "技术部"
    assert names["技术部"] == "技术部"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (VALID_HEAD + "  colour: red\n", 5, "unknown key 'organization.colour'"),
        (VALID_HEAD.replace("coord@example.com", "coord"), 3, "'coord' is not an e-mail address"),
        (VALID_HEAD + "  timezone: Mars/Olympus\n", 5, "unknown timezone 'Mars/Olympus'"),
        (
            VALID_HEAD + "departments:\n  技术部: {managers: [li.si]}\n",
            6,
            "'li.si' is not an e-mail",
        ),
        (
            VALID_HEAD + "people:\n  - {name: 张三, email: zs@example.com, department: 宣传部}\n",
            6,
            "unknown department '宣传部'",
        ),
        (
            VALID_HEAD
            + "departments:\n  技术部: {aliases: [研发部]}\n  研发中心: {aliases: [研发部]}\n",
            7,
            "'研发部' names both 技术部 and 研发中心",
        ),
        (VALID_HEAD + "departments: [\n", 6, "YAML syntax error"),
        ("organization:\n  name: x\n", 2, "shared_address: required but missing"),
    ],
)
def test_broken_file_names_line_and_problem(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    """Each kind of mistake is reported as file:line: message at the line that holds it."""
    with pytest.raises(RuleFileError) as caught:
        load_organization(_write(tmp_path, text))
    problems = caught.value.problems
    assert any(p.startswith(f"{tmp_path / ORGANIZATION_FILE}:{line}: ") for p in problems), problems
    assert any(words in p for p in problems), problems


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A rules folder without organization.yaml says which file is missing."""
    with pytest.raises(RuleFileError, match=r"organization\.yaml:1: file not found"):
        load_organization(tmp_path)
