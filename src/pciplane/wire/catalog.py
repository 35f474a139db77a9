"""Aliases and flavors on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from pciplane.wire.common import Answer, ExtraSpecs, Name, Positive, Strict, Text255


class AliasOut(Answer):
    name: str
    #: The entry exactly as Nova's ``[pci] alias`` takes it.
    entry: dict[str, JsonValue]


class AliasList(Answer):
    aliases: list[AliasOut]
    #: Where the aliases come from: ``api`` (managed here) or the alias file's path.
    source: str = "api"


class FlavorIn(Strict):
    name: Name
    vcpus: Annotated[Positive, Field(le=4096)]
    ram: Annotated[Positive, Field(description="MiB")]
    extra_specs: ExtraSpecs = Field(default_factory=dict)


class FlavorSpecsIn(Strict):
    """``flavor set --property k=v`` and ``--unset-property k``."""

    set: ExtraSpecs = Field(default_factory=dict)
    unset: Annotated[list[Text255], Field(max_length=64)] = Field(default_factory=list)


class FlavorOut(Answer):
    name: str
    vcpus: int
    ram: int
    extra_specs: dict[str, str]


class FlavorList(Answer):
    flavors: list[FlavorOut]
