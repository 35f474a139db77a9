"""A port in a what-if question, as users write it: ``PHYSNET[:VNIC_TYPE[:PCI_GROUP]]``.

``fit``, ``capacity`` and the web UI's "why not here" ask about ports that need not exist
yet: the physical network their network would have, the vnic type and, optionally, the
SR-IOV group (an agent's ``sriov_pci_group``). The request such a port makes is the one
a real port makes (:func:`pciplane.core.request.request_from_port`, Nova §4.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from pciplane.core.errors import RequestError
from pciplane.core.request import NumaPolicy, PciRequest, VnicType, request_from_port

#: The vnic types a what-if port may have: those whose device pciplane schedules itself.
ASKABLE_VNIC_TYPES = (VnicType.DIRECT, VnicType.MACVTAP, VnicType.DIRECT_PHYSICAL)


@dataclass(frozen=True, kw_only=True, slots=True)
class PortAsk:
    physical_network: str
    vnic_type: VnicType = VnicType.DIRECT
    pci_group: str | None = None
    trusted: bool | None = None
    #: The port's own policy, which wins over the flavor's (Nova §3.6).
    numa_affinity_policy: NumaPolicy | None = None

    def request(self, flavor_policy: NumaPolicy | None) -> PciRequest | None:
        return request_from_port(
            vnic_type=self.vnic_type,
            physical_network=self.physical_network,
            trusted=self.trusted,
            numa_policy=self.numa_affinity_policy,
            flavor_numa_policy=flavor_policy,
            pci_group=self.pci_group,
        )

    def text(self) -> str:
        """Back in the form :func:`parse_port_ask` reads."""
        group = f":{self.pci_group}" if self.pci_group else ""
        return f"{self.physical_network}:{self.vnic_type}{group}"


def parse_port_ask(text: str, where: str) -> PortAsk:
    """``physnet1``, ``physnet2:direct-physical``, ``physnet1:direct:grp``; errors name
    ``where`` and the text."""
    physnet, _, rest = text.partition(":")
    vnic, _, group = rest.partition(":")
    if not physnet:
        raise RequestError(f"{where}: port {text!r} names no physical network")
    if ":" in group or (rest.count(":") and not group):
        raise RequestError(f"{where}: port {text!r} is not PHYSNET[:VNIC_TYPE[:PCI_GROUP]]")
    vnic = vnic or VnicType.DIRECT.value
    if vnic not in {v.value for v in ASKABLE_VNIC_TYPES}:
        allowed = ", ".join(v.value for v in ASKABLE_VNIC_TYPES)
        raise RequestError(f"{where}: port {text!r}: vnic type {vnic!r} is not one of {allowed}")
    return PortAsk(physical_network=physnet, vnic_type=VnicType(vnic), pci_group=group or None)


def parse_numa_cells(text: str, where: str = "") -> tuple[int, ...]:
    """``0`` or ``0,1``: the host NUMA cells a guest is confined to; errors start with
    ``where`` when given (``--numa-cells: ...``)."""
    prefix = f"{where}: " if where else ""
    try:
        cells = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise RequestError(f"{prefix}NUMA cells {text!r} are not integers like 0,1") from None
    if any(c < 0 for c in cells):
        raise RequestError(f"{prefix}NUMA cells {text!r} must not be negative")
    return cells
