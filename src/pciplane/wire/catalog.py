"""Aliases and flavors on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from pciplane.wire.common import Answer, Count, ExtraSpecs, Name, Positive, Strict, Text255


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
    #: The root disk (GiB): a server of the flavor boots an image on a disk this large
    #: (0: the image's own size; and a server with no image needs 0).
    disk: Count = 0
    extra_specs: ExtraSpecs = Field(default_factory=dict)


class FlavorSpecsIn(Strict):
    """``flavor set --property k=v`` and ``--unset-property k``."""

    set: ExtraSpecs = Field(default_factory=dict)
    unset: Annotated[list[Text255], Field(max_length=64)] = Field(default_factory=list)


class FlavorOut(Answer):
    name: str
    vcpus: int
    ram: int
    disk: int = 0
    extra_specs: dict[str, str]


class FlavorList(Answer):
    flavors: list[FlavorOut]
