"""Indexes that bound ingest's reading of thread history by the batch, not by the threads

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:00:00

Ingest's history of a batch (``mailflow.store.tracking.history``) read every message, ledger
line and action item of each thread the batch touches, then kept a few: its cost per batch grew
with the length of the threads stored (issue 10 §3). Each of these indexes starts with the
thread and goes on with what the lookup keeps, so that it reads what it keeps: mail without
In-Reply-To written since the batch's oldest (the ``coalesce`` is ``Message.written_at`` as
SQLAlchemy writes it; with ``in_reply_to`` in the index SQLite prefers it to the index on
``in_reply_to`` alone, which reads every such mail stored), a thread's requests newest first,
a thread's open items of some owners. Threading by subject likewise reads a subject's threads
active lately, not every thread a weekly subject ever had. Each replaces the index on its
first column alone, which it serves as well. See docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the index on one column replaced, the replacement, the replacement's columns)
INDEXES = (
    (
        "messages",
        "thread_id",
        "ix_messages_thread_id_in_reply_to_written_at",
        ["thread_id", "in_reply_to", sa.text("coalesce(date, received_at)")],
    ),
    (
        "confirmation_requests",
        "thread_id",
        "ix_confirmation_requests_thread_id_requested_at",
        ["thread_id", "requested_at", "id"],
    ),
    (
        "action_items",
        "thread_id",
        "ix_action_items_thread_id_status_owner_email",
        ["thread_id", "status", "owner_email"],
    ),
    (
        "threads",
        "subject_key",
        "ix_threads_subject_key_last_message_at",
        ["subject_key", "last_message_at"],
    ),
)


def upgrade() -> None:
    for table, column, new, columns in INDEXES:
        op.create_index(new, table, columns)
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    for table, column, new, _ in reversed(INDEXES):
        op.create_index(f"ix_{table}_{column}", table, [column])
        op.drop_index(new, table_name=table)
