"""The in-memory hypervisor lives in :mod:`pciplane.sim.memory_hypervisor` (the demo's
hot-plug host runs on it too); this name is kept for tests that import it from here."""

from pciplane.sim.memory_hypervisor import URI, MemoryDomain, MemoryHypervisor, libvirt_error

__all__ = ["URI", "MemoryDomain", "MemoryHypervisor", "libvirt_error"]
