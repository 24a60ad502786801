"""organization.yaml merged with organization.synced.yaml: hand-written entries win."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailflow.errors import RuleFileError
from mailflow.rulebook.loader import rule_files
from mailflow.rulebook.organization import SYNCED_FILE, load_organization

REPO = Path(__file__).resolve().parents[2]

SYNCED = """\
synced_at: '2026-12-06T10:00:00+08:00'
source: ldap://dc1/ou=Staff
departments:
  技术部: {managers: [boss.from.ldap@example.com]}
  物流部: {managers: [wu.liu@example.com]}
people:
  - {name: 李四, email: li.si@example.com, department: 物流部, aliases: [lisi@old.example.cn]}
  - {name: 吴流, email: wu.liu@example.com, department: 物流部}
  - {name: 李四新, email: lisi.new@example.com, aliases: [li.si@example.com], department: 物流部}
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    return tmp_path / "rules"


def test_synced_people_and_departments_join_the_hand_written_ones(rules: Path) -> None:
    """Synced people and departments are added; hand-written ones replace them."""
    (rules / SYNCED_FILE).write_text(SYNCED, encoding="utf-8")
    org = load_organization(rules)
    by_email = {p.email: p for p in org.people}
    assert by_email["wu.liu@example.com"].department == "物流部"
    # 李四 is written in organization.yaml: that entry wins, and so does it over an alias clash
    assert by_email["li.si@example.com"].department == "技术部"
    assert "lisi.new@example.com" not in by_email
    # the hand-written 技术部 keeps its managers; 物流部 exists only in the synced file
    assert org.departments["技术部"].managers == ["li.si@example.com"]
    assert org.departments["物流部"].managers == ["wu.liu@example.com"]


def test_the_synced_file_is_not_a_rule_file(rules: Path) -> None:
    """The generated file is read as directory data, never as rules."""
    (rules / SYNCED_FILE).write_text(SYNCED, encoding="utf-8")
    assert rules / SYNCED_FILE not in rule_files(rules)


def test_a_broken_synced_file_names_its_file_and_line(rules: Path) -> None:
    """A problem in the generated file is reported as file:line like any rule file."""
    (rules / SYNCED_FILE).write_text(
        SYNCED.replace("wu.liu@example.com, department", "wu liu, department"), encoding="utf-8"
    )
    with pytest.raises(RuleFileError) as caught:
        load_organization(rules)
    assert f"{SYNCED_FILE}:8:" in str(caught.value)
    assert "'wu liu' is not an e-mail address" in str(caught.value)


def test_a_synced_person_in_an_unknown_department_is_reported_in_the_synced_file(
    rules: Path,
) -> None:
    """Cross-checks point at the file and line where the person is written."""
    (rules / SYNCED_FILE).write_text(
        SYNCED.replace("email: wu.liu@example.com, department: 物流部",
                       "email: wu.liu@example.com, department: 仓储部"),
        encoding="utf-8",
    )  # fmt: skip
    with pytest.raises(RuleFileError) as caught:
        load_organization(rules)
    assert f"{SYNCED_FILE}:8: unknown department '仓储部'" in str(caught.value)
