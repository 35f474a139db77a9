"""Nova's microversions: which ones pciplane serves, and the version of each request.

A microversion is cumulative: serving 2.N means honouring every change from 2.2 to 2.N on
every route served. :data:`CHANGES` lists each of them, and what it means here: a change
to a route pciplane serves (and so implements), or a change to an API pciplane does not
serve at all (which answers 404 at every version). The maximum advertised is the last row,
so raising it is adding rows, one feature at a time (Nova's REST API version history).

The version comes from ``OpenStack-API-Version: compute X.Y`` or, failing that, the older
``X-OpenStack-Nova-API-Version: X.Y``; ``latest`` is the maximum; none is 2.1. A malformed
one is 400 and one outside 2.1 to the maximum is 406, as Nova answers; every answer under
``/compute/v2.1/`` says which version it followed, in both headers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import total_ordering

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pciplane.api import errors
from pciplane.api.openstack.endpoints import COMPUTE_V21
from pciplane.core.errors import PciplaneError, RequestError, VersionNotSupportedError

_VERSION = re.compile(r"^([1-9][0-9]*)\.([1-9][0-9]*|0)$")


@total_ordering
@dataclass(frozen=True, slots=True)
class Microversion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Microversion:
        found = _VERSION.match(text.strip())
        if found is None:
            raise RequestError(
                f"API Version String {text.strip()!r} is of invalid format. "
                "Must be of format MajorNum.MinorNum."
            )
        return cls(int(found.group(1)), int(found.group(2)))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Microversion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def at_least(self, text: str) -> bool:
        return self >= Microversion.parse(text)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


_NOT_SERVED = "not served here: "

#: Every microversion up to the maximum, and what it changes on pciplane's routes.
CHANGES: tuple[tuple[str, str], ...] = (
    ("2.1", "the v2.1 API: strict input validation"),
    ("2.2", _NOT_SERVED + "os-keypairs"),
    ("2.3", "servers: OS-EXT-SRV-ATTR reservation_id, launch_index, hostname, kernel_id, "
            "ramdisk_id, root_device_name, user_data (admin); volumes' delete_on_termination"),
    ("2.4", _NOT_SERVED + "os-fixed-ips"),
    ("2.5", "servers list: the ip6 filter for everyone (no server has an address yet)"),
    ("2.6", _NOT_SERVED + "remote consoles"),
    ("2.7", _NOT_SERVED + "os-flavor-access (every flavor is public)"),
    ("2.8", _NOT_SERVED + "remote consoles"),
    ("2.9", "servers: locked (always false: pciplane has no lock action)"),
    ("2.10", _NOT_SERVED + "os-keypairs"),
    ("2.11", _NOT_SERVED + "os-services"),
    ("2.12", _NOT_SERVED + "os-virtual-interfaces"),
    ("2.13", _NOT_SERVED + "os-server-groups"),
    ("2.14", _NOT_SERVED + "evacuate"),
    ("2.15", _NOT_SERVED + "os-server-groups"),
    ("2.16", "servers: host_status (admin), UP or DOWN from the host agent's heartbeat"),
    ("2.17", _NOT_SERVED + "trigger_crash_dump"),
    ("2.18", "routes without a project id (the only ones served)"),
    ("2.19", "servers: description on create and show"),
    ("2.20", _NOT_SERVED + "volume attachments"),
    ("2.21", _NOT_SERVED + "os-instance-actions"),
    ("2.22", _NOT_SERVED + "migrations"),
    ("2.23", _NOT_SERVED + "migrations"),
    ("2.24", _NOT_SERVED + "migrations"),
    ("2.25", _NOT_SERVED + "os-migrateLive"),
    ("2.26", "servers: tags in show (none: pciplane keeps no tags yet) and the tags, "
             "tags-any, not-tags, not-tags-any filters; the tags routes are not served"),
    ("2.27", "the OpenStack-API-Version header"),
    ("2.28", "os-hypervisors: cpu_info as an object"),
    ("2.29", _NOT_SERVED + "evacuate"),
    ("2.30", _NOT_SERVED + "os-migrateLive"),
    ("2.31", _NOT_SERVED + "os-console-auth-tokens"),
    ("2.32", "servers create: a tag on networks and block devices"),
    ("2.33", "os-hypervisors: limit and marker; servers create: no tag on block devices"),
    ("2.34", _NOT_SERVED + "os-migrateLive"),
    ("2.35", _NOT_SERVED + "os-keypairs"),
    ("2.36", _NOT_SERVED + "the proxy APIs (images, networks, volumes, ...)"),
    ("2.37", "servers create: networks required, a list or 'auto' or 'none'; no tag on networks"),
    ("2.38", "servers list: an unknown status is 400"),
    ("2.39", _NOT_SERVED + "image metadata, limits"),
    ("2.40", _NOT_SERVED + "os-simple-tenant-usage"),
    ("2.41", "os-aggregates: an aggregate's uuid (the list is served, and empty)"),
    ("2.42", "servers create: the tag on networks and block devices is back"),
    ("2.43", _NOT_SERVED + "os-hosts"),
    ("2.44", _NOT_SERVED + "network proxy actions, os-virtual-interfaces"),
    ("2.45", _NOT_SERVED + "createImage, createBackup"),
    ("2.46", "the X-OpenStack-Request-ID header (every version)"),
    ("2.47", "servers: the flavor embedded (original_name, vcpus, ram, disk, ephemeral, swap, "
             "extra_specs) instead of its id"),
    ("2.48", _NOT_SERVED + "server diagnostics"),
    ("2.49", "os-interface: a tag on attach (refused by name: pciplane keeps no device "
             "tags); volume attachments not served"),
    ("2.50", _NOT_SERVED + "os-quota-class-sets"),
    ("2.51", _NOT_SERVED + "os-server-external-events, os-instance-actions"),
    ("2.52", "servers create: tags (refused by name: pciplane keeps no server tags yet)"),
    ("2.53", "os-hypervisors: UUID ids (derived from the host name), with_servers, "
             "hypervisor_hostname_pattern; os-services not served"),
    ("2.54", _NOT_SERVED + "rebuild"),
    ("2.55", "flavors: description on create, list, show, and PUT /flavors/{id} to change it"),
    ("2.56", _NOT_SERVED + "migrate"),
    ("2.57", "servers create: no personality; rebuild and limits not served"),
    ("2.58", _NOT_SERVED + "os-instance-actions"),
    ("2.59", _NOT_SERVED + "os-migrations"),
    ("2.60", _NOT_SERVED + "volume attachments (multiattach)"),
    ("2.61", "flavors: extra_specs in the flavor (detail, show, create, update)"),
    ("2.62", _NOT_SERVED + "os-instance-actions"),
    ("2.63", "servers: trusted_image_certificates in show (null) and on create (refused by "
             "name: pciplane does not verify images yet); rebuild not served"),
    ("2.64", _NOT_SERVED + "os-server-groups"),
    ("2.65", _NOT_SERVED + "migrations (live migration abort)"),
    ("2.66", "servers list: the changes-before filter; os-instance-actions and "
             "os-migrations not served"),
    ("2.67", "servers create: volume_type on a block device (refused: pciplane guests "
             "have no volumes)"),
    ("2.68", _NOT_SERVED + "evacuate, os-migrateLive"),
    ("2.69", "servers: the answers for a down cell (pciplane has no cells: never partial)"),
    ("2.70", "os-interface: tag in every attachment (null: no device tags are kept); "
             "volume attachments not served"),
)  # fmt: skip

MIN_VERSION = Microversion(2, 1)
MAX_VERSION = Microversion.parse(CHANGES[-1][0])

_NEW_HEADER = "openstack-api-version"
_LEGACY_HEADER = "x-openstack-nova-api-version"


def _compute_entry(value: str) -> str | None:
    """The version named for ``compute`` in an ``OpenStack-API-Version`` header."""
    for part in value.split(","):
        service, _, version = part.strip().partition(" ")
        if service.lower() == "compute":
            return version.strip()
    return None


def requested(headers: dict[str, str]) -> Microversion:
    """The version a request asks for; RequestError (400) or VersionNotSupportedError (406)."""
    text = None
    if _NEW_HEADER in headers:
        text = _compute_entry(headers[_NEW_HEADER])
    if text is None:
        text = headers.get(_LEGACY_HEADER)
    if text is None:
        return MIN_VERSION
    if text.strip().lower() == "latest":
        return MAX_VERSION
    version = Microversion.parse(text)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotSupportedError(
            f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and "
            f"maximum is {MAX_VERSION}."
        )
    return version


class ComputeVersions:
    """Reads the microversion of every request under ``/compute/v2.1/`` (refusing a bad
    one before any handler runs) and names it, and a request id, in every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(COMPUTE_V21 + "/") or path == COMPUTE_V21 + "/":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = f"req-{uuid.uuid4()}"
        try:
            version = requested(headers)
        except PciplaneError as exc:
            response = errors.render(exc, api=errors.Api.NOVA)
            response.headers.update(_answer_headers(MIN_VERSION, request_id))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["microversion"] = version

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in _answer_headers(version, request_id).items()
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_version)


def _answer_headers(version: Microversion, request_id: str) -> dict[str, str]:
    return {
        "OpenStack-API-Version": f"compute {version}",
        "X-OpenStack-Nova-API-Version": str(version),
        "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        "X-OpenStack-Request-ID": request_id,
        "X-Compute-Request-ID": request_id,
    }


def microversion(request: Request) -> Microversion:
    """FastAPI dependency: the version :class:`ComputeVersions` read for this request."""
    found = request.scope.get("state", {}).get("microversion", MIN_VERSION)
    assert isinstance(found, Microversion)
    return found
