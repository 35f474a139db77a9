"""libvirt node device XML to device records (https://libvirt.org/formatnode.html)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pciplane.core.address import PciAddress
from pciplane.core.device import DevType
from pciplane.core.errors import AddressError
from pciplane.host.nodedev import parse_net_device, parse_pci_device, scan_node_xml
from pciplane.host.pciids import PciNames
from pciplane.sim.host import SimFunction, SimHost
from pciplane.sim.host_write import node_xml

NO_NAMES = PciNames(Path("/nonexistent/pci.ids"))

PF_XML = """<device><name>pci_0000_3b_00_0</name><parent>computer</parent>
<driver><name>i40e</name></driver>
<capability type='pci'><class>0x020000</class>
<domain>0</domain><bus>59</bus><slot>0</slot><function>0</function>
<product id='0x158b'>XXV710</product><vendor id='0x8086'>Intel</vendor>
<capability type='virt_functions' maxCount='64'>
<address domain='0x0000' bus='0x3b' slot='0x02' function='0x0'/>
<address domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/></capability>
<iommuGroup number='40'/><numa node='1'/></capability></device>"""

VF_XML = """<device><name>pci_0000_3b_02_1</name><parent>pci_0000_3b_00_0</parent>
<capability type='pci'><class>0x020000</class>
<domain>0</domain><bus>59</bus><slot>2</slot><function>1</function>
<product id='0x154c'/><vendor id='0x8086'/>
<capability type='phys_function'>
<address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></capability>
<numa node='-1'/></capability></device>"""

GPU_XML = """<device><name>pci_0000_91_00_0</name><parent>computer</parent>
<capability type='pci'><domain>0</domain><bus>145</bus><slot>0</slot><function>0</function>
<product id='0x20b5'/><vendor id='0x10de'/></capability></device>"""


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        pytest.param(PF_XML, {"dev_type": DevType.PF, "driver": "i40e", "numa_node": 1,
                              "iommu_group": 40, "class_id": "020000", "parent_addr": None,
                              "vendor_info": "8086:158b"}, id="pf"),
        pytest.param(VF_XML, {"dev_type": DevType.VF, "numa_node": None, "driver": None,
                              "parent_addr": PciAddress.parse("0000:3b:00.0")},
                     id="vf-numa-minus-1"),
        pytest.param(GPU_XML, {"dev_type": DevType.PCI, "numa_node": None, "class_id": None,
                               "iommu_group": None, "address": PciAddress.parse("0000:91:00.0")},
                     id="plain-no-numa-no-class"),
    ],
)  # fmt: skip
def test_parse_pci_device(xml: str, expected: dict[str, object]) -> None:
    dev = parse_pci_device(xml).device
    assert {k: getattr(dev, k) for k in expected} == expected


def test_pf_lists_its_vfs_in_virtfn_order() -> None:
    node = parse_pci_device(PF_XML)
    assert (node.max_vfs, [str(a) for a in node.vfs]) == (64, ["0000:3b:02.0", "0000:3b:02.1"])
    assert (node.vendor_name, node.product_name) == ("Intel", "XXV710")


@pytest.mark.parametrize(
    ("xml", "error"),
    [
        pytest.param(GPU_XML.replace("<vendor id='0x10de'/>", ""), ValueError, id="no-vendor"),
        pytest.param(GPU_XML.replace("<bus>145</bus>", ""), ValueError, id="no-bus"),
        pytest.param(GPU_XML.replace("<domain>0</domain>", "<domain>65536</domain>"),
                     AddressError, id="32-bit-domain"),
        pytest.param("<device><name>x</name></device>", ValueError, id="no-pci-capability"),
    ],
)  # fmt: skip
def test_odd_pci_devices_raise(xml: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_pci_device(xml)


def test_net_device() -> None:
    net = parse_net_device(
        "<device><name>net_ens1f0_02_00</name><parent>pci_0000_3b_00_0</parent>"
        "<capability type='net'><interface>ens1f0</interface><address>02:00:00:00:00:01"
        "</address><link state='up' speed='25000'/></capability></device>"
    )
    assert net is not None
    assert (net.parent, net.netdev.name, net.netdev.mac) == (
        "pci_0000_3b_00_0", "ens1f0", "02:00:00:00:00:01"
    )  # fmt: skip
    assert (net.netdev.operstate, net.netdev.carrier) == ("up", None)


def test_scan_node_xml_warns_about_odd_devices_and_goes_on() -> None:
    odd = GPU_XML.replace("pci_0000_91_00_0", "pci_10000_00_02_0").replace(
        "<domain>0</domain>", "<domain>65536</domain>"
    )
    scan = scan_node_xml(f"<node>{PF_XML}{VF_XML}{odd}</node>", names=NO_NAMES)
    assert [str(d.address) for d in scan.devices] == ["0000:3b:00.0", "0000:3b:02.1"]
    assert [w.entry for w in scan.warnings] == ["pci_10000_00_02_0"]
    vf = scan.devices[1]
    assert (vf.vf_index, vf.device.parent_ifname) == (1, None)


_function = st.builds(
    lambda bus, slot, fn, vid, pid, numa, group, cls: SimFunction(
        address=PciAddress(domain=0, bus=bus, slot=slot, function=fn),
        vendor_id=f"{vid:04x}", product_id=f"{pid:04x}", class_id=f"{cls:06x}", driver=None,
        numa_node=numa, iommu_group=group, parent_dir="pci0000:00", parent_node="computer",
    ),
    st.integers(0, 255), st.integers(0, 31), st.integers(0, 7), st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF), st.none() | st.integers(0, 7), st.integers(0, 4096),
    st.integers(0, 0xFFFFFF),
)  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(functions=st.lists(_function, max_size=6, unique_by=lambda f: f.address))
def test_generated_node_xml_reads_back(functions: list[SimFunction]) -> None:
    host = SimHost(name="h", numa_nodes=(), cpus_per_node=1, functions=tuple(functions))
    scan = scan_node_xml(node_xml(host, names=NO_NAMES), names=NO_NAMES)
    got = {d.address: d.device for d in scan.devices}
    assert scan.warnings == ()
    assert set(got) == {f.address for f in functions}
    for fn in functions:
        dev = got[fn.address]
        assert (dev.vendor_id, dev.product_id, dev.class_id) == (
            fn.vendor_id, fn.product_id, fn.class_id
        )  # fmt: skip
        assert (dev.numa_node, dev.iommu_group) == (fn.numa_node, fn.iommu_group)
