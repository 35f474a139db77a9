"""What Nova's API shows of flavors and servers: a flavor's own id (Nova's flavorid), disk
sizes and description; a server's flavor id, description, user and boot image reference.

Revision ID: 0003_openstack
Revises: 0003
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003_openstack"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flavors") as batch:
        batch.add_column(sa.Column("flavorid", sa.String(255), nullable=True))
        batch.add_column(sa.Column("disk", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("ephemeral", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("swap", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("description", sa.Text, nullable=True))
    flavors = sa.table("flavors", sa.column("id", sa.Integer), sa.column("flavorid", sa.String))
    conn = op.get_bind()
    for (row_id,) in conn.execute(sa.select(flavors.c.id)).all():
        conn.execute(
            sa.update(flavors).where(flavors.c.id == row_id).values(flavorid=str(uuid.uuid4()))
        )
    with op.batch_alter_table("flavors") as batch:
        batch.alter_column("flavorid", existing_type=sa.String(255), nullable=False)
        batch.create_unique_constraint("uq_flavors_flavorid", ["flavorid"])
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("flavor_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("description", sa.Text, nullable=True))
        batch.add_column(sa.Column("user_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("image_ref", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        for column in ("image_ref", "user_id", "description", "flavor_id"):
            batch.drop_column(column)
    with op.batch_alter_table("flavors") as batch:
        batch.drop_constraint("uq_flavors_flavorid", type_="unique")
        for column in ("description", "swap", "ephemeral", "disk", "flavorid"):
            batch.drop_column(column)
