"""One rule file: ``rules:`` followed by rules, each ``name`` + ``when`` + ``do``.

Rules run in file order (files in name order). A rule without ``when`` applies to every mail
that is not automatic. Pure: no I/O here; ``loader.py`` reads and validates the files.
"""

from __future__ import annotations

from pydantic import Field

from mailflow.rulebook.action import Step
from mailflow.rulebook.clocks import Clocks
from mailflow.rulebook.condition import When
from mailflow.rulebook.limits import Limits
from mailflow.rulebook.vocabulary import Strict


class Rule(Strict):
    """A named rule: when every condition holds, do each step in order."""

    name: str = Field(min_length=1, description="unique; shown in `mailflow rules test`")
    description: str = Field("", description="what the rule is for, in words")
    when: When = Field(default_factory=When)
    do: list[Step] = Field(min_length=1)


class RuleFile(Strict):
    """A whole rule file (``rules/*.yaml`` other than organization.yaml)."""

    rules: list[Rule] = Field(default_factory=list)
    clocks: Clocks | None = Field(
        None, description="reminders, escalations and the weekly record (one file sets them)"
    )
    limits: Limits | None = Field(
        None, description="caps on automatic mail and the loop brake (one file sets them)"
    )
