"""Turn the steps of a rule that hit into planned mails, confirmation plans and notes.

Each step is planned by one small method; a step that has nothing to do (managers already
copied, the attachment is there, every item is complete) adds a note saying so instead of a
mail. Every recipient goes through the invariant-8 gate; what it drops is noted. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from mailflow.mail.model import ActionItem
from mailflow.rulebook.action import (
    CopyManagers,
    Reply,
    RequestConfirmation,
    RequireAttachment,
    RequireFields,
    Step,
)
from mailflow.rulebook.duration import HOURS
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.matching import name_matches, unversioned
from mailflow.rulebook.outcome import ConfirmationPlan, PlannedMail
from mailflow.rulebook.recipients import Directory, Dropped, Gate
from mailflow.rulebook.rulefile import Rule
from mailflow.rulebook.suggest import suggest_subject
from mailflow.rulebook.vocabulary import SENDER_DEPARTMENT, SUBJECT_DEPARTMENT

Recipients = list[tuple[str, bool]]  # (address, named by the rules themselves)


def item_dict(index: int, item: ActionItem) -> dict[str, Any]:
    """Return an action item as template data (1-based ``index``, ISO deadline)."""
    return {
        "index": index,
        "task": item.task,
        "owner": item.owner,
        "owner_email": item.owner_email,
        "deadline": item.deadline.isoformat() if item.deadline else None,
        "deliverable": item.deliverable,
        "missing": list(item.missing),
        "owner_candidates": list(item.owner_candidates),
    }


@dataclass
class Planner:
    """Collects what the hit rules of one mail ask for."""

    facts: MessageFacts
    directory: Directory
    gate: Gate
    base: dict[str, Any]
    mails: list[PlannedMail] = field(default_factory=list)
    requests: list[ConfirmationPlan] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    track_items: bool = False

    @classmethod
    def of(cls, rulebook: Rulebook, facts: MessageFacts) -> Planner:
        """Return a planner for ``facts`` with the template data every mail shares."""
        directory = Directory(rulebook.organization)
        department = directory.department_of(facts.sender)
        items = [item_dict(i, it) for i, it in enumerate(facts.parsed.action_items, 1)]
        base = {  # names from outbound's STANDARD_CONTEXT, so they pass straight through
            "suggestion": suggest_subject(facts.parsed, department),
            "items": items,
            "missing": sorted({m for i in items for m in i["missing"]}),
            "unversioned_attachments": unversioned(facts),
            "department": facts.parsed.subject.department or department,
        }
        gate = Gate.of(facts, rulebook.organization, rulebook.written_addresses())
        return cls(facts, directory, gate, base)

    def run(self, rule: Rule) -> tuple[tuple[str, ...], bool]:
        """Plan every step of ``rule``; return its notes and whether it said stop."""
        notes: list[str] = []
        first_mail, first_request = len(self.mails), len(self.requests)
        stop = False
        for index, step in enumerate(rule.do):
            if step.stop:
                stop = True
                break
            notes.extend(self._step(rule.name, index, step))
        if len(self.requests) > first_request:
            self._add_participants(first_mail, self.requests[first_request])
        return tuple(notes), stop

    def _add_participants(self, first_mail: int, plan: ConfirmationPlan) -> None:
        """Give the rule's mails who must confirm and within how many hours (minutes)."""
        people = [{"name": self.directory.name_of(a), "address": a} for a in plan.addresses]
        hours = (
            plan.within.value if plan.within.unit == HOURS and not plan.within.business else None
        )
        for i in range(first_mail, len(self.mails)):
            mail = self.mails[i]
            data = {**mail.extra, "participants": people, "within_hours": hours}
            self.mails[i] = replace(mail, extra=MappingProxyType(data))

    def _step(self, rule: str, index: int, step: Step) -> list[str]:
        if step.reply:
            return self._reply(rule, index, step.reply)
        if step.copy_managers:
            return self._copy_managers(rule, index, step.copy_managers)
        if step.notify:
            to = self._resolve(step.notify.to)
            return self._plan(rule, index, step.notify.template, to, [], "notification", {})
        if step.request_confirmation:
            return self._confirmation(rule, step.request_confirmation)
        if step.require_fields:
            return self._require_fields(rule, index, step.require_fields)
        if step.require_attachment:
            return self._require_attachment(rule, index, step.require_attachment)
        self.track_items = True
        return []

    def _sender(self) -> Recipients:
        return [(self.facts.sender, False)] if self.facts.sender else []

    def _reply(self, rule: str, index: int, reply: Reply) -> list[str]:
        to = self._sender()
        cc = self._resolve(reply.cc)
        return self._plan(rule, index, reply.template, to, cc, "reply to the sender", {})

    def _copy_managers(self, rule: str, index: int, copy: CopyManagers) -> list[str]:
        department = {
            SENDER_DEPARTMENT: self.directory.department_of(self.facts.sender),
            SUBJECT_DEPARTMENT: self.facts.parsed.subject.department,
        }.get(copy.of, copy.of)
        managers = self.directory.managers(department)
        if not managers:
            return [f"no managers to copy: department {department or 'unknown'} has none listed"]
        skip = (self.facts.copied | {self.facts.sender}) if copy.unless_copied else set()
        missing = tuple(m for m in managers if m not in skip)
        if not missing:
            return [f"managers of {department} already on the mail: {', '.join(managers)}"]
        extra = {"department": department}
        purpose = f"copy to the managers of {department}"
        to = [(m, True) for m in missing]  # named by the rules: their department's managers
        return self._plan(rule, index, copy.template, to, [], purpose, extra)

    def _confirmation(self, rule: str, request: RequestConfirmation) -> list[str]:
        parsed = self.facts.parsed
        by_role = {
            "sender": [self.facts.sender] if self.facts.sender else [],
            "to": [a.address for a in parsed.to],
            "cc": [a.address for a in parsed.cc],
        }
        wanted = [a for role in request.from_ for a in by_role[role]]
        if "sender" not in request.from_:
            wanted = [a for a in wanted if a.lower() != self.facts.sender]
        kept, dropped = self.gate.ledger(wanted)
        plan = ConfirmationPlan(tuple(request.from_), request.within, kept, rule)
        self.requests.append(plan)
        return self._drop(dropped)

    def _require_fields(self, rule: str, index: int, require: RequireFields) -> list[str]:
        lacking = [
            {**item, "missing": [m for m in item["missing"] if m in require.fields]}
            for item in self.base["items"]
            if any(m in require.fields for m in item["missing"])
        ]
        if not lacking:
            return [f"every action item has {', '.join(require.fields)}"]
        notes: list[str] = []
        groups, dropped = _by_owner(lacking, self.gate, require.template)
        notes += self._drop(dropped)
        for owner, items in groups.items():
            to = [(owner, False)] if owner else self._sender()
            cc = self._sender() if owner else []
            missing = sorted({m for i in items for m in i["missing"]})
            extra = {"items": items, "missing": missing}
            purpose = "ask for what action items lack"
            notes += self._plan(rule, index, require.template, to, cc, purpose, extra)
        return notes

    def _require_attachment(self, rule: str, index: int, need: RequireAttachment) -> list[str]:
        found = [a for a in self.facts.parsed.attachments if name_matches(a, need.pattern)]
        if found:
            return [f"{found[0].filename} is attached as required"]
        extra = {"required_attachment": need.pattern}
        purpose = f"ask for the attachment {need.pattern}"
        return self._plan(rule, index, need.template, self._sender(), [], purpose, extra)

    def _resolve(self, names: list[str]) -> Recipients:
        """Return addresses for rule recipients: addresses, roles, departments' managers, each
        with whether the rules named it themselves (the roles to / cc are the mail's choice)."""
        parsed = self.facts.parsed
        out: Recipients = []
        for name in names:
            if "@" in name:
                out.append((name, True))
            elif name == "sender":
                out += self._sender()
            elif name in ("to", "cc"):
                out += [(a.address, False) for a in (parsed.to if name == "to" else parsed.cc)]
            else:
                out += [(m, True) for m in self.directory.managers(name)]
        return out

    def _admit(
        self, recipients: Recipients, template: str, skip: tuple[str, ...] = ()
    ) -> tuple[tuple[str, ...], list[Dropped]]:
        """Return the admitted addresses of ``recipients`` (in order, once) and the dropped."""
        kept: list[str] = []
        dropped: list[Dropped] = []
        for address, by_rule in recipients:
            if address.lower() in skip:
                continue
            ok, out = self.gate.admit([address], template, by_rule)
            kept += [a for a in ok if a not in kept]
            dropped += [d for d in out if d not in dropped]
        return tuple(kept), dropped

    def _drop(self, dropped: Iterable[Dropped]) -> list[str]:
        """Remember what the policy dropped; return its notes."""
        fresh = [d for d in dropped if d not in self.dropped]
        self.dropped += fresh
        return [d.note() for d in fresh]

    def _plan(
        self,
        rule: str,
        index: int,
        template: str,
        to: Recipients,
        cc: Recipients,
        purpose: str,
        extra: dict[str, Any],
    ) -> list[str]:
        kept_to, dropped = self._admit(to, template)
        kept_cc, dropped_cc = self._admit(cc, template, skip=kept_to)
        notes = self._drop(dropped + dropped_cc)
        if not kept_to:
            return [*notes, f"{template}: no allowed recipient, nothing sent"]
        if any(m.template == template and m.to == kept_to for m in self.mails):
            return [*notes, f"{template} to {', '.join(kept_to)} is already planned"]
        data = MappingProxyType({**self.base, **extra})
        self.mails.append(PlannedMail(rule, index, template, kept_to, kept_cc, purpose, data))
        return notes


def _by_owner(
    items: list[dict[str, Any]], gate: Gate, template: str
) -> tuple[dict[str | None, list[dict[str, Any]]], list[Dropped]]:
    """Group items by an owner address the gate allows (None: ask the sender instead); return
    the groups and the owners the gate dropped."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    dropped: list[Dropped] = []
    for item in items:
        email = item["owner_email"]
        kept, out = gate.admit([email], template) if email else ((), ())
        dropped += out
        groups.setdefault(kept[0] if kept else None, []).append(item)
    return groups, dropped


def _display(facts: MessageFacts) -> str | None:
    sender = facts.parsed.from_
    return (sender.name or sender.address) if sender else None
