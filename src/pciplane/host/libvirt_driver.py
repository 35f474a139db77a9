"""The adapter over libvirt-python: domains that hold PCI devices, and what they hold.

It defines, starts, shuts down (cleanly, or at once), destroys and undefines domains,
hot-plugs devices into running ones (``VIR_DOMAIN_AFFECT_LIVE |
VIR_DOMAIN_AFFECT_CONFIG``: now and across restarts), and
lists every domain with the host devices its XML holds, which is the truth the service
reconciles its claims against. Every ``libvirt.libvirtError`` stops here and becomes a
pciplane error (DESIGN.md "translated at the adapter edge"): ``VIR_ERR_NO_SUPPORT`` an
:class:`UnsupportedOperationError` (libvirt's test driver implements no device attach),
``VIR_ERR_NO_DOMAIN`` a :class:`NotFoundError`, anything else a :class:`HypervisorError`.
The connection is anything with the libvirt calls in :class:`Connection`, so the same
code runs on ``qemu:///system``, ``test:///`` and the tests' in-memory hypervisor.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import libvirt

from pciplane.core.errors import HypervisorError, NotFoundError, UnsupportedOperationError
from pciplane.host.domain_xml import (
    Domain,
    DomainDevice,
    HeldDevice,
    devices_in_domain,
    render_device,
    render_domain,
)

AFFECT_LIVE: int = libvirt.VIR_DOMAIN_AFFECT_LIVE
AFFECT_CONFIG: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG
#: Seconds between looks at a guest that was asked to shut down.
SHUTDOWN_POLL_S = 0.1


class DomainHandle(Protocol):
    """The ``libvirt.virDomain`` methods the adapter calls."""

    def name(self) -> str: ...
    def UUIDString(self) -> str: ...
    def isActive(self) -> int: ...
    def create(self) -> int: ...
    def shutdown(self) -> int: ...
    def destroy(self) -> int: ...
    def undefine(self) -> int: ...
    def XMLDesc(self, flags: int = 0) -> str: ...
    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int: ...
    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int: ...


class Connection(Protocol):
    """The ``libvirt.virConnect`` methods the adapter calls."""

    def getURI(self) -> str: ...
    def defineXML(self, xml: str) -> DomainHandle: ...
    def lookupByName(self, name: str) -> DomainHandle: ...
    def listAllDomains(self, flags: int = 0) -> list[DomainHandle]: ...
    def close(self) -> int: ...


class PowerState(enum.StrEnum):
    RUNNING = "running"
    SHUT_OFF = "shut-off"


@dataclass(frozen=True, kw_only=True, slots=True)
class DomainRecord:
    """One domain as libvirt reports it, with the host devices its XML holds."""

    name: str
    uuid: str
    state: PowerState
    devices: tuple[HeldDevice, ...]


class Hypervisor(Protocol):
    """What the agent needs of a hypervisor: :class:`LibvirtDriver` on a real connection,
    or any fake with the same methods (the tests' in-memory one validates every XML)."""

    #: The libvirt domain type its guests take (``kvm``; ``test`` on the test driver).
    virt_type: str

    def define(self, domain: Domain | str) -> DomainRecord: ...
    def start(self, name: str) -> DomainRecord: ...
    def destroy(self, name: str) -> DomainRecord | None: ...
    def shutdown(self, name: str, *, timeout: float) -> bool: ...
    def undefine(self, name: str) -> None: ...
    def attach(
        self, name: str, device: DomainDevice | str, *, persistent: bool = True
    ) -> DomainRecord: ...
    def detach(
        self, name: str, device: DomainDevice | str, *, persistent: bool = True
    ) -> DomainRecord: ...
    def domain(self, name: str) -> DomainRecord: ...
    def list_domains(self) -> tuple[DomainRecord, ...]: ...


def virt_type_of(uri: str) -> str:
    """The domain type a connection's driver takes: the test driver takes only ``test``."""
    return "test" if uri.startswith("test:") else "kvm"


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error on stderr by default; they are raised as errors instead."""


def translate(
    exc: libvirt.libvirtError, *, operation: str, uri: str, name: str | None
) -> Exception:
    """The pciplane error for a libvirt error (``virterror.h`` codes)."""
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    target = f"domain {name!r}" if name is not None else "the connection"
    if code == libvirt.VIR_ERR_NO_SUPPORT:
        return UnsupportedOperationError(
            f"{operation} on {target}: the libvirt driver at {uri} does not support it ({message})"
        )
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        return NotFoundError(f"{operation}: {target} does not exist at {uri} ({message})")
    return HypervisorError(f"{operation} on {target} at {uri} failed: {message}")


class LibvirtDriver:
    """Domains and their PCI devices on one hypervisor connection."""

    def __init__(self, conn: Connection, *, uri: str | None = None) -> None:
        self._conn = conn
        self.uri = uri if uri is not None else conn.getURI()
        self.virt_type = virt_type_of(self.uri)

    @classmethod
    def connect(cls, uri: str) -> LibvirtDriver:
        """Open ``uri`` read-write (``qemu:///system``, ``test:///default``, ``test:///FILE``)."""
        libvirt.registerErrorHandler(_quiet, None)
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise translate(exc, operation="connect", uri=uri, name=None) from exc
        return cls(conn, uri=uri)

    def close(self) -> None:
        with self._translated("close", None):
            self._conn.close()

    def __enter__(self) -> LibvirtDriver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _translated(self, operation: str, name: str | None) -> Iterator[None]:
        try:
            yield
        except libvirt.libvirtError as exc:
            raise translate(exc, operation=operation, uri=self.uri, name=name) from exc

    def _lookup(self, name: str, operation: str) -> DomainHandle:
        with self._translated(operation, name):
            return self._conn.lookupByName(name)

    # --- life cycle ------------------------------------------------------------

    def define(self, domain: Domain | str) -> DomainRecord:
        """Define (persist) a domain from a :class:`Domain` or its XML; it stays shut off."""
        xml = render_domain(domain) if isinstance(domain, Domain) else domain
        name = domain.name if isinstance(domain, Domain) else None
        with self._translated("define", name):
            handle = self._conn.defineXML(xml)
        return self._record(handle, "define")

    def start(self, name: str) -> DomainRecord:
        handle = self._lookup(name, "start")
        with self._translated("start", name):
            handle.create()
        return self._record(handle, "start")

    def destroy(self, name: str) -> DomainRecord | None:
        """Power the domain off at once (``virDomainDestroy``); its definition stays.

        None when the domain was transient (undefined while running) and so is gone.
        """
        handle = self._lookup(name, "destroy")
        with self._translated("destroy", name):
            handle.destroy()
        try:
            return self._record(handle, "destroy")
        except NotFoundError:
            return None

    def shutdown(self, name: str, *, timeout: float) -> bool:
        """Ask the guest to power off (``virDomainShutdown``: ACPI) and wait up to
        ``timeout`` seconds; a guest still running then is powered off at once
        (``virDomainDestroy``), as Nova's clean shutdown does after ``shutdown_timeout``.
        True when the guest shut down by itself."""
        handle = self._lookup(name, "shut down")
        with self._translated("shut down", name):
            handle.shutdown()
        deadline = time.monotonic() + timeout
        while True:
            with self._translated("shut down", name):
                if not handle.isActive():
                    return True
            if time.monotonic() >= deadline:
                break
            time.sleep(SHUTDOWN_POLL_S)
        with self._translated("shut down", name):
            handle.destroy()
        return False

    def undefine(self, name: str) -> None:
        handle = self._lookup(name, "undefine")
        with self._translated("undefine", name):
            handle.undefine()

    # --- hot plug --------------------------------------------------------------

    def _flags(self, persistent: bool) -> int:
        return AFFECT_LIVE | AFFECT_CONFIG if persistent else AFFECT_LIVE

    def attach(
        self, name: str, device: DomainDevice | str, *, persistent: bool = True
    ) -> DomainRecord:
        """Hot-plug a device into a running domain, and into its definition if persistent."""
        xml = device if isinstance(device, str) else render_device(device)
        handle = self._lookup(name, "attach device")
        with self._translated("attach device", name):
            handle.attachDeviceFlags(xml, self._flags(persistent))
        return self._record(handle, "attach device")

    def detach(
        self, name: str, device: DomainDevice | str, *, persistent: bool = True
    ) -> DomainRecord:
        """Hot-unplug a device from a running domain (and its definition if persistent)."""
        xml = device if isinstance(device, str) else render_device(device)
        handle = self._lookup(name, "detach device")
        with self._translated("detach device", name):
            handle.detachDeviceFlags(xml, self._flags(persistent))
        return self._record(handle, "detach device")

    # --- what is held ----------------------------------------------------------

    def _record(self, handle: DomainHandle, operation: str) -> DomainRecord:
        with self._translated(operation, None):
            name = handle.name()
        with self._translated(operation, name):
            active = bool(handle.isActive())
            xml = handle.XMLDesc(0)
            uuid = handle.UUIDString()
        held = devices_in_domain(xml, where=f"domain {name!r} at {self.uri}")
        state = PowerState.RUNNING if active else PowerState.SHUT_OFF
        return DomainRecord(name=name, uuid=uuid, state=state, devices=tuple(held))

    def domain(self, name: str) -> DomainRecord:
        return self._record(self._lookup(name, "look up"), "look up")

    def list_domains(self) -> tuple[DomainRecord, ...]:
        """Every domain, running or defined, by name; one undefined meanwhile is skipped."""
        with self._translated("list domains", None):
            handles = self._conn.listAllDomains(0)
        records = []
        for handle in handles:
            try:
                records.append(self._record(handle, "list domains"))
            except NotFoundError:
                continue
        return tuple(sorted(records, key=lambda r: r.name))
