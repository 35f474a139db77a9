"""Boot images, and the image each server boots from with its disk.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("disk_format", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("virtual_size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("name", name="uq_images_name"),
    )
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("image_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("disk", sa.Text, nullable=True))
        batch.create_foreign_key("fk_servers_image_id_images", "images", ["image_id"], ["id"])
        batch.create_index("ix_servers_image_id", ["image_id"])


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.drop_index("ix_servers_image_id")
        batch.drop_constraint("fk_servers_image_id_images", type_="foreignkey")
        batch.drop_column("disk")
        batch.drop_column("image_id")
    op.drop_table("images")
