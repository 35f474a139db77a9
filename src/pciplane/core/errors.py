"""The domain error hierarchy; each class declares its stable code and title once.

Domain errors carry no HTTP status: ``pciplane.api`` gives each class a status in one
table, renders ``{"errors": [{"status", "code", "title", "detail"}]}`` with the code and
title declared here, and the client turns a code back into the same class
(:func:`error_for_code`), so callers catch the same classes in-process and over HTTP.
The CLI prints ``str(error)`` and exits 2. Third-party errors are translated at the
adapter edge (``raise DomainError(...) from exc``)::

    PciplaneError                    pciplane.error
    ├── ConfigError                  an operator's configuration is malformed
    │   └── EntryError               one entry (names its index, text, key and value)
    │       ├── DeviceSpecError      a [pci] device_spec entry
    │       └── AliasError           a [pci] alias entry
    ├── AddressError                 a malformed PCI address or address pattern
    ├── RequestError                 a request that cannot be understood
    │   ├── UnknownAliasError        pci_passthrough:alias names an alias nobody defined
    │   ├── MalformedRequestError    an HTTP body of the wrong shape or type
    │   ├── InvalidJsonError         an HTTP body that does not parse as JSON
    │   ├── MethodNotAllowedError    an endpoint called with the wrong method
    │   ├── VersionNotSupportedError an API (micro)version the service does not serve
    │   ├── UnsupportedMediaError    an HTTP body that is not JSON
    │   └── BodyTooLargeError        an HTTP body over the service's limit
    ├── SnapshotError                a fleet snapshot entry (names host, device, key)
    ├── NotFoundError                a named thing does not exist
    │   └── RouteNotFoundError       no endpoint has this path
    ├── AlreadyExistsError           a name is taken
    ├── InUseError                   removing it would strand what uses it
    ├── DeviceStateError             a status transition the table does not allow
    │   └── DeviceOwnerError         the device belongs to someone else
    ├── StateError                   a server or work item cannot make that move now
    ├── NoFitError                   no device set satisfies the requests (carries why)
    ├── BindingFailedError           no mechanism driver binds a port on the host
    ├── ConflictError                a concurrent writer won (generation mismatch)
    ├── AuthError                    no credentials, or unknown ones
    ├── ForbiddenError               known credentials that may not do this
    ├── QuotaExceededError           the project's quota does not cover the request
    ├── UnreachableError             the service did not answer (client side)
    └── HypervisorError              the hypervisor refused or failed an operation
        └── UnsupportedOperationError   the hypervisor driver does not implement it
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, NoReturn, Self


class PciplaneError(Exception):
    """Base of every error pciplane raises on purpose."""

    #: The stable code clients switch on; declared once, here, per class.
    code: ClassVar[str] = "pciplane.error"
    #: A short title for the code (the API's ``title``).
    title: ClassVar[str] = "Request failed"

    @classmethod
    def from_detail(cls, detail: str) -> Self:
        """The error as a client rebuilds it from an answer's ``detail`` text."""
        error = cls.__new__(cls)
        Exception.__init__(error, detail)
        return error


class ConfigError(PciplaneError):
    """A configuration entry is malformed; the message names where and why."""

    code = "pciplane.config.invalid"
    title = "Invalid configuration"


def _describe_entry(index: int | None, entry: object) -> str:
    where = f"entry {index}" if index is not None else "entry"
    text = entry if isinstance(entry, str) else repr(entry)
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{where} ({text})"


class EntryError(ConfigError):
    """A configuration entry is malformed: names the entry (index, text), key and value."""

    option = "configuration"

    def __init__(
        self,
        reason: str,
        *,
        index: int | None = None,
        entry: object = None,
        key: str | None = None,
        value: object = None,
    ) -> None:
        self.reason = reason
        self.index = index
        self.entry = entry
        self.key = key
        self.value = value
        parts = [f"invalid {self.option}"]
        if entry is not None or index is not None:
            parts.append(_describe_entry(index, entry))
        if key is not None:
            parts.append(f"key {key!r} = {value!r}")
        super().__init__(", ".join(parts) + f": {reason}")

    def in_file(self, source: str) -> EntryError:
        """The same error (same class, same fields), its message led by the file's name."""
        err = type(self)(
            self.reason, index=self.index, entry=self.entry, key=self.key, value=self.value
        )
        err.args = (f"{source}: {err}",)
        return err


class DeviceSpecError(EntryError):
    """A ``[pci] device_spec`` entry is malformed."""

    option = "[pci] device_spec"
    code = "pciplane.device_spec.invalid"
    title = "Invalid device_spec entry"


class AliasError(EntryError):
    """A ``[pci] alias`` entry is malformed, or aliases of one name disagree."""

    option = "[pci] alias"
    code = "pciplane.alias.invalid"
    title = "Invalid PCI alias"


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Where a configuration entry came from, so that errors can name it."""

    index: int
    raw: object
    error: type[EntryError]

    def fail(self, reason: str, key: str | None = None, value: object = None) -> NoReturn:
        raise self.error(reason, index=self.index, entry=self.raw, key=key, value=value)


class AddressError(PciplaneError):
    """A PCI address or address pattern does not parse or is out of range."""

    code = "pciplane.address.invalid"
    title = "Invalid PCI address"


class RequestError(PciplaneError):
    """A request (flavor extra spec, port, NUMA policy, body field) cannot be understood."""

    code = "pciplane.request.invalid"
    title = "Invalid request"


class UnknownAliasError(RequestError):
    """``pci_passthrough:alias`` names an alias that is not defined."""

    code = "pciplane.alias.unknown"
    title = "Unknown PCI alias"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"PCI alias {name!r} is not defined")


class MalformedRequestError(RequestError):
    """The body does not have the shape or the types the endpoint takes."""

    code = "pciplane.request.malformed"
    title = "Malformed request"


class InvalidJsonError(RequestError):
    """The body is not valid JSON (truncated, not UTF-8, nested too deeply)."""

    code = "pciplane.request.json"
    title = "Body is not valid JSON"


class UnsupportedMediaError(RequestError):
    """The body is not JSON (RFC 9110 §15.5.16: 415 Unsupported Media Type)."""

    code = "pciplane.request.media_type"
    title = "Unsupported media type"


class BodyTooLargeError(RequestError):
    """The request body is larger than the service accepts."""

    code = "pciplane.request.too_large"
    title = "Request body too large"


class ImageError(RequestError):
    """An image upload that cannot be stored: a format other than qcow2 or raw, a
    truncated or oversized upload, a backing file, a format that is not the one named."""

    code = "pciplane.image.invalid"
    title = "Invalid image"


class SnapshotError(PciplaneError):
    """A fleet snapshot or host report is malformed; names the host, device and key."""

    code = "pciplane.snapshot.invalid"
    title = "Invalid host or fleet document"


class NotFoundError(PciplaneError):
    """A named thing (host, device, server, flavor, alias) does not exist."""

    code = "pciplane.not_found"
    title = "Not found"


class RouteNotFoundError(NotFoundError):
    """No endpoint has this path."""

    code = "pciplane.route.not_found"
    title = "No such endpoint"


class MethodNotAllowedError(RequestError):
    """The endpoint exists but not with this method."""

    code = "pciplane.route.method_not_allowed"
    title = "Method not allowed"


class VersionNotSupportedError(RequestError):
    """The request asks for an API version (a Nova microversion) the service does not serve."""

    code = "pciplane.request.version"
    title = "API version not supported"


class AlreadyExistsError(PciplaneError):
    """A thing of that name exists already."""

    code = "pciplane.already_exists"
    title = "Already exists"


class InUseError(PciplaneError):
    """Removing or changing it would strand what uses it (a flavor using an alias)."""

    code = "pciplane.in_use"
    title = "In use"


class DeviceStateError(PciplaneError):
    """A device status transition that the table in ``core.device`` does not allow."""

    code = "pciplane.device.state"
    title = "Device status does not allow this"


class DeviceOwnerError(DeviceStateError):
    """The device is held by another owner than the one acting on it."""

    code = "pciplane.device.in_use"
    title = "Device held by another server"


class StateError(PciplaneError):
    """A server or work item cannot make that move from where it is (core.lifecycle)."""

    code = "pciplane.state"
    title = "Not allowed in this state"


class NoFitError(PciplaneError):
    """No set of devices satisfies the requests; ``explanation`` says why."""

    code = "pciplane.no_valid_host"
    title = "No valid host"

    def __init__(self, message: str, explanation: object = None) -> None:
        self.explanation = explanation
        super().__init__(message)


class BindingFailedError(PciplaneError):
    """No mechanism driver could bind a port on the host (neutron-sriov-binding.md §2.9)."""

    code = "pciplane.port.binding_failed"
    title = "Port binding failed"


class ConflictError(PciplaneError):
    """A concurrent writer changed the state first (per-host generation mismatch)."""

    code = "pciplane.conflict"
    title = "Concurrent change"


class AuthError(PciplaneError):
    """No credentials, or credentials the service does not know."""

    code = "pciplane.auth.unauthenticated"
    title = "Authentication required"


class ForbiddenError(PciplaneError):
    """Known credentials whose role may not do this."""

    code = "pciplane.auth.forbidden"
    title = "Forbidden"


class QuotaExceededError(PciplaneError):
    """The request would take the project over a quota; names the quota, the usage and
    the request (Nova's OverQuota, a 403)."""

    code = "pciplane.quota.exceeded"
    title = "Quota exceeded"


class UnreachableError(PciplaneError):
    """The service did not answer (connection refused, timeout, not HTTP, bad URL)."""

    code = "pciplane.unreachable"
    title = "Service unreachable"


class HypervisorError(PciplaneError):
    """The hypervisor refused or failed an operation."""

    code = "pciplane.hypervisor.failed"
    title = "Hypervisor failure"


class UnsupportedOperationError(HypervisorError):
    """The hypervisor driver does not implement the operation (e.g. attach on test:///)."""

    code = "pciplane.hypervisor.unsupported"
    title = "Not supported by the hypervisor"


class HotPlugUnsupportedError(UnsupportedOperationError):
    """The host's hypervisor cannot hot plug: the request cannot be done on this server
    (Nova's AttachInterfaceNotSupported), not an operation pciplane lacks. Same code."""


def _subclasses(cls: type[PciplaneError]) -> list[type[PciplaneError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


def codes() -> Mapping[str, type[PciplaneError]]:
    """Every declared code and its class (a subclass without its own code is skipped)."""
    table: dict[str, type[PciplaneError]] = {}
    for cls in _subclasses(PciplaneError):
        if "code" in cls.__dict__:
            table.setdefault(cls.code, cls)
    return table


def error_for_code(code: str) -> type[PciplaneError] | None:
    """The class that declares ``code``, or None for a code this version does not know."""
    return codes().get(code)
