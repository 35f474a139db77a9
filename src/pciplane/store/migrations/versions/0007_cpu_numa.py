"""Host NUMA cells gain their CPUs, sibling threads and memory; hosts their allocation
settings; servers' CPUs and memory are claimed per host cell (pinned CPUs one row each,
so the database refuses a CPU pinned twice).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("numa_nodes") as batch:
        batch.add_column(sa.Column("cpus", sa.Text, nullable=True))
        batch.add_column(sa.Column("siblings", sa.Text, nullable=True))
        batch.add_column(sa.Column("memory_mib", sa.BigInteger, nullable=True))
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("allocation", sa.Text, nullable=True))
    op.create_table(
        "cell_claims",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("server_id", sa.String(36), nullable=False),
        sa.Column("cell", sa.Integer, nullable=True),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("memory_mib", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_cell_claims_host_id_hosts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name="fk_cell_claims_server_id_servers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cell_claims"),
    )
    op.create_index("ix_cell_claims_host_id", "cell_claims", ["host_id"])
    op.create_index("ix_cell_claims_server_id", "cell_claims", ["server_id"])
    op.create_table(
        "cpu_pins",
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("cpu", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("server_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_cpu_pins_host_id_hosts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name="fk_cpu_pins_server_id_servers"
        ),
        sa.PrimaryKeyConstraint("host_id", "cpu", name="pk_cpu_pins"),
    )
    op.create_index("ix_cpu_pins_server_id", "cpu_pins", ["server_id"])


def downgrade() -> None:
    op.drop_index("ix_cpu_pins_server_id", table_name="cpu_pins")
    op.drop_table("cpu_pins")
    op.drop_index("ix_cell_claims_server_id", table_name="cell_claims")
    op.drop_index("ix_cell_claims_host_id", table_name="cell_claims")
    op.drop_table("cell_claims")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("allocation")
    with op.batch_alter_table("numa_nodes") as batch:
        batch.drop_column("memory_mib")
        batch.drop_column("siblings")
        batch.drop_column("cpus")
