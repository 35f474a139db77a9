"""The libvirt adapter against libvirt's test driver and the in-memory hypervisor.

``test:///<file>`` is loaded with the node XML of a synthetic host (``pciplane.sim``);
the guest's devices are discovered from it through libvirt, bound and rendered as the
service will, and the listing is checked after every life-cycle step. Hot plug, which
the test driver does not implement, runs against :class:`MemoryHypervisor`, which checks
every XML it is handed against libvirt's schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pciplane.core.address import PciAddress
from pciplane.core.binding import AgentState, BindRequest, Bound, bind_port, default_drivers
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import HypervisorError, NotFoundError, UnsupportedOperationError
from pciplane.core.guest import GuestDevice
from pciplane.core.network import NetworkType, Segment
from pciplane.core.request import VnicType
from pciplane.host import libvirt_schema, nodedev
from pciplane.host.domain_xml import (
    Domain,
    DomainDevice,
    HeldDevice,
    HeldKind,
    HostdevDevice,
    HostdevInterface,
    NumaCell,
    domain_device,
    flavor_hostdev,
    held_addresses,
)
from pciplane.host.libvirt_driver import LibvirtDriver, PowerState
from pciplane.service.binding import device_nic
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml
from pciplane.sim.memory_hypervisor import MemoryHypervisor
from pciplane.store.ports import PortRecord

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not libvirt_schema.validator_available(), reason="virt-xml-validate is not installed"
    ),
]

UUID = "7f1d8a2c-0c43-4b2e-9d0e-5a8f3c2b1a01"
VLAN = Segment(network_type=NetworkType.VLAN, physical_network="physnet1", segmentation_id=120)
AGENT = AgentState(alive=True, device_mappings={"physnet1": ("ens1f0",)})


def bound_device(port: PortRecord, vf: PciDevice) -> DomainDevice:
    """The port bound by the mechanism drivers and its VF wired, as the scheduler does."""
    request = BindRequest(vnic_type=port.vnic_type, segments=(VLAN,), agent=AGENT)
    result = bind_port(default_drivers(), request)
    assert isinstance(result, Bound)
    mode, nic = device_nic(port, result, vf)
    return domain_device(GuestDevice(address=vf.address, attach=mode, nic=nic))


@pytest.fixture(scope="module")
def node_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("node") / "mixed.xml"
    path.write_text(node_xml(build_host("mixed")), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def host_devices(node_file: Path) -> tuple[PciDevice, ...]:
    return nodedev.scan(f"test://{node_file}").pci_devices()


@pytest.fixture
def driver(node_file: Path) -> Iterator[LibvirtDriver]:
    with LibvirtDriver.connect(f"test://{node_file}") as drv:
        yield drv


def guest_devices(devices: tuple[PciDevice, ...]) -> tuple[DomainDevice, ...]:
    """Two GPUs (flavor), two direct VFs and one macvtap VF, as the service binds them."""
    gpus = [d for d in devices if (d.class_id or "").startswith("03")]
    vfs = [d for d in devices if d.dev_type is DevType.VF and d.devname]
    assert len(gpus) >= 2 and len(vfs) >= 3
    out: list[DomainDevice] = [flavor_hostdev(g, managed=i == 0) for i, g in enumerate(gpus[:2])]
    for i, (vnic, vf) in enumerate(
        [(VnicType.DIRECT, vfs[0]), (VnicType.DIRECT, vfs[1]), (VnicType.MACVTAP, vfs[2])]
    ):
        port = PortRecord(id=f"port-{i}", name="", project="p", network_id="n",
                          mac_address=f"fa:16:3e:00:01:0{i}", vnic_type=vnic)  # fmt: skip
        out.append(bound_device(port, vf))
    return tuple(out)


def guest(devices: tuple[DomainDevice, ...], name: str = "guest-1", uuid: str = UUID) -> Domain:
    return Domain(
        name=name,
        uuid=uuid,
        memory_mib=2048,
        vcpus=4,
        numa_cells=(
            NumaCell(id=0, cpus=(0, 1), memory_mib=1024),
            NumaCell(id=1, cpus=(2, 3), memory_mib=1024),
        ),
        devices=devices,
        virt_type="test",
    )


def expected_held(devices: tuple[DomainDevice, ...]) -> set[HeldDevice]:
    out = set()
    for d in devices:
        if isinstance(d, HostdevDevice):
            out.add(HeldDevice(kind=HeldKind.HOSTDEV, address=d.address))
        elif isinstance(d, HostdevInterface):
            out.add(HeldDevice(kind=HeldKind.INTERFACE_HOSTDEV, address=d.address, mac=d.mac))
        else:
            out.add(HeldDevice(kind=HeldKind.INTERFACE_DIRECT, source_dev=d.source_dev, mac=d.mac))
    return out


def listing(driver: LibvirtDriver) -> dict[str, tuple[PowerState, set[HeldDevice]]]:
    return {r.name: (r.state, set(r.devices)) for r in driver.list_domains()}


def test_guest_life_cycle_on_the_test_driver(
    driver: LibvirtDriver, host_devices: tuple[PciDevice, ...]
) -> None:
    devices = guest_devices(host_devices)
    held = expected_held(devices)
    assert listing(driver) == {}

    record = driver.define(guest(devices))
    assert record.uuid == UUID
    assert listing(driver) == {"guest-1": (PowerState.SHUT_OFF, held)}

    driver.start("guest-1")
    assert listing(driver) == {"guest-1": (PowerState.RUNNING, held)}
    assert driver.domain("guest-1").state is PowerState.RUNNING

    driver.destroy("guest-1")
    assert listing(driver) == {"guest-1": (PowerState.SHUT_OFF, held)}

    driver.undefine("guest-1")
    assert listing(driver) == {}


def test_listing_names_the_pci_addresses_held(
    driver: LibvirtDriver, host_devices: tuple[PciDevice, ...]
) -> None:
    devices = guest_devices(host_devices)
    driver.define(guest(devices))
    record = driver.start("guest-1")
    addresses = {str(a) for a in held_addresses(record.devices)}
    gpus = {str(d.address) for d in host_devices if (d.class_id or "").startswith("03")}
    assert gpus <= addresses
    assert {h.source_dev for h in record.devices if h.source_dev} == {"ens2f0v2"}
    driver.destroy("guest-1")
    driver.undefine("guest-1")


def test_attach_on_the_test_driver_is_unsupported(
    driver: LibvirtDriver, host_devices: tuple[PciDevice, ...]
) -> None:
    driver.define(guest(()))
    driver.start("guest-1")
    gpu = HostdevDevice(address=PciAddress.parse("0000:91:00.0"))
    try:
        with pytest.raises(UnsupportedOperationError) as info:
            driver.attach("guest-1", gpu)
        message = str(info.value)
        assert "attach device on domain 'guest-1'" in message
        assert driver.uri in message
        assert "not supported by the connection driver" in message
        with pytest.raises(UnsupportedOperationError, match="detach device"):
            driver.detach("guest-1", gpu)
        assert driver.domain("guest-1").devices == ()
    finally:
        driver.destroy("guest-1")
        driver.undefine("guest-1")


@pytest.mark.parametrize(
    ("operation", "error", "message"),
    [
        pytest.param(lambda d: d.start("nobody"), NotFoundError, "domain 'nobody'", id="start"),
        pytest.param(lambda d: d.destroy("nobody"), NotFoundError, "does not exist", id="destroy"),
        pytest.param(lambda d: d.undefine("nobody"), NotFoundError, "test://", id="undefine"),
        pytest.param(lambda d: d.domain("nobody"), NotFoundError, "look up", id="lookup"),
        pytest.param(lambda d: d.define("<domain"), HypervisorError, "define", id="bad-xml"),
        pytest.param(
            lambda d: d.destroy("test"), HypervisorError, "destroy on domain 'test'", id="not-run"
        ),
    ],
)
def test_libvirt_errors_become_pciplane_errors(
    operation: object, error: type[Exception], message: str
) -> None:
    assert callable(operation)
    with LibvirtDriver.connect("test:///default") as drv:
        if drv.domain("test").state is PowerState.RUNNING:
            drv.destroy("test")  # the default driver's one domain starts running
        with pytest.raises(error, match=message):
            operation(drv)


def test_connecting_to_a_missing_node_file_is_a_hypervisor_error(tmp_path: Path) -> None:
    with pytest.raises(HypervisorError, match="connect"):
        LibvirtDriver.connect(f"test://{tmp_path}/missing.xml")


# --- hot plug on the in-memory hypervisor -------------------------------------


@pytest.fixture
def memory() -> Iterator[tuple[MemoryHypervisor, LibvirtDriver]]:
    hv = MemoryHypervisor()
    with LibvirtDriver(hv) as drv:
        yield hv, drv
    assert hv.closed


VF_A = PciAddress.parse("0000:11:02.0")
GPU_A = PciAddress.parse("0000:91:00.0")


def test_hot_plug_live_and_persistent(
    memory: tuple[MemoryHypervisor, LibvirtDriver], host_devices: tuple[PciDevice, ...]
) -> None:
    _, drv = memory
    devices = guest_devices(host_devices)
    drv.define(guest(devices[:2]))
    drv.start("guest-1")
    nic = devices[2]
    record = drv.attach("guest-1", nic)
    assert set(record.devices) == expected_held(devices[:3])

    drv.destroy("guest-1")  # persistent: the definition holds it too
    assert set(drv.domain("guest-1").devices) == expected_held(devices[:3])

    drv.start("guest-1")
    record = drv.detach("guest-1", nic)
    assert set(record.devices) == expected_held(devices[:2])
    drv.destroy("guest-1")
    assert set(drv.domain("guest-1").devices) == expected_held(devices[:2])


def test_live_only_attach_is_gone_after_power_off(
    memory: tuple[MemoryHypervisor, LibvirtDriver],
) -> None:
    _, drv = memory
    drv.define(guest(()))
    drv.start("guest-1")
    record = drv.attach("guest-1", HostdevDevice(address=GPU_A), persistent=False)
    assert held_addresses(record.devices) == (GPU_A,)
    record = drv.destroy("guest-1")
    assert record is not None
    assert record.devices == ()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        pytest.param(
            lambda d: d.attach("guest-2", HostdevDevice(address=GPU_A)),
            "0000:91:00.0 is in use by domain guest-1",
            id="device-held-by-another-guest",
        ),
        pytest.param(
            lambda d: d.attach("guest-1", HostdevDevice(address=GPU_A)),
            "already attached",
            id="attached-twice",
        ),
        pytest.param(
            lambda d: d.attach("guest-3", HostdevDevice(address=VF_A)),
            "not running",
            id="shut-off-guest",
        ),
        pytest.param(
            lambda d: d.detach("guest-1", HostdevDevice(address=VF_A)),
            "device not found",
            id="detach-missing",
        ),
        pytest.param(
            lambda d: d.attach("guest-1", "<hostdev mode='subsystem' type='pci'/>"),
            "not a valid libvirt domain",
            id="invalid-xml-refused",
        ),
        pytest.param(
            lambda d: d.start("guest-4"),
            "in use by domain guest-1",
            id="start-with-a-held-device",
        ),
        pytest.param(
            lambda d: d.define(guest((), name="guest-1", uuid=str(UUID).replace("7", "8"))),
            "already defined",
            id="name-taken",
        ),
    ],
)
def test_hot_plug_refusals(
    memory: tuple[MemoryHypervisor, LibvirtDriver], step: object, message: str
) -> None:
    _, drv = memory
    drv.define(guest((HostdevDevice(address=GPU_A),)))
    drv.define(guest((), name="guest-2", uuid="7f1d8a2c-0c43-4b2e-9d0e-5a8f3c2b1a02"))
    drv.define(guest((), name="guest-3", uuid="7f1d8a2c-0c43-4b2e-9d0e-5a8f3c2b1a03"))
    held = (HostdevDevice(address=GPU_A),)
    drv.define(guest(held, name="guest-4", uuid="7f1d8a2c-0c43-4b2e-9d0e-5a8f3c2b1a04"))
    drv.start("guest-1")
    drv.start("guest-2")
    before = listing(drv)
    assert callable(step)
    with pytest.raises(HypervisorError, match=message):
        step(drv)
    assert listing(drv) == before


def test_memory_hypervisor_undefine_of_a_running_guest_makes_it_transient(
    memory: tuple[MemoryHypervisor, LibvirtDriver],
) -> None:
    _, drv = memory
    drv.define(guest(()))
    drv.start("guest-1")
    drv.undefine("guest-1")
    assert [r.name for r in drv.list_domains()] == ["guest-1"]
    assert drv.destroy("guest-1") is None
    with pytest.raises(NotFoundError):
        drv.domain("guest-1")
    assert drv.list_domains() == ()
