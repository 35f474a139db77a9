"""Servers on the wire."""

from __future__ import annotations

from pydantic import JsonValue

from pciplane.wire.common import Answer, Name, ServerName, Strict


class ServerIn(Strict):
    name: ServerName
    flavor: Name


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
    state: str
    task: str | None
    reason: str | None
    host: str | None
    attempts: int
    faults: list[FaultOut]
    #: PCI addresses the server holds, in address order.
    devices: list[str]
    #: The guest as decided when its devices were claimed (core.guest.GuestPlan).
    guest_plan: dict[str, JsonValue] | None = None
    #: The domain XML the host's agent defined from the plan, as it reported it.
    domain_xml: str | None = None
    created_at: float
    updated_at: float


class ServerList(Answer):
    servers: list[ServerOut]
