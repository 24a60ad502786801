"""The ``do:`` part of a rule: actions, each one step with exactly one key, run in order.

Short forms a non-programmer writes are accepted: ``- reply: receipt`` (a template name),
``- stop`` and ``- track_action_items`` (bare words). What each action does lives in
``decision.py``; this is only the shape and its validation. Pure: no I/O here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mailflow.rulebook.vocabulary import (
    ITEM_FIELDS,
    ROLES,
    SENDER_DEPARTMENT,
    SUBJECT_DEPARTMENT,
    DurationText,
    Strict,
    choose,
    department_name,
    recipient_name,
    template_name,
)

_RECIPIENTS = "an address, a department (its managers), or sender / to / cc"


class _Templated(Strict):
    template: str = Field(description="name of a mail template in templates/")

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str, info: ValidationInfo) -> str:
        return template_name(value, info)


def _recipients(values: list[str], info: ValidationInfo) -> list[str]:
    return [v if v in ROLES else recipient_name(v, info) for v in values]


class Reply(_Templated):
    """Answer the sender with a template; ``cc`` as for notify, plus to / cc of the mail."""

    cc: list[str] = Field(default=[], description=_RECIPIENTS)

    @field_validator("cc")
    @classmethod
    def _known_cc(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _recipients(value, info)


class CopyManagers(_Templated):
    """Send managers a copy: of the sender's department, the subject's (named), or one named."""

    of: str = Field(SENDER_DEPARTMENT, description="sender, named, or a department name")
    unless_copied: bool = Field(True, description="skip managers already on To or Cc")

    @field_validator("of")
    @classmethod
    def _known_department(cls, value: str, info: ValidationInfo) -> str:
        if value in (SENDER_DEPARTMENT, SUBJECT_DEPARTMENT):
            return value
        return department_name(value, info)


class Notify(_Templated):
    """Tell listed addresses or departments' managers."""

    to: list[str] = Field(min_length=1, description=_RECIPIENTS)

    @field_validator("to")
    @classmethod
    def _known_recipients(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _recipients(value, info)


class RequestConfirmation(Strict):
    """Expect 已阅 (or an objection) from these people on the mail within a time."""

    from_: list[str] = Field(
        alias="from",
        min_length=1,
        description="sender, to, cc",
        json_schema_extra={"items": {"enum": list(ROLES)}},
    )
    within: DurationText

    @field_validator("from_")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        return [choose(v, ROLES, "role") for v in value]


class TrackItems(Strict):
    """Keep the mail's action items and follow them up (reminders, chasing)."""


class RequireFields(_Templated):
    """Ask for what action items lack: 责任人 (owner), 完成时限 (deadline), 交付标准."""

    fields: list[str] = Field(
        default=list(ITEM_FIELDS),
        min_length=1,
        json_schema_extra={"items": {"enum": list(ITEM_FIELDS)}},
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        return [choose(v, ITEM_FIELDS, "field") for v in value]


class RequireAttachment(_Templated):
    """Ask for an attachment whose file name contains ``pattern`` when none is attached."""

    pattern: str = Field(min_length=1, description="part of the file name, or a * ? pattern")


_BARE = {"stop": True, "track_action_items": {}}


class Step(Strict):
    """One action; exactly one of these keys."""

    reply: Reply | None = None
    copy_managers: CopyManagers | None = None
    notify: Notify | None = None
    request_confirmation: RequestConfirmation | None = None
    track_action_items: TrackItems | None = None
    require_fields: RequireFields | None = None
    require_attachment: RequireAttachment | None = None
    stop: bool | None = Field(None, description="run no later rule")

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str) and data in _BARE:
            return {data: _BARE[data]}
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("reply"), str):
                data["reply"] = {"template": data["reply"]}
            for key, value in _BARE.items():
                if key in data and data[key] is None:
                    data[key] = value
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            names = ", ".join(given) or "nothing"
            raise ValueError(f"a step does exactly one thing, this one has {names}")
        return self

    @property
    def kind(self) -> str:
        """Return the name of this step's action."""
        return next(n for n in type(self).model_fields if getattr(self, n) is not None)
