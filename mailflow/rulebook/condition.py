"""The ``when:`` part of a rule: conditions on what mail says, all of which must hold.

A value may be a list, meaning any of its values. Evaluation lives in ``matching.py``; this is
only the shape and its validation. Pure: no I/O here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from mailflow.rulebook.vocabulary import (
    CONFIRMATION_KINDS,
    EXTERNAL,
    INTERNAL,
    ITEM_FIELDS,
    PROBLEM_CODES,
    ConfirmationKinds,
    ItemFields,
    ProblemCodes,
    Senders,
    Strict,
    Texts,
    choose,
    department_name,
    did_you_mean,
    is_address,
    is_domain,
)


class When(Strict):
    """Conditions; every one given must hold. A list means any of its values."""

    reason: Texts | None = Field(None, description="事由 in the subject, e.g. 会议纪要")
    department: Texts | None = Field(None, description="部门 named in the subject")
    sender: Senders | None = Field(
        None, description="internal, external, or addresses / domains (@kehu-a.com.cn)"
    )
    conforms: bool | None = Field(None, description="subject follows 【事由】部门-主题")
    subject_problems: ProblemCodes | None = None
    missing_fields: ItemFields | None = Field(
        None, description="some action item lacks one of these (owner, deadline, deliverable)"
    )
    has_action_items: bool | None = None
    keywords: Texts | None = Field(None, description="words in the subject or the new text")
    reply: bool | None = Field(None, description="true: a reply in a thread; false: a new mail")
    attachments: Literal["present", "absent"] | None = Field(None, description="present, absent")
    attachment_name: Texts | None = Field(
        None, description="some attachment's file name contains this (or matches * ?)"
    )
    attachment_without_version: bool | None = None
    confirmation: ConfirmationKinds | None = Field(None, description="ack, objection, done, none")

    @field_validator("department")
    @classmethod
    def _departments(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else [department_name(v, info) for v in value]

    @field_validator("sender")
    @classmethod
    def _senders(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) == 1 and value[0] in (INTERNAL, EXTERNAL):
            return value
        for v in value:
            if not (is_address(v) or is_domain(v)):
                raise ValueError(
                    f"sender {v!r} is not internal, external, an address or a domain"
                    f"{did_you_mean(v, [INTERNAL, EXTERNAL])}"
                )
        return [v.lower().lstrip("@") for v in value]

    @field_validator("subject_problems")
    @classmethod
    def _problems(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [choose(v, PROBLEM_CODES, "problem") for v in value]

    @field_validator("missing_fields")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [choose(v, ITEM_FIELDS, "field") for v in value]

    @field_validator("confirmation")
    @classmethod
    def _kinds(cls, value: list[str] | None) -> list[str] | None:
        kinds = CONFIRMATION_KINDS
        return None if value is None else [choose(v, kinds, "confirmation") for v in value]
