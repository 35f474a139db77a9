"""What the service answers, as frozen records (parsed once, here, from JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class AliasInfo:
    name: str
    entry_json: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Flavor:
    name: str
    vcpus: int
    ram: int
    extra_specs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Flavor:
        specs = obj.get("extra_specs") or {}
        return cls(
            name=str(obj["name"]),
            vcpus=int(obj["vcpus"]),
            ram=int(obj["ram"]),
            extra_specs=tuple(sorted((str(k), str(v)) for k, v in specs.items())),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    host: str | None
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Server:
    id: str
    name: str
    project: str
    flavor: str
    state: str
    task: str | None
    reason: str | None
    host: str | None
    attempts: int
    faults: tuple[Fault, ...]
    devices: tuple[str, ...]
    domain_xml: str | None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Server:
        return cls(
            id=str(obj["id"]),
            name=str(obj["name"]),
            project=str(obj["project"]),
            flavor=str(obj["flavor"]),
            state=str(obj["state"]),
            task=_str_or_none(obj.get("task")),
            reason=_str_or_none(obj.get("reason")),
            host=_str_or_none(obj.get("host")),
            attempts=int(obj.get("attempts", 0)),
            faults=tuple(
                Fault(host=_str_or_none(f.get("host")), reason=str(f.get("reason", "")))
                for f in obj.get("faults", [])
            ),
            devices=tuple(str(d) for d in obj.get("devices", [])),
            domain_xml=_str_or_none(obj.get("domain_xml")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolUse:
    pool: str
    physical_network: str | None
    total: int
    used: int
    free: int

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> PoolUse:
        return cls(
            pool=str(obj["pool"]),
            physical_network=_str_or_none(obj.get("physical_network")),
            total=int(obj["total"]),
            used=int(obj["used"]),
            free=int(obj["free"]),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HostSummary:
    name: str
    generation: int
    last_seen: float | None
    devices: int
    pools: tuple[PoolUse, ...]

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> HostSummary:
        seen = obj.get("last_seen")
        return cls(
            name=str(obj["name"]),
            generation=int(obj["generation"]),
            last_seen=None if seen is None else float(seen),
            devices=int(obj["devices"]),
            pools=tuple(PoolUse.of(p) for p in obj.get("pools", [])),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkItem:
    """One thing the agent must do: start/stop/attach/detach a server's domain."""

    id: int
    kind: str
    server_id: str
    server_name: str
    domain_name: str
    domain_xml: str | None
    devices: tuple[str, ...]

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> WorkItem:
        return cls(
            id=int(obj["id"]),
            kind=str(obj["kind"]),
            server_id=str(obj["server_id"]),
            server_name=str(obj["server_name"]),
            domain_name=str(obj["domain_name"]),
            domain_xml=_str_or_none(obj.get("domain_xml")),
            devices=tuple(str(d) for d in obj.get("devices", [])),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HostVerdict:
    name: str
    fits: bool
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FitResult:
    hosts: tuple[HostVerdict, ...]
    fit_count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    """One disagreement an agent found between libvirt and the service's claims."""

    detail: str
    server_id: str | None = None
    domain: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"server_id": self.server_id, "domain": self.domain, "detail": self.detail}
