"""Port binding: what a Neutron port bound to a host PCI device looks like.

Given a port (its vnic type and network segment) and the device claimed for it, binding
decides the VIF type, the VIF details and the ``binding:profile`` keys, as Neutron's
SR-IOV mechanism driver and Nova do between them (nova-pci-semantics §4.3, §4.5, §6):

* ``direct`` and ``macvtap`` on a VF give ``hw_veb``; ``direct-physical`` on a PF gives
  ``hostdev_physical``; a port profile id gives ``802.1qbh``; ``normal`` gives ``ovs``.
* ``vif_details.vlan`` is an integer, present only for a tagged VLAN segment: flat and
  tunnelled networks and VLAN 0 carry none (Nova writes ``<tag id='0'/>`` for ``"0"``, Q16).
* The profile carries ``pci_slot``, ``pci_vendor_info`` and the device spec's
  ``physical_network`` (and a VF's ``card_serial_number`` and ``capabilities``);
  :func:`unbind_profile` removes every key binding adds, ``capabilities`` included (Q12).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import RequestError
from pciplane.core.request import (
    SRIOV_VNIC_TYPES,
    NumaPolicy,
    PciRequest,
    VnicType,
    parse_choice,
    request_from_port,
)

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


class NetworkType(enum.StrEnum):
    """Neutron's ``provider:network_type`` values."""

    FLAT = "flat"
    VLAN = "vlan"
    VXLAN = "vxlan"
    GRE = "gre"
    GENEVE = "geneve"
    LOCAL = "local"


#: Overlay types: no physical network, so no SR-IOV VF can reach them (Nova §4.3 step 2).
TUNNELLED = frozenset({NetworkType.VXLAN, NetworkType.GRE, NetworkType.GENEVE})


def parse_network_type(value: object) -> NetworkType:
    return parse_choice(NetworkType, value, what="network type", fold_case=True)


class VifType(enum.StrEnum):
    """``binding:vif_type`` values pciplane produces (Nova §6)."""

    HW_VEB = "hw_veb"
    HOSTDEV_PHYSICAL = "hostdev_physical"
    QBH = "802.1qbh"
    OVS = "ovs"


@dataclass(frozen=True, kw_only=True, slots=True)
class Network:
    """A Neutron network's segment: the physnet and VLAN an SR-IOV port lands on."""

    name: str
    physical_network: str | None
    segmentation_id: int | None
    network_type: NetworkType

    def __post_init__(self) -> None:
        object.__setattr__(self, "network_type", parse_network_type(self.network_type))
        seg = self.segmentation_id
        if seg is not None and (isinstance(seg, bool) or not isinstance(seg, int) or seg < 0):
            raise RequestError(f"network {self.name!r}: segmentation id {seg!r} is not an integer")
        if self.network_type is NetworkType.VLAN and seg is not None and seg > 4094:
            raise RequestError(
                f"network {self.name!r}: VLAN segmentation id {seg} is above 4094 (IEEE 802.1Q)"
            )
        if self.network_type in (NetworkType.FLAT, NetworkType.VLAN) and not self.physical_network:
            raise RequestError(
                f"network {self.name!r}: a {self.network_type} network needs a physical_network"
            )

    @property
    def vlan(self) -> int | None:
        """The 802.1Q tag a VF must carry: only for a VLAN segment with a non-zero id."""
        if self.network_type is NetworkType.VLAN and self.segmentation_id:
            return self.segmentation_id
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Port:
    """A Neutron port as binding sees it; ``mac`` is stored lower case."""

    id: str
    mac: str
    vnic_type: VnicType
    network: Network
    port_security: bool = True
    trusted: bool | None = None
    profileid: str | None = None
    numa_affinity_policy: NumaPolicy | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mac, str) or _MAC.match(self.mac) is None:
            raise RequestError(
                f"port {self.id!r}: MAC address {self.mac!r} is not aa:bb:cc:dd:ee:ff"
            )
        object.__setattr__(self, "mac", self.mac.lower())
        if self.profileid is not None and not self.profileid.strip():
            raise RequestError(f"port {self.id!r}: profileid {self.profileid!r} is empty")

    def pci_request(self, *, flavor_numa_policy: NumaPolicy | None = None) -> PciRequest | None:
        """The PCI request this port makes (Nova §4.3), None when it needs no device."""
        return request_from_port(
            vnic_type=self.vnic_type,
            physical_network=self.network.physical_network,
            trusted=self.trusted,
            numa_policy=self.numa_affinity_policy,
            flavor_numa_policy=flavor_numa_policy,
            port_id=self.id,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class VifDetails:
    """``binding:vif_details``: the VLAN as an integer (never ``"0"``, Q16)."""

    port_filter: bool
    vlan: int | None = None
    profileid: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"port_filter": self.port_filter}
        if self.vlan:
            out["vlan"] = self.vlan
        if self.profileid is not None:
            out["profileid"] = self.profileid
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class BindingProfile:
    """The ``binding:profile`` keys binding adds for a port's device (Nova §4.5)."""

    pci_slot: str
    pci_vendor_info: str
    physical_network: str | None
    card_serial_number: str | None = None
    capabilities: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "pci_slot": self.pci_slot,
            "pci_vendor_info": self.pci_vendor_info,
            "physical_network": self.physical_network,
        }
        if self.card_serial_number is not None:
            out["card_serial_number"] = self.card_serial_number
        if self.capabilities:
            out["capabilities"] = list(self.capabilities)
        return out


#: Every profile key a binding may add, removed again on unbind (Nova §4.5 plus Q12).
BOUND_PROFILE_KEYS: frozenset[str] = frozenset(
    {
        "pci_slot",
        "pci_vendor_info",
        "physical_network",
        "card_serial_number",
        "capabilities",
        "vf_num",
        "pf_mac_address",
        "device_mac_address",
        "allocation",
        "arq_uuid",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Binding:
    """A port bound to its device (or to none, for ``normal`` ports)."""

    port: Port
    device: PciDevice | None
    vif_type: VifType
    vif_details: VifDetails
    profile: BindingProfile | None


#: What each supported vnic type needs: the device type and the VIF type without a profile.
_SRIOV_SHAPES: Mapping[VnicType, tuple[DevType, VifType]] = {
    VnicType.DIRECT: (DevType.VF, VifType.HW_VEB),
    VnicType.MACVTAP: (DevType.VF, VifType.HW_VEB),
    VnicType.DIRECT_PHYSICAL: (DevType.PF, VifType.HOSTDEV_PHYSICAL),
}


def _bind_normal(port: Port, device: PciDevice | None) -> Binding:
    if device is not None:
        raise RequestError(
            f"port {port.id!r}: vnic type normal takes no PCI device, but {device.address} "
            "was given"
        )
    if port.profileid is not None:
        raise RequestError(f"port {port.id!r}: an 802.1Qbh profile needs an SR-IOV vnic type")
    details = VifDetails(port_filter=port.port_security)
    return Binding(port=port, device=None, vif_type=VifType.OVS, vif_details=details, profile=None)


def _check_sriov(port: Port, device: PciDevice | None, spec_physnet: str | None) -> PciDevice:
    vnic = port.vnic_type
    if vnic not in _SRIOV_SHAPES:
        supported = ", ".join(v.value for v in (VnicType.NORMAL, *_SRIOV_SHAPES))
        kind = "an SR-IOV" if vnic in SRIOV_VNIC_TYPES else "a"
        raise RequestError(
            f"port {port.id!r}: {kind} vnic type {vnic.value!r} cannot be bound by pciplane "
            f"(supported: {supported})"
        )
    if device is None:
        raise RequestError(
            f"port {port.id!r}: vnic type {vnic.value} needs a PCI device, none was claimed"
        )
    want_type, _ = _SRIOV_SHAPES[vnic]
    if device.dev_type is not want_type:
        raise RequestError(
            f"port {port.id!r}: vnic type {vnic.value} needs a {want_type.value} device, "
            f"{device.address} is {device.dev_type.value}"
        )
    network = port.network
    if network.network_type in TUNNELLED or network.physical_network is None:
        raise RequestError(
            f"port {port.id!r}: network {network.name!r} ({network.network_type.value}) has no "
            "physical network; SR-IOV ports need a flat or VLAN network"
        )
    if spec_physnet != network.physical_network:
        raise RequestError(
            f"port {port.id!r}: network {network.name!r} is on physical network "
            f"{network.physical_network!r}, but device {device.address} is tagged "
            f"physical_network={spec_physnet!r} by its device spec"
        )
    if port.profileid is not None and vnic is VnicType.DIRECT_PHYSICAL:
        raise RequestError(
            f"port {port.id!r}: an 802.1Qbh port profile applies to VFs, not to "
            "direct-physical ports"
        )
    return device


def bind(port: Port, device: PciDevice | None, spec_physical_network: str | None) -> Binding:
    """Bind ``port`` to the device claimed for it; ``spec_physical_network`` is the
    ``physical_network`` tag of the device spec that matched the device (Nova §4.5).

    A VF is not packet-filtered by the host, so ``port_filter`` is false for SR-IOV.
    """
    if port.vnic_type is VnicType.NORMAL:
        return _bind_normal(port, device)
    dev = _check_sriov(port, device, spec_physical_network)
    vif_type = VifType.QBH if port.profileid is not None else _SRIOV_SHAPES[port.vnic_type][1]
    details = VifDetails(
        port_filter=False,
        vlan=port.network.vlan,
        profileid=port.profileid,
    )
    is_vf = dev.dev_type is DevType.VF
    profile = BindingProfile(
        pci_slot=str(dev.address),
        pci_vendor_info=dev.vendor_info,
        physical_network=spec_physical_network,
        card_serial_number=dev.card_serial_number if is_vf else None,
        capabilities=dev.capabilities if is_vf else (),
    )
    return Binding(port=port, device=dev, vif_type=vif_type, vif_details=details, profile=profile)


def bound_profile(existing: Mapping[str, object], binding: Binding) -> dict[str, object]:
    """The port's whole ``binding:profile`` after binding: the caller's keys plus ours."""
    out = dict(existing)
    if binding.profile is not None:
        out.update(binding.profile.to_json())
    return out


def unbind_profile(profile: Mapping[str, object]) -> dict[str, object]:
    """The profile with every key binding adds removed; others (``trusted``) are kept."""
    return {k: v for k, v in profile.items() if k not in BOUND_PROFILE_KEYS}
