"""Representative template contexts, for rendering every template before it may take effect.

``TemplateSet.check`` renders each template of each language against the contexts
``specimens`` returns: a full one, where every documented variable (``context.STANDARD_CONTEXT``)
holds realistic values of the shape the service builds, and a sparse one, where everything
optional is missing as it is on real mail (no department, no deadline, no handler, empty lists),
while the objects a reminder, an escalation or a digest is about stay present. Kinds written
about no mail (``WITHOUT_MESSAGE``) get both with ``message`` None, as they are sent. A template
that raises on any, or exceeds the render budget, is refused with its file and line.
Imports nothing of mailflow.
"""

from __future__ import annotations

from typing import Any

_ORG = {"name": "示例科技", "shared_address": "coord@example.com"}
_SENDER = {"name": "钱敏", "address": "qian.min@example.com"}
_OWNER = {"name": "孙磊", "address": "sun.lei@example.com"}
_MANAGER = {"name": "仓储部负责人", "address": "storage.lead@example.com"}
_CUSTOMER = {"name": "刘女士", "address": "liu@client.example.cn"}

_MESSAGE = {
    "subject": "【会议纪要】仓储部-华东仓双十一备货协调会",
    "from": _SENDER,
    "to": [_OWNER, _MANAGER],
    "cc": [_ORG],
    "date": "2026-10-20 15:30",
    "message_id": "<20261020153000.42@example.com>",
    "reason": "会议纪要",
    "department": "仓储部",
    "topic": "华东仓双十一备货协调会",
    "conforms": True,
    "problems": [],
}
_ITEMS = [
    {
        "task": "完成临时库位划分",
        "owner": "孙磊",
        "owner_email": "sun.lei@example.com",
        "deadline": "2026-10-25（周日）",
        "deliverable": "库位平面图",
        "missing": [],
    },
    {
        "task": "联系承运商确认加班车次",
        "owner": "运输组",
        "owner_email": None,
        "deadline": None,
        "deliverable": None,
        "missing": ["deadline", "deliverable"],
    },
]
_ITEM = {
    "index": 1,
    "task": "完成临时库位划分",
    "owner": "孙磊",
    "owner_email": "sun.lei@example.com",
    "deadline": "2026-10-25（周日）",
    "deliverable": "库位平面图",
    "source_subject": _MESSAGE["subject"],
    "milestone": True,
}
_COMPLAINT = {
    "subject": "到货外箱破损，要求补发",
    "from": _CUSTOMER,
    "date": "2026-10-21 09:12",
    "hours_open": 50,
    "handler": _OWNER,
    "resolved_at": "2026-10-22 17:40",
    "department": "客服部",
    "topic": "到货外箱破损",
}
_DIGEST_ITEM = {"task": "完成临时库位划分", "owner": "孙磊", "deadline": "2026-10-25"} | {
    "overdue": True
}
_DIGEST = {
    "department": "仓储部",
    "period": {"from": "2026-10-19", "to": "2026-10-25"},
    "open_items": [_DIGEST_ITEM],
    "done_items": [_DIGEST_ITEM | {"overdue": False}],
    "overdue_items": [_DIGEST_ITEM],
    "unconfirmed": [{"subject": _MESSAGE["subject"], "date": "2026-10-20", "pending": ["孙磊"]}],
    "open_complaints": [
        {"subject": _COMPLAINT["subject"], "from": _CUSTOMER, "date": "2026-10-21"}
        | {"hours_open": 50}
    ],
}

FULL: dict[str, Any] = {
    "organization": _ORG,
    "message": _MESSAGE,
    "recipient": _OWNER,
    "rule": {"name": "会议纪要回执"},
    "items": _ITEMS,
    "missing": ["deadline", "deliverable"],
    "attachments": [
        {"filename": "备货计划_v1.2_20261020.xlsx", "version": "v1.2", "date": "2026-10-20"},
        {"filename": "现场照片.jpg", "version": None, "date": None},
    ],
    "unversioned_attachments": ["现场照片.jpg"],
    "suggestion": "【会议纪要】仓储部-华东仓双十一备货协调会",
    "required_attachment": "项目进度跟踪表",
    "participants": [_OWNER, _MANAGER],
    "within_hours": 24,
    "due": "2026-10-21 15:30",
    "summary": "双十一备货量预计为平日三倍，临时库位需在10月25日前划分完毕。",
    "department": "仓储部",
    "problems": ["rules/rules.yaml:12: unknown template 'reciept'"],
    "files": [{"type": "ics", "uid": "item-7.deadline@example.com", "summary": "【截止】库位"}],
    "pending": [_OWNER, {"name": "", "address": "guest@partner.example.com"}],
    "objection": _OWNER | {"text": "有异议：第1项时限偏紧。", "date": "2026-10-20 18:02"},
    "item": _ITEM,
    "days_left": 3,
    "overdue_days": 2,
    "complaint": _COMPLAINT,
    "digest": _DIGEST,
    "person": _OWNER,
    "sign_in": {
        "url": "https://mailflow.example.com/sign-in/3kq9Vx",
        "expires": "2026-10-20 18:17",
    },
}

SPARSE: dict[str, Any] = {
    "organization": _ORG,
    "message": _MESSAGE
    | {"department": None, "topic": None, "reason": None, "conforms": False, "date": None}
    | {"subject": "问题反馈", "to": [], "cc": [], "problems": ["missing_reason"]},
    "recipient": {"name": "", "address": "guest@partner.example.com"},
    "rule": {"name": "会议纪要回执"},
    "item": _ITEM
    | {"owner": None, "owner_email": None, "deadline": None, "deliverable": None}
    | {"source_subject": None, "milestone": False},
    "complaint": {k: v for k, v in _COMPLAINT.items() if k not in ("department", "topic")}
    | {"handler": None, "resolved_at": None},
    "digest": _DIGEST
    | {"open_items": [], "done_items": [], "overdue_items": [], "unconfirmed": []}
    | {"open_complaints": []},
    "objection": _OWNER | {"name": "", "text": "", "date": None},
    "days_left": 0,
    "overdue_days": 0,
    "person": _OWNER | {"name": ""},
    "sign_in": {"url": "http://127.0.0.1:8080/sign-in/x", "expires": "2026-10-20 18:17"},
}


# Kinds the service writes about no mail, with ``message`` None: the administrators' notices
# (service/deliver.py ADMIN_NOTICE, RULES_NOTICE), the weekly digest (service/clock_mail.py) and
# the directory sync's notices (service/directory_sync.py OWNER_LEFT, SYNC_REFUSED).
WITHOUT_MESSAGE = frozenset(
    {
        "delivery_failed_admin",
        "rules_error_admin",
        "weekly_digest",
        "owner_left",
        "directory_sync_refused",
        "sign_in_link",
    }
)


def specimens(name: str) -> tuple[dict[str, Any], ...]:
    """Return the representative contexts template ``name`` must render with: the full and the
    sparse mail, without the ``message`` for the kinds that are about none."""
    if name in WITHOUT_MESSAGE:
        return (FULL | {"message": None}, SPARSE | {"message": None})
    return (FULL, SPARSE)
