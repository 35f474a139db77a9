"""Request and response bodies (pydantic), the API's edge.

Bodies are checked here for shape only; their meaning (an alias entry, a device, an
extra spec) is parsed once by the core, which names the entry, key and value at fault.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = ["JsonValue"]

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AliasOut(BaseModel):
    name: str
    entry: dict[str, JsonValue]


class AliasList(BaseModel):
    aliases: list[AliasOut]


class FlavorIn(Strict):
    name: Name
    vcpus: Annotated[int, Field(ge=1, le=4096)]
    ram: Annotated[int, Field(ge=1, le=1 << 32, description="MiB")]
    extra_specs: dict[str, str] = Field(default_factory=dict)


class FlavorSpecsIn(Strict):
    set: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


class FlavorOut(BaseModel):
    name: str
    vcpus: int
    ram: int
    extra_specs: dict[str, str]


class FlavorList(BaseModel):
    flavors: list[FlavorOut]


class ServerIn(Strict):
    name: Annotated[
        str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ]
    flavor: Name


class FaultOut(BaseModel):
    host: str | None
    reason: str


class ServerOut(BaseModel):
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
    devices: list[str]
    domain_xml: str | None
    created_at: float
    updated_at: float


class ServerList(BaseModel):
    servers: list[ServerOut]


class PoolOut(BaseModel):
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


class HostOut(BaseModel):
    name: str
    generation: int
    last_seen: float | None
    devices: int
    pools: list[PoolOut]


class HostDetail(HostOut):
    numa_nodes: list[dict[str, JsonValue]]
    device_list: list[dict[str, JsonValue]]


class HostList(BaseModel):
    hosts: list[HostOut]


class WorkOut(BaseModel):
    """One thing an agent must do on its host, with what it needs to do it."""

    id: int
    kind: str
    server_id: str
    server_name: str
    domain_name: str
    domain_xml: str | None
    devices: list[str]


class WorkList(BaseModel):
    work: list[WorkOut]


class WorkResultIn(Strict):
    ok: bool
    reason: Annotated[str, Field(max_length=4000)] = ""


class FitIn(Strict):
    """A what-if question: this flavor (or these extra specs) against the live fleet."""

    flavor: Name | None = None
    extra_specs: dict[str, str] = Field(default_factory=dict)
    numa_cells: list[int] | None = None


class VerdictOut(BaseModel):
    name: str
    fits: bool
    reason: str


class FitOut(BaseModel):
    hosts: list[VerdictOut]
    fit_count: int


class HostCapacityOut(BaseModel):
    name: str
    servers: int
    limited_by: str


class CapacityOut(BaseModel):
    total: int
    hosts: list[HostCapacityOut]
    limited_by: dict[str, int]


class Health(BaseModel):
    status: str
    database: str
