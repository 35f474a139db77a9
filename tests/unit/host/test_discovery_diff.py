"""Rescans compared with an earlier inventory: added, removed, changed (issue 3)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice
from pciplane.host import sysfs
from pciplane.host.discovery import diff
from pciplane.host.pciids import PciNames
from pciplane.sim.host import build_host
from pciplane.sim.host_write import write_sysfs

PF = PciDevice(
    address=PciAddress.parse("0000:3b:00.0"), vendor_id="8086", product_id="158b",
    dev_type=DevType.PF, devname="ens1f0", driver="i40e",
)  # fmt: skip


def _vf(n: int, **changes: object) -> PciDevice:
    vf = PciDevice(
        address=PciAddress(domain=0, bus=0x3B, slot=2, function=n), vendor_id="8086",
        product_id="154c", dev_type=DevType.VF, parent_addr=PF.address, driver="iavf",
    )  # fmt: skip
    return replace(vf, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param([PF, _vf(0)], [PF, _vf(0)], [], id="nothing"),
        pytest.param([PF], [PF, _vf(0), _vf(1)],
                     ["+ 0000:3b:02.0 type-VF 8086:154c", "+ 0000:3b:02.1 type-VF 8086:154c",
                      "~ 0000:3b:00.0: VFs 0 -> 2"], id="vfs-enabled"),
        pytest.param([PF, _vf(0), _vf(1)], [PF, _vf(0)],
                     ["- 0000:3b:02.1 type-VF 8086:154c", "~ 0000:3b:00.0: VFs 2 -> 1"],
                     id="vf-count-down"),
        pytest.param([PF, _vf(0)], [PF, _vf(0, driver="vfio-pci")],
                     ["~ 0000:3b:02.0: driver rebound iavf -> vfio-pci"], id="rebound-to-vfio"),
        pytest.param([PF], [replace(PF, devname="eth3")],
                     ["~ 0000:3b:00.0: interface renamed ens1f0 -> eth3"], id="renamed"),
        pytest.param([PF, _vf(0, devname="v0")], [PF, _vf(0, devname=None, driver=None)],
                     ["~ 0000:3b:02.0: driver iavf unbound; interface v0 gone"], id="unbound"),
        pytest.param([replace(PF, numa_node=None)], [replace(PF, numa_node=1)],
                     ["~ 0000:3b:00.0: NUMA node none -> 1"], id="numa"),
    ],
)  # fmt: skip
def test_diff_lines(old: list[PciDevice], new: list[PciDevice], expected: list[str]) -> None:
    result = diff(old, new)
    assert list(result.lines()) == expected
    assert bool(result) is bool(expected)


def test_rescan_of_a_changed_tree(tmp_path: Path) -> None:
    """Rebind a VF to vfio-pci and rename a PF's interface in a real tree, then rescan."""
    write_sysfs(build_host("sriov-nic"), tmp_path)
    names = PciNames(tmp_path / "none.ids")
    before = sysfs.scan(tmp_path, names=names)
    devices = tmp_path / "sys" / "bus" / "pci" / "devices"
    vf = devices / "0000:10:02.0"
    (vf / "driver").unlink()
    vfio = tmp_path / "sys" / "bus" / "pci" / "drivers" / "vfio-pci"
    (vf / "driver").symlink_to(os.path.relpath(vfio, vf))
    shutil.rmtree(vf / "net")
    pf_net = devices / "0000:10:00.1" / "net"
    (pf_net / "ens1f1").rename(pf_net / "enp16s0f1")
    after = sysfs.scan(tmp_path, names=names)
    lines = diff(before.pci_devices(), after.pci_devices()).lines()
    renamed_vfs = [line for line in lines if "PF interface ens1f1 -> enp16s0f1" in line]
    assert lines[0] == "~ 0000:10:00.1: interface renamed ens1f1 -> enp16s0f1"
    assert "~ 0000:10:02.0: driver rebound iavf -> vfio-pci; interface ens1f0v0 gone" in lines
    assert len(renamed_vfs) == 8
