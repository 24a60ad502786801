"""Realistic template contexts, as the jobs layer builds them from stored rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

ORGANIZATION = {"name": "示例科技", "shared_address": "coord@example.com"}
ZHANG_SAN = {"name": "张三", "address": "zhang.san@example.com"}
LI_SI = {"name": "李四", "address": "li.si@example.com"}


def sample_context(**overrides: Any) -> dict[str, Any]:
    """Return a context for a progress update from 技术部 with two items, one incomplete."""
    context: dict[str, Any] = {
        "organization": ORGANIZATION,
        "message": {
            "subject": "【进度】技术部-Q4产品迭代进度同步",
            "from": ZHANG_SAN,
            "to": [ORGANIZATION | {"address": "coord@example.com"}],
            "cc": [LI_SI],
            "date": "2023-10-08 10:00",
            "message_id": "<20231008100000.1@example.com>",
            "reason": "进度",
            "department": "技术部",
            "topic": "Q4产品迭代进度同步",
            "conforms": True,
            "problems": [],
        },
        "recipient": ZHANG_SAN,
        "rule": {"name": "进度更新"},
        "items": [
            {
                "task": "完成接口联调",
                "owner": "张三",
                "owner_email": "zhang.san@example.com",
                "deadline": "2023-10-15",
                "deliverable": "联调报告",
                "missing": [],
            },
            {
                "task": "准备宣传物料",
                "owner": "市场部",
                "owner_email": None,
                "deadline": None,
                "deliverable": None,
                "missing": ["deadline", "deliverable"],
            },
        ],
        "missing": ["deadline", "deliverable"],
        "attachments": [{"filename": "进度表.xlsx", "version": None, "date": None}],
        "unversioned_attachments": ["进度表.xlsx"],
        "suggestion": "【进度】技术部-Q4产品迭代进度同步",
        "required_attachment": "项目进度跟踪表",
        "participants": [ZHANG_SAN, LI_SI],
        "within_hours": 24,
        "due": "2023-10-09 10:00",
        "summary": "Q4迭代整体进度80%，接口联调存在一周延期风险。",
        "department": "技术部",
        "problems": ["rules/rules.yaml:12: unknown template 'reciept'"],
    }
    context.update(overrides)
    return context


def receipt_rows(prefix: str, count: int, now: datetime) -> list[dict[str, Any]]:
    """Return the column values of ``count`` due receipt rows (keys ``prefix-0``…), each to
    its own recipient, with ``sample_context()``: an outbox to deliver."""
    from mailflow.service.outmail import key_of, outbox_row
    from mailflow.store import outbox

    return [
        outbox.row_values(
            outbox_row(
                key=key_of(f"{prefix}-{n}"),
                kind="receipt",
                rule="测试",
                to=[f"person{n}@example.com"],
                cc=[],
                context=sample_context(),
                domain="example.com",
                now=now,
            )
        )
        for n in range(count)
    ]
