"""Read a subject by the convention 【事由】+部门+主题 (DESIGN §5).

Reply and forward prefixes of any client are peeled off first, then the reason in brackets,
then the department (a directory alias, longest first, or a token ending in 部/中心/处/科/室/组),
then the topic. Choices:

- A department found only by its suffix while the directory is non-empty is still returned as
  written, with ``unknown_department``: the sender named one, the directory may be stale, and
  the administrator needs to see which name was used.
- ``unknown_department`` does not stop ``conforms``: the form (reason in 【】, department, topic)
  is right; only the name is unknown. Nonstandard brackets do stop it.
- Without a separator (``技术部Q4产品``) a suffix match must not be an ordinary word (全部,
  处理) nor start with a function word (关于, 请, 各): 【通知】关于处理流程 has no department.

Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mailflow.mail.model import (
    MISSING_DEPARTMENT,
    MISSING_REASON,
    MISSING_TOPIC,
    NONSTANDARD_BRACKETS,
    UNKNOWN_DEPARTMENT,
    Subject,
)

_PREFIX = re.compile(
    r"\s*((?i:re|fwd?|aw|wg|sv|vs|antw|odp|tr|rv|enc|ynt|回复|回覆|回復|答复|答覆|转发|轉發|转寄|轉寄)"
    r"(?:\s*[\[(]\d+[\])]|\^\d+)?|R|I)\s*[:：]"
)
_OPEN, _CLOSE = "【[［〖", "】]］〗"
_REASON = re.compile(
    rf"\s*([{re.escape(_OPEN)}])([^{re.escape(_OPEN + _CLOSE)}]*)([{re.escape(_CLOSE)}])"
)
_SEPARATORS = "-+｜|：:—–_－＋/／ \t\u3000"
_SEPARATOR = re.compile(rf"[{re.escape(_SEPARATORS)}]")
_SUFFIXED = re.compile(r"([A-Za-z0-9&\u4e00-\u9fff]{1,11}?(?:部门|部門|中心|部|处|處|科|室|组|組))")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")
# words that end like a department but are not one
_NOT_DEPARTMENTS = frozenset(
    (
        "全部",
        "内部",
        "外部",
        "局部",
        "顶部",
        "底部",
        "头部",
        "尾部",
        "中部",
        "东部",
        "西部",
        "南部",
        "北部",
        "干部",
        "各部",
        "本部",
        "细部",
        "俱乐部",
        "会议室",
        "教室",
        "卧室",
        "浴室",
        "此处",
        "好处",
        "到处",
        "各处",
        "何处",
        "难处",
        "之处",
        "用处",
        "益处",
        "长处",
        "短处",
        "相处",
        "一组",
        "分组",
        "本科",
        "学科",
        "专科",
        "中心",
        "重心",
        "核心",
        "小组",
    )
)
# a department name does not start with these (关于..., 请各部门..., 本周...)
_FUNCTION_STARTS = (
    "关于",
    "请",
    "各",
    "全",
    "本",
    "对",
    "为",
    "由",
    "在",
    "与",
    "和",
    "向",
    "将",
    "把",
    "从",
    "给",
)
# suffix + next character forming an ordinary word: 处理, 部分, 科技, 组织, 室内 ...
_WORD_AFTER = {
    "处": "理置于在罚分",
    "處": "理置於在罰分",
    "部": "分署件位长長",
    "科": "技学學研目普",
    "室": "内外內",
    "组": "织成建合件长",
    "組": "織成建合件長",
}


def parse_subject(raw: str, departments: Mapping[str, str]) -> Subject:
    """Return the parts of subject ``raw``; ``departments`` maps each alias to its canonical."""
    prefixes, rest = _strip_prefixes(raw)
    problems: list[str] = []
    reason, rest, standard = _take_reason(rest)
    if reason is None:
        problems.append(MISSING_REASON)
    elif not standard:
        problems.append(NONSTANDARD_BRACKETS)
    department, rest, known = _take_department(rest.lstrip(_SEPARATORS), departments)
    if department is None:
        problems.append(MISSING_DEPARTMENT)
    elif not known and departments:
        problems.append(UNKNOWN_DEPARTMENT)
    topic = rest.strip(_SEPARATORS) or None
    if topic is None:
        problems.append(MISSING_TOPIC)
    conforms = standard and None not in (reason, department, topic)
    return Subject(raw, tuple(prefixes), conforms, reason, department, topic, tuple(problems))


def _strip_prefixes(text: str) -> tuple[list[str], str]:
    """Return the reply/forward prefixes as written (without colon) and the rest."""
    prefixes, pos = [], 0
    while match := _PREFIX.match(text, pos):  # by position: slicing each time is quadratic
        prefixes.append(match.group(1))
        pos = match.end()
    return prefixes, text[pos:].strip()


def _take_reason(text: str) -> tuple[str | None, str, bool]:
    """Return (reason, rest, written in 【】); reason is None when no bracket opens the text."""
    match = _REASON.match(text)
    if match is None:
        return None, text, False
    reason = match.group(2).strip() or None
    standard = match.group(1) == "【" and match.group(3) == "】"
    return reason, text[match.end() :], standard


def _take_department(text: str, departments: Mapping[str, str]) -> tuple[str | None, str, bool]:
    """Return (department, rest, known to the directory) from the start of ``text``."""
    inner = _REASON.match(text)  # 【会议纪要】【技术部】...: a department in brackets
    found = _department_at(inner.group(2).strip(), departments) if inner else None
    if inner and found is not None and found[1].strip(_SEPARATORS) == "":
        return found[0], text[inner.end() :], found[2]
    found = _department_at(text, departments)
    return found if found is not None else (None, text, False)


def _department_at(text: str, departments: Mapping[str, str]) -> tuple[str, str, bool] | None:
    lowered = text.lower()
    for alias in sorted(departments, key=len, reverse=True):
        if alias and lowered.startswith(alias.lower()):
            after = text[len(alias) : len(alias) + 1]
            if not (alias[-1].isascii() and _ASCII_WORD.match(after)):
                return departments[alias], text[len(alias) :], True
    token = _SEPARATOR.split(text, maxsplit=1)[0]
    match = _SUFFIXED.match(token)
    if match is None:
        return None
    # the whole token when it is one name (研发中心测试组), else its first suffixed stretch
    name = token if _SUFFIXED.fullmatch(token) else match.group(1)
    if not _plausible(name, text[len(name) : len(name) + 1]):
        return None
    canonical = departments.get(name)
    return (canonical or name), text[len(name) :], canonical is not None


def _plausible(name: str, following: str) -> bool:
    """Return True when ``name`` (followed by ``following``) reads as a department name."""
    if not 2 <= len(name) <= 12 or name in _NOT_DEPARTMENTS or name.startswith(_FUNCTION_STARTS):
        return False
    return following == "" or following not in _WORD_AFTER.get(name[-1], "")


_LEADING_TAG = re.compile(r"^\s*[【\[［〖][^】\]］〗]{0,40}[】\]］〗]\s*")
_SPACE = re.compile(r"\s+")
THREAD_KEY_LENGTH = 500


def thread_key(subject: Subject) -> str:
    """Return the subject as threads compare it: reply prefixes and the convention removed.

    ``Re: 【会议纪要】技术部-Q4同步`` and ``【会议纪要】技术部 Q4同步`` share the key ``q4同步``.
    """
    base = subject.topic or _LEADING_TAG.sub("", _strip_prefixes(subject.raw)[1])
    return _SPACE.sub("", base).lower()[:THREAD_KEY_LENGTH]
