"""Discovery from real sysfs trees written in tmp_path (kernel sysfs ABI, Nova §2.2)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType
from pciplane.host import sysfs, topology
from pciplane.host.discovery import HostDevice, Scan
from pciplane.host.pciids import PciNames
from pciplane.sim.host import PROFILES, build_host
from pciplane.sim.host_write import write_sysfs

NO_NAMES = PciNames(Path("/nonexistent/pci.ids"))


def _tree(tmp_path: Path, profile: str) -> Path:
    write_sysfs(build_host(profile), tmp_path)
    return tmp_path


def _dev(scan: Scan, address: str) -> HostDevice:
    dev = scan.get(PciAddress.parse(address))
    assert dev is not None, address
    return dev


def _devices_dir(root: Path) -> Path:
    return root / "sys" / "bus" / "pci" / "devices"


@pytest.mark.parametrize(
    ("profile", "address", "expected"),
    [
        pytest.param(
            "sriov-nic",
            "0000:10:00.0",
            {"dev_type": DevType.PF, "driver": "i40e", "devname": "ens1f0", "numa_node": None,
             "class_id": "020000", "vendor_info": "8086:158b", "parent_addr": None},
            id="pf-no-numa",
        ),
        pytest.param(
            "sriov-nic",
            "0000:10:02.1",
            {"dev_type": DevType.VF, "driver": "iavf", "devname": "ens1f0v1",
             "parent_addr": PciAddress.parse("0000:10:00.0"), "parent_ifname": "ens1f0",
             "vendor_info": "8086:154c"},
            id="vf-with-netdev",
        ),
        pytest.param(
            "sriov-nic",
            "0000:10:03.7",
            {"dev_type": DevType.VF, "driver": "vfio-pci", "devname": None,
             "parent_addr": PciAddress.parse("0000:10:00.1"), "parent_ifname": "ens1f1"},
            id="vf-bound-to-vfio",
        ),
        pytest.param(
            "gpu",
            "0000:91:00.0",
            {"dev_type": DevType.PCI, "driver": "vfio-pci", "numa_node": 1,
             "class_id": "030200", "vendor_info": "10de:20b5", "devname": None},
            id="gpu-numa-1",
        ),
        pytest.param(
            "mixed",
            "0000:90:00.0",
            {"dev_type": DevType.PF, "devname": "ens6f0", "numa_node": 1},
            id="pf-without-vfs-enabled",
        ),
        pytest.param(
            "gpu",
            "0000:00:00.0",
            {"dev_type": DevType.PCI, "driver": None, "class_id": "060000", "iommu_group": 0},
            id="host-bridge-no-driver",
        ),
    ],
)  # fmt: skip
def test_device_facts(
    tmp_path: Path, profile: str, address: str, expected: dict[str, object]
) -> None:
    dev = _dev(sysfs.scan(_tree(tmp_path, profile), names=NO_NAMES), address).device
    assert {k: getattr(dev, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("address", "totalvfs", "numvfs", "vf_index"),
    [
        pytest.param("0000:10:00.0", 64, 8, None, id="pf0"),
        pytest.param("0000:10:00.1", 64, 8, None, id="pf1"),
        pytest.param("0000:10:02.0", None, None, 0, id="vf0-of-pf0"),
        pytest.param("0000:10:03.0", None, None, 0, id="vf0-of-pf1"),
        pytest.param("0000:10:03.3", None, None, 3, id="vf3-of-pf1"),
    ],
)
def test_sriov_counts_and_vf_index(
    tmp_path: Path, address: str, totalvfs: int | None, numvfs: int | None, vf_index: int | None
) -> None:
    dev = _dev(sysfs.scan(_tree(tmp_path, "sriov-nic"), names=NO_NAMES), address)
    assert (dev.sriov_totalvfs, dev.sriov_numvfs, dev.vf_index) == (totalvfs, numvfs, vf_index)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_simulated_function_is_found_with_its_type(tmp_path: Path, profile: str) -> None:
    host = build_host(profile)
    scan = sysfs.scan(_tree(tmp_path, profile), names=NO_NAMES)
    assert scan.warnings == ()
    assert [d.address for d in scan.devices] == [f.address for f in host.functions]
    for fn, dev in zip(host.functions, scan.devices, strict=True):
        expected = DevType.VF if fn.physfn else DevType.PF if fn.totalvfs else DevType.PCI
        assert (dev.device.dev_type, dev.device.iommu_group) == (expected, fn.iommu_group)
        assert [n.name for n in dev.netdevs] == [n.name for n in fn.netdevs]


def test_netdev_mac_operstate_and_carrier(tmp_path: Path) -> None:
    scan = sysfs.scan(_tree(tmp_path, "sriov-nic"), names=NO_NAMES)
    pf, vf = _dev(scan, "0000:10:00.0").netdevs[0], _dev(scan, "0000:10:02.0").netdevs[0]
    assert (pf.name, pf.mac, pf.operstate, pf.carrier) == (
        "ens1f0",
        "02:00:00:00:00:00",
        "up",
        True,
    )
    # a down VF has no readable carrier (the kernel returns EINVAL): unknown, not False
    assert (vf.operstate, vf.carrier) == ("down", None)


def test_carrier_zero_is_false(tmp_path: Path) -> None:
    root = _tree(tmp_path, "sriov-nic")
    (_devices_dir(root) / "0000:10:00.0" / "net" / "ens1f0" / "carrier").write_text("0\n")
    assert _dev(sysfs.scan(root, names=NO_NAMES), "0000:10:00.0").netdevs[0].carrier is False


def test_virtio_net_interface_is_the_devname(tmp_path: Path) -> None:
    root = _tree(tmp_path, "gpu")
    dev_dir = _devices_dir(root) / "0000:10:00.0"
    (dev_dir / "virtio3").mkdir()
    shutil.move(dev_dir / "net", dev_dir / "virtio3" / "net")
    dev = _dev(sysfs.scan(root, names=NO_NAMES), "0000:10:00.0")
    assert dev.device.devname == "eno0"


def _add_vmd_device(root: Path) -> None:
    target = root / "sys" / "devices" / "pci10000:00" / "10000:00:02.0"
    target.mkdir(parents=True)
    (target / "vendor").write_text("0x8086\n")
    (target / "device").write_text("0x0a54\n")
    (_devices_dir(root) / "10000:00:02.0").symlink_to(os.path.relpath(target, _devices_dir(root)))


def _vanish(root: Path) -> None:
    (_devices_dir(root) / "0000:aa:00.0").symlink_to("../../../devices/pci0000:aa/0000:aa:00.0")


def _no_vendor(root: Path) -> None:
    (_devices_dir(root) / "0000:91:00.0" / "vendor").unlink()


def _bad_numa(root: Path) -> None:
    (_devices_dir(root) / "0000:91:00.0" / "numa_node").write_text("lots\n")


def _no_class(root: Path) -> None:
    (_devices_dir(root) / "0000:91:00.0" / "class").unlink()


@pytest.mark.parametrize(
    ("damage", "entry", "words", "still_found"),
    [
        pytest.param(_add_vmd_device, "10000:00:02.0", "32-bit PCI domain", False, id="vmd"),
        pytest.param(_vanish, "0000:aa:00.0", "vanished", False, id="vanished"),
        pytest.param(_no_vendor, "0000:91:00.0", "no vendor file", False, id="no-vendor"),
        pytest.param(_bad_numa, "0000:91:00.0", "numa_node is 'lots'", True, id="bad-numa"),
        pytest.param(_no_class, "0000:91:00.0", "no class file", True, id="no-class"),
    ],
)
def test_odd_entries_become_warnings_and_the_scan_goes_on(
    tmp_path: Path, damage: Callable[[Path], None], entry: str, words: str, still_found: bool
) -> None:
    root = _tree(tmp_path, "gpu")
    clean = sysfs.scan(root, names=NO_NAMES)
    damage(root)
    scan = sysfs.scan(root, names=NO_NAMES)
    assert [w.entry for w in scan.warnings] == [entry]
    assert words in str(scan.warnings[0])
    others = [d for d in clean.devices if str(d.address) != entry]
    assert [d for d in scan.devices if str(d.address) != entry] == others
    assert any(str(d.address) == entry for d in scan.devices) is still_found


def test_missing_sysfs_is_one_warning(tmp_path: Path) -> None:
    scan = sysfs.scan(tmp_path, names=NO_NAMES)
    assert scan.devices == ()
    assert len(scan.warnings) == 1 and "cannot list" in scan.warnings[0].message


@pytest.mark.parametrize(
    ("profile", "nodes"),
    [
        pytest.param("sriov-nic", ((0, 0),), id="one-socket"),
        pytest.param("gpu", ((0, 0), (1, 1)), id="two-sockets"),
    ],
)
def test_numa_nodes_and_sockets(
    tmp_path: Path, profile: str, nodes: tuple[tuple[int, int], ...]
) -> None:
    cells = topology.sysfs_cells(_tree(tmp_path, profile))
    assert tuple((c.id, c.socket) for c in cells) == nodes


def test_names_come_from_pci_ids(tmp_path: Path) -> None:
    ids = tmp_path / "pci.ids"
    ids.write_text("8086  Intel Corporation\n\t158b  Ethernet Controller XXV710\n")
    scan = sysfs.scan(_tree(tmp_path / "root", "sriov-nic"), names=PciNames(ids))
    pf, vf = _dev(scan, "0000:10:00.0"), _dev(scan, "0000:10:02.0")
    assert (pf.vendor_name, pf.product_name) == ("Intel Corporation", "Ethernet Controller XXV710")
    assert (vf.vendor_name, vf.product_name) == ("Intel Corporation", None)


def test_real_machine_sysfs_if_present() -> None:
    if not Path("/sys/bus/pci/devices").is_dir() or not os.listdir("/sys/bus/pci/devices"):
        pytest.skip("no PCI devices in this machine's sysfs")
    scan = sysfs.scan(Path("/"))
    assert len(scan.devices) == len(os.listdir("/sys/bus/pci/devices")) - len(scan.warnings)
    assert all(len(d.device.vendor_id) == 4 for d in scan.devices)
