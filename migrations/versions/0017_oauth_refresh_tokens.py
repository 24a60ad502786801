"""OAuth2: the newest refresh token of each grant, kept for every process and after a restart

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:00:00

A server that rotates refresh tokens (Microsoft Entra ID, Keycloak, Okta, Auth0) answers each
refresh with a new one; many refuse the old one from then on, and Entra ID's expire 90 days
after they were issued. mailflow kept the rotated token in memory only, in each process: a
restart went back to the configured one, and two processes spent copies of one token. The
newest now lives here, with the seed it grew from (a hash of the configured token, so that a
new configured token starts a new chain) and whose turn it is to refresh.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_refresh_tokens",
        sa.Column("grant_name", sa.String(length=700), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("turn_by", sa.String(length=200), nullable=True),
        sa.Column("turn_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("grant_name", name=op.f("pk_oauth_refresh_tokens")),
    )


def downgrade() -> None:
    op.drop_table("oauth_refresh_tokens")
