"""Nova's server create body, read into what pciplane's server service takes.

The body is parsed in one place and reduced to a :class:`BootRequest`: the name, the
flavor id, the boot image and the NICs. ``networks`` entries become the same NIC requests
as ``/v1``'s ``nics``: ``{"port": ID}`` takes an existing port (its own vnic type and
binding profile), ``{"uuid": NET}`` creates a port on that network with the controller's
``default_vnic_type`` (Nova creates a ``normal`` port there; an SR-IOV port is made
first, ``openstack port create --vnic-type direct``, and given as ``port``); ``"none"`` and
``"auto"`` ask for no NIC (pciplane has no network to allocate). A fixed IP and a device
tag are refused by name: pciplane assigns no addresses and has no metadata service to show
tags. The boot source is the image the CLI names, either as ``imageRef`` or as the one
image-to-local block device ``--block-device`` sends; it is kept and shown, and the guest
boots without a disk as every pciplane guest does today (images come with issue 9). A
server may also name no image at all (the SDK's ``create_server`` without one).

Fields Nova accepts and pciplane cannot honour yet (keypairs, user data, metadata, volumes,
several servers at once, ...) are refused by name rather than ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictInt

from pciplane.api.openstack.microversions import Microversion
from pciplane.api.openstack.nova_common import LooseInt
from pciplane.core.errors import RequestError
from pciplane.service.nics import NicRequest
from pciplane.wire.common import SERVER_NAME_PATTERN, Text255

_HEX = "[0-9a-fA-F]"
_UUID = re.compile(f"{_HEX}{{8}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{12}}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class NetworkEntry(_Strict):
    uuid: Text255 | None = None
    port: Text255 | None = None
    fixed_ip: Text255 | None = None
    tag: Annotated[str, Field(min_length=1, max_length=60)] | None = None


class BlockDevice(_Strict):
    """One ``block_device_mapping_v2`` entry (Nova's keys)."""

    boot_index: LooseInt | Annotated[str, Field(pattern=r"^-?[0-9]+$")] | None = None
    uuid: Text255 | None = None
    source_type: Literal["image", "volume", "snapshot", "blank"] | None = None
    destination_type: Literal["local", "volume"] | None = None
    delete_on_termination: StrictBool | None = None
    volume_size: LooseInt | None = None
    guest_format: Text255 | None = None
    device_name: Text255 | None = None
    disk_bus: Text255 | None = None
    device_type: Text255 | None = None
    no_device: StrictBool | None = None
    tag: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    volume_type: Text255 | None = None


Count = Annotated[LooseInt, Field(ge=1, le=1000)]


class ServerBody(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=63, pattern=SERVER_NAME_PATTERN)]
    flavorRef: Annotated[str, Field(min_length=1, max_length=1024)] | StrictInt
    imageRef: Annotated[str, Field(max_length=1024)] | None = None
    networks: (
        Annotated[list[NetworkEntry], Field(max_length=64)] | Literal["auto", "none"] | None
    ) = None
    block_device_mapping_v2: Annotated[list[BlockDevice], Field(max_length=64)] | None = None
    min_count: Count | None = None
    max_count: Count | None = None
    description: Annotated[str, Field(max_length=255)] | None = None
    availability_zone: Text255 | None = None
    tags: Annotated[list[Annotated[str, Field(max_length=60)]], Field(max_length=50)] | None = None
    trusted_image_certificates: (
        Annotated[list[Annotated[str, Field(max_length=255)]], Field(max_length=50)] | None
    ) = None
    # Accepted by Nova, refused here by name when given (see _UNSUPPORTED).
    metadata: dict[str, JsonValue] | None = None
    key_name: Text255 | None = None
    user_data: str | None = None
    config_drive: JsonValue = None
    adminPass: str | None = None
    accessIPv4: str | None = None
    accessIPv6: str | None = None
    personality: list[JsonValue] | None = None
    security_groups: list[JsonValue] | None = None
    return_reservation_id: StrictBool | None = None
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(None, alias="OS-DCF:diskConfig")


class ServerCreate(_Strict):
    server: ServerBody
    scheduler_hints: dict[str, JsonValue] | None = Field(None, alias="os:scheduler_hints")
    scheduler_hints_old: dict[str, JsonValue] | None = Field(
        None, alias="OS-SCH-HNT:scheduler_hints"
    )


#: Fields pciplane cannot honour yet, and why (each refused by name when it carries a value).
_UNSUPPORTED: tuple[tuple[str, str], ...] = (
    ("metadata", "server metadata is not kept"),
    ("key_name", "pciplane has no keypairs"),
    ("user_data", "pciplane guests get no user data yet"),
    ("config_drive", "pciplane guests get no config drive"),
    ("adminPass", "pciplane sets no guest password"),
    ("accessIPv4", "access addresses are not kept"),
    ("accessIPv6", "access addresses are not kept"),
    ("personality", "pciplane injects no files"),
    ("security_groups", "security groups come with Neutron ports"),
    ("return_reservation_id", "several servers at once are not supported"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class BootRequest:
    """What a create asks of pciplane's server service."""

    name: str
    flavor_id: str
    image: str | None
    description: str | None
    nics: tuple[NicRequest, ...] = ()


def _image_id(ref: str, where: str) -> str:
    """An image UUID, or an image URL ending in one (as Nova takes ``imageRef``)."""
    found = _UUID.fullmatch(ref.rstrip("/").rsplit("/", 1)[-1])
    if found is None:
        raise RequestError(f"{where}: {ref!r} is not an image UUID or an image URL")
    return found.group(0)


def _boot_image(server: ServerBody, version: Microversion) -> str | None:
    image = _image_id(server.imageRef, "imageRef") if server.imageRef else None
    for index, device in enumerate(server.block_device_mapping_v2 or []):
        where = f"block_device_mapping_v2[{index}]"
        tags_allowed = version == Microversion(2, 32) or version.at_least("2.42")
        if device.tag is not None and not tags_allowed:
            raise RequestError(f"{where}.tag: device tags need microversion 2.32 or 2.42+")
        if device.volume_type is not None:
            if not version.at_least("2.67"):
                raise RequestError(f"{where}.volume_type: needs microversion 2.67")
            raise RequestError(
                f"{where}.volume_type: not supported (pciplane guests have no volumes)"
            )
        if (device.source_type, device.destination_type) != ("image", "local") or str(
            device.boot_index
        ) != "0":
            raise RequestError(
                f"{where}: only the boot image (source_type image, destination_type local, "
                "boot_index 0) is supported; pciplane guests have no volumes or extra disks yet"
            )
        if device.uuid is None:
            raise RequestError(f"{where}.uuid: the boot image's id is required")
        named = _image_id(device.uuid, f"{where}.uuid")
        if image is not None and named != image:
            raise RequestError(f"{where}.uuid: {named} is not the imageRef {image}")
        image = named
    return image


def _nic(entry: NetworkEntry, where: str, version: Microversion) -> NicRequest:
    if entry.tag is not None:
        if not (Microversion(2, 32) <= version < Microversion(2, 37) or version.at_least("2.42")):
            raise RequestError(f"{where}.tag: network tags need microversion 2.32 to 2.36 or 2.42+")
        raise RequestError(
            f"{where}.tag: not supported (pciplane keeps no device tags: it has no metadata "
            "service to show them)"
        )
    if entry.fixed_ip is not None:
        raise RequestError(f"{where}.fixed_ip: not supported (pciplane assigns no IP addresses)")
    if entry.port is not None and entry.uuid is not None:
        raise RequestError(f"{where}: give either port or uuid (a port brings its network)")
    if entry.port is not None:
        return NicRequest(port_id=entry.port, where=where)
    if entry.uuid is not None:
        return NicRequest(net_id=entry.uuid, where=where)
    raise RequestError(f"{where}: give a port or a network uuid")


def _nics(server: ServerBody, version: Microversion) -> tuple[NicRequest, ...]:
    """The NICs the ``networks`` entries ask for (none for "none" and "auto")."""
    networks = server.networks
    if version.at_least("2.37"):
        if networks is None:
            raise RequestError(
                "networks: required from microversion 2.37 (a list, 'auto' or 'none')"
            )
    elif isinstance(networks, str):
        raise RequestError(f"networks: {networks!r} needs microversion 2.37")
    if not isinstance(networks, list):
        return ()
    return tuple(_nic(n, f"networks[{i}]", version) for i, n in enumerate(networks))


def _check_versioned(server: ServerBody, version: Microversion) -> None:
    """Fields that come, or go, with a microversion."""
    if server.description is not None and not version.at_least("2.19"):
        raise RequestError("description: needs microversion 2.19")
    if server.tags is not None:
        if not version.at_least("2.52"):
            raise RequestError("tags: needs microversion 2.52")
        if server.tags:
            raise RequestError("tags: not supported (pciplane keeps no server tags yet)")
    if server.trusted_image_certificates is not None:
        if not version.at_least("2.63"):
            raise RequestError("trusted_image_certificates: needs microversion 2.63")
        raise RequestError(
            "trusted_image_certificates: not supported (pciplane does not verify images yet)"
        )
    if server.personality is not None and version.at_least("2.57"):
        raise RequestError("personality: removed in microversion 2.57")


def boot_request(body: ServerCreate, version: Microversion) -> BootRequest:
    """The create as pciplane takes it; RequestError (400) naming the first field it
    cannot take."""
    server = body.server
    _check_versioned(server, version)
    for name, why in _UNSUPPORTED:
        if getattr(server, name) not in (None, {}, []):
            raise RequestError(f"{name}: not supported ({why})")
    if body.scheduler_hints or body.scheduler_hints_old:
        raise RequestError(
            "os:scheduler_hints: not supported (pciplane schedules by its own rules)"
        )
    if server.availability_zone not in (None, "nova"):
        raise RequestError(
            f"availability_zone: {server.availability_zone!r} does not exist (only 'nova')"
        )
    low, high = server.min_count or 1, server.max_count or server.min_count or 1
    if (low, high) != (1, 1):
        raise RequestError("min_count, max_count: one server at a time (both 1)")
    nics = _nics(server, version)
    flavor = str(server.flavorRef).rstrip("/").rsplit("/", 1)[-1]
    return BootRequest(
        name=server.name,
        flavor_id=flavor,
        image=_boot_image(server, version),
        description=server.description,
        nics=nics,
    )
