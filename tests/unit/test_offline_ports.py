"""The offline ``fit`` and ``capacity`` carry ports as the live scheduler does: a host's
agent options arrive in the snapshot (``sriov_only``, the effective allow-list with the
``pci_group`` tag, excluded VFs left out), and a port may ask for a PCI group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pciplane.cli.main import main
from pciplane.core.address import PciAddress
from pciplane.core.device import DevType, PciDevice
from pciplane.core.fleet import Fleet, Host
from pciplane.core.snapshot import dump_fleet, load_fleet
from pciplane.core.spec import parse_device_specs
from pciplane.core.sriov_agent import SriovAgentConfig, apply_to_host

FLEET_SPEC = [{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},
              {"vendor_id": "10de"}]  # fmt: skip


def host(name: str, config: SriovAgentConfig) -> Host:
    pf = PciDevice(address=PciAddress.parse("0000:81:00.0"), vendor_id="8086",
                   product_id="1572", dev_type=DevType.PF, devname="ens1f0")  # fmt: skip
    vfs = tuple(
        PciDevice(address=PciAddress(domain=0, bus=0x81, slot=2, function=n), vendor_id="8086",
                  product_id="154c", dev_type=DevType.VF, parent_addr=pf.address,
                  parent_ifname="ens1f0")
        for n in range(2)
    )  # fmt: skip
    gpu = PciDevice(address=PciAddress.parse("0000:3b:00.0"), vendor_id="10de", product_id="1db4")
    return apply_to_host(Host(name=name, devices=(pf, *vfs, gpu)), FLEET_SPEC, config)


@pytest.fixture
def snapshot(tmp_path: Path) -> str:
    mapped = {"physnet1": ("ens1f0",)}
    hosts = (
        host("gold-only", SriovAgentConfig(physical_device_mappings=mapped,
                                           sriov_pci_group="gold", sriov_only=True)),
        host("silver", SriovAgentConfig(physical_device_mappings=mapped, sriov_pci_group="silver",
                                        exclude_devices={"ens1f0": frozenset(
                                            {PciAddress.parse("0000:81:02.0")})})),
        host("plain", SriovAgentConfig()),
    )  # fmt: skip
    fleet = Fleet(device_spec=parse_device_specs(FLEET_SPEC), hosts=hosts,
                  device_spec_raw=tuple(FLEET_SPEC))  # fmt: skip
    doc = dump_fleet(fleet)
    assert load_fleet(doc).hosts == hosts  # the snapshot keeps all of it
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def fit(capsys: pytest.CaptureFixture[str], snapshot: str, *argv: str) -> dict[str, Any]:
    main(["fit", "--fleet", snapshot, "--json", *argv])
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


@pytest.mark.parametrize(
    ("argv", "fitting", "reasons"),
    [
        pytest.param([], ["silver", "plain"],
                     {"gold-only": "the host takes only servers with an SR-IOV port (sriov_only)"},
                     id="no-port-sriov-only"),
        pytest.param(["--port", "physnet1"], ["gold-only", "silver", "plain"], {},
                     id="port-any-group"),
        pytest.param(["--port", "physnet1:direct:gold"], ["gold-only"],
                     {"plain": "physnet1: no free device matches {pci_group=gold "
                               "physical_network=physnet1}"}, id="port-gold"),
        pytest.param(["--port", "physnet1", "--port", "physnet1:direct:silver"], [], {},
                     id="silver-has-one-vf-left-after-exclusion"),
    ],
)  # fmt: skip
def test_offline_fit_honours_the_agents_options(
    capsys: pytest.CaptureFixture[str],
    snapshot: str,
    argv: list[str],
    fitting: list[str],
    reasons: dict[str, str],
) -> None:
    result = fit(capsys, snapshot, *argv)
    assert [h["name"] for h in result["hosts"] if h["fits"]] == fitting
    by_name = {h["name"]: h["reason"] for h in result["hosts"]}
    for name, reason in reasons.items():
        assert reason in by_name[name]


def test_capacity_counts_a_sriov_only_host_as_none_for_plain_servers(
    capsys: pytest.CaptureFixture[str], snapshot: str
) -> None:
    main(["capacity", "--fleet", snapshot, "--alias-request", "", "--port", "physnet1:direct:gold",
          "--json"])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert {h["name"]: h["servers"] for h in doc["hosts"]} == {"gold-only": 2, "silver": 0,
                                                                "plain": 0}  # fmt: skip


@pytest.mark.parametrize("port", ["physnet1:direct:", "physnet1:direct:g:x", ":direct"])
def test_bad_port_syntax_is_refused(capsys: pytest.CaptureFixture[str], snapshot: str,
                                    port: str) -> None:  # fmt: skip
    assert main(["fit", "--fleet", snapshot, "--port", port]) == 2
    assert "port" in capsys.readouterr().err
