"""Hosts an operator disabled (and why), and per-project quota limits with a lock row.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(
            sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("disabled_reason", sa.Text, nullable=True))
    op.create_table(
        "quota_projects",
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project", name="pk_quota_projects"),
    )
    op.create_table(
        "quota_limits",
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("hard_limit", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project", "resource", name="pk_quota_limits"),
    )


def downgrade() -> None:
    op.drop_table("quota_limits")
    op.drop_table("quota_projects")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("disabled_reason")
        batch.drop_column("disabled")
