"""Servers on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from pciplane.wire.common import Answer, Name, ServerName, Strict, Text255

ID_PATTERN = r"^[A-Za-z0-9._-]+$"


class NicIn(Strict):
    """One ``--nic`` entry: ``net_id`` (a port is created; ``vnic_type`` and
    ``pci_group`` optional) or ``port_id`` (an existing port)."""

    net_id: Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)] | None = None
    port_id: Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)] | None = None
    vnic_type: Annotated[Text255, Field(min_length=1, max_length=64)] | None = None
    pci_group: Annotated[Text255, Field(min_length=1, max_length=64)] | None = None


class ServerIn(Strict):
    name: ServerName
    flavor: Name
    #: The image to boot from, by name or id; none for a flavor with disk 0.
    image: Name | None = None
    nics: Annotated[list[NicIn], Field(max_length=32)] = Field(default_factory=list)


class PortAttachIn(Strict):
    """``server add port``: the port to hot-plug."""

    port_id: Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]


class RebootIn(Strict):
    """``server reboot``: soft (clean shutdown, then start) unless ``hard``."""

    hard: bool = False


class NicOut(Answer):
    """One NIC of a server: its port, network and binding, and the VF it got."""

    port_id: str
    port_name: str
    network_id: str
    mac_address: str
    vnic_type: str
    status: str
    host: str
    vif_type: str
    #: The device's address (``binding:profile.pci_slot``), None without one.
    pci_slot: str | None
    physical_network: str | None
    #: ``binding:vif_details.vlan`` as Neutron writes it (``"100"``, ``"0"`` for flat).
    vlan: str | None
    #: The VF settings the host's agent applied or recorded.
    wired: list[dict[str, JsonValue]] = Field(default_factory=list)


class FaultOut(Answer):
    host: str | None
    reason: str


class ServerOut(Answer):
    id: str
    name: str
    project: str
    flavor: str
    vcpus: int
    ram: int
    extra_specs: dict[str, str]
    #: The id of the image it boots from (None: no disk).
    image: str | None = None
    state: str
    task: str | None
    reason: str | None
    host: str | None
    attempts: int
    faults: list[FaultOut]
    #: PCI addresses the server holds, in address order.
    devices: list[str]
    #: Its ports, in the order they were created.
    nics: list[NicOut] = Field(default_factory=list)
    #: The guest as decided when its devices were claimed (core.guest.GuestPlan).
    guest_plan: dict[str, JsonValue] | None = None
    #: The domain XML the host's agent defined from the plan, as it reported it.
    domain_xml: str | None = None
    created_at: float
    updated_at: float


class ServerList(Answer):
    servers: list[ServerOut]
