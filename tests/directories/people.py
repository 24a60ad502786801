"""A generated company for directory tests: departments, a reporting tree, homonyms, leavers.

Deterministic: the same ``size`` always gives the same people. Each department has a head
(reporting to the general manager), three team leads (reporting to the head) and members
(reporting to a lead). Every 97th account is disabled, every 499th has no e-mail, and common
names repeat as they do in large Chinese companies (several 王伟 and 李娜).
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_DN = "dc=example,dc=com"
STAFF_DN = f"ou=Staff,{BASE_DN}"
GROUPS_DN = f"ou=Groups,{BASE_DN}"
DEPARTMENTS = ("技术部", "市场部", "销售部", "售后部", "财务部", "人力资源部", "采购部",
               "质量部", "行政部", "法务部", "生产部", "物流部")  # fmt: skip
TOP = "总经办"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "娜", "芳", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
         "明", "超", "秀英", "桂英", "建华", "晓东", "海燕", "志强", "丽", "鹏")  # fmt: skip
DISABLED_EVERY, NO_MAIL_EVERY = 97, 499
ENABLED, DISABLED = 512, 514  # userAccountControl: a normal account; the same, disabled


@dataclass(frozen=True)
class Staff:
    """One generated person."""

    n: int
    name: str
    department: str
    manager: int | None  # the n of their manager

    @property
    def uid(self) -> str:
        return f"staff{self.n:05d}"

    @property
    def dn(self) -> str:
        return f"uid={self.uid},ou={self.department},{STAFF_DN}"

    @property
    def email(self) -> str | None:
        return None if self.n and self.n % NO_MAIL_EVERY == 0 else f"{self.uid}@example.com"

    @property
    def alias(self) -> str:
        return f"{self.uid}@old-example.cn"

    @property
    def disabled(self) -> bool:
        return bool(self.n) and self.n % DISABLED_EVERY == 0


def company(size: int) -> list[Staff]:
    """Return ``size`` people: the general manager (n=0), then the departments in turn."""
    people = [Staff(0, "周总", TOP, None)]
    heads = {d: Staff(1 + i, _name(1 + i), d, 0) for i, d in enumerate(DEPARTMENTS)}
    people.extend(heads.values())
    leads: dict[str, list[Staff]] = {d: [] for d in DEPARTMENTS}
    n = len(people)
    while n < size:
        dept = DEPARTMENTS[n % len(DEPARTMENTS)]
        if len(leads[dept]) < 3:
            person = Staff(n, _name(n), dept, heads[dept].n)
            leads[dept].append(person)
        else:
            person = Staff(n, _name(n), dept, leads[dept][n % 3].n)
        people.append(person)
        n += 1
    return people


def _name(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // len(SURNAMES)) % len(GIVEN)]


def by_n(people: list[Staff]) -> dict[int, Staff]:
    """Return the people keyed by their number."""
    return {p.n: p for p in people}
