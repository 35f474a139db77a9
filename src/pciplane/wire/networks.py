"""Networks, ports, extensions and agents on the wire, in Neutron's v2.0 shapes.

The attribute names are Neutron's, colons included (``provider:network_type``,
``binding:vnic_type``, ...), as the ``openstack`` CLI and openstacksdk send and read them
(openstack-clients §5, §7.4): a body under another spelling (``binding_vnic_type``) is an
unknown key, refused. Shapes and types only here; what the values mean is checked by the
service, which names the attribute at fault.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field, JsonValue, StrictBool, StrictInt

from pciplane.wire.common import Answer, Strict, Text255

#: A resource id as it appears in paths and bodies.
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Word = Annotated[Text255, Field(min_length=1, max_length=64)]


def _segmentation_id(value: object) -> object:
    """The CLI sends ``"100"``, the SDK ``100`` (openstack-clients §7.5): both are ids."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


SegmentationId = Annotated[StrictInt, BeforeValidator(_segmentation_id), Field(ge=0, le=2**32 - 1)]
Profile = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=255)], JsonValue], Field(max_length=64)
]


class NeutronIn(Strict):
    """A request body: Neutron's attribute names only (aliases), unknown keys refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class NeutronOut(Answer):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


# --- networks ---------------------------------------------------------------------


class SegmentIn(NeutronIn):
    network_type: Word = Field(alias="provider:network_type")
    physical_network: Word | None = Field(None, alias="provider:physical_network")
    segmentation_id: SegmentationId | None = Field(None, alias="provider:segmentation_id")


class NetworkFields(NeutronIn):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: StrictBool | None = None
    shared: StrictBool | None = None
    mtu: Annotated[StrictInt, Field(ge=68, le=65535)] | None = None
    port_security_enabled: StrictBool | None = None


class NetworkCreateFields(NetworkFields):
    network_type: Word | None = Field(None, alias="provider:network_type")
    physical_network: Word | None = Field(None, alias="provider:physical_network")
    segmentation_id: SegmentationId | None = Field(None, alias="provider:segmentation_id")
    segments: Annotated[list[SegmentIn], Field(min_length=1, max_length=16)] | None = None
    project_id: Text255 | None = None
    tenant_id: Text255 | None = None


class NetworkCreate(NeutronIn):
    network: NetworkCreateFields


class NetworkUpdate(NeutronIn):
    network: NetworkFields


class SegmentOut(NeutronOut):
    network_type: str = Field(alias="provider:network_type")
    physical_network: str | None = Field(None, alias="provider:physical_network")
    segmentation_id: int | None = Field(None, alias="provider:segmentation_id")


class NetworkOut(NeutronOut):
    id: str
    name: str
    tenant_id: str
    project_id: str
    admin_state_up: bool
    status: str
    subnets: list[str]
    shared: bool
    mtu: int
    port_security_enabled: bool
    router_external: bool = Field(False, alias="router:external")
    availability_zone_hints: list[str] = Field(default_factory=list)
    availability_zones: list[str] = Field(default_factory=list)
    description: str
    tags: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str
    revision_number: int
    #: Single-segment networks (shown to the admin only, Neutron's policy).
    network_type: str | None = Field(None, alias="provider:network_type")
    physical_network: str | None = Field(None, alias="provider:physical_network")
    segmentation_id: int | None = Field(None, alias="provider:segmentation_id")
    #: Multi-segment networks, instead of the provider attributes (admin only).
    segments: list[SegmentOut] | None = None


class NetworkAnswer(NeutronOut):
    network: NetworkOut


class NetworkList(NeutronOut):
    networks: list[NetworkOut]


# --- ports ------------------------------------------------------------------------


class PortFields(NeutronIn):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: StrictBool | None = None
    mac_address: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    port_security_enabled: StrictBool | None = None
    numa_affinity_policy: Word | None = None
    propagate_uplink_status: StrictBool | None = None
    device_id: Text255 | None = None
    device_owner: Text255 | None = None
    vnic_type: Word | None = Field(None, alias="binding:vnic_type")
    host_id: Text255 | None = Field(None, alias="binding:host_id")
    profile: Profile | None = Field(None, alias="binding:profile")
    #: pciplane has no IP addresses and no security groups: only empty lists are taken.
    fixed_ips: Annotated[list[JsonValue], Field(max_length=0)] | None = None
    security_groups: Annotated[list[JsonValue], Field(max_length=0)] | None = None


class PortCreateFields(PortFields):
    network_id: Id
    project_id: Text255 | None = None
    tenant_id: Text255 | None = None


class PortCreate(NeutronIn):
    port: PortCreateFields


class PortUpdate(NeutronIn):
    port: PortFields


class PortOut(NeutronOut):
    id: str
    name: str
    network_id: str
    tenant_id: str
    project_id: str
    mac_address: str
    admin_state_up: bool
    status: str
    device_id: str
    device_owner: str
    fixed_ips: list[JsonValue] = Field(default_factory=list)
    allowed_address_pairs: list[JsonValue] = Field(default_factory=list)
    extra_dhcp_opts: list[JsonValue] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    description: str
    port_security_enabled: bool
    numa_affinity_policy: str | None
    propagate_uplink_status: bool
    vnic_type: str = Field(alias="binding:vnic_type")
    host_id: str = Field(alias="binding:host_id")
    profile: dict[str, JsonValue] = Field(alias="binding:profile")
    vif_type: str = Field(alias="binding:vif_type")
    vif_details: dict[str, JsonValue] = Field(alias="binding:vif_details")
    tags: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str
    revision_number: int


class PortAnswer(NeutronOut):
    port: PortOut


class PortList(NeutronOut):
    ports: list[PortOut]


# --- extensions and agents --------------------------------------------------------


class ExtensionOut(NeutronOut):
    alias: str
    name: str
    description: str
    updated: str
    links: list[JsonValue] = Field(default_factory=list)


class ExtensionAnswer(NeutronOut):
    extension: ExtensionOut


class ExtensionList(NeutronOut):
    extensions: list[ExtensionOut]


class AgentOut(NeutronOut):
    id: str
    agent_type: str
    binary: str
    host: str
    topic: str = "N/A"
    alive: bool
    admin_state_up: bool = True
    configurations: dict[str, JsonValue]
    heartbeat_timestamp: str | None
    created_at: str | None = None
    started_at: str | None = None
    availability_zone: str | None = None
    description: str | None = None
    resources_synced: bool | None = None


class AgentAnswer(NeutronOut):
    agent: AgentOut


class AgentList(NeutronOut):
    agents: list[AgentOut]
