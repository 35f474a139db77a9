"""Agents' reconciliation reports are kept, so operators can see the recent ones per host.

Revision ID: 0006
Revises: 0003_openstack
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003_openstack"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mismatches",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("server_id", sa.String(36), nullable=True),
        sa.Column("domain", sa.String(255), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("reported_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_mismatches_host_id_hosts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mismatches"),
    )
    op.create_index("ix_mismatches_host_reported", "mismatches", ["host_id", "reported_at"])


def downgrade() -> None:
    op.drop_index("ix_mismatches_host_reported", table_name="mismatches")
    op.drop_table("mismatches")
