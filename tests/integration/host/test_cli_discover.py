"""``pciplane discover`` and ``pciplane sim host`` end to end, through the CLI entry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pciplane.cli.main import main
from pciplane.core.snapshot import load_fleet
from pciplane.host import sysfs

pytestmark = pytest.mark.integration


@pytest.fixture
def host(tmp_path: Path) -> tuple[Path, Path]:
    root, xml = tmp_path / "root", tmp_path / "node.xml"
    assert main(["sim", "host", "--profile", "mixed", "--sysfs-out", str(root),
                 "--libvirt-node-xml", str(xml)]) == 0  # fmt: skip
    return root, xml


def test_table_lists_devices(host: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discover", "--root", str(host[0])]) == 0
    out = capsys.readouterr().out.splitlines()
    header = ["ADDRESS", "TYPE", "ID", "CLASS", "DRIVER", "NUMA", "PF", "IFNAME", "NAME"]
    assert out[0].split() == header
    vf = next(line for line in out if line.startswith("0000:11:02.0"))
    assert vf.split()[:8] == [
        "0000:11:02.0", "type-VF", "15b3:1018", "020000", "mlx5_core", "0", "0000:11:00.0",
        "ens2f0v0",
    ]  # fmt: skip


def test_json_is_the_snapshot_host_shape(
    host: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["discover", "--root", str(host[0]), "--json", "--name", "cmp1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["name"] == "cmp1"
    assert doc["numa_nodes"] == [{"id": 0, "socket": 0}, {"id": 1, "socket": 1}]
    vf = next(d for d in doc["devices"] if d["address"] == "0000:11:02.0")
    assert vf == {
        "address": "0000:11:02.0", "vendor_id": "15b3", "product_id": "1018",
        "dev_type": "type-VF", "numa_node": 0, "parent_addr": "0000:11:00.0",
        "devname": "ens2f0v0", "parent_ifname": "ens2f0", "label": "label_15b3_1018",
        "class_id": "020000", "driver": "mlx5_core", "iommu_group": 6, "vf_num": 0,
        "status": "available",
    }  # fmt: skip
    pf = next(d for d in doc["devices"] if d["address"] == "0000:11:00.0")
    assert pf["mac_address"] == "02:00:01:00:00:00"  # a PF's MAC: binding's device_mac_address


def test_device_spec_marks_assignable_devices(
    host: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([
        {"vendor_id": "15b3", "product_id": "1018", "physical_network": "physnet1"},
        '{"vendor_id": "10de"}',
    ]))  # fmt: skip
    assert main(["discover", "--root", str(host[0]), "--device-spec", str(spec)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[8] for line in out[1:] if line.startswith("0000:")}
    assert (rows["0000:11:02.0"], rows["0000:91:00.0"], rows["0000:11:00.0"]) == ("#0", "#1", "-")
    assert "10 of 24 devices are assignable by the device_spec" in out
    pools = out[out.index("pools (free devices by scheduling key):") + 1 :]
    assert pools[0].split() == [
        "4", "x", "15b3:1018", "type-VF", "NUMA", "0", "parent_ifname=ens2f0",
        "physical_network=physnet1", "[0000:11:00.0,", "spec", "#0]",
    ]  # fmt: skip
    assert len(pools) == 4


def test_previous_shows_the_diff(
    host: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = host[0]
    assert main(["discover", "--root", str(root), "--json"]) == 0
    previous = tmp_path / "previous.json"
    previous.write_text(capsys.readouterr().out)
    vf = root / "sys" / "bus" / "pci" / "devices" / "0000:11:02.0"
    (vf / "driver").unlink()
    vfio = root / "sys" / "bus" / "pci" / "drivers" / "vfio-pci"
    (vf / "driver").symlink_to(os.path.relpath(vfio, vf))
    assert main(["discover", "--root", str(root), "--previous", str(previous)]) == 0
    out = capsys.readouterr().out
    assert f"changes since {previous}:\n~ 0000:11:02.0: driver rebound mlx5_core -> vfio-pci" in out


def test_libvirt_path_prints_the_same_addresses(
    host: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("libvirt")
    main(["discover", "--root", str(host[0])])
    from_sysfs = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert main(["discover", "--libvirt", f"test://{host[1]}"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == from_sysfs


def test_warnings_go_to_stderr(host: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    devices = host[0] / "sys" / "bus" / "pci" / "devices"
    (devices / "0000:aa:00.0").symlink_to("../../../devices/pci0000:aa/0000:aa:00.0")
    assert main(["discover", "--root", str(host[0])]) == 0
    captured = capsys.readouterr()
    assert "warning: 0000:aa:00.0: skipped: the device vanished during the scan" in captured.err
    assert "0000:aa:00.0" not in captured.out


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        pytest.param(["--device-spec"], '[\n  {"vendor_id": "8086"},\n  {"vendor_id": }]',
                     "device_spec file {f}: not valid JSON: Expecting value (line 3, column 17)",
                     id="spec-not-json"),
        pytest.param(["--device-spec"], '{"vendor_id": "8086"}',
                     "device_spec file {f}: expected a JSON list of [pci] device_spec entries",
                     id="spec-not-a-list"),
        pytest.param(["--device-spec"], '[{"vendor_id": "80860"}]',
                     "device_spec file {f}: invalid [pci] device_spec, entry 0",
                     id="spec-bad-entry"),
        pytest.param(["--previous"], "[]", "previous file {f}: hosts[0] must be an object",
                     id="previous-not-a-host"),
        pytest.param(["--previous"],
                     '{"name": "h", "devices": [{"address": "0000:00:00.0", "vendor_id": "80"}]}',
                     "previous file {f}: host 'h' device 0000:00:00.0 key 'vendor_id'",
                     id="previous-bad-device"),
        pytest.param(["--previous"], "{\n", "previous file {f}: not valid JSON: Expecting "
                     "property name enclosed in double quotes (line 2, column 1)",
                     id="previous-not-json"),
        pytest.param(["--previous"], None, "previous file {f}: cannot read", id="previous-missing"),
    ],
)  # fmt: skip
def test_bad_input_files_exit_2_naming_the_file(
    host: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], content: str | None, message: str,
) -> None:  # fmt: skip
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert main(["discover", "--root", str(host[0]), *args, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pciplane discover: error: ")
    assert message.format(f=path) in err


def test_a_root_without_sysfs_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["discover", "--root", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert f"--root {tmp_path / 'typo'}: no sys/bus/pci/devices there to scan" in err


def test_sim_host_refuses_a_non_empty_directory(
    host: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "host", "--profile", "gpu", "--sysfs-out", str(host[0])]) == 2
    assert "must be an empty or new directory" in capsys.readouterr().err


def test_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    real = Path("/sys/bus/pci/devices")
    if not real.is_dir() or not os.listdir(real):
        pytest.skip("this machine shows no PCI devices in sysfs")
    assert main(["discover"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]}
    assert listed == {e for e in os.listdir(real) if len(e.split(":")[0]) == 4}


def test_json_drops_into_a_fleet_snapshot(
    host: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('[{"vendor_id": "10de"}]')
    root = str(host[0])
    assert main(["discover", "--root", root, "--json", "--device-spec", str(spec)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["device_spec"] == [{"vendor_id": "10de"}]
    fleet = load_fleet({"format": "pciplane-fleet/1", "hosts": [doc]})
    assert fleet.hosts[0].devices == sysfs.scan(host[0]).pci_devices()
    assert fleet.hosts[0].device_spec is not None and len(fleet.hosts[0].device_spec) == 1


NOVA_CONF = """\
[DEFAULT]
# the compute node's nova.conf
[pci]
device_spec = {"vendor_id": "15b3", "product_id": "1018",
               "physical_network": "physnet1"}
passthrough_whitelist = {"vendor_id": "10de"}
"""


def test_device_spec_from_nova_conf_as_from_json(
    host: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same entries as a JSON list and in nova.conf (the deprecated name's first)."""
    conf, spec = tmp_path / "nova.conf", tmp_path / "spec.json"
    conf.write_text(NOVA_CONF)
    spec.write_text(json.dumps([
        {"vendor_id": "10de"},
        {"vendor_id": "15b3", "product_id": "1018", "physical_network": "physnet1"},
    ]))  # fmt: skip
    outputs = []
    for path in (spec, conf):
        assert main(["discover", "--root", str(host[0]), "--device-spec", str(path)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert "10 of 24 devices are assignable by the device_spec" in outputs[1]
