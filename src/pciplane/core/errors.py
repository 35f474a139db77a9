"""The domain error hierarchy.

Domain errors carry no HTTP status: ``pciplane.api`` maps each class to a status and a
stable code in one table, and the CLI prints ``str(error)`` and exits 2. Third-party
errors are translated at the adapter edge (``raise DomainError(...) from exc``)::

    PciplaneError
    ├── ConfigError                  an operator's configuration is malformed
    │   └── EntryError               one entry (names its index, text, key and value)
    │       ├── DeviceSpecError      a [pci] device_spec entry
    │       └── AliasError           a [pci] alias entry
    ├── AddressError                 a malformed PCI address or address pattern
    ├── RequestError                 a request that cannot be understood
    │   └── UnknownAliasError        pci_passthrough:alias names an alias nobody defined
    ├── SnapshotError                a fleet snapshot entry (names host, device, key)
    ├── NotFoundError                a named thing does not exist
    ├── DeviceStateError             a status transition the table does not allow
    │   └── DeviceOwnerError         the device belongs to someone else
    ├── NoFitError                   no device set satisfies the requests (carries why)
    ├── ConflictError                a concurrent writer won (generation mismatch)
    └── HypervisorError              the hypervisor refused or failed an operation
        └── UnsupportedOperationError   the hypervisor driver does not implement it
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn


class PciplaneError(Exception):
    """Base of every error pciplane raises on purpose."""


class ConfigError(PciplaneError):
    """A configuration entry is malformed; the message names where and why."""


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


class AliasError(EntryError):
    """A ``[pci] alias`` entry is malformed, or aliases of one name disagree."""

    option = "[pci] alias"


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


class RequestError(PciplaneError):
    """A request (flavor extra spec, port, NUMA policy) cannot be understood."""


class UnknownAliasError(RequestError):
    """``pci_passthrough:alias`` names an alias that is not defined."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"PCI alias {name!r} is not defined")


class SnapshotError(PciplaneError):
    """A fleet snapshot is malformed; the message names the host, device and key."""


class NotFoundError(PciplaneError):
    """A named thing (host, device, server, flavor, alias) does not exist."""


class DeviceStateError(PciplaneError):
    """A device status transition that the table in ``core.device`` does not allow."""


class DeviceOwnerError(DeviceStateError):
    """The device is held by another owner than the one acting on it."""


class NoFitError(PciplaneError):
    """No set of devices satisfies the requests; ``explanation`` says why."""

    def __init__(self, message: str, explanation: object = None) -> None:
        self.explanation = explanation
        super().__init__(message)


class ConflictError(PciplaneError):
    """A concurrent writer changed the state first (per-host generation mismatch)."""


class HypervisorError(PciplaneError):
    """The hypervisor refused or failed an operation."""


class UnsupportedOperationError(HypervisorError):
    """The hypervisor driver does not implement the operation (e.g. attach on test:///)."""
