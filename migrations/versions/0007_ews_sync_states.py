"""EWS sync states: how far an Exchange folder is committed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:00:00

An ``ews://`` source reads its Inbox with SyncFolderItems. The opaque sync state the server
returns after a page is stored in the same transaction as that page's mail, so a crash never
loses or doubles a message (invariant 1). IMAP's (UIDVALIDITY, last UID) checkpoints stay in
``mailbox_checkpoints``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox_sync_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_sync_states")),
        sa.UniqueConstraint("source", "folder", name=op.f("uq_mailbox_sync_states_source")),
    )


def downgrade() -> None:
    op.drop_table("mailbox_sync_states")
