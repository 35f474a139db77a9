"""The database schema (SQLAlchemy Core); Alembic migrations under ``migrations/`` build it.

``hosts.generation`` is the per-host version every device write checks
(``UPDATE hosts ... WHERE generation = :seen``, DESIGN.md). ``claims`` is the
database-level guard that no device is ever in two servers: its primary key is the
device, so a second claim of the same device fails in the database itself.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

hosts = sa.Table(
    "hosts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("generation", sa.Integer, nullable=False),
    #: JSON text of the host's own [pci] device_spec entries, NULL for the fleet default.
    sa.Column("device_spec", sa.Text, nullable=True),
    sa.Column("last_seen", sa.Float, nullable=True),
    #: The agent's network configuration as it last reported it (JSON object text:
    #: core.sriov_agent.SriovAgentConfig), NULL when it reported none.
    sa.Column("network", sa.Text, nullable=True),
    #: The host's allocation settings as its agent reported them (JSON object text with
    #: Nova's names: core.allocation.Allocation), NULL for the defaults.
    sa.Column("allocation", sa.Text, nullable=True),
    #: An operator's ``host disable``: no new servers are placed here, for this reason.
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("disabled_reason", sa.Text, nullable=True),
)

numa_nodes = sa.Table(
    "numa_nodes",
    metadata,
    sa.Column("host_id", sa.ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("node", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("socket", sa.Integer, nullable=True),
    #: The cell's CPU ids (JSON list), sibling thread groups (JSON list of lists) and
    #: memory; NULL when the agent did not report them.
    sa.Column("cpus", sa.Text, nullable=True),
    sa.Column("siblings", sa.Text, nullable=True),
    sa.Column("memory_mib", sa.BigInteger, nullable=True),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host_id", sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("address", sa.String(16), nullable=False),
    sa.Column("vendor_id", sa.String(4), nullable=False),
    sa.Column("product_id", sa.String(4), nullable=False),
    sa.Column("dev_type", sa.String(16), nullable=False),
    sa.Column("numa_node", sa.Integer, nullable=True),
    sa.Column("parent_addr", sa.String(16), nullable=True),
    #: The remaining discovered attributes (devname, driver, ...) as device JSON.
    sa.Column("attrs", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(64), nullable=True, index=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.UniqueConstraint("host_id", "address", name="uq_devices_host_address"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    #: Nova allows 256 characters (nova-pci-semantics §1.8).
    sa.Column("name", sa.String(256), nullable=False, index=True),
    #: The entry exactly as Nova's [pci] alias takes it (JSON text).
    sa.Column("entry", sa.Text, nullable=False),
)

flavors = sa.Table(
    "flavors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("ram", sa.Integer, nullable=False),
    #: Nova's flavor id (``flavorid``): what the compute API names the flavor by.
    sa.Column("flavorid", sa.String(255), nullable=False, unique=True),
    #: Root, ephemeral (GiB) and swap (MiB) sizes, as Nova's flavors carry them.
    sa.Column("disk", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ephemeral", sa.Integer, nullable=False, server_default="0"),
    sa.Column("swap", sa.Integer, nullable=False, server_default="0"),
    sa.Column("description", sa.Text, nullable=True),
)

flavor_extra_specs = sa.Table(
    "flavor_extra_specs",
    metadata,
    sa.Column("flavor_id", sa.ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Boot images (Glance's, read-only there): the file is ``<data_dir>/images/<id>``.
images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("disk_format", sa.String(16), nullable=False),
    #: Bytes of the file, and of the disk the guest sees.
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("virtual_size", sa.BigInteger, nullable=False),
    #: SHA-256 of the file (hex), computed while it was uploaded; and its MD5, which
    #: Glance shows as ``checksum``.
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("md5", sa.String(32), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

servers = sa.Table(
    "servers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("project", sa.String(255), nullable=False, index=True),
    sa.Column("flavor", sa.String(255), nullable=False),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("ram", sa.Integer, nullable=False),
    #: The flavor's extra specs when the server was created (JSON object text).
    sa.Column("extra_specs", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("task", sa.String(16), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("host_id", sa.ForeignKey("hosts.id"), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    #: Reasons of every failed placement attempt (JSON list of {"host", "reason"}).
    sa.Column("faults", sa.Text, nullable=False),
    #: The guest as decided at claim time (core.guest.GuestPlan as JSON text).
    sa.Column("guest_plan", sa.Text, nullable=True),
    #: The domain XML the host's agent defined from the plan, as it reported it.
    sa.Column("domain_xml", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    #: The flavor's id when the server was created (Nova's API names flavors by id).
    sa.Column("flavor_id", sa.String(255), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    #: The Keystone user that created it (None for static tokens).
    sa.Column("user_id", sa.String(255), nullable=True),
    #: The image the server was asked to boot from (shown; booted from issue 9 on).
    sa.Column("image_ref", sa.String(255), nullable=True),
    #: The image it boots from while it exists (NULL once deleted: the image may go).
    sa.Column("image_id", sa.ForeignKey("images.id"), nullable=True, index=True),
    #: Its boot disk as decided at create (core.guest.GuestDisk as JSON text).
    sa.Column("disk", sa.Text, nullable=True),
)

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("device_id", sa.ForeignKey("devices.id"), primary_key=True),
    sa.Column("server_id", sa.ForeignKey("servers.id"), nullable=False, index=True),
)

#: A server's CPUs and memory on one host cell (``cell`` NULL: host-wide, a guest without a
#: NUMA topology): floating vCPUs and memory counted there (core.resources.CellUse).
cell_claims = sa.Table(
    "cell_claims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host_id", sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("server_id", sa.ForeignKey("servers.id"), nullable=False, index=True),
    sa.Column("cell", sa.Integer, nullable=True),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("memory_mib", sa.BigInteger, nullable=False),
)

#: Host CPUs held by one server alone (its pins, and the siblings ``isolate`` keeps free):
#: the primary key refuses a CPU pinned twice, as ``claims`` refuses a device.
cpu_pins = sa.Table(
    "cpu_pins",
    metadata,
    sa.Column("host_id", sa.ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("cpu", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("server_id", sa.ForeignKey("servers.id"), nullable=False, index=True),
)

work_items = sa.Table(
    "work_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host_id", sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("server_id", sa.ForeignKey("servers.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    #: pending -> delivered -> done; a re-registering agent gets delivered ones again.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    #: The plan of this item when it is not the server's own (a hot plug's port alone).
    sa.Column("plan", sa.Text, nullable=True),
    #: The port a hot plug (attach or detach) concerns.
    sa.Column("port_id", sa.String(36), nullable=True),
    #: Why the agent failed it (empty when it succeeded), and the error's code.
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("code", sa.String(64), nullable=True),
    sa.Index("ix_work_items_host_state", "host_id", "state"),
)

networks = sa.Table(
    "networks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("project", sa.String(255), nullable=False, index=True),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("admin_state_up", sa.Boolean, nullable=False),
    sa.Column("mtu", sa.Integer, nullable=False),
    sa.Column("port_security_enabled", sa.Boolean, nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("revision_number", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

#: A network's segments in order. ``key`` is what two networks may not share (a VLAN on
#: a physnet, a flat physnet, a tunnel id; NULL for ``local``): ML2's "... is in use".
network_segments = sa.Table(
    "network_segments",
    metadata,
    sa.Column("network_id", sa.ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("network_type", sa.String(16), nullable=False),
    sa.Column("physical_network", sa.String(64), nullable=True),
    sa.Column("segmentation_id", sa.BigInteger, nullable=True),
    sa.Column("key", sa.String(128), nullable=True, unique=True),
)

ports = sa.Table(
    "ports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("project", sa.String(255), nullable=False, index=True),
    sa.Column("network_id", sa.ForeignKey("networks.id"), nullable=False, index=True),
    sa.Column("mac_address", sa.String(17), nullable=False),
    sa.Column("admin_state_up", sa.Boolean, nullable=False),
    sa.Column("port_security_enabled", sa.Boolean, nullable=False),
    sa.Column("numa_affinity_policy", sa.String(16), nullable=True),
    sa.Column("propagate_uplink_status", sa.Boolean, nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("device_id", sa.String(255), nullable=False),
    sa.Column("device_owner", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    #: The binding extension (Neutron's ``binding:*``); profile and details as JSON text.
    sa.Column("vnic_type", sa.String(32), nullable=False),
    sa.Column("host_id", sa.String(255), nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("bound_profile", sa.Text, nullable=False),
    sa.Column("vif_type", sa.String(32), nullable=False),
    sa.Column("vif_details", sa.Text, nullable=False),
    #: The server that uses it; a port is in one server at most (the conditional write).
    sa.Column("server_id", sa.ForeignKey("servers.id"), nullable=True, index=True),
    #: Created for a server's ``--nic net-id=...`` entry: deleted with the server.
    sa.Column("auto_delete", sa.Boolean, nullable=False),
    #: The VF settings the host's agent applied or recorded (JSON list), for the record.
    sa.Column("wired", sa.Text, nullable=True),
    sa.Column("revision_number", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("network_id", "mac_address", name="uq_ports_network_mac"),
)

#: What host agents reported when libvirt and the claims disagreed (service/reconcile.py),
#: newest last; the host page shows the recent ones.
mismatches = sa.Table(
    "mismatches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host_id", sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("server_id", sa.String(36), nullable=True),
    sa.Column("domain", sa.String(255), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("reported_at", sa.Float, nullable=False),
    sa.Index("ix_mismatches_host_reported", "host_id", "reported_at"),
)

#: One row per project that has quota checks: the row its creates lock (``SELECT ... FOR
#: UPDATE`` on PostgreSQL) so concurrent creates of one project count one at a time.
quota_projects = sa.Table(
    "quota_projects",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("generation", sa.Integer, nullable=False),
)

#: A project's own limits (``quota set``); a resource without a row has the default.
quota_limits = sa.Table(
    "quota_limits",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    #: ``instances``, ``cores``, ``ram``, ``pci_devices:ALIAS``, ``sriov_ports:PHYSNET``.
    sa.Column("resource", sa.String(300), primary_key=True),
    sa.Column("hard_limit", sa.Integer, nullable=False),
)
