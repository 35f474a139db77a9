"""Ports (Neutron's v2.0 shape, with the binding extension): create, list, show, update,
delete, and binding to a host without a server.

A MAC address is generated under Neutron's ``base_mac`` (``fa:16:3e``) when none is given
and is unique per network (the database's unique pair). ``binding:host_id`` set on a port
no server uses binds it there by the mechanism drivers, exactly as Neutron does
(neutron-sriov-binding.md §2); clearing it unbinds. Keys the service wrote into
``binding:profile`` are protected from a client writing the whole profile back
(openstack-clients §7.6). A port a server uses cannot be deleted, moved or rebound (409)
until it is removed from the server.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping

from sqlalchemy.engine import Connection

from pciplane.core.binding import NotBound, merge_user_profile
from pciplane.core.errors import AlreadyExistsError, ForbiddenError, InUseError, RequestError
from pciplane.core.lifecycle import PortEvent
from pciplane.core.request import parse_numa_policy, parse_vnic_type
from pciplane.service.binding import (
    UNBOUND_VALUES,
    Binder,
    bound_event,
    bound_values,
    failed_values,
)
from pciplane.service.networks import Caller, owner_project
from pciplane.service.settings import Settings
from pciplane.store import networks as store
from pciplane.store import ports as portstore
from pciplane.store.db import Database
from pciplane.store.hosts import HostRecord, load_hosts
from pciplane.store.networks import NetworkRecord
from pciplane.store.ports import PortRecord
from pciplane.store.tables import hosts

#: Neutron's default ``base_mac``: generated MACs are ``fa:16:3e:xx:xx:xx``.
BASE_MAC = "fa:16:3e"
_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")
#: What only the admin may set (Neutron's default policy for the binding extension).
ADMIN_ONLY = ("binding:host_id",)
#: What may not change while a server uses the port.
FIXED_WHILE_USED = ("binding:host_id", "binding:vnic_type", "mac_address", "device_id",
                    "device_owner", "network_id")  # fmt: skip


#: Tries for a generated MAC no port of the network has (Neutron's mac_generation_retries).
MAC_TRIES = 16


def random_mac() -> str:
    return BASE_MAC + "".join(f":{b:02x}" for b in secrets.token_bytes(3))


def free_mac(taken: Callable[[str], bool]) -> str:
    """A generated MAC ``taken`` says no port of the network has: 24 random bits collide
    often enough on a busy network (a third of the time by 3,000 ports) to need a check."""
    for _ in range(MAC_TRIES):
        mac = random_mac()
        if not taken(mac):
            return mac
    raise AlreadyExistsError(f"no free MAC address found under {BASE_MAC} in {MAC_TRIES} tries")


def parse_mac(value: object) -> str:
    """A unicast MAC, lower case with colons; Neutron refuses the rest (400)."""
    text = str(value).strip().lower()
    if not _MAC.match(text):
        raise RequestError(f"mac_address: {value!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    text = text.replace("-", ":")
    first = int(text[:2], 16)
    if text == "00:00:00:00:00:00" or first & 1:
        raise RequestError(f"mac_address: {text} is not a unicast MAC address a NIC can take")
    return text


def _policy(value: object) -> str | None:
    if value is None:
        return None
    return str(parse_numa_policy(value, what="numa_affinity_policy"))


def _profile(value: object) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError("binding:profile: must be a JSON object")
    return dict(value)


class PortFactory:
    """New port records with Neutron's defaults (not yet written)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def new(
        self,
        *,
        project: str,
        network: NetworkRecord,
        vnic_type: object = None,
        profile: Mapping[str, object] | None = None,
        where: str = "",
        attrs: Mapping[str, object] | None = None,
        auto_delete: bool = False,
        taken: Callable[[str], bool] = lambda _mac: False,
    ) -> PortRecord:
        """``taken``: whether a MAC is in use on the network (a generated one is drawn
        again; a given one is left to the database's unique pair, 409)."""
        attrs = attrs or {}
        prefix = f"{where}: " if where else ""
        try:
            vnic = parse_vnic_type(vnic_type or self.settings.default_vnic_type)
            own = merge_user_profile({}, {}, profile or {})
            mac = parse_mac(attrs["mac_address"]) if attrs.get("mac_address") else free_mac(taken)
            policy = _policy(attrs.get("numa_affinity_policy"))
        except RequestError as exc:
            raise RequestError(f"{prefix}{exc}") from None
        security = attrs.get("port_security_enabled")
        now = time.time()
        return PortRecord(
            id=str(uuid.uuid4()),
            name=str(attrs.get("name") or ""),
            project=project,
            network_id=network.id,
            mac_address=mac,
            vnic_type=vnic,
            admin_state_up=bool(attrs.get("admin_state_up", True)),
            port_security_enabled=network.port_security_enabled
            if security is None
            else bool(security),
            numa_affinity_policy=policy,
            propagate_uplink_status=bool(attrs.get("propagate_uplink_status", False)),
            description=str(attrs.get("description") or ""),
            device_id=str(attrs.get("device_id") or ""),
            device_owner=str(attrs.get("device_owner") or ""),
            profile=own,
            auto_delete=auto_delete,
            created_at=now,
            updated_at=now,
        )


def _host_record(conn: Connection, host: str) -> HostRecord | None:
    row = conn.execute(hosts.select().where(hosts.c.name == host)).first()
    return None if row is None else load_hosts(conn, [row.id])[0]


class PortService:
    def __init__(
        self, db: Database, settings: Settings, binder: Binder, factory: PortFactory
    ) -> None:
        self.db = db
        self.settings = settings
        self.binder = binder
        self.factory = factory

    # --- reads ------------------------------------------------------------------

    def get(self, port_id: str, caller: Caller) -> PortRecord:
        with self.db.read() as conn:
            return portstore.get_port(conn, port_id, project=caller.scope)

    def find(self, caller: Caller, **filters: str | None) -> list[PortRecord]:
        with self.db.read() as conn:
            return portstore.list_ports(conn, project=caller.scope, **filters)

    # --- writes -----------------------------------------------------------------

    def create(self, caller: Caller, attrs: Mapping[str, object]) -> PortRecord:
        self._check_admin_only(caller, attrs)
        with self.db.write() as conn:
            network = store.get_network(conn, str(attrs["network_id"]), project=caller.scope)
            port = self.factory.new(
                project=owner_project(caller, attrs),
                network=network,
                vnic_type=attrs.get("binding:vnic_type"),
                profile=_profile(attrs.get("binding:profile")),
                attrs=attrs,
                taken=lambda mac: portstore.mac_in_use(conn, network.id, mac),
            )
            portstore.insert_port(conn, port)
            host = attrs.get("binding:host_id")
            if host:
                self._bind_to_host(conn, port, network, str(host))
        return self.get(port.id, caller)

    def update(self, port_id: str, caller: Caller, attrs: Mapping[str, object]) -> PortRecord:
        self._check_admin_only(caller, attrs)
        with self.db.write() as conn:
            port = portstore.get_port(conn, port_id, project=caller.scope)
            if port.server_id is not None:
                fixed = [
                    k for k in FIXED_WHILE_USED if k in attrs and attrs[k] != _current(port, k)
                ]
                if fixed:
                    raise InUseError(
                        f"{port.label()} is in use by server {port.server_id}: {', '.join(fixed)} "
                        "cannot change until it is removed from the server"
                    )
            values = self._values(port, attrs)
            if values:
                portstore.update_port(conn, port.id, now=time.time(), **values)  # type: ignore[arg-type]
            port = portstore.get_port(conn, port.id)
            host = attrs.get("binding:host_id", port.host_id)
            rebind = any(k in attrs for k in ("binding:host_id", "binding:vnic_type",
                                               "binding:profile"))  # fmt: skip
            if port.server_id is None and rebind:
                if host:
                    network = store.get_network(conn, port.network_id)
                    self._bind_to_host(conn, port, network, str(host))
                elif port.host_id or port.vif_type != "unbound":
                    self._unbind(conn, port)
        return self.get(port_id, caller)

    def delete(self, port_id: str, caller: Caller) -> None:
        with self.db.write() as conn:
            port = portstore.get_port(conn, port_id, project=caller.scope)
            portstore.delete_port(conn, port.id)

    # --- helpers ----------------------------------------------------------------

    @staticmethod
    def _check_admin_only(caller: Caller, attrs: Mapping[str, object]) -> None:
        for key in ADMIN_ONLY:
            if attrs.get(key) not in (None, "") and not caller.admin:
                raise ForbiddenError(f"{key}: binding a port to a host is the admin's to do")

    def _values(self, port: PortRecord, attrs: Mapping[str, object]) -> dict[str, object]:
        values: dict[str, object] = {}
        for key in ("name", "description", "admin_state_up", "port_security_enabled",
                    "propagate_uplink_status", "device_id", "device_owner"):  # fmt: skip
            if key in attrs and attrs[key] is not None:
                values[key] = attrs[key]
        if "mac_address" in attrs and attrs["mac_address"] is not None:
            values["mac_address"] = parse_mac(attrs["mac_address"])
        if "numa_affinity_policy" in attrs:
            values["numa_affinity_policy"] = _policy(attrs["numa_affinity_policy"])
        if attrs.get("binding:vnic_type") is not None:
            values["vnic_type"] = parse_vnic_type(attrs["binding:vnic_type"])
        if "binding:profile" in attrs:
            given = _profile(attrs["binding:profile"])
            values["profile"] = merge_user_profile(port.profile, port.bound_profile, given)
        return values

    def _bind_to_host(
        self, conn: Connection, port: PortRecord, network: NetworkRecord, host: str
    ) -> None:
        """Neutron's binding on ``binding:host_id`` alone: no device is claimed, so the
        profile gains nothing; a port no driver binds ends ``binding_failed``."""
        result = self.binder.bind(port, network, _host_record(conn, host))
        now = time.time()
        if isinstance(result, NotBound):
            portstore.move_port(conn, port.id, PortEvent.UNBOUND, now=now, **failed_values(host))
            return
        portstore.move_port(
            conn, port.id, bound_event(result), now=now, **bound_values(host, result)
        )

    @staticmethod
    def _unbind(conn: Connection, port: PortRecord) -> None:
        portstore.move_port(
            conn,
            port.id,
            PortEvent.UNBOUND,
            now=time.time(),
            **UNBOUND_VALUES,
        )


def _current(port: PortRecord, key: str) -> object:
    return {
        "binding:host_id": port.host_id,
        "binding:vnic_type": str(port.vnic_type),
        "mac_address": port.mac_address,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "network_id": port.network_id,
    }[key]
