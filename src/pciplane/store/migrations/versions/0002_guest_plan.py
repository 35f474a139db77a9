"""Servers keep the guest plan decided at claim time; the domain XML is the agent's.
Alias names take Nova's 256 characters.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("guest_plan", sa.Text, nullable=True))
    with op.batch_alter_table("aliases") as batch:
        batch.alter_column("name", type_=sa.String(256), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("aliases") as batch:
        batch.alter_column("name", type_=sa.String(255), existing_nullable=False)
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("guest_plan")
