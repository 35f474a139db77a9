"""Hosts, their agents' reports, work items and reconciliation on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from pciplane.wire.common import Answer, Name, Strict, Text255, Text4000
from pciplane.wire.servers import ServerOut


class PoolOut(Answer):
    """One pool of a host: the scheduling key in words, and how much of it is used."""

    pool: str
    vendor_id: str
    product_id: str
    dev_type: str
    numa_node: int | None
    physical_network: str | None
    total: int
    used: int
    free: int


class HostOut(Answer):
    name: str
    generation: int
    last_seen: float | None
    #: Whether the agent was heard from within ``agent_down_time``.
    alive: bool = False
    devices: int
    pools: list[PoolOut]
    #: Its agent's network configuration (``GET /v2.0/agents`` shows the same).
    network: dict[str, JsonValue] | None = None
    #: An operator disabled it (``host disable``): no new servers are placed here.
    disabled: bool = False
    disabled_reason: str | None = None


class HostPortOut(Answer):
    """A port of a server on the host: what it is bound with."""

    id: str
    name: str
    vnic_type: str
    status: str
    pci_slot: str | None


class HostServerOut(Answer):
    """A server placed on the host, with the devices and ports it holds there."""

    id: str
    name: str
    project: str
    state: str
    task: str | None
    devices: list[str]
    ports: list[HostPortOut]


class HostDetail(HostOut):
    numa_nodes: list[dict[str, JsonValue]]
    #: Every device as stored, in the fleet snapshot's device shape.
    device_list: list[dict[str, JsonValue]]
    #: Its allocation settings (Nova's names) and what its servers hold: ``pinned_cpus``,
    #: per ``cells`` their floating ``vcpus`` and ``memory_mib``, and ``floating_vcpus`` and
    #: ``floating_memory_mib`` of guests without cells (the snapshot's ``usage``).
    allocation: dict[str, JsonValue] = Field(default_factory=dict)
    usage: dict[str, JsonValue] = Field(default_factory=dict)
    #: The servers placed on it (``GET /v1/hosts/{name}`` for the admin; not in an
    #: agent's registration answer).
    servers: list[HostServerOut] = Field(default_factory=list)


class HostDisableIn(Strict):
    """``host disable``: why (shown in every "no valid host" that rules the host out)."""

    reason: Text255 | None = None


class HostList(Answer):
    hosts: list[HostOut]


class HostReport(Strict):
    """What an agent reports: the host's NUMA nodes and devices, its own device_spec.

    ``devices`` is required: a report must say what it reports (an empty body would
    otherwise drop every device of the host).
    """

    name: Name | None = None
    numa_nodes: Annotated[list[dict[str, JsonValue]], Field(max_length=1024)] = Field(
        default_factory=list
    )
    devices: Annotated[list[dict[str, JsonValue]], Field(max_length=65536)]
    device_spec: list[JsonValue] | None = None
    #: The agent's network configuration (Neutron's SR-IOV agent options, parsed by
    #: core.sriov_agent): ``device_mappings``, ``exclude_devices``, ``sriov_auto_all``,
    #: ``sriov_only``, ``sriov_pci_group``.
    network: dict[str, JsonValue] | None = None
    #: The host's allocation settings with Nova's names (core.allocation):
    #: ``cpu_allocation_ratio``, ``ram_allocation_ratio``, ``reserved_host_memory_mb``,
    #: ``reserved_host_cpus``, ``cpu_dedicated_set``, ``cpu_shared_set``.
    allocation: dict[str, JsonValue] | None = None


class Registration(Answer):
    """The answer to a report: the host as stored, which is all the agent needs."""

    host: HostDetail
    #: Work delivered before and never answered, handed out again.
    redelivered: int = 0
    #: Servers of the host whose guest is stopped (SHUTOFF): their domains are shut off.
    stopped: list[str] = Field(default_factory=list)
    #: Servers of the host with a stop, start or reboot under way: either state is fine.
    changing: list[str] = Field(default_factory=list)


class WorkOut(Answer):
    """One thing an agent must do on its host, with the guest plan it needs to do it."""

    id: int
    kind: str
    server_id: str
    server_name: str
    #: The guest (core.guest.GuestPlan); for attach/detach, its devices are the ones to
    #: attach or detach.
    plan: dict[str, JsonValue]


class WorkList(Answer):
    work: list[WorkOut]


class WiredIn(Strict):
    """One port's VF settings as the agent carried them out (host/vf_wiring.py)."""

    port: Annotated[str, Field(max_length=64)]
    action: Annotated[str, Field(max_length=16)]
    commands: Annotated[list[Text4000], Field(max_length=16)]
    applied: bool
    why: Text4000 = ""


class WorkResultIn(Strict):
    ok: bool
    reason: Text4000 = ""
    #: The domain XML the agent defined (start), for the record.
    domain_xml: Annotated[str, Field(max_length=1 << 20)] | None = None
    #: The code of the error that failed it (the service raises the same class).
    code: Annotated[str, Field(max_length=64)] | None = None
    wired: Annotated[list[WiredIn], Field(max_length=64)] = Field(default_factory=list)


class MismatchIn(Strict):
    server_id: Annotated[str, Field(max_length=64)] | None = None
    domain: Text255 | None = None
    detail: Annotated[Text4000, Field(min_length=1)]


class MismatchesIn(Strict):
    mismatches: Annotated[list[MismatchIn], Field(max_length=1000)]


class MismatchesOut(Answer):
    servers: list[ServerOut]
