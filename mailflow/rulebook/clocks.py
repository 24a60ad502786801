"""The clocks of the guide's step 5 (闭环跟踪与复盘) and its external rules, as rule files set them.

``clocks:`` in a rule file sets how long people have before mailflow reminds, chases and
escalates; everything has the guide's value as default, so a rule file without ``clocks:`` runs
the guide as written. A duration is calendar time (``24h``, ``3d``) unless it says business time
(``3 business days``, ``16 business hours``), counted in work hours on the PRC calendar. Pure.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, field_validator

from mailflow.rulebook.duration import parse_duration
from mailflow.rulebook.vocabulary import DurationText, Strict

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _clock_time(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day like 09:00") from None
    return value


class ConfirmationClock(Strict):
    """Minutes: one reminder to each silent participant when the request's time is up, then
    their managers hear who is still missing."""

    remind: bool = Field(True, description="remind silent participants when the time is up")
    escalate_after: DurationText = Field(
        default_factory=lambda: parse_duration("1 business days"),
        description="after the reminder, tell the managers who is still missing",
    )


class DeadlineClock(Strict):
    """Action items: reminders before the deadline and on the day; after it, the owner and the
    initiator, then the managers of the owner's department (专项协调会 for a milestone)."""

    remind_before: DurationText = Field(
        default_factory=lambda: parse_duration("3 business days"),
        description="the first reminder, this long before the deadline",
    )
    remind_on_day_at: str = Field("09:00", description="the reminder on the day, at this time")
    escalate_after: DurationText = Field(
        default_factory=lambda: parse_duration("1 business days"),
        description="after the deadline passed, tell the owner's managers",
    )
    milestone_words: list[str] = Field(
        default_factory=lambda: ["里程碑", "上线", "发布", "验收", "milestone"],
        description="an item whose task or mail subject has one of these is a milestone",
    )

    @field_validator("remind_on_day_at")
    @classmethod
    def _time(cls, value: str) -> str:
        return _clock_time(value)


class ComplaintClock(Strict):
    """Customer complaints: answered by staff within 48 h or escalated; a satisfaction revisit
    3 days after a staff reply resolved it."""

    reasons: list[str] = Field(
        default_factory=lambda: ["客户投诉"], description="事由 of complaints"
    )
    answer_within: DurationText = Field(default_factory=lambda: parse_duration("48h"))
    resolved_words: list[str] = Field(
        default_factory=lambda: [
            "已解决",
            "已处理完毕",
            "处理完毕",
            "已修复",
            "已恢复正常",
            "问题已解决",
        ],
        description="a staff reply with one of these (or a 已完成 reply) resolves the complaint",
    )
    revisit_after: DurationText = Field(default_factory=lambda: parse_duration("3d"))


class WeeklyRecordClock(Strict):
    """Each department's managers get the week's record, with the 内部沟通记录表 attached."""

    enabled: bool = True
    day: Weekday = "friday"
    at: str = Field("17:00", description="time of day, organisation timezone")

    @field_validator("at")
    @classmethod
    def _time(cls, value: str) -> str:
        return _clock_time(value)


class Clocks(Strict):
    """All clocks; each part may be left out and keeps the guide's defaults."""

    confirmation: ConfirmationClock = Field(default_factory=ConfirmationClock)
    deadline: DeadlineClock = Field(default_factory=DeadlineClock)
    complaint: ComplaintClock = Field(default_factory=ComplaintClock)
    weekly_record: WeeklyRecordClock = Field(default_factory=WeeklyRecordClock)
    stale_after: DurationText = Field(
        default_factory=lambda: parse_duration("7d"),
        description="a reminder that missed its moment by more than this is dropped, not sent",
    )
