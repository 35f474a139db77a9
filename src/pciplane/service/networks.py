"""Networks (Neutron's v2.0 shape): create, list, show, update, delete; and the callers.

Attributes arrive under Neutron's names (``provider:network_type``, ``segments`` ...),
checked for shape at the API edge and for meaning here. The provider attributes are the
admin's, to set and to see (Neutron's default policy); a project sees its own networks
and the ``shared`` ones. Segments follow ML2's type drivers (:mod:`pciplane.core.network`);
a VLAN segment must name its id, because pciplane keeps no tenant VLAN ranges to
allocate one from, and a network given no provider attribute is one ``local`` segment.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pciplane.core.errors import ForbiddenError, RequestError
from pciplane.core.network import DEFAULT_SEGMENT, NetworkType, Segment, check_segments
from pciplane.service.settings import Settings
from pciplane.store import networks as store
from pciplane.store.db import Database
from pciplane.store.networks import NetworkRecord

PROVIDER_KEYS = (
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Caller:
    """Who is asking: their project, and whether they are the admin (who sees all)."""

    project: str
    admin: bool = False

    @property
    def scope(self) -> str | None:
        """The project to filter by; None for the admin."""
        return None if self.admin else self.project


def owner_project(caller: Caller, attrs: Mapping[str, object]) -> str:
    """``project_id`` (or its old name ``tenant_id``) of a new resource: the caller's own
    unless the admin names another (Neutron refuses that to others, 403)."""
    given = [attrs[k] for k in ("project_id", "tenant_id") if attrs.get(k) is not None]
    if len(set(given)) > 1:
        raise RequestError("project_id and tenant_id disagree")
    if not given or given[0] == caller.project:
        return caller.project
    if not caller.admin:
        raise ForbiddenError(
            "specifying a project_id other than the caller's own requires the admin token"
        )
    return str(given[0])


def _segment(obj: Mapping[str, object], where: str) -> Segment:
    kind = obj.get("provider:network_type")
    physnet = obj.get("provider:physical_network")
    seg_id = obj.get("provider:segmentation_id")
    if kind is None:
        raise RequestError(
            f"{where}provider:network_type: required with the other provider attributes"
        )
    try:
        segment = Segment(
            network_type=kind,  # type: ignore[arg-type]
            physical_network=physnet,  # type: ignore[arg-type]
            segmentation_id=seg_id,  # type: ignore[arg-type]
        )
    except RequestError as exc:
        raise RequestError(f"{where}{exc}") from None
    if segment.network_type is NetworkType.VLAN and segment.segmentation_id is None:
        raise RequestError(
            f"{where}provider:segmentation_id: a vlan network needs its VLAN id "
            "(pciplane keeps no tenant VLAN ranges to allocate one from)"
        )
    return segment


def segments_from(attrs: Mapping[str, object], caller: Caller) -> tuple[Segment, ...]:
    """The segments the provider attributes or the ``segments`` list describe."""
    provider = {k: attrs[k] for k in PROVIDER_KEYS if attrs.get(k) is not None}
    listed = attrs.get("segments")
    if (provider or listed is not None) and not caller.admin:
        raise ForbiddenError("the provider attributes and segments are the admin's to set")
    if provider and listed is not None:
        raise RequestError("segments: give either the provider attributes or segments, not both")
    if listed is not None:
        assert isinstance(listed, Sequence)
        segments = tuple(_segment(s, f"segments[{i}]: ") for i, s in enumerate(listed))
        check_segments(segments)
        return segments
    if provider:
        return (_segment(provider, ""),)
    return (DEFAULT_SEGMENT,)


class NetworkService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def create(self, caller: Caller, attrs: Mapping[str, object]) -> NetworkRecord:
        segments = segments_from(attrs, caller)
        mtu = attrs.get("mtu")
        if isinstance(mtu, int) and mtu > self.settings.global_physnet_mtu:
            raise RequestError(
                f"mtu: {mtu} is above the largest this cloud allows "
                f"({self.settings.global_physnet_mtu}, global_physnet_mtu)"
            )
        now = time.time()
        record = NetworkRecord(
            id=str(uuid.uuid4()),
            name=str(attrs.get("name") or ""),
            project=owner_project(caller, attrs),
            segments=segments,
            shared=bool(attrs.get("shared", False)),
            admin_state_up=bool(attrs.get("admin_state_up", True)),
            mtu=mtu if isinstance(mtu, int) else self.settings.global_physnet_mtu,
            port_security_enabled=bool(attrs.get("port_security_enabled", True)),
            description=str(attrs.get("description") or ""),
            created_at=now,
            updated_at=now,
        )
        if record.shared and not caller.admin:
            raise ForbiddenError("only the admin may create a shared network")
        with self.db.write() as conn:
            store.insert_network(conn, record)
        return self.get(record.id, caller)

    def find(
        self, caller: Caller, *, name: str | None = None, ids: Sequence[str] | None = None,
        shared: bool | None = None,
    ) -> list[NetworkRecord]:  # fmt: skip
        with self.db.read() as conn:
            return store.list_networks(
                conn, project=caller.scope, name=name, ids=ids, shared=shared
            )

    def get(self, network_id: str, caller: Caller) -> NetworkRecord:
        with self.db.read() as conn:
            return store.get_network(conn, network_id, project=caller.scope)

    def _owned(self, network_id: str, caller: Caller) -> NetworkRecord:
        """A network the caller may change: their own (a shared one is only visible)."""
        network = self.get(network_id, caller)
        if not caller.admin and network.project != caller.project:
            raise ForbiddenError(f"network {network_id} belongs to another project")
        return network

    def update(self, network_id: str, caller: Caller, attrs: Mapping[str, object]) -> NetworkRecord:
        network = self._owned(network_id, caller)
        if any(k in attrs for k in (*PROVIDER_KEYS, "segments")):
            raise RequestError("the provider attributes and segments of a network cannot change")
        if attrs.get("shared") and not caller.admin:
            raise ForbiddenError("only the admin may share a network")
        mtu = attrs.get("mtu")
        if isinstance(mtu, int) and mtu > self.settings.global_physnet_mtu:
            raise RequestError(f"mtu: {mtu} is above {self.settings.global_physnet_mtu}")
        values = {
            k: attrs[k]
            for k in (
                "name",
                "description",
                "admin_state_up",
                "shared",
                "mtu",
                "port_security_enabled",
            )
            if k in attrs and attrs[k] is not None
        }
        with self.db.write() as conn:
            if values:
                store.update_network(conn, network.id, now=time.time(), **values)
        return self.get(network.id, caller)

    def delete(self, network_id: str, caller: Caller) -> None:
        network = self._owned(network_id, caller)
        with self.db.write() as conn:
            store.delete_network(conn, network.id)
