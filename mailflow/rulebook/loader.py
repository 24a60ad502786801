"""Load every rule file of a rules folder into a ``Rulebook``, or report every problem.

``rules/organization.yaml`` is the directory; every other ``rules/*.yaml`` holds rules, read in
file-name order. Problems come back together as ``file:line: message`` in one
``RuleFileError``, so an administrator fixes them in one go (invariant 11: the caller keeps the
last good rulebook). ``write_schema`` writes the JSON Schema editors use. No I/O beyond reading
the rule files and writing the schema file.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mailflow.errors import RuleFileError
from mailflow.rulebook.action import (
    CopyManagers,
    Notify,
    Reply,
    RequestConfirmation,
    RequireAttachment,
    RequireFields,
    Step,
    TrackItems,
)
from mailflow.rulebook.clocks import (
    Clocks,
    ComplaintClock,
    ConfirmationClock,
    DeadlineClock,
    WeeklyRecordClock,
)
from mailflow.rulebook.condition import When
from mailflow.rulebook.limits import Cap, Limits
from mailflow.rulebook.organization import (
    ORGANIZATION_FILE,
    SYNCED_FILE,
    Organization,
    load_organization,
)
from mailflow.rulebook.rulefile import Rule, RuleFile
from mailflow.rulebook.vocabulary import Strict, did_you_mean
from mailflow.rulebook.yamlfile import Locator, load_yaml

SCHEMA_FILE = "schema.json"
_Loc = tuple[str | int, ...]
# which model sits at a path of keys (list indexes left out): for "did you mean" on unknown keys
_MODEL_AT: dict[tuple[str, ...], type[Strict]] = {
    (): RuleFile,
    ("rules",): Rule,
    ("rules", "when"): When,
    ("rules", "do"): Step,
    ("rules", "do", "reply"): Reply,
    ("rules", "do", "copy_managers"): CopyManagers,
    ("rules", "do", "notify"): Notify,
    ("rules", "do", "request_confirmation"): RequestConfirmation,
    ("rules", "do", "track_action_items"): TrackItems,
    ("rules", "do", "require_fields"): RequireFields,
    ("rules", "do", "require_attachment"): RequireAttachment,
    ("clocks",): Clocks,
    ("clocks", "confirmation"): ConfirmationClock,
    ("clocks", "deadline"): DeadlineClock,
    ("clocks", "complaint"): ComplaintClock,
    ("clocks", "weekly_record"): WeeklyRecordClock,
    ("limits",): Limits,
    **{("limits", name): Cap for name in Limits.model_fields},
}


@dataclass(frozen=True)
class Rulebook:
    """The organisation and its rules in run order; ``sources`` maps a rule to ``file:line``."""

    organization: Organization
    rules: tuple[Rule, ...]
    sources: dict[str, str]
    clocks: Clocks = field(default_factory=Clocks)
    limits: Limits = field(default_factory=Limits)

    def written_addresses(self) -> frozenset[str]:
        """Return every address the rules themselves name (invariant 8 allows these)."""
        found: set[str] = set()
        for rule in self.rules:
            for step in rule.do:
                for value in (step.notify.to if step.notify else []) + (
                    step.reply.cc if step.reply else []
                ):
                    if "@" in value:
                        found.add(value)
        return frozenset(found)


def rule_files(rules_dir: Path) -> list[Path]:
    """Return the rule files of ``rules_dir`` in the order their rules run."""
    return sorted(
        p
        for p in rules_dir.glob("*.yaml")
        if p.name not in (ORGANIZATION_FILE, SYNCED_FILE) and not p.name.startswith((".", "_"))
    )


def load_rulebook(rules_dir: Path, templates: Collection[str]) -> Rulebook:
    """Return the validated rulebook of ``rules_dir``.

    ``templates`` names the mail templates that exist. Raises ``RuleFileError`` listing every
    problem of every file (organisation included) as ``file:line: message``.
    """
    problems: list[str] = []
    org: Organization | None = None
    try:
        org = load_organization(rules_dir)
    except RuleFileError as e:
        problems.extend(e.problems)
    context = {
        "templates": set(templates),
        "departments": org.department_names() if org else None,
    }
    rules: list[Rule] = []
    sources: dict[str, str] = {}
    sections: dict[str, dict[Path, Any]] = {"clocks": {}, "limits": {}}
    for path in rule_files(rules_dir):
        problems.extend(_load_file(path, context, rules, sources, sections))
    for name, found in sections.items():
        if len(found) > 1:
            where = ", ".join(str(p) for p in found)
            problems.append(f"{list(found)[1]}:1: {name}: set in more than one file ({where})")
    if problems or org is None:
        raise RuleFileError(problems)
    return Rulebook(
        organization=org,
        rules=tuple(rules),
        sources=sources,
        clocks=next(iter(sections["clocks"].values()), Clocks()),
        limits=next(iter(sections["limits"].values()), Limits()),
    )


def _load_file(
    path: Path,
    context: dict[str, Any],
    rules: list[Rule],
    sources: dict[str, str],
    sections: dict[str, dict[Path, Any]],
) -> list[str]:
    """Validate one file, appending its rules; return its problems."""
    try:
        data, locator = load_yaml(path)
    except RuleFileError as e:
        return e.problems
    problems = _duplicate_names(data, locator, sources)
    try:
        parsed = RuleFile.model_validate(data if data is not None else {}, context=context)
    except ValidationError as e:
        found = [(locator.line(err["loc"]), _message(err, data)) for err in e.errors()]
        problems += [f"{path}:{line}: {message}" for line, message in found]
        return sorted(problems, key=lambda p: int(p.removeprefix(f"{path}:").split(":")[0]))
    rules.extend(parsed.rules)
    for name, section in sections.items():
        if getattr(parsed, name) is not None:
            section[path] = getattr(parsed, name)
    return problems


def _duplicate_names(data: Any, locator: Locator, sources: dict[str, str]) -> list[str]:
    """Record where each rule is written; return a problem for each name used before."""
    problems: list[str] = []
    entries = data.get("rules") if isinstance(data, dict) else None
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        if name in sources:
            message = f"rule name {name!r} is used twice (first at {sources[name]})"
            problems.append(locator.problem(("rules", i, "name"), message))
        else:
            sources[name] = locator.problem(("rules", i), "").removesuffix(": ")
    return problems


def _message(err: Any, data: Any) -> str:
    """Return an administrator's sentence for one pydantic error."""
    loc: _Loc = tuple(err["loc"])
    where = _where(loc, data)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        return f"{where}: unknown key {loc[-1]!r}{did_you_mean(str(loc[-1]), known)}"
    if kind == "missing":
        return f"{where}: required but missing"
    if kind == "value_error":
        return f"{where}: {err['ctx']['error']}"
    if kind == "bool_parsing":
        return f"{where}: write true or false, not {err['input']!r}"
    return f"{where}: {err['msg']}"


def _where(loc: _Loc, data: Any) -> str:
    """Return ``rule '名称' when.reason`` for ``("rules", 0, "when", "reason")``."""
    if len(loc) < 2 or loc[0] != "rules" or not isinstance(loc[1], int):
        return ".".join(str(p) for p in loc) or "file"
    try:
        name = data["rules"][loc[1]]["name"]
    except (KeyError, IndexError, TypeError):
        name = None
    rule = f"rule {name!r}" if isinstance(name, str) else f"rule #{loc[1] + 1}"
    rest = ".".join(str(p) for p in loc[2:])
    return f"{rule} {rest}" if rest else rule


def _known_keys(loc: Sequence[str | int]) -> list[str]:
    model = _MODEL_AT.get(tuple(p for p in loc if isinstance(p, str)))
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def rulebook_schema() -> dict[str, Any]:
    """Return the JSON Schema of a rule file, for editors (yaml-language-server)."""
    schema = RuleFile.model_json_schema(by_alias=True)
    schema["title"] = "mailflow rule file"
    schema["$comment"] = "Generated by mailflow.rulebook.loader.write_schema; do not edit."
    step = schema["$defs"]["Step"]
    step["minProperties"] = step["maxProperties"] = 1
    step["anyOf"] = [
        {"type": "object"},
        {"type": "string", "enum": ["stop", "track_action_items"]},
    ]
    step.pop("type", None)
    reply = step["properties"]["reply"]
    reply["anyOf"] = [{"type": "string", "description": "template name"}, *reply["anyOf"]]
    return schema


def write_schema(path: Path) -> None:
    """Write the rule-file JSON Schema to ``path`` (``rules/schema.json``)."""
    text = json.dumps(rulebook_schema(), ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
