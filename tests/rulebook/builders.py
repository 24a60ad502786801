"""Real values for rulebook tests: a ParsedMessage built field by field, and a small rulebook."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mailflow.mail.model import ActionItem, Address, Attachment, ParsedMessage, Subject
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook, load_rulebook
from mailflow.rulebook.organization import load_organization

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = frozenset(
    {
        "subject_help",
        "receipt",
        "minutes_received",
        "missing_fields",
        "attachment_required",
        "managers_copy",
        "complaint_ack",
        "change_request_ack",
        "rules_error_admin",
    }
)
ORG = load_organization(REPO / "rules")
AUTH_PASS = (
    "mx.example.com; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=a@example.com;"
    " dmarc=pass header.from=example.com"
)


def address(text: str) -> Address:
    """Return an Address with an empty display name."""
    return Address("", text)


def subject(raw: str = "【任务分配】技术部-接口联调", **fields: Any) -> Subject:
    """Return a conforming subject unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "raw": raw,
        "prefixes": (),
        "conforms": True,
        "reason": "任务分配",
        "department": "技术部",
        "topic": "接口联调",
        "problems": (),
    }
    values.update(fields)
    return Subject(**values)


def message(**fields: Any) -> ParsedMessage:
    """Return a new mail from 张三 to 李四, cc the shared address, changed by ``fields``."""
    base = ParsedMessage(
        message_id="<m1@example.com>",
        message_id_generated=False,
        date=None,
        from_=address("zhang.san@example.com"),
        to=(address("li.si@example.com"),),
        cc=(address("coord@example.com"),),
        reply_to=(),
        in_reply_to=None,
        references=(),
        automated=False,
        automated_reason=None,
        subject=subject(),
        body_text="",
        attachments=(),
        new_text="请各位跟进。",
        authentication_results=(AUTH_PASS,),
    )
    return replace(base, **fields)


def item(task: str = "接口联调", **fields: Any) -> ActionItem:
    """Return a complete action item owned by 张三 unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "task": task,
        "owner": "张三",
        "owner_email": "zhang.san@example.com",
        "deadline": None,
        "deliverable": "联调报告",
        "missing": (),
    }
    values.update(fields)
    return ActionItem(**values)


def attachment(name: str, version: str | None = None, day: Any = None) -> Attachment:
    """Return an attachment called ``name``."""
    return Attachment(name, "application/octet-stream", 10, version, day)


def facts(parsed: ParsedMessage | None = None, **fields: Any) -> MessageFacts:
    """Return the facts of ``parsed`` (or of ``message(**fields)``) under the shipped organisation."""
    return MessageFacts.of(parsed or message(**fields), ORG)


def rulebook(tmp_path: Path, rules_yaml: str) -> Rulebook:
    """Return the rulebook of the shipped organisation plus ``rules_yaml`` as rules.yaml."""
    (tmp_path / "organization.yaml").write_text(
        (REPO / "rules" / "organization.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "rules.yaml").write_text(rules_yaml, encoding="utf-8")
    return load_rulebook(tmp_path, TEMPLATES)
