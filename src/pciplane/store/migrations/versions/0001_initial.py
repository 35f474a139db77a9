"""The initial schema: hosts, NUMA nodes, devices, aliases, flavors, servers, claims, work.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("device_spec", sa.Text, nullable=True),
        sa.Column("last_seen", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_hosts"),
        sa.UniqueConstraint("name", name="uq_hosts_name"),
    )
    op.create_table(
        "numa_nodes",
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("node", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("socket", sa.Integer, nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_numa_nodes_host_id_hosts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("host_id", "node", name="pk_numa_nodes"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("address", sa.String(16), nullable=False),
        sa.Column("vendor_id", sa.String(4), nullable=False),
        sa.Column("product_id", sa.String(4), nullable=False),
        sa.Column("dev_type", sa.String(16), nullable=False),
        sa.Column("numa_node", sa.Integer, nullable=True),
        sa.Column("parent_addr", sa.String(16), nullable=True),
        sa.Column("attrs", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_devices_host_id_hosts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("host_id", "address", name="uq_devices_host_address"),
    )
    op.create_index("ix_devices_owner", "devices", ["owner"])
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("entry", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_aliases"),
    )
    op.create_index("ix_aliases_name", "aliases", ["name"])
    op.create_table(
        "flavors",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("ram", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_flavors"),
        sa.UniqueConstraint("name", name="uq_flavors_name"),
    )
    op.create_table(
        "flavor_extra_specs",
        sa.Column("flavor_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["flavor_id"],
            ["flavors.id"],
            name="fk_flavor_extra_specs_flavor_id_flavors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flavor_id", "key", name="pk_flavor_extra_specs"),
    )
    op.create_table(
        "servers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("flavor", sa.String(255), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("ram", sa.Integer, nullable=False),
        sa.Column("extra_specs", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("task", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("host_id", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("faults", sa.Text, nullable=False),
        sa.Column("domain_xml", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_servers_host_id_hosts"),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
    )
    op.create_index("ix_servers_project", "servers", ["project"])
    op.create_index("ix_servers_state", "servers", ["state"])
    op.create_table(
        "claims",
        sa.Column("device_id", sa.Integer, nullable=False),
        sa.Column("server_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_claims_device_id_devices"),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name="fk_claims_server_id_servers"),
        sa.PrimaryKeyConstraint("device_id", name="pk_claims"),
    )
    op.create_index("ix_claims_server_id", "claims", ["server_id"])
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("server_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_work_items_host_id_hosts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name="fk_work_items_server_id_servers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_work_items"),
    )
    op.create_index("ix_work_items_host_state", "work_items", ["host_id", "state"])


def downgrade() -> None:
    for table in (
        "work_items",
        "claims",
        "servers",
        "flavor_extra_specs",
        "flavors",
        "aliases",
        "devices",
        "numa_nodes",
        "hosts",
    ):
        op.drop_table(table)
