"""Who a piece of mail text may name: people, departments, titled and English names, groups.

``NameIndex`` is built once per rulebook version (``ParseContext.name_index``): one
Aho-Corasick automaton (pyahocorasick) over the directory's people and the rules' departments
and aliases, so finding names costs the same for 16 people as for 10,000. ``MailNames`` adds
one mail's participants (display names of From/To/Cc) without rebuilding the automaton: they
are few, and are looked up with ``str.find``. ``MailNames.find(text)`` returns every name
written in ``text``, longest first where two overlap, from these sources and from forms that
need no list: departments by suffix (市场部, 数据中心), a surname with a title (王经理, 李工),
English and mixed names (Kevin, Tony王), groups (各部门负责人), 你/您 (the single addressee)
and 我 (the sender).
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import ahocorasick

from mailflow.mail.model import Address, Person
from mailflow.mail.triggers import may_match, required

PERSON, DEPARTMENT, GROUP, ADDRESSEE, SELF = "person", "department", "group", "addressee", "self"
DEPARTMENT_SUFFIX = r"(?:事业部|部门|部|中心|处|科|室|组|团队|办公室|委员会|小组|车间|班组)"
# common family names: one character, or the compound ones (欧阳, 上官, 司马, 诸葛)
SURNAME = (
    "(?:欧阳|上官|司马|诸葛|[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田"
    "董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤葛聂柳鲁])"
)
TITLES = (
    r"(?:总经理|副总|经理|总监|总工|主任|主管|老师|律师|医生|大夫|护士长|科长|处长|部长|院长"
    r"|校长|行长|会计|助理|师傅|组长|队长|班长|博士|教授|秘书|专员|厂长|店长|站长|工|总|姐|哥)"
)
_BEFORE = r"(?:(?<=^)|(?<=[请由和与及让、，,：:；;\s@（(】\]|｜]))"
_GENERIC = (
    # 市场部, 数据中心, 质量管理小组: up to 8 characters before a department suffix
    (
        DEPARTMENT,
        re.compile(
            _BEFORE
            + r"(?:(?![和与及请由的在于将或已])[\u4e00-\u9fffA-Za-z0-9]){1,8}?"
            + DEPARTMENT_SUFFIX
        ),
    ),
    # 各部门负责人, 各门店店长, 全体科室主任: a role. 各位/全体同事 address the readers instead
    (
        GROUP,
        re.compile(
            r"(?:各|全体|所有)[\u4e00-\u9fff]{0,6}"
            r"(?:负责人|主任|经理|组长|队长|班长|站长|店长|科长|处长|校长|院长|厂长|主管|部门|单位)"
        ),
    ),
    # 王经理, 李工, 小张, 老李
    (PERSON, re.compile(f"(?:{SURNAME}{TITLES}|[小老]{SURNAME})")),
    # Tony王, 王Tony, Kevin, Mary Chen
    (
        PERSON,
        re.compile(
            rf"(?<![A-Za-z])(?:[A-Z][a-z]+{SURNAME}|{SURNAME}[A-Z][a-z]+"
            r"|[A-Z][a-z]+(?: [A-Z][a-z]+)?)(?![A-Za-z])"
        ),
    ),
    (ADDRESSEE, re.compile(r"[你您](?![们好的])")),
    (SELF, re.compile(r"(?<![自])我(?![们的司方国])|本人")),
)
# capitalised words that open English sentences and are nobody's name
_COMMON_WORDS = (
    "Please Hi Hello Dear Thanks Thank The This That These Those We Our You Your It Its All Team"
    " Note Action Items Item Task Tasks Owner Due Deadline Deliverable Status Re Fw Fwd Best"
    " Regards Cheers Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February"
    " March April May June July August September October November December Next Today Tomorrow"
    " If When By Before After For And Or But Also Kindly Could Can Would Will Let Each Every"
)
_NOT_NAMES = frozenset(_COMMON_WORDS.split())
# what each generic form cannot match without (``triggers``): most texts lack it for most forms
_GENERIC_CHARS = tuple(required(pattern) for _, pattern in _GENERIC)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ANNOTATION = re.compile(r"\s*[（(][^（）()]*[)）]\s*")  # 李四（技术部） → 李四
_EDGE = "\t \u3000,，;；。.、:：|｜\"'“”"


@dataclass(frozen=True)
class Name:
    """A name found in text: where, as written, and what it names."""

    start: int
    end: int
    text: str
    kind: str  # PERSON, DEPARTMENT, GROUP or ADDRESSEE


def display_name(value: str) -> str:
    """Return a display name without its annotation and quotes: ``李四 (技术部)`` → ``李四``."""
    return _ANNOTATION.sub("", value or "").strip(_EDGE)


@dataclass(frozen=True)
class NameIndex:
    """The directory and departments as one automaton; build it once per rulebook version."""

    emails: Mapping[str, str]  # a name only one person has → their address
    departments: frozenset[str]
    automaton: object = field(repr=False, compare=False)
    # a name several people share (two 王伟) → each of them; never resolved by guessing
    shared: Mapping[str, tuple[Person, ...]] = field(default_factory=dict)
    # every department name and alias → its canonical name; address → the person's department
    canonical: Mapping[str, str] = field(default_factory=dict)
    department_of: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, people: Iterable[Person], departments: Mapping[str, str]) -> NameIndex:
        """Return the index of ``people`` and every department name and alias."""
        by_name: dict[str, dict[str, Person]] = {}
        for p in people:
            if p.name:
                by_name.setdefault(p.name, {}).setdefault(p.email.lower(), p)
        emails = {n: next(iter(ps.values())).email for n, ps in by_name.items() if len(ps) == 1}
        shared = {n: tuple(ps.values()) for n, ps in by_name.items() if len(ps) > 1}
        depts = frozenset(departments) | frozenset(departments.values())
        automaton = ahocorasick.Automaton()
        for name in depts:
            if name:
                automaton.add_word(name.translate(_ASCII_LOWER), (name, DEPARTMENT))
        for name in by_name:
            automaton.add_word(name.translate(_ASCII_LOWER), (name, PERSON))
        if len(automaton):
            automaton.make_automaton()
        canonical = {**{d: d for d in departments.values()}, **departments}
        department_of = {
            p.email.lower(): canonical.get(p.department, p.department)
            for ps in by_name.values()
            for p in ps.values()
            if p.department
        }
        return cls(emails, depts, automaton, shared, canonical, department_of)

    def known(self, text: str) -> list[Name]:
        """Return the directory names and departments in ``text``, longest first on overlap."""
        automaton = self.automaton
        if not len(automaton):  # type: ignore[arg-type]
            return []
        found = []
        matches = automaton.iter_long(text.translate(_ASCII_LOWER))  # type: ignore[attr-defined]
        for last, (name, kind) in matches:
            start = last + 1 - len(name)
            found.append(Name(start, last + 1, text[start : last + 1], kind))
        return found


@dataclass(frozen=True)
class MailNames:
    """The names one mail may use: the index plus the mail's participants and addressee."""

    index: NameIndex
    participants: Mapping[str, str]  # display name → address, for names not in the directory
    addressee: Address | None  # the single To recipient, whom 你/您 means
    sender: Address | None = None  # whom "I" means
    on_mail: tuple[Address, ...] = ()  # From, To and Cc: who a shared name may mean first
    # the names found in each text read so far: one mail's readers ask about the same units
    seen: dict[str, list[Name]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        index: NameIndex,
        participants: Iterable[Address],
        to: Iterable[Address] = (),
        sender: Address | None = None,
    ) -> MailNames:
        """Return the names of one mail; ``to`` decides whom 你/您 means (one recipient only)."""
        extra: dict[str, str] = {}
        for a in participants:
            name = display_name(a.name)
            if name and a.address and name not in index.emails:
                extra.setdefault(name, a.address.lower())
        recipients = [a for a in to if a.address]
        addressee = recipients[0] if len(recipients) == 1 else None
        return cls(index, extra, addressee, sender, tuple(a for a in participants if a.address))

    def email_of(self, name: str, near: str = "") -> str | None:
        """Return the address of a person named ``name`` (directory first), or None.

        A name several people in the directory share resolves only when the mail decides it:
        one of them is on the mail (From, To, Cc); else one of them is in a department named
        in ``near`` (the line the name was written in: 技术部王伟, 王伟（市场部）); else one of
        them is in the sender's department. Otherwise None: never a guess.
        """
        if (email := self.index.emails.get(name)) is not None:
            return email
        if name in self.index.shared:
            return self._decide(self.index.shared[name], near)
        return self.participants.get(name)

    def candidates(self, name: str | None) -> tuple[str, ...]:
        """Return the addresses of everyone in the directory called ``name`` when several are."""
        return tuple(p.email for p in self.index.shared.get(name or "", ()))

    def _decide(self, people: tuple[Person, ...], near: str) -> str | None:
        on_mail = {a.address.lower() for a in self.on_mail}
        named = {
            self.index.canonical.get(n.text, n.text)
            for n in self.index.known(near)
            if n.kind == DEPARTMENT
        }
        sender = self.sender.address.lower() if self.sender else ""
        own = self.index.department_of.get(sender)
        tests: tuple[Callable[[Person], bool], ...] = (
            lambda p: p.email.lower() in on_mail,
            lambda p: self._department(p) in named,
            lambda p: own is not None and self._department(p) == own,
        )
        for test in tests:
            chosen = [p for p in people if test(p)]
            if len(chosen) == 1:
                return chosen[0].email
        return None

    def _department(self, person: Person) -> str | None:
        return self.index.department_of.get(person.email.lower())

    def is_department(self, name: str) -> bool:
        """Return whether ``name`` is a department (known, or by its suffix)."""
        return name in self.index.departments or bool(_GENERIC[0][1].fullmatch(name))

    def addressee_name(self) -> str | None:
        """Return how 你/您 is written as an owner: the single addressee's name or address."""
        if self.addressee is None:
            return None
        return display_name(self.addressee.name) or self.addressee.address.lower()

    def sender_name(self) -> str | None:
        """Return how the sender is written as an owner: the display name or address."""
        if self.sender is None:
            return None
        return display_name(self.sender.name) or self.sender.address.lower()

    def find(self, text: str) -> list[Name]:
        """Return the names in ``text`` in order; known names win over the generic forms."""
        if (found := self.seen.get(text)) is None:
            found = self.seen[text] = self._find(text)
        return found

    def _find(self, text: str) -> list[Name]:
        known = self.index.known(text)
        for name in self.participants:
            start = text.find(name)
            while start >= 0:
                known.append(Name(start, start + len(name), name, PERSON))
                start = text.find(name, start + len(name))
        kept = _without_overlaps(known, [])
        chars = set(text)
        generic = [
            Name(m.start(), m.end(), m.group(), kind)
            for (kind, pattern), needed in zip(_GENERIC, _GENERIC_CHARS, strict=True)
            if may_match(needed, chars)
            for m in pattern.finditer(text)
            if m.group() not in _NOT_NAMES
        ]
        return _without_overlaps(generic, kept)


def _without_overlaps(found: list[Name], kept: list[Name]) -> list[Name]:
    """Return ``kept`` plus the names of ``found`` that overlap nothing kept, in text order.

    Among overlapping names of ``found`` the earliest, then the longest, wins.
    """
    taken = [(n.start, n.end) for n in kept]
    for n in sorted(found, key=lambda n: (n.start, -(n.end - n.start))):
        if all(n.end <= s or n.start >= e for s, e in taken):
            kept.append(n)
            taken.append((n.start, n.end))
    return sorted(kept, key=lambda n: n.start)
