"""A host agent's network configuration, in Neutron's SR-IOV agent syntax, and what it does
to the host's devices and allow-list.

neutron-sriov-binding.md §4-§5: ``physical_device_mappings = physnet1:ens1f0,...`` (a
physnet may map to several PFs, a PF to one physnet), ``exclude_devices =
ens1f0:0000:3b:10.2;0000:3b:10.3,...`` (per mapped PF, VFs kept from guests), and the
seed's switches ``sriov_auto_all`` (every VF of the mapped PFs assignable and tagged with
its physnet, no device_spec needed), ``sriov_only`` (only servers with an SR-IOV port)
and ``sriov_pci_group`` (all of the host's SR-IOV devices belong to one named group a
port can ask for). Parsed once here; the service applies :func:`apply_to_host` when the
agent registers, so the stored host, the scheduler and an exported snapshot all see the
same devices and allow-list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import AddressError, ConfigError
from pciplane.core.fleet import Host
from pciplane.core.spec import parse_device_specs

#: A netdev name (IFNAMSIZ is 16 with the NUL, linux/if.h).
_IFNAME = re.compile(r"^[^/\s:,;]{1,15}$")
#: A physnet or group name: what Neutron's ``physical_network`` column holds, no separators.
_NAME = re.compile(r"^[^\s:,;]{1,64}$")
#: The device spec tag that carries a host's SR-IOV group (matched by a port's request).
PCI_GROUP_TAG = "pci_group"


@dataclass(frozen=True, kw_only=True, slots=True)
class SriovAgentConfig:
    physical_device_mappings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude_devices: Mapping[str, frozenset[PciAddress]] = field(default_factory=dict)
    sriov_auto_all: bool = False
    sriov_only: bool = False
    sriov_pci_group: str | None = None

    def __post_init__(self) -> None:
        check_config(self)

    def __bool__(self) -> bool:
        return bool(
            self.physical_device_mappings
            or self.exclude_devices
            or self.sriov_auto_all
            or self.sriov_only
            or self.sriov_pci_group
        )

    def to_json(self) -> dict[str, object]:
        """The agent's ``configurations`` as ``GET /v2.0/agents`` shows them."""
        return {
            "device_mappings": {k: list(v) for k, v in self.physical_device_mappings.items()},
            "exclude_devices": {
                k: sorted(str(a) for a in v) for k, v in self.exclude_devices.items()
            },
            "sriov_auto_all": self.sriov_auto_all,
            "sriov_only": self.sriov_only,
            "sriov_pci_group": self.sriov_pci_group,
        }

    @classmethod
    def from_json(cls, obj: object, *, where: str = "network") -> SriovAgentConfig:
        """Parse :meth:`to_json`'s shape (the agent's report); errors name the key."""
        if not isinstance(obj, dict):
            raise ConfigError(f"{where}: expected an object, got {obj!r}")
        known = {"device_mappings", "exclude_devices", "sriov_auto_all", "sriov_only",
                 "sriov_pci_group"}  # fmt: skip
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        mappings = _string_lists(obj.get("device_mappings") or {}, f"{where}.device_mappings")
        excluded = {
            pf: frozenset(_address(a, f"{where}.exclude_devices.{pf}") for a in addresses)
            for pf, addresses in _string_lists(
                obj.get("exclude_devices") or {}, f"{where}.exclude_devices"
            ).items()
        }
        flags = {}
        for key in ("sriov_auto_all", "sriov_only"):
            value = obj.get(key, False)
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
            flags[key] = value
        group = obj.get("sriov_pci_group")
        if group is not None and not isinstance(group, str):
            raise ConfigError(f"{where}.sriov_pci_group: expected a name, got {group!r}")
        return cls(
            physical_device_mappings=mappings,
            exclude_devices=excluded,
            sriov_pci_group=group,
            **flags,
        )


def _string_lists(obj: object, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object of lists, got {obj!r}")
    out = {}
    for key, values in obj.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{where}.{key}: expected a list of strings, got {values!r}")
        out[str(key)] = tuple(values)
    return out


def _address(text: str, where: str) -> PciAddress:
    try:
        return PciAddress.parse(text.strip())
    except AddressError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_config(config: SriovAgentConfig) -> None:
    """Neutron's SR-IOV agent checks: names well formed, a PF mapped to one physnet only,
    every PF of ``exclude_devices`` mapped ("Device name ... is missing from
    physical_device_mappings")."""
    owner: dict[str, str] = {}
    for physnet, pfs in config.physical_device_mappings.items():
        if not _NAME.match(physnet):
            raise ConfigError(
                f"physical_device_mappings: {physnet!r} is not a physical network name"
            )
        for pf in pfs:
            if not _IFNAME.match(pf):
                raise ConfigError(f"physical_device_mappings: {pf!r} is not an interface name")
            if owner.setdefault(pf, physnet) != physnet:
                raise ConfigError(
                    f"physical_device_mappings: device {pf} is mapped to both "
                    f"{owner[pf]} and {physnet}"
                )
    for pf in config.exclude_devices:
        if pf not in owner:
            raise ConfigError(
                f"exclude_devices: device name {pf} is missing from physical_device_mappings"
            )
    group = config.sriov_pci_group
    if group is not None and not _NAME.match(group):
        raise ConfigError(
            f"sriov_pci_group: {group!r} is not a group name (no spaces, ':', ',' or ';')"
        )


def parse_device_mappings(text: str) -> dict[str, tuple[str, ...]]:
    """``physnet1:ens1f0,physnet1:ens1f1,physnet2:ens2f0`` -> physnet -> PFs, in order."""
    out: dict[str, list[str]] = {}
    for item in _items(text):
        physnet, sep, pf = (part.strip() for part in item.partition(":"))
        if not sep or not physnet or not pf:
            raise ConfigError(
                f"physical_device_mappings: invalid mapping {item!r} (PHYSNET:INTERFACE)"
            )
        if pf in out.get(physnet, []):
            raise ConfigError(f"physical_device_mappings: {item!r} is listed twice")
        out.setdefault(physnet, []).append(pf)
    mappings = {k: tuple(v) for k, v in out.items()}
    SriovAgentConfig(physical_device_mappings=mappings)  # the per-name checks
    return mappings


def parse_exclude_devices(text: str) -> dict[str, frozenset[PciAddress]]:
    """``ens1f0:0000:3b:10.2;0000:3b:10.3,ens2f0:0000:5e:10.1`` -> PF -> VF addresses."""
    out: dict[str, frozenset[PciAddress]] = {}
    for item in _items(text):
        pf, sep, rest = (part.strip() for part in item.partition(":"))
        if not sep or not pf or not rest:
            raise ConfigError(f"exclude_devices: invalid entry {item!r} (INTERFACE:ADDR[;ADDR])")
        if pf in out:
            raise ConfigError(f"exclude_devices: device {pf} appears twice")
        addresses = [a for a in (p.strip() for p in rest.split(";")) if a]
        out[pf] = frozenset(_address(a, f"exclude_devices: {pf}") for a in addresses)
    return out


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# --- what the configuration does to a host ---------------------------------------------


def _pf_by_name(devices: Sequence[PciDevice]) -> dict[str, PciDevice]:
    return {d.devname: d for d in devices if d.dev_type is DevType.PF and d.devname}


def excluded_addresses(
    config: SriovAgentConfig, devices: Sequence[PciDevice]
) -> frozenset[PciAddress]:
    """The VFs ``exclude_devices`` keeps from guests: listed under their own PF only."""
    pfs = _pf_by_name(devices)
    out = set()
    for name, addresses in config.exclude_devices.items():
        pf = pfs.get(name)
        for dev in devices:
            if pf is not None and dev.parent_addr == pf.address and dev.address in addresses:
                out.add(dev.address)
    return frozenset(out)


def auto_all_entries(
    config: SriovAgentConfig, devices: Sequence[PciDevice]
) -> list[dict[str, object]]:
    """``sriov_auto_all``: one device_spec entry per mapped PF that has VFs, matching its VFs
    (the PF's address with the VFs' ids, Nova §1.4.3) and tagging them with the physnet."""
    if not config.sriov_auto_all:
        return []
    pfs = _pf_by_name(devices)
    entries: list[dict[str, object]] = []
    for physnet, names in config.physical_device_mappings.items():
        for name in names:
            pf = pfs.get(name)
            vfs = [d for d in devices if pf is not None and d.parent_addr == pf.address]
            if pf is None or not vfs:
                continue
            entries.append(
                {
                    "address": str(pf.address),
                    "vendor_id": vfs[0].vendor_id,
                    "product_id": vfs[0].product_id,
                    "physical_network": physnet,
                }
            )
    return entries


def effective_device_spec(
    own: tuple[object, ...] | None,
    fleet: Sequence[object],
    config: SriovAgentConfig,
    devices: Sequence[PciDevice],
) -> tuple[object, ...] | None:
    """The host's allow-list under its agent's configuration; None: the fleet's applies.

    Without ``sriov_auto_all`` and ``sriov_pci_group`` it is the host's own entries (or
    none). Otherwise it is written out for the host: the auto entries first (so the
    mapped PFs' VFs carry their physnet), then the host's own entries or the fleet's,
    every entry with a ``physical_network`` tagged ``pci_group: NAME``.
    """
    if not config.sriov_auto_all and config.sriov_pci_group is None:
        return own
    base = own if own is not None else tuple(fleet)
    entries = [
        *auto_all_entries(config, devices),
        *(s.as_entry() for s in parse_device_specs(base)),
    ]
    if config.sriov_pci_group is not None:
        entries = [
            {**e, PCI_GROUP_TAG: config.sriov_pci_group} if e.get("physical_network") else e
            for e in entries
        ]
    return tuple(entries)


def apply_to_host(host: Host, fleet_spec: Sequence[object], config: SriovAgentConfig) -> Host:
    """The host as the service keeps it: excluded VFs left out (the agent leaves them to
    the host, as Neutron's does), the allow-list made effective, ``sriov_only`` set."""
    gone = excluded_addresses(config, host.devices)
    devices = tuple(d for d in host.devices if d.address not in gone)
    raw = effective_device_spec(host.device_spec_raw, fleet_spec, config, devices)
    specs = host.device_spec if raw is host.device_spec_raw else parse_device_specs(raw or ())
    return replace(
        host,
        devices=devices,
        device_spec=None if raw is None else specs,
        device_spec_raw=raw,
        sriov_only=config.sriov_only,
    )
