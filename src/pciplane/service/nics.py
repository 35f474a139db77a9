"""A server's NICs: the ports it asks for, their PCI requests, their binding at claim time,
and what the server's life does to them.

``server create --nic net-id=NET[,vnic-type=T][,pci-group=G] --nic port-id=PORT``: a
``net-id`` entry creates its port (the controller's ``default_vnic_type`` when the entry
names none), a ``port-id`` entry takes an existing one of the caller's. Each SR-IOV port
becomes one PCI request exactly as Nova builds it (nova-pci-semantics §4.3), after the
flavor's (§4.2), and the scheduler fits them together. After the claim, on the chosen
host, every port is bound by the mechanism drivers and written in the claim's own
transaction (:class:`PortClaim`), with the profile Nova writes back (§4.5). A port no
driver binds fails the claim: the server goes to ERROR naming the port, and the port ends
``binding_failed``. When the guest runs, ``hw_veb`` and ``ovs`` ports turn ACTIVE; when it
is deleted they are unbound, and ports the server created go with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy.engine import Connection

from pciplane.core.address import PciAddress
from pciplane.core.binding import (
    NotBound,
    VifType,
    device_profile,
    profile_trusted,
)
from pciplane.core.device import Inventory
from pciplane.core.errors import InUseError, NotFoundError, RequestError
from pciplane.core.fit import GuestRequest, HostView, Verdict
from pciplane.core.guest import AttachMode, GuestNic, GuestPlan, wire_ports
from pciplane.core.lifecycle import PORT_MOVES, PortEvent, PortStatus, port_move
from pciplane.core.network import request_physnets
from pciplane.core.request import (
    SRIOV_VNIC_TYPES,
    NumaPolicy,
    PciRequest,
    RequestSource,
    VnicType,
    parse_numa_policy,
    request_from_port,
)
from pciplane.service.binding import (
    COMPUTE_OWNER,
    UNBOUND_VALUES,
    Binder,
    PortBindingFailed,
    bound_event,
    bound_values,
    device_nic,
    failed_values,
    failure,
    switch_nic,
)
from pciplane.service.ports import PortFactory
from pciplane.store import networks as store
from pciplane.store import ports as portstore
from pciplane.store.hosts import HostRecord
from pciplane.store.networks import NetworkRecord
from pciplane.store.ports import PortRecord
from pciplane.store.servers import ServerRecord

FLAVOR_NUMA_POLICY = "hw:pci_numa_affinity_policy"


@dataclass(frozen=True, kw_only=True, slots=True)
class NicRequest:
    """One ``--nic`` entry: ``net-id`` (with an optional vnic type and PCI group) or
    ``port-id``."""

    net_id: str | None = None
    port_id: str | None = None
    vnic_type: str | None = None
    pci_group: str | None = None
    #: How the request names this entry in an error (``networks[0]`` on Nova's API);
    #: None: ``nics[i]``.
    where: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedNic:
    port: PortRecord
    network: NetworkRecord
    #: Created for this server (written with the claim, deleted with the server).
    new: bool
    #: The server the port row must have when the claim writes it (None: no server).
    owner: str | None
    request: PciRequest | None


def flavor_numa_policy(extra_specs: Mapping[str, str]) -> NumaPolicy | None:
    value = extra_specs.get(FLAVOR_NUMA_POLICY)
    return None if value is None else parse_numa_policy(value, what=FLAVOR_NUMA_POLICY)


#: Vnic types whose device comes from a service pciplane does not have (Cyborg's
#: accelerators, Ironic's bare metal, an OVN SmartNIC): refused at create.
ELSEWHERE: Mapping[VnicType, str] = {
    VnicType.ACCELERATOR_DIRECT: "Cyborg's accelerator requests",
    VnicType.ACCELERATOR_DIRECT_PHYSICAL: "Cyborg's accelerator requests",
    VnicType.BAREMETAL: "Ironic (bare metal)",
    VnicType.SMART_NIC: "an OVN SmartNIC",
}


def port_request(
    port: PortRecord, network: NetworkRecord, flavor_policy: NumaPolicy | None
) -> PciRequest | None:
    """The port's PCI request (Nova §4.3), None for a vnic type that needs no device.

    A port no SR-IOV device can reach (no flat or VLAN segment) is refused here, at
    create, rather than left for "no valid host" to explain; so is a vnic type whose
    device another service provides.
    """
    if port.vnic_type in ELSEWHERE:
        raise RequestError(
            f"{port.label()}: vnic type {port.vnic_type} needs {ELSEWHERE[port.vnic_type]}, "
            "which pciplane does not provide"
        )
    if port.vnic_type not in SRIOV_VNIC_TYPES:
        return None
    physnets = request_physnets(network.segments)
    if not physnets:
        raise RequestError(
            f"{port.label()} ({port.vnic_type}): no SR-IOV device can reach "
            f"{network.network().label()}: none of its segments is a flat or vlan segment "
            "on a physical network"
        )
    own = port.numa_affinity_policy
    group = port.profile.get("pci_group")
    return request_from_port(
        vnic_type=port.vnic_type,
        physical_network=physnets[0],
        also_physical_networks=physnets[1:],
        trusted=profile_trusted(port.profile),
        numa_policy=None if own is None else parse_numa_policy(own, what="numa_affinity_policy"),
        flavor_numa_policy=flavor_policy,
        port_id=port.id,
        pci_group=group if isinstance(group, str) else None,
        label=f"{port.label()} ({'/'.join(physnets)})",
    )


class PortClaim:
    """The claim hook: binds each port on the chosen host and writes it with the claim."""

    def __init__(
        self, binder: Binder, planned: Sequence[PlannedNic], *, event: PortEvent | None = None
    ) -> None:
        self.binder = binder
        self.planned = tuple(planned)
        #: The status move written with the binding (a hot plug's: BUILD); None: the
        #: binding's own (DOWN, or ACTIVE for hostdev_physical).
        self.event = event

    def prepare(
        self,
        server: ServerRecord,
        record: HostRecord,
        view: HostView,
        guest: GuestRequest,
        verdict: Verdict,
        plan: GuestPlan,
    ) -> tuple[GuestPlan, Callable[[Connection], None]]:
        chosen = {
            r.requester: addresses
            for r, addresses in zip(guest.pci, verdict.choice, strict=True)
            if r.source is RequestSource.PORT
        }
        inventory = Inventory.of(record.host.devices)
        kinds = {address: pool.kind for pool in view.pools for address in pool.devices}
        host = record.host.name
        wired: dict[PciAddress, tuple[AttachMode, GuestNic]] = {}
        interfaces: list[GuestNic] = []
        writes: list[tuple[PlannedNic, Mapping[str, object], PortEvent]] = []
        for nic in self.planned:
            port, physnet, device = nic.port, None, None
            if nic.request is not None:
                (address,) = chosen[port.id]
                device = inventory.get(address)
                tag = kinds[address].mapping.get("physical_network")
                physnet = None if tag is None else str(tag)
            # The scheduler placed the server here because its agent is alive.
            result = self.binder.bind(port, nic.network, record, physnet=physnet, alive=True)
            if isinstance(result, NotBound):
                raise failure(port, host, result)
            added: dict[str, object] = {}
            if device is not None:
                mode, guest_nic = device_nic(port, result, device, host=host)
                wired[device.address] = (mode, guest_nic)
                parent = inventory.parent_of(device)
                added = device_profile(device, physnet, parent, user=port.profile)
            else:
                interfaces.append(switch_nic(port, result))
            values = {**bound_values(host, result), "bound_profile": added}
            writes.append((nic, values, self.event or bound_event(result)))
        finished = wire_ports(plan, wired, interfaces)

        def write(conn: Connection) -> None:
            now = time.time()
            for nic, values, event in writes:
                _take(conn, nic, server.id, now, values, event)

        return finished, write


def _take(
    conn: Connection,
    nic: PlannedNic,
    server_id: str,
    now: float,
    values: Mapping[str, object],
    event: PortEvent | None = None,
) -> None:
    """The port becomes the server's, bound as ``values`` say, its status moved by
    ``event``: one statement (an insert for a port the server creates, else an update
    conditional on its server and status)."""
    port = nic.port
    status = port.status if event is None else port_move(port.status, event)
    owned = {"server_id": server_id, "device_id": server_id, "device_owner": COMPUTE_OWNER}
    if nic.new:
        portstore.insert_port(conn, replace(port, **owned, **values, status=status))  # type: ignore[arg-type]
        return
    allowed = None if event is None else PORT_MOVES[event].allowed_from
    portstore.update_port(
        conn, port.id, now=now, server=nic.owner, statuses=allowed, status=status,
        **owned, **values,
    )  # fmt: skip


@contextmanager
def _naming(where: str) -> Iterator[None]:
    """A "not found" inside names the entry that asked for it."""
    try:
        yield
    except NotFoundError as exc:
        raise NotFoundError(f"{where}: {exc}") from None


class NicService:
    def __init__(self, binder: Binder, factory: PortFactory) -> None:
        self.binder = binder
        self.factory = factory

    # --- creating and placing servers --------------------------------------------

    def plan(
        self,
        conn: Connection,
        project: str,
        nics: Sequence[NicRequest],
        extra_specs: Mapping[str, str],
    ) -> list[PlannedNic]:
        """Check every ``--nic`` entry (nothing is written); the ports with their requests."""
        policy = flavor_numa_policy(extra_specs)
        seen: set[str] = set()
        out: list[PlannedNic] = []
        for i, nic in enumerate(nics):
            where = nic.where or f"nics[{i}]"
            if (nic.net_id is None) == (nic.port_id is None):
                raise RequestError(f"{where}: give either net-id or port-id")
            if nic.port_id is not None:
                if nic.vnic_type is not None or nic.pci_group is not None:
                    raise RequestError(
                        f"{where}: vnic-type and pci-group go with net-id; a port-id entry "
                        "uses the port's own binding:vnic_type and binding:profile"
                    )
                with _naming(where):
                    port = portstore.get_port(conn, nic.port_id, project=project)
                if port.server_id is not None or port.device_id:
                    owner = port.server_id or port.device_id
                    raise InUseError(f"{where}: {port.label()} is in use by {owner}")
                if port.id in seen:
                    raise RequestError(f"{where}: {port.label()} is given twice")
                network = store.get_network(conn, port.network_id)
                new = False
            else:
                assert nic.net_id is not None
                with _naming(where):
                    network = store.get_network(conn, nic.net_id, project=project)
                profile = {} if nic.pci_group is None else {"pci_group": nic.pci_group}
                network_id = network.id

                def taken(mac: str, network_id: str = network_id) -> bool:
                    mine = any(p.port.mac_address == mac for p in out)
                    return mine or portstore.mac_in_use(conn, network_id, mac)

                port = self.factory.new(
                    project=project,
                    network=network,
                    vnic_type=nic.vnic_type,
                    profile=profile,
                    where=where,
                    auto_delete=True,
                    taken=taken,
                )
                new = True
            seen.add(port.id)
            request = port_request(port, network, policy)
            out.append(PlannedNic(port=port, network=network, new=new, owner=None, request=request))
        return out

    def planned_for(self, conn: Connection, server: ServerRecord) -> list[PlannedNic]:
        """The ports a server already has, to place it again (a reschedule)."""
        policy = flavor_numa_policy(dict(server.extra_specs))
        out = []
        for port in portstore.list_ports(conn, server_id=server.id):
            network = store.get_network(conn, port.network_id)
            request = port_request(port, network, policy)
            out.append(
                PlannedNic(port=port, network=network, new=False, owner=server.id, request=request)
            )
        return out

    def hook(self, planned: Sequence[PlannedNic]) -> PortClaim:
        return PortClaim(self.binder, planned)

    def attach_unplaced(
        self,
        conn: Connection,
        server_id: str,
        planned: Sequence[PlannedNic],
        failed: PortBindingFailed | None = None,
    ) -> None:
        """A server that was not placed (ERROR) keeps its ports, unbound, so it shows
        them; the port no driver bound ends ``binding_failed`` on its host."""
        now = time.time()
        for nic in planned:
            values: dict[str, object] = {}
            if failed is not None and failed.port_id == nic.port.id:
                values = failed_values(failed.host)
            if nic.owner == server_id:
                if values:
                    portstore.update_port(conn, nic.port.id, now=now, server=server_id, **values)  # type: ignore[arg-type]
                continue
            _take(conn, nic, server_id, now, values)

    # --- what the server's life does to its ports ------------------------------

    def guest_up(
        self, conn: Connection, server_id: str, wired: Sequence[Mapping[str, object]]
    ) -> None:
        """The guest runs: its ports waiting for it turn ACTIVE, with their VF records."""
        now = time.time()
        for port in portstore.list_ports(conn, server_id=server_id):
            mine = tuple(w for w in wired if w.get("port") == port.id)
            if port.status is not PortStatus.ACTIVE and port.vif_type in (
                VifType.HW_VEB,
                VifType.OVS,
            ):
                portstore.move_port(conn, port.id, PortEvent.GUEST_UP, now=now, wired=mine)
            elif mine:
                portstore.update_port(conn, port.id, now=now, wired=mine)

    def unbind(self, conn: Connection, server_id: str) -> None:
        """The server lost its host (it is placed again): bindings and device keys go."""
        now = time.time()
        for port in portstore.list_ports(conn, server_id=server_id):
            portstore.move_port(
                conn,
                port.id,
                PortEvent.UNBOUND,
                now=now,
                wired=(),
                **UNBOUND_VALUES,
            )

    def release(self, conn: Connection, server_id: str) -> None:
        """The server is gone: the ports it created go too, the others are unbound and free."""
        self.unbind(conn, server_id)
        portstore.delete_server_ports(conn, server_id)
        now = time.time()
        for port in portstore.list_ports(conn, server_id=server_id):
            portstore.update_port(
                conn, port.id, now=now, server=server_id, server_id=None, device_id="",
                device_owner="",
            )  # fmt: skip
