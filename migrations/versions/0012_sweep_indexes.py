"""Indexes for the scheduler's sweep over many open items and ledgers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:00:00

A sweep reads only the rows whose clocks can be due (``mailflow.service.clock_windows``): open
items by deadline, ledgers by due time, objections by when they were made, complaints by 事由 and by their thread's last mail.
Measured in ``benchmarks/sweep.py`` (10^6 open items, 10^5 ledgers); see docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index(
        "ix_action_items_open_due_at",
        "action_items",
        ["due_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_confirmation_requests_due_at", "confirmation_requests", ["due_at"])
    op.create_index(
        "ix_confirmation_answers_status_answered_at",
        "confirmation_answers",
        ["status", "answered_at"],
    )
    op.create_index("ix_messages_subject_reason", "messages", ["subject_reason"])
    op.create_index("ix_threads_last_message_at", "threads", ["last_message_at"])


def downgrade() -> None:
    op.drop_index("ix_threads_last_message_at", table_name="threads")
    op.drop_index("ix_messages_subject_reason", table_name="messages")
    op.drop_index("ix_confirmation_answers_status_answered_at", table_name="confirmation_answers")
    op.drop_index("ix_confirmation_requests_due_at", table_name="confirmation_requests")
    op.drop_index("ix_action_items_open_due_at", table_name="action_items")
