"""rule sets and service states: the last good rules in the database, what components report

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:00:00

``rule_sets`` keeps every validated set of rule files and templates (a tar archive of both
folders), so a poller, worker or scheduler that starts while a rule file is broken runs on
the newest good set instead of refusing to start. ``service_states`` holds what running
components last reported (the rules in force and the last reload error, each poller's last
fetch), which ``mailflow status`` shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_sets")),
        sa.UniqueConstraint("digest", name=op.f("uq_rule_sets_digest")),
    )
    op.create_table(
        "service_states",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_states")),
    )


def downgrade() -> None:
    op.drop_table("service_states")
    op.drop_table("rule_sets")
