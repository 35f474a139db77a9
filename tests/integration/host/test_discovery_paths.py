"""Both discovery paths see the same host: sysfs tree vs libvirt's test:/// driver.

libvirt (9.0) reports no interface carrier, and its test driver keeps no ``<driver>``
element of a loaded node device; everything else must be identical, and the node XML
parsed directly must equal the sysfs result including drivers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pciplane.core.errors import HypervisorError
from pciplane.host import nodedev, sysfs
from pciplane.host.discovery import HostDevice, Scan
from pciplane.host.pciids import names_at
from pciplane.sim.host import PROFILES, build_host
from pciplane.sim.host_write import node_xml, write_sysfs

pytestmark = pytest.mark.integration
libvirt = pytest.importorskip("libvirt")


def _comparable(scan: Scan, *, keep_driver: bool) -> list[HostDevice]:
    out = []
    for dev in scan.devices:
        device = dev.device if keep_driver else replace(dev.device, driver=None)
        netdevs = tuple(replace(n, carrier=None) for n in dev.netdevs)
        out.append(replace(dev, device=device, netdevs=netdevs))
    return out


@pytest.fixture(params=sorted(PROFILES))
def written(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Path]:
    host = build_host(request.param)
    write_sysfs(host, tmp_path / "root")
    xml = tmp_path / "node.xml"
    xml.write_text(node_xml(host))
    return request.param, tmp_path / "root", xml


def test_sysfs_and_libvirt_return_the_same_inventory(written: tuple[str, Path, Path]) -> None:
    profile, root, xml = written
    from_sysfs = sysfs.scan(root)
    from_libvirt = nodedev.scan(f"test://{xml}")
    assert from_sysfs.warnings == () and from_libvirt.warnings == ()
    assert len(from_sysfs.devices) == len(build_host(profile).functions)
    assert _comparable(from_libvirt, keep_driver=False) == _comparable(
        from_sysfs, keep_driver=False
    )
    from_file = nodedev.scan_node_xml(xml.read_text())
    assert _comparable(from_file, keep_driver=True) == _comparable(from_sysfs, keep_driver=True)


def test_names_match_pci_ids_on_both_paths(tmp_path: Path) -> None:
    host = build_host("mixed")
    write_sysfs(host, tmp_path)
    (tmp_path / "node.xml").write_text(node_xml(host))
    a = sysfs.scan(tmp_path).devices
    b = nodedev.scan(f"test://{tmp_path / 'node.xml'}").devices
    assert [(d.vendor_name, d.product_name) for d in a] == [
        (d.vendor_name, d.product_name) for d in b
    ]
    db = names_at()
    if db.vendor("15b3") is not None:
        assert any(d.vendor_name == "Mellanox Technologies" for d in b)


def test_a_libvirt_that_cannot_be_reached_is_a_hypervisor_error(tmp_path: Path) -> None:
    with pytest.raises(HypervisorError, match="cannot connect to libvirt at test:///"):
        nodedev.scan(f"test://{tmp_path / 'missing.xml'}")


def test_bad_node_xml_text_is_a_hypervisor_error() -> None:
    with pytest.raises(HypervisorError, match="does not parse"):
        nodedev.scan_node_xml("<node><device>")
