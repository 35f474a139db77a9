"""Synthetic hosts: profile shapes, the kernel's sysfs layout, libvirt's node schema."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from pciplane.core.errors import NotFoundError
from pciplane.host.libvirt_schema import validate, validator_available
from pciplane.sim.host import PROFILES, build_host
from pciplane.sim.host_write import node_xml, write_sysfs


@pytest.mark.parametrize(
    ("profile", "pfs", "vfs_per_pf", "gpus", "numa_nodes"),
    [
        pytest.param("sriov-nic", 2, 8, 0, (None,), id="sriov-nic"),
        pytest.param("gpu", 0, None, 4, (0, 1), id="gpu"),
        pytest.param("mixed", 4, None, 2, (0, 1), id="mixed"),
        pytest.param("bench", 4, 64, 8, (0, 1), id="bench"),
    ],
)
def test_profile_shapes(
    profile: str, pfs: int, vfs_per_pf: int | None, gpus: int, numa_nodes: tuple[int | None, ...]
) -> None:
    host = build_host(profile)
    pf_list = [f for f in host.functions if f.totalvfs]
    gpu_list = [f for f in host.functions if f.class_id.startswith("03")]
    assert (len(pf_list), len(gpu_list)) == (pfs, gpus)
    if vfs_per_pf is not None:
        assert {len(pf.virtfns) for pf in pf_list} == {vfs_per_pf}
    assert sorted({f.numa_node for f in gpu_list + pf_list}, key=str) == list(numa_nodes)
    assert len({f.address for f in host.functions}) == len(host.functions)


def test_bench_is_about_270_functions() -> None:
    assert 260 <= len(build_host("bench").functions) <= 290


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="no host profile 'nope'; known profiles: bench"):
        build_host("nope")


def _resolved(path: Path) -> Path:
    return path.resolve()


def test_sysfs_layout_is_the_kernels(tmp_path: Path) -> None:
    write_sysfs(build_host("sriov-nic"), tmp_path)
    sys = tmp_path / "sys"
    entry = sys / "bus" / "pci" / "devices" / "0000:10:00.0"
    real = sys / "devices" / "pci0000:00" / "0000:00:01.0" / "0000:10:00.0"
    assert entry.is_symlink() and not os.readlink(entry).startswith("/")
    assert _resolved(entry) == real
    assert _resolved(real / "driver") == sys / "bus" / "pci" / "drivers" / "i40e"
    assert _resolved(sys / "bus" / "pci" / "drivers" / "i40e" / "0000:10:00.0") == real
    assert _resolved(real / "virtfn1") == real.parent / "0000:10:02.1"
    assert _resolved(real.parent / "0000:10:02.1" / "physfn") == real
    assert _resolved(real / "iommu_group") == sys / "kernel" / "iommu_groups" / "2"
    assert (real / "sriov_vf_device").read_text() == "154c\n"
    assert (real / "numa_node").read_text() == "-1\n"
    assert (real / "class").read_text() == "0x020000\n"
    assert _resolved(sys / "class" / "net" / "ens1f0") == real / "net" / "ens1f0"
    cpu = sys / "devices" / "system" / "node" / "node0" / "cpu0"
    assert (cpu / "topology" / "physical_package_id").read_text() == "0\n"


def _kinds(doc: str) -> dict[tuple[object, ...], str]:
    """One device element per distinct shape (capability types, driver, numa, SR-IOV)."""
    out: dict[tuple[object, ...], str] = {}
    for dev in ET.fromstring(doc):
        caps = tuple(sorted(c.get("type") or "" for c in dev.iter("capability")))
        key = (caps, dev.find("driver") is None, dev.find(".//numa") is None)
        out.setdefault(key, ET.tostring(dev, encoding="unicode"))
    return out


@pytest.mark.skipif(not validator_available(), reason="virt-xml-validate is not installed")
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_node_devices_are_valid_for_libvirts_schema(profile: str) -> None:
    kinds = _kinds(node_xml(build_host(profile)))
    assert len(kinds) >= 3
    for device in kinds.values():
        validate(device, "nodedev")


def test_node_xml_has_one_device_per_function_and_netdev() -> None:
    host = build_host("mixed")
    doc = ET.fromstring(node_xml(host))
    types = Counter(dev.find("capability").get("type") for dev in doc)  # type: ignore[union-attr]
    netdevs = sum(len(f.netdevs) for f in host.functions)
    assert types == {"system": 1, "pci": len(host.functions), "net": netdevs}
