"""The words rule files are written in: constants, value types and shared validators.

Names that must exist elsewhere (templates, departments) are checked against the pydantic
validation context ``{"templates": set, "departments": {name or alias: canonical}}``, so one
pass reports every problem; without a context (JSON Schema generation) those checks are
skipped. Pure: no I/O here.
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

from mailflow.mail.model import (
    ACK,
    DEADLINE,
    DELIVERABLE,
    DONE,
    MISSING_DEPARTMENT,
    MISSING_REASON,
    MISSING_TOPIC,
    NONSTANDARD_BRACKETS,
    OBJECTION,
    OWNER,
    UNKNOWN_DEPARTMENT,
)
from mailflow.rulebook.duration import EXAMPLES, Duration, parse_duration

INTERNAL, EXTERNAL = "internal", "external"
PRESENT, ABSENT = "present", "absent"
NO_CONFIRMATION = "none"
ITEM_FIELDS = (OWNER, DEADLINE, DELIVERABLE)
PROBLEM_CODES = (
    MISSING_REASON,
    NONSTANDARD_BRACKETS,
    MISSING_DEPARTMENT,
    UNKNOWN_DEPARTMENT,
    MISSING_TOPIC,
)
CONFIRMATION_KINDS = (ACK, OBJECTION, DONE, NO_CONFIRMATION)
# who a confirmation is asked from, by their place on the original mail
ROLES = ("sender", "to", "cc")
# manager sets copy_managers can name besides a department
SENDER_DEPARTMENT, SUBJECT_DEPARTMENT = "sender", "named"
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_DOMAIN = re.compile(r"^@?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str | bool) else value


def _one_or_many(item: dict[str, Any]) -> WithJsonSchema:
    """Return the JSON Schema of a value that may be one item or a list of them."""
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]})


_Many = BeforeValidator(_listify)
Texts = Annotated[
    list[str], _Many, _one_or_many({"type": "string", "minLength": 1}), Field(min_length=1)
]
ProblemCodes = Annotated[list[str], _Many, _one_or_many({"enum": list(PROBLEM_CODES)})]
ItemFields = Annotated[list[str], _Many, _one_or_many({"enum": list(ITEM_FIELDS)})]
ConfirmationKinds = Annotated[list[str], _Many, _one_or_many({"enum": list(CONFIRMATION_KINDS)})]
Senders = Annotated[
    list[str],
    _Many,
    _one_or_many({"type": "string", "examples": [INTERNAL, EXTERNAL, "example.com"]}),
    Field(min_length=1),
]


def choose(value: str, options: tuple[str, ...] | list[str], what: str) -> str:
    """Return ``value`` when it is one of ``options``; else raise ValueError with a suggestion."""
    if value in options:
        return value
    raise ValueError(f"unknown {what} {value!r}{did_you_mean(value, options)}")


def did_you_mean(value: str, options: tuple[str, ...] | list[str] | set[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or a list of what is allowed."""
    close = get_close_matches(value, sorted(options), n=1, cutoff=0.5)
    if close:
        return f" (did you mean {close[0]!r}?)"
    shown = ", ".join(sorted(options)[:12])
    return f" (known: {shown})" if shown else ""


def template_name(value: str, info: ValidationInfo) -> str:
    """Return ``value`` when the loader's template set knows it (or no set was given)."""
    known = (info.context or {}).get("templates")
    if known is None or value in known:
        return value
    raise ValueError(f"unknown template {value!r}{did_you_mean(value, set(known))}")


def department_name(value: str, info: ValidationInfo) -> str:
    """Return the canonical department for a name or alias; unknown names are errors."""
    names: dict[str, str] | None = (info.context or {}).get("departments")
    if names is None:
        return value
    if value in names:
        return names[value]
    raise ValueError(f"unknown department {value!r}{did_you_mean(value, set(names))}")


def recipient_name(value: str, info: ValidationInfo) -> str:
    """An address written in the rules, or a department (meaning its managers)."""
    return value.lower() if is_address(value) else department_name(value, info)


class Strict(BaseModel):
    """Base of every rule-file model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit (write e.g. {EXAMPLES})")
    return parse_duration(str(value))


DurationText = Annotated[
    Duration,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "examples": ["24h", "3 business days", "3个工作日"]}),
]


def is_address(text: str) -> bool:
    """Return whether ``text`` looks like an e-mail address."""
    return _ADDRESS.match(text) is not None


def is_domain(text: str) -> bool:
    """Return whether ``text`` looks like a domain (``example.com`` or ``@example.com``)."""
    return _DOMAIN.match(text) is not None
