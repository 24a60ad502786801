"""From directory entries to people and managers, what a sync changes, and the removal guard."""

from __future__ import annotations

import pytest

from mailflow.rulebook.organization import Department, Person, SyncedDirectory
from mailflow.rulebook.roster import DirectoryRead, Entry, SyncPlan, build_roster, compare


def _e(key: str, name: str, dept: str | None, manager: str | None = None, **kw: object) -> Entry:
    email = kw.pop("email", f"{key}@example.com")
    return Entry(key=key, name=name, email=email, department=dept, manager=manager, **kw)  # type: ignore[arg-type]


# a small company: 总经理 gm; 技术部 head t1 with lead t2 and members; 市场部 reports outside
TREE = (
    _e("gm", "周总", "总经办"),
    _e("t1", "李四", "技术部", "gm"),
    _e("t2", "张三", "技术部", "t1"),
    _e("t3", "王伟", "技术部", "t2"),
    _e("t4", "李娜", "技术部", "t2"),
    _e("m1", "刘洋", "市场部", "gm"),
    _e("m2", "王五", "市场部", "gm"),
)


@pytest.mark.parametrize(
    ("entries", "department", "managers"),
    [
        (TREE, "技术部", ("t1@example.com",)),  # the head, not the team lead below them
        (TREE, "市场部", ("gm@example.com",)),  # nobody inside manages anyone: whom they report to
        (TREE, "总经办", ()),  # the top of the company reports to nobody
        # manager fields written as an address or as a name that only one person has
        (
            (_e("a", "甲", "财务部"), _e("b", "乙", "财务部", "a@example.com")),
            "财务部",
            ("a@example.com",),
        ),
        ((_e("a", "甲", "财务部"), _e("b", "乙", "财务部", "甲")), "财务部", ("a@example.com",)),
        # a name two people share identifies neither: no guess
        (
            (_e("a", "王伟", "财务部"), _e("c", "王伟", "法务部"), _e("b", "乙", "财务部", "王伟")),
            "财务部",
            (),
        ),
        # two heads side by side, each managing someone
        (
            (
                _e("h1", "甲", "物流部", "x"),
                _e("h2", "乙", "物流部", "x"),
                _e("p1", "丙", "物流部", "h1"),
                _e("p2", "丁", "物流部", "h2"),
            ),
            "物流部",
            ("h1@example.com", "h2@example.com"),
        ),
    ],
)
def test_department_managers_from_the_reporting_tree(
    entries: tuple[Entry, ...], department: str, managers: tuple[str, ...]
) -> None:
    """A department's managers are the heads of its reporting tree, never a team lead below."""
    roster = build_roster(DirectoryRead("test", entries))
    assert roster.managers.get(department, ()) == managers


def test_managers_from_groups_resolve_member_keys() -> None:
    """With manager groups, a department's managers are its group's members, by key."""
    read = DirectoryRead("test", TREE, manager_groups={"技术部": ("T2", "nobody")})
    assert build_roster(read).managers == {"技术部": ("t2@example.com",)}


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (_e("d", "停用", "技术部", disabled=True), "account disabled"),
        (_e("n", "无邮", "技术部", email=None), "no e-mail address"),
        (_e("b", "坏邮", "技术部", email="wang wei@example.com"), "is not an e-mail address"),
        (_e("x", "重复", "技术部", email="t1@example.com"), "address already used by 李四 (t1)"),
        (
            _e("y", "别名重复", "技术部", aliases=("T3@example.com",)),
            "address already used by 王伟",
        ),
    ],
)
def test_entries_left_out_say_why(entry: Entry, why: str) -> None:
    """Entries that cannot be people are skipped with a reason; everyone else is kept."""
    roster = build_roster(DirectoryRead("test", (*TREE, entry)))
    assert len(roster.people) == len(TREE)
    assert len(roster.skipped) == 1 and why in roster.skipped[0]


def test_aliases_are_kept_lower_cased_without_the_main_address() -> None:
    """Other addresses become aliases; bad ones and the main address are not repeated."""
    entry = _e("a", "甲", "财务部", aliases=("A@example.com", "Jia@Old.example.cn", "bad"))
    (person,) = build_roster(DirectoryRead("test", (entry,))).people
    assert person.aliases == ["jia@old.example.cn"]


def _synced(*people: Person, **departments: list[str]) -> SyncedDirectory:
    return SyncedDirectory(
        people=list(people),
        departments={d: Department(managers=m) for d, m in departments.items()},
    )


def test_compare_lists_added_moved_renamed_left_and_new_managers() -> None:
    """Each kind of change is found; a person is matched by any of their addresses."""
    before = _synced(
        Person(name="李四", email="t1@example.com", department="技术部"),
        Person(name="张三", email="old.t2@example.com", department="市场部",
               aliases=["t2@example.com"]),
        Person(name="离职者", email="gone@example.com", department="技术部"),
        Person(name="王伟", email="t3@example.com", department="技术部"),
        技术部=["gone@example.com"],
    )  # fmt: skip
    change = compare(before, build_roster(DirectoryRead("test", TREE[1:4])))
    assert [p.email for p in change.left] == ["gone@example.com"]
    assert [(m.email, m.before, m.after) for m in change.moved] == [
        ("t2@example.com", "市场部", "技术部")
    ]
    assert change.renamed == ()
    assert change.managers == (("技术部", ("gone@example.com",), ("t1@example.com",)),)
    assert change.added == ()


def test_an_unchanged_directory_changes_nothing() -> None:
    """Comparing a roster with the document it produced finds no change."""
    roster = build_roster(DirectoryRead("test", TREE))
    before = SyncedDirectory.model_validate(roster.document("test", "2026-12-06T10:00:00+00:00"))
    assert compare(before, roster).empty


@pytest.mark.parametrize(
    ("kept", "share", "refused"),
    [
        (10, 0.10, False),  # nobody leaves
        (9, 0.10, False),  # exactly 10 %
        (8, 0.10, True),  # 20 % > 10 %
        (0, 0.10, True),  # an empty answer never empties the directory
        (8, 0.25, False),  # a looser guard set in the rules
    ],
)
def test_removal_guard(kept: int, share: float, refused: bool) -> None:
    """A sync that would remove more than the allowed share of people is refused."""
    people = [_e(f"p{i}", f"员工{i}", "技术部") for i in range(10)]
    before = SyncedDirectory.model_validate(
        build_roster(DirectoryRead("t", tuple(people))).document("t", "x")
    )
    plan = SyncPlan.of(DirectoryRead("t", tuple(people[:kept])), before, share)
    assert (plan.refused is not None) is refused
    if refused:
        assert f"{10 - kept} of 10 people would be removed" in (plan.refused or "")


def test_first_sync_is_never_refused() -> None:
    """With nothing synced before, there is nothing to remove."""
    plan = SyncPlan.of(DirectoryRead("t", TREE), None, 0.1)
    assert plan.refused is None and len(plan.change.added) == len(TREE)
