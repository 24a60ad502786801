"""SMTP sessions shared by every worker: one row a session a mailbox allows at once

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 23:30:00

Exchange Online takes at most three SMTP AUTH sessions of one mailbox at once and refuses a
fourth (``432 4.3.2 ... sender thread limit exceeded``). ``sessions=`` on MAILFLOW_TRANSPORT
used to limit one process's delivery threads only, so two workers held six sessions between
them. Now a delivery thread holds one of the mailbox's rows here while its session is open;
a row whose holder died frees itself when its hold runs out, or at once when the holder was a
process of the same machine that no longer runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smtp_session_slots",
        sa.Column("account", sa.String(length=500), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account", "slot", name=op.f("pk_smtp_session_slots")),
    )


def downgrade() -> None:
    op.drop_table("smtp_session_slots")
