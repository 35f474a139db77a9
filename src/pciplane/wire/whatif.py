"""What-if questions against the live fleet: fit and capacity."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from pciplane.wire.common import Answer, ExtraSpecs, Name, Strict

NumaCell = Annotated[StrictInt, Field(ge=0, le=1023)]


class FitIn(Strict):
    """This flavor (or these extra specs) against the live fleet."""

    flavor: Name | None = None
    extra_specs: ExtraSpecs = Field(default_factory=dict)
    #: Host NUMA cells the guest is confined to.
    numa_cells: Annotated[list[NumaCell], Field(max_length=64)] | None = None
    #: A flavor's size without a stored flavor (both or neither; a flavor brings its own):
    #: the guest's CPUs and memory are fitted too.
    vcpus: Annotated[StrictInt, Field(ge=1, le=1 << 20)] | None = None
    ram: Annotated[StrictInt, Field(ge=1, le=1 << 40)] | None = None


class VerdictOut(Answer):
    name: str
    fits: bool
    reason: str


class FitOut(Answer):
    hosts: list[VerdictOut]
    fit_count: int


class HostCapacityOut(Answer):
    name: str
    servers: int
    limited_by: str


class CapacityOut(Answer):
    total: int
    hosts: list[HostCapacityOut]
    limited_by: dict[str, int]
