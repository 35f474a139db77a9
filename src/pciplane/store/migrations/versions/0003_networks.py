"""Networks, their segments and ports (Neutron's shapes); each agent's network
configuration on its host; work items carry their own plan (a hot plug's port), the port
they concern, and the agent's reason and error code.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("network", sa.Text, nullable=True))
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("plan", sa.Text, nullable=True))
        batch.add_column(sa.Column("port_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("code", sa.String(64), nullable=True))
    op.create_table(
        "networks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("admin_state_up", sa.Boolean, nullable=False),
        sa.Column("mtu", sa.Integer, nullable=False),
        sa.Column("port_security_enabled", sa.Boolean, nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("revision_number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_networks"),
    )
    op.create_index("ix_networks_project", "networks", ["project"])
    op.create_table(
        "network_segments",
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("network_type", sa.String(16), nullable=False),
        sa.Column("physical_network", sa.String(64), nullable=True),
        sa.Column("segmentation_id", sa.BigInteger, nullable=True),
        sa.Column("key", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name="fk_network_segments_network_id_networks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("network_id", "position", name="pk_network_segments"),
        sa.UniqueConstraint("key", name="uq_network_segments_key"),
    )
    op.create_table(
        "ports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("mac_address", sa.String(17), nullable=False),
        sa.Column("admin_state_up", sa.Boolean, nullable=False),
        sa.Column("port_security_enabled", sa.Boolean, nullable=False),
        sa.Column("numa_affinity_policy", sa.String(16), nullable=True),
        sa.Column("propagate_uplink_status", sa.Boolean, nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("device_id", sa.String(255), nullable=False),
        sa.Column("device_owner", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("vnic_type", sa.String(32), nullable=False),
        sa.Column("host_id", sa.String(255), nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("bound_profile", sa.Text, nullable=False),
        sa.Column("vif_type", sa.String(32), nullable=False),
        sa.Column("vif_details", sa.Text, nullable=False),
        sa.Column("server_id", sa.String(36), nullable=True),
        sa.Column("auto_delete", sa.Boolean, nullable=False),
        sa.Column("wired", sa.Text, nullable=True),
        sa.Column("revision_number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name="fk_ports_network_id_networks"
        ),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name="fk_ports_server_id_servers"),
        sa.PrimaryKeyConstraint("id", name="pk_ports"),
        sa.UniqueConstraint("network_id", "mac_address", name="uq_ports_network_mac"),
    )
    op.create_index("ix_ports_project", "ports", ["project"])
    op.create_index("ix_ports_network_id", "ports", ["network_id"])
    op.create_index("ix_ports_server_id", "ports", ["server_id"])


def downgrade() -> None:
    op.drop_table("ports")
    op.drop_table("network_segments")
    op.drop_table("networks")
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("code")
        batch.drop_column("reason")
        batch.drop_column("port_id")
        batch.drop_column("plan")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("network")
